package dev.lodestone.bridge;

/** {@link ErrorCode#NOT_FOUND}: the class is not declared, and the daemon refuses undeclared classes. */
public class NotFoundException extends LodestoneException {
    private static final long serialVersionUID = 1L;

    /** An error with the protocol's default retryable flag for {@code NOT_FOUND}. */
    public NotFoundException(String message) {
        this(message, ErrorCode.NOT_FOUND.retryable());
    }

    /** An error with the retryable flag the reply carried. */
    public NotFoundException(String message, boolean retryable) {
        super(ErrorCode.NOT_FOUND.name(), message, retryable);
    }
}
