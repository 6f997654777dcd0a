package dev.lodestone.bridge;

/** {@link ErrorCode#BAD_REQUEST}: a malformed request: a missing or mistyped field, an unknown argument, a bad option. */
public class BadRequestException extends LodestoneException {
    private static final long serialVersionUID = 1L;

    /** An error with the protocol's default retryable flag for {@code BAD_REQUEST}. */
    public BadRequestException(String message) {
        this(message, ErrorCode.BAD_REQUEST.retryable());
    }

    /** An error with the retryable flag the reply carried. */
    public BadRequestException(String message, boolean retryable) {
        super(ErrorCode.BAD_REQUEST.name(), message, retryable);
    }
}
