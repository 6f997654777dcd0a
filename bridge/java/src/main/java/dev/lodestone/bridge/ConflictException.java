package dev.lodestone.bridge;

/** {@link ErrorCode#CONFLICT}: a transaction check did not hold; nothing was written. */
public class ConflictException extends LodestoneException {
    private static final long serialVersionUID = 1L;

    /** An error with the protocol's default retryable flag for {@code CONFLICT}. */
    public ConflictException(String message) {
        this(message, ErrorCode.CONFLICT.retryable());
    }

    /** An error with the retryable flag the reply carried. */
    public ConflictException(String message, boolean retryable) {
        super(ErrorCode.CONFLICT.name(), message, retryable);
    }
}
