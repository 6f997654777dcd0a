package dev.lodestone.bridge;

/** {@link ErrorCode#INTERNAL}: a bug in the daemon (its log has the traceback), or a reply this client cannot read. */
public class InternalException extends LodestoneException {
    private static final long serialVersionUID = 1L;

    /** An error with the protocol's default retryable flag for {@code INTERNAL}. */
    public InternalException(String message) {
        this(message, ErrorCode.INTERNAL.retryable());
    }

    /** An error with the retryable flag the reply carried. */
    public InternalException(String message, boolean retryable) {
        super(ErrorCode.INTERNAL.name(), message, retryable);
    }
}
