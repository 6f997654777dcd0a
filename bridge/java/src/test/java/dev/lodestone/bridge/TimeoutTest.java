package dev.lodestone.bridge;

import static dev.lodestone.bridge.testing.Await.failure;
import static dev.lodestone.bridge.testing.Await.result;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lodestone.bridge.testing.Daemon;
import dev.lodestone.bridge.testing.DaemonExtension;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** No reply in time: a typed, retryable error after the configured attempts, never a hang. */
@ExtendWith(DaemonExtension.class)
class TimeoutTest {
    /** A loopback endpoint nobody serves. */
    private static String nowhere() {
        return "tcp://127.0.0.1:" + Daemon.freePort();
    }

    @Test
    void aCallToNobodyTimesOutAfterEveryRetry() {
        try (LodestoneClient client = LodestoneClient.builder().endpoint(nowhere())
                .timeout(Duration.ofMillis(200)).retries(2).build()) {
            long started = System.nanoTime();
            LodestoneTimeoutException timeout = failure(client.ping(), LodestoneTimeoutException.class);
            long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
            assertTrue(elapsedMs >= 550, "three attempts of 200 ms, took " + elapsedMs + " ms");
            assertTrue(elapsedMs < 5_000, "took " + elapsedMs + " ms");
            assertEquals(ErrorCode.TIMEOUT, timeout.code());
            assertTrue(timeout.retryable());
            assertTrue(timeout.getMessage().contains("3 attempts"), timeout.getMessage());
            assertEquals(0, client.pendingCalls());
        }
    }

    @Test
    void aBadEndpointIsRefusedAtOnce() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> LodestoneClient.builder().endpoint("not-an-endpoint").build());
        assertTrue(error.getMessage().contains("not-an-endpoint"), error.getMessage());
    }

    @Test
    void perCallOptionsOverrideTheClients() {
        try (LodestoneClient client = LodestoneClient.builder().endpoint(nowhere())
                .timeout(Duration.ofMinutes(5)).retries(5).build()) {
            CompletableFuture<Object> quick = client.call("ping", null, null,
                    CallOptions.DEFAULTS.timeout(Duration.ofMillis(100)).retries(0));
            LodestoneTimeoutException timeout = failure(quick, LodestoneTimeoutException.class);
            assertTrue(timeout.getMessage().contains("1 attempt "), timeout.getMessage());
        }
    }

    @Test
    void withoutIdempotencyAWriteIsSentOnlyOnce() {
        try (LodestoneClient client = LodestoneClient.builder().endpoint(nowhere())
                .timeout(Duration.ofMillis(150)).retries(3).idempotency(false).build()) {
            LodestoneTimeoutException write = failure(client.object("Agent", "steve").put("k", 1),
                    LodestoneTimeoutException.class);
            assertTrue(write.getMessage().contains("1 attempt "), write.getMessage());
            LodestoneTimeoutException read = failure(client.object("Agent", "steve").get("k"),
                    LodestoneTimeoutException.class);
            assertTrue(read.getMessage().contains("4 attempts"), read.getMessage());
        }
    }

    @Test
    void manyPendingCallsAllTimeOutAndTheClientStillWorksWhenTheDaemonIsThere(Daemon daemon) {
        try (LodestoneClient client = LodestoneClient.builder().endpoint(nowhere())
                .timeout(Duration.ofMillis(300)).retries(0).build()) {
            CompletableFuture<?>[] calls = new CompletableFuture<?>[500];
            for (int i = 0; i < calls.length; i++) {
                calls[i] = client.object("Agent", "steve-" + i).get("k");
            }
            for (CompletableFuture<?> call : calls) {
                failure(call, LodestoneTimeoutException.class);
            }
        }
        try (LodestoneClient client = LodestoneClient.builder().endpoint(daemon.rpc()).build()) {
            assertEquals(null, result(client.object("Agent", "steve").get("k")));
        }
    }
}
