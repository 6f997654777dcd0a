package dev.lodestone.bridge;

import java.util.Objects;

/**
 * An error reply from the daemon, or a client-side failure that has a wire code.
 *
 * <p>Every failed future of this library completes with a subclass, one per code of
 * {@link ErrorCode}: catch the subclass for what you can handle, this class for the rest. A reply
 * with a code this client does not know yet becomes a plain {@code LodestoneException} that keeps
 * the code as sent ({@link #wireCode()}); {@link #code()} is then {@code null}.
 */
public class LodestoneException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String wireCode;
    private final boolean retryable;

    /** An error with the given wire code, message and retryable flag. */
    public LodestoneException(String wireCode, String message, boolean retryable) {
        this(wireCode, message, retryable, null);
    }

    /** An error with the given wire code, message, retryable flag and cause. */
    public LodestoneException(String wireCode, String message, boolean retryable, Throwable cause) {
        super(message, cause);
        this.wireCode = Objects.requireNonNull(wireCode, "wireCode");
        this.retryable = retryable;
    }

    /** The code as a known {@link ErrorCode}, or {@code null} for a code this client does not know. */
    public ErrorCode code() {
        return ErrorCode.fromWire(wireCode);
    }

    /** The code exactly as the daemon sent it (or as the client set it). */
    public String wireCode() {
        return wireCode;
    }

    /** Whether sending the same request again may succeed. */
    public boolean retryable() {
        return retryable;
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + wireCode + "]: " + getMessage();
    }

    /**
     * The exception for one error reply's fields: the subclass of {@code code}, or a plain
     * {@code LodestoneException} for an unknown code.
     */
    public static LodestoneException fromWire(String code, String message, boolean retryable) {
        ErrorCode known = ErrorCode.fromWire(code);
        if (known == null) {
            return new LodestoneException(code, message, retryable);
        }
        return switch (known) {
            case BAD_REQUEST -> new BadRequestException(message, retryable);
            case UNSUPPORTED_VERSION -> new UnsupportedVersionException(message, retryable);
            case UNKNOWN_OP -> new UnknownOpException(message, retryable);
            case INVALID_ID -> new InvalidIdException(message, retryable);
            case NOT_FOUND -> new NotFoundException(message, retryable);
            case TOO_LARGE -> new TooLargeException(message, retryable);
            case CONFLICT -> new ConflictException(message, retryable);
            case UNAVAILABLE -> new UnavailableException(message, retryable);
            case TIMEOUT -> new LodestoneTimeoutException(message);
            case INTERNAL -> new InternalException(message, retryable);
        };
    }
}
