package dev.lodestone.bridge;

/** {@link ErrorCode#UNSUPPORTED_VERSION}: the daemon does not speak the request's protocol version; the message lists the ones it does. */
public class UnsupportedVersionException extends LodestoneException {
    private static final long serialVersionUID = 1L;

    /** An error with the protocol's default retryable flag for {@code UNSUPPORTED_VERSION}. */
    public UnsupportedVersionException(String message) {
        this(message, ErrorCode.UNSUPPORTED_VERSION.retryable());
    }

    /** An error with the retryable flag the reply carried. */
    public UnsupportedVersionException(String message, boolean retryable) {
        super(ErrorCode.UNSUPPORTED_VERSION.name(), message, retryable);
    }
}
