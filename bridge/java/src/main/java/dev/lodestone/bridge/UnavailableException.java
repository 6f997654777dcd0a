package dev.lodestone.bridge;

/** {@link ErrorCode#UNAVAILABLE}: the daemon is shutting down, or its storage failed or is full; nothing was written. */
public class UnavailableException extends LodestoneException {
    private static final long serialVersionUID = 1L;

    /** An error with the protocol's default retryable flag for {@code UNAVAILABLE}. */
    public UnavailableException(String message) {
        this(message, ErrorCode.UNAVAILABLE.retryable());
    }

    /** An error with the retryable flag the reply carried. */
    public UnavailableException(String message, boolean retryable) {
        super(ErrorCode.UNAVAILABLE.name(), message, retryable);
    }
}
