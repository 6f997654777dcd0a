package dev.lodestone.bridge;

import static dev.lodestone.bridge.testing.Await.result;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lodestone.bridge.testing.Await;
import dev.lodestone.bridge.testing.Daemon;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The daemon is killed (SIGKILL) and started again on the same port in the middle of a load of
 * writes and reads: the client reconnects by itself, calls in flight are sent again with their
 * idempotency keys, and no write it acknowledged is lost.
 */
class RestartTest {
    private static final int WRITERS = 4;
    private static final int WRITES = 300;
    private static final int WINDOW = 16;

    @Test
    void noAcknowledgedWriteIsLostAcrossADaemonRestart() throws Exception {
        int port = Daemon.freePort();
        try (Daemon daemon = Daemon.start(null, "tcp://127.0.0.1:" + port);
                LodestoneClient client = LodestoneClient.builder().endpoint(daemon.rpc())
                        .timeout(Duration.ofSeconds(1)).retries(15).build()) {
            result(client.ping());
            Map<String, Long> acknowledged = new ConcurrentHashMap<>();
            AtomicInteger reads = new AtomicInteger();
            AtomicReference<Throwable> unexpected = new AtomicReference<>();
            CountDownLatch someAcknowledged = new CountDownLatch(WRITERS * WRITES / 4);
            List<CompletableFuture<?>> calls = Collections.synchronizedList(new ArrayList<>());
            List<Thread> writers = new ArrayList<>();
            for (int w = 0; w < WRITERS; w++) {
                int writer = w;
                writers.add(new Thread(() -> {
                    ObjectHandle steve = client.object("Agent", "restart-" + writer);
                    Semaphore window = new Semaphore(WINDOW);
                    for (int i = 0; i < WRITES; i++) {
                        try {
                            if (!window.tryAcquire(Await.SECONDS, TimeUnit.SECONDS)) {
                                unexpected.compareAndSet(null, new AssertionError("the window never opened"));
                                return;
                            }
                        } catch (InterruptedException e) {
                            return;
                        }
                        String key = "k" + i;
                        long value = writer * 1_000_000L + i;
                        CompletableFuture<?> write = steve.put(key, value).whenComplete((ok, error) -> {
                            window.release();
                            if (error == null) {
                                acknowledged.put(writer + "/" + key, value);
                                someAcknowledged.countDown();
                            }
                        });
                        calls.add(write);
                        if (i % 5 == 4) {
                            String earlier = "k" + (i - 4);
                            calls.add(steve.get(earlier).thenAccept(read -> reads.incrementAndGet()));
                        }
                    }
                }, "writer-" + w));
            }
            writers.forEach(Thread::start);

            assertTrue(someAcknowledged.await(Await.SECONDS, TimeUnit.SECONDS), "the load got going");
            // Kill it with calls in flight: a fast daemon can have answered every call sent so far.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Await.SECONDS);
            int inFlight = client.pendingCalls();
            while (inFlight == 0 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
                inFlight = client.pendingCalls();
            }
            int beforeRestart = acknowledged.size();
            daemon.restart();
            assertEquals("tcp://127.0.0.1:" + port, daemon.rpc());

            for (Thread writer : writers) {
                writer.join(TimeUnit.SECONDS.toMillis(60));
            }
            int failed = 0;
            for (CompletableFuture<?> call : new ArrayList<>(calls)) {
                try {
                    call.get(60, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    assertInstanceOf(LodestoneException.class, e.getCause(), "every failure is typed");
                    failed++;
                }
            }
            assertEquals(null, unexpected.get());
            assertEquals(0, failed, "with 15 retries of 1 s, every call outlives a restart");
            assertEquals(WRITERS * WRITES, acknowledged.size());
            assertTrue(beforeRestart < acknowledged.size(), "writes were acknowledged after the restart too");
            assertTrue(inFlight > 0, "calls were in flight when the daemon was killed");
            assertEquals(WRITERS * WRITES / 5, reads.get());

            // Every acknowledged write is there, read by a client that never saw the old daemon.
            try (LodestoneClient fresh = LodestoneClient.builder().endpoint(daemon.rpc()).build()) {
                for (int w = 0; w < WRITERS; w++) {
                    List<Map.Entry<String, Object>> stored = result(fresh.object("Agent", "restart-" + w).list());
                    assertEquals(WRITES, stored.size());
                    for (Map.Entry<String, Object> entry : stored) {
                        assertEquals(acknowledged.get(w + "/" + entry.getKey()), entry.getValue(), entry.getKey());
                    }
                }
            }
        }
    }
}
