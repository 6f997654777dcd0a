package dev.lodestone.bridge;

import java.time.Duration;
import java.util.Objects;

/**
 * Per-call overrides of the client's settings; immutable, each method returns a copy.
 * {@link #DEFAULTS} changes nothing.
 */
public final class CallOptions {
    /** No overrides. */
    public static final CallOptions DEFAULTS = new CallOptions(null, null, null);

    private final Duration timeout;
    private final Integer retries;
    private final String idempotencyKey;

    private CallOptions(Duration timeout, Integer retries, String idempotencyKey) {
        this.timeout = timeout;
        this.retries = retries;
        this.idempotencyKey = idempotencyKey;
    }

    /** How long to wait for each attempt's reply. */
    public CallOptions timeout(Duration timeout) {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("a timeout must be positive, got " + timeout);
        }
        return new CallOptions(timeout, retries, idempotencyKey);
    }

    /** How many times to send the request again after a timeout or a retryable error. */
    public CallOptions retries(int retries) {
        if (retries < 0) {
            throw new IllegalArgumentException("retries must be >= 0, got " + retries);
        }
        return new CallOptions(timeout, retries, idempotencyKey);
    }

    /**
     * The idempotency key to send with a write (1 to 256 bytes), instead of a fresh random one:
     * reuse it when you send the same logical write again (for example after a
     * {@link LodestoneTimeoutException}, or from a new client after a restart) so it is applied
     * once. The daemon remembers keys per object for its idempotency window (an hour by default).
     */
    public CallOptions idempotencyKey(String key) {
        Objects.requireNonNull(key, "key");
        return new CallOptions(timeout, retries, key);
    }

    Duration timeoutOr(Duration fallback) {
        return timeout != null ? timeout : fallback;
    }

    int retriesOr(int fallback) {
        return retries != null ? retries : fallback;
    }

    String idempotencyKey() {
        return idempotencyKey;
    }

    @Override
    public String toString() {
        return "CallOptions[timeout=" + timeout + ", retries=" + retries + ", idempotencyKey=" + idempotencyKey + "]";
    }
}
