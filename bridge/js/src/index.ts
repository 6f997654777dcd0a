/**
 * `@lodestone/client`: durable state for game AI agents, from JavaScript and TypeScript, through
 * the Lodestone gateway's WebSocket. See README.md.
 */

export { LodestoneClient, ObjectHandle, connect } from "./client.js";
export type { CallOptions, ClientEvents, ClientOptions, Transaction } from "./client.js";
export { Subscription } from "./subscription.js";
export type { LodestoneEvent, SubscribeOptions } from "./subscription.js";
export { AgentHandle, ForemanHandle, MissionControlHandle, TelemetryHandle } from "./world.js";
export type { InitOptions } from "./world.js";
export {
  BadRequestError,
  ClientClosedError,
  ConflictError,
  ForbiddenError,
  InternalError,
  InvalidIdError,
  LodestoneError,
  LodestoneTimeoutError,
  NotFoundError,
  TooLargeError,
  UnauthenticatedError,
  UnavailableError,
  UnknownOpError,
  UnsupportedVersionError,
  errorFromReply,
} from "./errors.js";
export type { ErrorCode, ErrorDetails } from "./errors.js";
export type * from "./types.js";
export type { Target } from "./wire.js";
export type { WebSocketConstructor, WebSocketLike } from "./transport.js";
