/**
 * Typed errors, one class per wire error code (docs/protocol.md, "Error codes"), so callers
 * catch what they can handle: `catch (e) { if (e instanceof ConflictError) ... }`.
 */

/** The wire error codes, the gateway's two included. */
export type ErrorCode =
  | "BAD_REQUEST"
  | "UNSUPPORTED_VERSION"
  | "UNKNOWN_OP"
  | "INVALID_ID"
  | "NOT_FOUND"
  | "TOO_LARGE"
  | "CONFLICT"
  | "UNAVAILABLE"
  | "TIMEOUT"
  | "INTERNAL"
  | "FORBIDDEN"
  | "UNAUTHENTICATED";

export interface ErrorDetails {
  /** Whether sending the same request again may succeed (only UNAVAILABLE and TIMEOUT). */
  retryable?: boolean;
  /** The idempotency key the failed call carried: pass it as `idem` to retry the same write. */
  idem?: string;
  /** The op that failed. */
  op?: string;
}

/** An error reply, or a client-side failure with a wire code. */
export class LodestoneError extends Error {
  /** The wire code; an unknown code from a newer gateway is kept as it came. */
  readonly code: string;
  readonly retryable: boolean;
  readonly idem: string | undefined;
  readonly op: string | undefined;

  constructor(message: string, code: string = "INTERNAL", details: ErrorDetails = {}) {
    super(message);
    // A literal, not new.target.name alone: minifying bundlers rename classes (subclasses set their own).
    this.name = new.target === LodestoneError ? "LodestoneError" : new.target.name;
    this.code = code;
    this.retryable = details.retryable ?? false;
    this.idem = details.idem;
    this.op = details.op;
  }
}

/** Malformed request: missing or mistyped field, unknown argument, bad option. */
export class BadRequestError extends LodestoneError {
  override readonly name: string = "BadRequestError";

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, "BAD_REQUEST", details);
  }
}

/** `v` is not a protocol version the daemon speaks. */
export class UnsupportedVersionError extends LodestoneError {
  override readonly name: string = "UnsupportedVersionError";

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, "UNSUPPORTED_VERSION", details);
  }
}

/** An op the daemon (or the object's class) does not have. */
export class UnknownOpError extends LodestoneError {
  override readonly name: string = "UnknownOpError";

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, "UNKNOWN_OP", details);
  }
}

/** A malformed id, or one made for another class or deployment. */
export class InvalidIdError extends LodestoneError {
  override readonly name: string = "InvalidIdError";

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, "INVALID_ID", details);
  }
}

/** An undeclared class, or what a class op names does not exist (an agent that never spawned). */
export class NotFoundError extends LodestoneError {
  override readonly name: string = "NotFoundError";

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, "NOT_FOUND", details);
  }
}

/** A key, value, batch, name, frame or reply over its limit; nothing was written. */
export class TooLargeError extends LodestoneError {
  override readonly name: string = "TooLargeError";

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, "TOO_LARGE", details);
  }
}

/** A transaction check or a class op's precondition did not hold; nothing was written. */
export class ConflictError extends LodestoneError {
  override readonly name: string = "ConflictError";

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, "CONFLICT", details);
  }
}

/** The daemon is shutting down or restarting, or storage failed; nothing was written. Retryable. */
export class UnavailableError extends LodestoneError {
  override readonly name: string = "UnavailableError";

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, "UNAVAILABLE", { retryable: true, ...details });
  }
}

/** The client was closed before the call completed; later calls fail the same way. */
export class ClientClosedError extends UnavailableError {
  override readonly name: string = "ClientClosedError";

  constructor(message = "the client was closed", details: ErrorDetails = {}) {
    super(message, { ...details, retryable: false });
  }
}

/**
 * No reply within the call's timeout. A write may or may not have been applied: call again
 * with `{ idem: error.idem }` to apply it at most once.
 */
export class LodestoneTimeoutError extends LodestoneError {
  override readonly name: string = "LodestoneTimeoutError";

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, "TIMEOUT", { retryable: true, ...details });
  }
}

/** A bug; the daemon's (or gateway's) log has the traceback. */
export class InternalError extends LodestoneError {
  override readonly name: string = "InternalError";

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, "INTERNAL", details);
  }
}

/** The gateway's token lacks the scope or class this call needs. */
export class ForbiddenError extends LodestoneError {
  override readonly name: string = "ForbiddenError";

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, "FORBIDDEN", details);
  }
}

/** The gateway refused the connection's token (HTTP 401 before the WebSocket upgrade). */
export class UnauthenticatedError extends LodestoneError {
  override readonly name: string = "UnauthenticatedError";

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, "UNAUTHENTICATED", details);
  }
}

type ErrorClass = new (message: string, details?: ErrorDetails) => LodestoneError;

const BY_CODE: Record<string, ErrorClass> = {
  BAD_REQUEST: BadRequestError,
  UNSUPPORTED_VERSION: UnsupportedVersionError,
  UNKNOWN_OP: UnknownOpError,
  INVALID_ID: InvalidIdError,
  NOT_FOUND: NotFoundError,
  TOO_LARGE: TooLargeError,
  CONFLICT: ConflictError,
  UNAVAILABLE: UnavailableError,
  TIMEOUT: LodestoneTimeoutError,
  INTERNAL: InternalError,
  FORBIDDEN: ForbiddenError,
  UNAUTHENTICATED: UnauthenticatedError,
};

/**
 * The typed error for a reply's `error` map (or a control frame's `{code, message}`). The
 * reply's `retryable` flag wins over the class's default; an unknown code gives a plain
 * `LodestoneError` carrying that code.
 */
export function errorFromReply(error: unknown, details: ErrorDetails = {}): LodestoneError {
  if (typeof error !== "object" || error === null || Array.isArray(error)) {
    return new InternalError(`malformed error reply: ${String(error).slice(0, 200)}`, details);
  }
  const fields = error as Record<string, unknown>;
  const code = typeof fields.code === "string" ? fields.code : "INTERNAL";
  const message = typeof fields.message === "string" ? fields.message : "";
  const merged: ErrorDetails = { ...details };
  if (typeof fields.retryable === "boolean") merged.retryable = fields.retryable;
  const cls = Object.prototype.hasOwnProperty.call(BY_CODE, code) ? BY_CODE[code] : undefined;
  return cls !== undefined ? new cls(message, merged) : new LodestoneError(message, code, merged);
}
