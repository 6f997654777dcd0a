package dev.lodestone.bridge;

/** {@link ErrorCode#TOO_LARGE}: a key, value, batch, name, frame or reply over its limit; nothing was written. */
public class TooLargeException extends LodestoneException {
    private static final long serialVersionUID = 1L;

    /** An error with the protocol's default retryable flag for {@code TOO_LARGE}. */
    public TooLargeException(String message) {
        this(message, ErrorCode.TOO_LARGE.retryable());
    }

    /** An error with the retryable flag the reply carried. */
    public TooLargeException(String message, boolean retryable) {
        super(ErrorCode.TOO_LARGE.name(), message, retryable);
    }
}
