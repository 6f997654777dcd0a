package dev.lodestone.bridge;

import static dev.lodestone.bridge.testing.Await.failure;
import static dev.lodestone.bridge.testing.Await.result;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lodestone.bridge.testing.Daemon;
import dev.lodestone.bridge.testing.DaemonExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The I/O thread sends the calls waiting for it as batch frames and matches each reply in a
 * reply array to its call; counted on the wire by the daemon's {@code frames} and {@code batches}.
 */
@ExtendWith(DaemonExtension.class)
class BatchingTest {
    private static final int AGENTS = 200;

    /** {@code {frames, batches}} the daemon has received, this stats call's own frame included. */
    private static long[] wireCounts(LodestoneClient client) {
        Map<?, ?> counters = (Map<?, ?>) result(client.stats()).get("counters");
        return new long[] {count(counters, "frames"), count(counters, "batches")};
    }

    private static long count(Map<?, ?> counters, String name) {
        Object value = counters.get(name);
        return value == null ? 0 : (Long) value;
    }

    @Test
    void aTicksCallsInABatchGoInOneFrame(Daemon daemon) {
        try (LodestoneClient client = LodestoneClient.builder().endpoint(daemon.rpc()).build()) {
            List<CompletableFuture<Map<String, Object>>> spawned = new ArrayList<>();
            try (LodestoneClient.Batch spawn = client.batch()) {
                for (int i = 0; i < AGENTS; i++) {
                    spawned.add(client.agent("tick-" + i).init(Position.of(0, 64, 0)));
                }
                assertEquals(AGENTS, spawn.size());
            }
            spawned.forEach(future -> result(future));
            long[] before = wireCounts(client);

            List<CompletableFuture<Map<String, Object>>> moves = new ArrayList<>();
            CompletableFuture<Map<String, Object>> ghost;
            try (LodestoneClient.Batch tick = client.batch()) {
                for (int i = 0; i < AGENTS; i++) {
                    moves.add(client.agent("tick-" + i).move(i, 64, 0));
                }
                ghost = client.agent("never-spawned").move(1, 2, 3);
                try (LodestoneClient.Batch nested = client.batch()) {
                    assertEquals(tick, nested);
                }
                assertEquals(AGENTS + 1, tick.size());
            }
            for (int i = 0; i < AGENTS; i++) {
                assertEquals((double) i, ((Number) result(moves.get(i)).get("distance")).doubleValue());
            }
            failure(ghost, NotFoundException.class);
            long[] after = wireCounts(client);
            assertEquals(2, after[0] - before[0], "the tick's frame and the stats call's");
            assertEquals(1, after[1] - before[1]);
        }
    }

    @Test
    void callsQueuedBeforeTheDaemonIsUpGoOutAsOneFrame() {
        int port = Daemon.freePort();
        try (Daemon daemon = Daemon.start(null, "tcp://127.0.0.1:" + port)) {
            daemon.kill();
            try (LodestoneClient client = LodestoneClient.builder().endpoint(daemon.rpc())
                    .timeout(Duration.ofSeconds(20)).build()) {
                List<CompletableFuture<Void>> puts = new ArrayList<>();
                for (int i = 0; i < 300; i++) {
                    puts.add(client.object("Chest", "queued").put("k" + i, (long) i));
                }
                daemon.restart();
                puts.forEach(future -> result(future));
                long[] counts = wireCounts(client);
                assertEquals(2, counts[0], "the queued calls' frame and the stats call's");
                assertEquals(1, counts[1]);
                assertEquals(299L, result(client.object("Chest", "queued").get("k299")));
            }
        }
    }

    @Test
    void moreCallsThanOneBatchHoldsGoInSeveralFrames(Daemon daemon) {
        try (LodestoneClient client = LodestoneClient.builder().endpoint(daemon.rpc())
                .batchMaxRequests(64).build()) {
            long[] before = wireCounts(client);
            List<CompletableFuture<Void>> puts = new ArrayList<>();
            try (LodestoneClient.Batch batch = client.batch()) {
                for (int i = 0; i < 150; i++) {
                    puts.add(client.object("Chest", "split").put("k" + i, (long) i));
                }
            }
            puts.forEach(future -> result(future));
            long[] after = wireCounts(client);
            assertEquals(4, after[0] - before[0], "64 + 64 + 22, and the stats call");
            assertEquals(3, after[1] - before[1]);
        }
    }
}
