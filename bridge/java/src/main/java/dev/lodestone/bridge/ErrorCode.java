package dev.lodestone.bridge;

/**
 * The stable error codes of wire protocol v1 (docs/protocol.md, "Error codes").
 *
 * <p>A code's meaning never changes within a protocol version. {@link #retryable()} is the
 * protocol's default; an error reply carries its own flag, which wins.
 */
public enum ErrorCode {
    /** Malformed request: not msgpack, not a map, missing or mistyped field, unknown argument. */
    BAD_REQUEST(false),
    /** The request's {@code v} is not a version the daemon speaks. */
    UNSUPPORTED_VERSION(false),
    /** The op is not one the daemon knows. */
    UNKNOWN_OP(false),
    /** A malformed id, or one made for another class or another deployment. */
    INVALID_ID(false),
    /** The class is not declared (when the daemon refuses undeclared classes). */
    NOT_FOUND(false),
    /** A key, value, batch, name, frame or reply over its limit; nothing was written. */
    TOO_LARGE(false),
    /** A transaction check did not hold; nothing was written. */
    CONFLICT(false),
    /** The daemon is shutting down, or its storage failed or is full; nothing was written. */
    UNAVAILABLE(true),
    /** No reply came in time (raised by clients; the daemon does not send it). */
    TIMEOUT(true),
    /** A bug; the daemon log has the traceback. */
    INTERNAL(false);

    private final boolean retryable;

    ErrorCode(boolean retryable) {
        this.retryable = retryable;
    }

    /** Whether the protocol calls this code retryable. */
    public boolean retryable() {
        return retryable;
    }

    /** The code named {@code name}, or {@code null} when this client does not know it. */
    public static ErrorCode fromWire(String name) {
        for (ErrorCode code : values()) {
            if (code.name().equals(name)) {
                return code;
            }
        }
        return null;
    }
}
