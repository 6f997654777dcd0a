package dev.lodestone.bridge;

/**
 * {@link ErrorCode#TIMEOUT}: no reply came in time, after every retry.
 *
 * <p>For a write this means "unknown": the daemon may or may not have applied it. Sending it
 * again with the same idempotency key ({@link CallOptions#idempotencyKey}) applies it at most once.
 */
public class LodestoneTimeoutException extends LodestoneException {
    private static final long serialVersionUID = 1L;

    /** A timeout; always retryable. */
    public LodestoneTimeoutException(String message) {
        super(ErrorCode.TIMEOUT.name(), message, true);
    }
}
