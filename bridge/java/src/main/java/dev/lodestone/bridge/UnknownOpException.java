package dev.lodestone.bridge;

/** {@link ErrorCode#UNKNOWN_OP}: the daemon does not know the op (an older daemon, or a misspelt op name). */
public class UnknownOpException extends LodestoneException {
    private static final long serialVersionUID = 1L;

    /** An error with the protocol's default retryable flag for {@code UNKNOWN_OP}. */
    public UnknownOpException(String message) {
        this(message, ErrorCode.UNKNOWN_OP.retryable());
    }

    /** An error with the retryable flag the reply carried. */
    public UnknownOpException(String message, boolean retryable) {
        super(ErrorCode.UNKNOWN_OP.name(), message, retryable);
    }
}
