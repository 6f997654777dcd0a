package dev.lodestone.bridge;

import static dev.lodestone.bridge.testing.Await.result;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lodestone.bridge.testing.Await;
import dev.lodestone.bridge.testing.Daemon;
import dev.lodestone.bridge.testing.DaemonExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Many threads share one client: every one of their calls gets its own reply. */
@ExtendWith(DaemonExtension.class)
class ConcurrencyTest {
    private static final int THREADS = 8;
    private static final int CALLS = 1000;
    private static final int KEYS = 100;

    /** What thread {@code t}'s call {@code i} must complete with. */
    private static Object expected(int thread, int call) {
        switch (call % 4) {
            case 0: return null;
            case 1: return "t" + thread + ":" + (call % KEYS);
            case 2: return Map.of("found", true, "value", "t" + thread + ":" + (call % KEYS));
            default: return (long) (thread * CALLS + call - 3);
        }
    }

    @Test
    void eightThreadsTimesAThousandCallsAllMatchTheirReplies(Daemon daemon) throws Exception {
        try (LodestoneClient client = LodestoneClient.builder().endpoint(daemon.rpc())
                .timeout(Duration.ofSeconds(20)).build()) {
            for (int t = 0; t < THREADS; t++) {
                Map<String, Object> entries = new LinkedHashMap<>();
                for (int k = 0; k < KEYS; k++) {
                    entries.put("k" + k, "t" + t + ":" + k);
                }
                result(client.object("Agent", "load-" + t).putMany(entries));
            }

            CountDownLatch go = new CountDownLatch(1);
            List<List<CompletableFuture<Object>>> issued = new ArrayList<>();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                List<CompletableFuture<Object>> mine = new ArrayList<>(CALLS);
                issued.add(mine);
                int thread = t;
                threads.add(new Thread(() -> {
                    ObjectHandle handle = client.object("Agent", "load-" + thread);
                    Target target = handle.target();
                    try {
                        go.await();
                    } catch (InterruptedException e) {
                        return;
                    }
                    for (int i = 0; i < CALLS; i++) {
                        switch (i % 4) {
                            case 0:
                                mine.add(handle.put("w" + i, (long) (thread * CALLS + i)).thenApply(v -> v));
                                break;
                            case 1:
                                mine.add(handle.get("k" + (i % KEYS)));
                                break;
                            case 2:
                                mine.add(client.call("storage.get", target, Map.of("key", "k" + (i % KEYS))));
                                break;
                            default:
                                mine.add(client.call("storage.get", target, Map.of("key", "w" + (i - 3)))
                                        .thenApply(reply -> ((Map<?, ?>) reply).get("value")));
                                break;
                        }
                    }
                }, "caller-" + t));
            }
            threads.forEach(Thread::start);
            go.countDown();
            for (Thread thread : threads) {
                thread.join(TimeUnit.SECONDS.toMillis(Await.SECONDS));
            }

            List<CompletableFuture<Object>> all = new ArrayList<>();
            issued.forEach(all::addAll);
            assertEquals(THREADS * CALLS, all.size());
            CompletableFuture.allOf(all.toArray(new CompletableFuture<?>[0])).get(60, TimeUnit.SECONDS);
            for (int t = 0; t < THREADS; t++) {
                for (int i = 0; i < CALLS; i++) {
                    assertEquals(expected(t, i), issued.get(t).get(i).join(), "thread " + t + " call " + i);
                }
            }
            assertEquals(0, client.pendingCalls());

            // Every write landed once, on its own object.
            for (int t = 0; t < THREADS; t++) {
                List<Map.Entry<String, Object>> writes = result(client.object("Agent", "load-" + t)
                        .list(ListOptions.prefix("w")));
                assertEquals(CALLS / 4, writes.size());
                for (Map.Entry<String, Object> entry : writes) {
                    int call = Integer.parseInt(entry.getKey().substring(1));
                    assertEquals((long) (t * CALLS + call), entry.getValue());
                }
            }
            Map<String, Object> counters = Results.map(result(client.stats()).get("counters"), "counters");
            assertTrue(counters.toString().length() > 2, counters.toString());
        }
    }
}
