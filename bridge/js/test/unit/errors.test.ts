import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
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
} from "@lodestone/client";

const CLASSES: [string, abstract new (...args: never[]) => LodestoneError, boolean][] = [
  ["BAD_REQUEST", BadRequestError, false],
  ["UNSUPPORTED_VERSION", UnsupportedVersionError, false],
  ["UNKNOWN_OP", UnknownOpError, false],
  ["INVALID_ID", InvalidIdError, false],
  ["NOT_FOUND", NotFoundError, false],
  ["TOO_LARGE", TooLargeError, false],
  ["CONFLICT", ConflictError, false],
  ["UNAVAILABLE", UnavailableError, true],
  ["TIMEOUT", LodestoneTimeoutError, true],
  ["INTERNAL", InternalError, false],
  ["FORBIDDEN", ForbiddenError, false],
  ["UNAUTHENTICATED", UnauthenticatedError, false],
];

describe("error mapping", () => {
  for (const [code, cls, retryable] of CLASSES) {
    it(`${code} becomes ${cls.name}`, () => {
      const error = errorFromReply({ code, message: "why", retryable }, { op: "Agent.damage", idem: "k" });
      assert.ok(error instanceof cls);
      assert.ok(error instanceof LodestoneError);
      assert.ok(error instanceof Error);
      assert.equal(error.code, code);
      assert.equal(error.message, "why");
      assert.equal(error.retryable, retryable);
      assert.equal(error.name, cls.name);
      assert.equal(error.op, "Agent.damage");
      assert.equal(error.idem, "k");
    });
  }

  it("takes the reply's retryable flag over the class's default", () => {
    assert.equal(errorFromReply({ code: "UNAVAILABLE", message: "", retryable: false }).retryable, false);
    assert.equal(errorFromReply({ code: "UNAVAILABLE", message: "" }).retryable, true);
  });

  it("keeps an unknown code on a plain LodestoneError", () => {
    const error = errorFromReply({ code: "RATE_LIMITED", message: "slow down", retryable: true });
    assert.equal(error.constructor, LodestoneError);
    assert.equal(error.code, "RATE_LIMITED");
    assert.equal(error.retryable, true);
  });

  it("turns a malformed error map into InternalError", () => {
    assert.ok(errorFromReply("nope") instanceof InternalError);
    assert.ok(errorFromReply(null) instanceof InternalError);
    assert.ok(errorFromReply({ code: "toString", message: "x" }).constructor === LodestoneError);
  });

  it("makes ClientClosedError an UnavailableError that is not worth retrying", () => {
    const error = new ClientClosedError();
    assert.ok(error instanceof UnavailableError);
    assert.equal(error.retryable, false);
  });
});
