package dev.lodestone.bridge;

import static dev.lodestone.bridge.testing.Await.result;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lodestone.bridge.testing.Await;
import dev.lodestone.bridge.testing.Daemon;
import dev.lodestone.bridge.testing.DaemonExtension;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The change stream through {@link LodestoneSubscriber}: prefix filters, runtime (un)subscribing,
 * alarm notices, delivery on the given executor.
 *
 * <p>A subscription takes a moment to reach the daemon, so each test first writes to a matching
 * object until the subscriber sees it ({@link #warmUp}). After that, PUB keeps the order of
 * messages, so "an event did not arrive" is shown by a later marker arriving without it.
 */
@ExtendWith(DaemonExtension.class)
class LodestoneSubscriberTest {
    private static LodestoneClient client;

    @BeforeAll
    static void connect(Daemon daemon) {
        client = LodestoneClient.builder().endpoint(daemon.rpc()).build();
    }

    @AfterAll
    static void close() {
        client.close();
    }

    private static LodestoneSubscriber subscriber(Daemon daemon, BlockingQueue<LodestoneEvent> events,
            String... prefixes) {
        LodestoneSubscriber.Builder builder = LodestoneSubscriber.builder().endpoint(daemon.pub()).listener(events::add);
        for (String prefix : prefixes) {
            builder.subscribe(prefix);
        }
        return builder.build();
    }

    /** Write to {@code object} until {@code events} shows it; then forget what arrived. */
    private static void warmUp(ObjectHandle object, BlockingQueue<LodestoneEvent> events) throws InterruptedException {
        for (int attempt = 0; attempt < 200; attempt++) {
            result(object.put("warm", attempt));
            LodestoneEvent event = events.poll(100, TimeUnit.MILLISECONDS);
            if (event != null) {
                events.clear();
                return;
            }
        }
        throw new AssertionError("the subscription never started delivering");
    }

    /** Events up to and including the first that matches {@code last}, less late warm-up writes. */
    private static List<LodestoneEvent> until(BlockingQueue<LodestoneEvent> events, Predicate<LodestoneEvent> last)
            throws InterruptedException {
        List<LodestoneEvent> seen = new ArrayList<>();
        while (true) {
            LodestoneEvent event = events.poll(Await.SECONDS, TimeUnit.SECONDS);
            assertNotNull(event, "the marker never arrived; saw " + seen);
            if (event.changes().stream().allMatch(change -> "warm".equals(change.get("key")))
                    && !event.changes().isEmpty()) {
                continue;
            }
            seen.add(event);
            if (last.test(event)) {
                return seen;
            }
        }
    }

    private static Predicate<LodestoneEvent> marker(String name) {
        return event -> name.equals(event.name()) && event.changes().stream().anyMatch(c -> "end".equals(c.get("key")));
    }

    @Test
    @SuppressWarnings("try")
    void prefixFiltersPickClassesAndObjects(Daemon daemon) throws Exception {
        String oneId = result(client.idFromName("Agent", "sub-one"));
        BlockingQueue<LodestoneEvent> agents = new LinkedBlockingQueue<>();
        BlockingQueue<LodestoneEvent> one = new LinkedBlockingQueue<>();
        try (LodestoneSubscriber classFilter = subscriber(daemon, agents, "change.Agent.");
                LodestoneSubscriber objectFilter = subscriber(daemon, one, "change.Agent." + oneId)) {
            ObjectHandle steveOne = client.object("Agent", "sub-one");
            warmUp(steveOne, one);
            warmUp(steveOne, agents);

            result(steveOne.put("hp", 20));
            result(client.object("Agent", "sub-two").put("hp", 19));
            result(client.object("Foreman", "sub-three").put("hp", 18));
            result(steveOne.delete("hp"));
            result(steveOne.put("end", true));

            List<LodestoneEvent> classEvents = until(agents, marker("sub-one"));
            assertEquals(List.of("sub-one", "sub-two", "sub-one", "sub-one"),
                    classEvents.stream().map(LodestoneEvent::name).collect(Collectors.toList()));
            assertTrue(classEvents.stream().allMatch(event -> event.topic().startsWith("change.Agent.")));

            List<LodestoneEvent> objectEvents = until(one, marker("sub-one"));
            assertEquals(3, objectEvents.size(), objectEvents.toString());
            LodestoneEvent put = objectEvents.get(0);
            assertEquals("change.Agent." + oneId, put.topic());
            assertEquals("change", put.kind());
            assertEquals("Agent", put.className());
            assertEquals(oneId, put.objectId());
            assertEquals(1L, put.body().get("v"));
            assertEquals(false, put.body().get("cleared"));
            assertEquals(List.of(Map.of("key", "hp", "value", 20L)), put.changes());
            assertEquals(List.of(Map.of("key", "hp", "deleted", true)), objectEvents.get(1).changes());
            long first = (Long) put.body().get("commit");
            assertTrue((Long) objectEvents.get(2).body().get("commit") > first, "commits increase");

            result(steveOne.deleteAll());
            LodestoneEvent cleared = one.poll(Await.SECONDS, TimeUnit.SECONDS);
            assertNotNull(cleared);
            assertEquals(true, cleared.body().get("cleared"));
        }
    }

    @Test
    void subscribeAndUnsubscribeWhileRunning(Daemon daemon) throws Exception {
        BlockingQueue<LodestoneEvent> events = new LinkedBlockingQueue<>();
        try (LodestoneSubscriber subscriber = subscriber(daemon, events)) {
            subscriber.subscribe("change.Barrel.");
            warmUp(client.object("Barrel", "b"), events);
            subscriber.unsubscribe("change.Barrel.");
            subscriber.subscribe("change.Crate.");
            // The unsubscribe reached the daemon before the subscribe that this wait proves.
            warmUp(client.object("Crate", "c"), events);
            result(client.object("Barrel", "b").put("after", 1));
            result(client.object("Crate", "c").put("end", true));
            List<LodestoneEvent> seen = until(events, marker("c"));
            assertEquals(1, seen.size(), "nothing from Barrel after unsubscribing: " + seen);
            assertTrue(subscriber.received() >= 1);
        }
        LodestoneSubscriber closed = subscriber(daemon, events);
        closed.close();
        assertThrows(ClientClosedException.class, () -> closed.subscribe("change."));
    }

    @Test
    @SuppressWarnings("try")
    void alarmNoticesArriveOnTheGivenExecutor(Daemon daemon) throws Exception {
        BlockingQueue<LodestoneEvent> events = new LinkedBlockingQueue<>();
        BlockingQueue<String> threads = new LinkedBlockingQueue<>();
        ExecutorService main = Executors.newSingleThreadExecutor(runnable -> new Thread(runnable, "server-main"));
        try (LodestoneSubscriber subscriber = LodestoneSubscriber.builder()
                .endpoint(daemon.pub())
                .subscribe("alarm.Beacon.")
                .subscribe("change.Beacon.")
                .executor(main)
                .listener(event -> {
                    threads.add(Thread.currentThread().getName());
                    events.add(event);
                })
                .build()) {
            ObjectHandle beacon = client.object("Beacon", "lighthouse");
            warmUp(beacon, events);
            events.clear();
            long scheduled = System.currentTimeMillis() + 200;
            result(beacon.setAlarm(scheduled));
            LodestoneEvent notice;
            do {
                notice = events.poll(Await.SECONDS, TimeUnit.SECONDS);
                assertNotNull(notice, "no alarm notice");
            } while (!"alarm".equals(notice.kind()));
            assertEquals("alarm.Beacon." + result(client.idFromName("Beacon", "lighthouse")), notice.topic());
            assertEquals("lighthouse", notice.name());
            assertEquals(scheduled, notice.body().get("scheduled_ms"));
            assertTrue(notice.changes().isEmpty());
            assertEquals("server-main", threads.poll());
            assertEquals(OptionalLong.empty(), result(beacon.getAlarm()), "a published alarm is cleared");
        } finally {
            main.shutdownNow();
        }
    }

    @Test
    @SuppressWarnings("try")
    void aListenerThatThrowsDoesNotStopTheStream(Daemon daemon) throws Exception {
        BlockingQueue<LodestoneEvent> events = new LinkedBlockingQueue<>();
        try (LodestoneSubscriber subscriber = LodestoneSubscriber.builder()
                .endpoint(daemon.pub())
                .subscribe("change.Torch.")
                .listener(event -> {
                    events.add(event);
                    throw new IllegalStateException("a plugin bug");
                })
                .build()) {
            warmUp(client.object("Torch", "t"), events);
            result(client.object("Torch", "t").put("end", true));
            assertEquals(1, until(events, marker("t")).size());
        }
    }
}
