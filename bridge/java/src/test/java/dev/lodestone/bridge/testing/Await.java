package dev.lodestone.bridge.testing;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Waiting on futures with a bound, never on sleeps. */
public final class Await {
    /** The longest any single future in these tests may take. */
    public static final long SECONDS = 30;

    private Await() {
    }

    /** The future's value; fails the test on an exception or after {@link #SECONDS}. */
    public static <T> T result(CompletableFuture<T> future) {
        try {
            return future.get(SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new AssertionError("the call failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new AssertionError("the future did not complete in " + SECONDS + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** The exception the future failed with, checked to be a {@code type}. */
    public static <E extends Throwable> E failure(CompletableFuture<?> future, Class<E> type) {
        try {
            Object value = future.get(SECONDS, TimeUnit.SECONDS);
            return fail("expected " + type.getSimpleName() + ", got the value " + value);
        } catch (ExecutionException e) {
            return assertInstanceOf(type, e.getCause(), "the future failed with another error");
        } catch (TimeoutException e) {
            throw new AssertionError("the future did not complete in " + SECONDS + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
