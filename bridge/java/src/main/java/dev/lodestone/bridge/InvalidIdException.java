package dev.lodestone.bridge;

/** {@link ErrorCode#INVALID_ID}: an id that is malformed, or was made for another class or another deployment. */
public class InvalidIdException extends LodestoneException {
    private static final long serialVersionUID = 1L;

    /** An error with the protocol's default retryable flag for {@code INVALID_ID}. */
    public InvalidIdException(String message) {
        this(message, ErrorCode.INVALID_ID.retryable());
    }

    /** An error with the retryable flag the reply carried. */
    public InvalidIdException(String message, boolean retryable) {
        super(ErrorCode.INVALID_ID.name(), message, retryable);
    }
}
