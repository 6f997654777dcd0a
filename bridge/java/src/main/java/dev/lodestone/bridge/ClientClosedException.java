package dev.lodestone.bridge;

/**
 * {@link ErrorCode#UNAVAILABLE}, raised by the client itself: the call was made on, or was
 * still pending in, a client (or subscriber) that has been closed. A write that was pending may
 * or may not have been applied.
 */
public class ClientClosedException extends UnavailableException {
    private static final long serialVersionUID = 1L;

    /** The client was closed. */
    public ClientClosedException(String message) {
        super(message, false);
    }
}
