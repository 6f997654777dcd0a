package dev.lodestone.bridge;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

/**
 * One request from {@link LodestoneClient#call} until its future completes. The fields below
 * {@code future} are the I/O thread's alone; {@link #succeed} and {@link #fail} may be called from
 * any thread and settle the call exactly once.
 */
final class PendingCall<T> {
    final long id;
    final String op;
    final byte[] body;
    /** Whether sending the body again is safe: a read, or a write with an idempotency key. */
    final boolean resendable;
    final long timeoutNanos;
    final int retries;
    private final Function<Object, T> convert;
    private final CompletableFuture<T> future;
    private final Executor executor;
    private final AtomicBoolean settled = new AtomicBoolean();

    // I/O thread state.
    /** Attempts started so far; the first send is attempt 1. */
    int attempts;
    /** Bumped on each state change, so timers set before it are ignored. */
    int generation;
    /** Waiting for a reply (else waiting out a backoff before the next attempt). */
    boolean awaitingReply;
    /** In the outbox, to be sent when the socket takes it. */
    boolean queued;
    /** Handed to the socket at least once in the current attempt. */
    boolean sent;

    PendingCall(long id, String op, byte[] body, boolean resendable, long timeoutNanos, int retries,
            Function<Object, T> convert, CompletableFuture<T> future, Executor executor) {
        this.id = id;
        this.op = op;
        this.body = body;
        this.resendable = resendable;
        this.timeoutNanos = timeoutNanos;
        this.retries = retries;
        this.convert = convert;
        this.future = future;
        this.executor = executor;
    }

    /** Whether the call was settled, or its future completed (or cancelled) by its caller. */
    boolean isDone() {
        return settled.get() || future.isDone();
    }

    /** Complete the future with the converted result, on the executor. */
    void succeed(Object result) {
        if (settled.compareAndSet(false, true)) {
            dispatch(() -> {
                T value;
                try {
                    value = convert.apply(result);
                } catch (LodestoneException e) {
                    future.completeExceptionally(e);
                    return;
                } catch (RuntimeException e) {
                    future.completeExceptionally(new InternalException("unreadable result of " + op + ": " + e));
                    return;
                }
                future.complete(value);
            });
        }
    }

    /** Complete the future exceptionally with {@code error}, on the executor. */
    void fail(Throwable error) {
        if (settled.compareAndSet(false, true)) {
            dispatch(() -> future.completeExceptionally(error));
        }
    }

    /**
     * Run {@code completion} on the executor; if the executor refuses it (a plugin being disabled,
     * a pool shut down), run it here rather than leave the future pending forever.
     */
    private void dispatch(Runnable completion) {
        try {
            executor.execute(completion);
        } catch (RuntimeException refused) {
            completion.run();
        }
    }
}
