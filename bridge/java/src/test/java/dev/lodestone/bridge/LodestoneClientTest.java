package dev.lodestone.bridge;

import static dev.lodestone.bridge.testing.Await.failure;
import static dev.lodestone.bridge.testing.Await.result;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lodestone.bridge.testing.Await;
import dev.lodestone.bridge.testing.Daemon;
import dev.lodestone.bridge.testing.DaemonExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Every generic call of the client, against a real daemon. */
@ExtendWith(DaemonExtension.class)
class LodestoneClientTest {
    private static final String HEX64 = "[0-9a-f]{64}";
    private static LodestoneClient client;

    @BeforeAll
    static void connect(Daemon daemon) {
        client = LodestoneClient.builder().endpoint(daemon.rpc()).timeout(Duration.ofSeconds(10)).build();
    }

    @AfterAll
    static void close() {
        client.close();
    }

    @Test
    void pingStatsAndHealth() {
        Map<String, Object> ping = result(client.ping());
        assertEquals(List.of(1L), ping.get("protocol"));
        assertTrue(ping.get("version") instanceof String);
        Map<String, Object> stats = result(client.stats());
        assertTrue(stats.get("storage") instanceof Map, stats.toString());
        assertTrue(stats.get("counters") instanceof Map, stats.toString());
        Map<String, Object> health = result(client.health());
        assertTrue(List.of("ok", "warning").contains(health.get("status")), health.toString());
        assertEquals(true, health.get("storage_open"));
    }

    @Test
    void ids() {
        String steve = result(client.idFromName("Agent", "steve-ids"));
        assertTrue(steve.matches(HEX64), steve);
        assertEquals(steve, result(client.idFromName("Agent", "steve-ids")));
        assertNotEquals(steve, result(client.idFromName("Foreman", "steve-ids")));
        String unique = result(client.newUniqueId("Agent"));
        assertTrue(unique.matches(HEX64), unique);
        assertNotEquals(unique, result(client.newUniqueId("Agent")));
        assertEquals(steve, result(client.idFromString("Agent", steve)));
        assertEquals(unique, result(client.idFromString("Agent", unique)));
        InvalidIdException wrongClass = failure(client.idFromString("Foreman", steve), InvalidIdException.class);
        assertEquals(ErrorCode.INVALID_ID, wrongClass.code());
        assertFalse(wrongClass.retryable());
        failure(client.idFromString("Agent", "abc"), InvalidIdException.class);
    }

    @Test
    void valuesRoundTripWithTheirTypes() {
        ObjectHandle steve = client.object("Agent", "steve-values");
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("health", 20);
        state.put("big", Long.MAX_VALUE);
        state.put("negative", -3);
        state.put("x", 1.5);
        state.put("name", "Steve \u00e9\u26cf");
        state.put("alive", true);
        state.put("nothing", null);
        state.put("inventory", List.of(Map.of("type", "oak_log", "count", 12)));
        state.put("ints", new int[] {1, 2, 3});
        result(steve.put("state", state));
        result(steve.put("raw", new byte[] {0, 1, (byte) 0xff}));

        Map<?, ?> back = (Map<?, ?>) result(steve.get("state"));
        assertEquals(20L, back.get("health"));
        assertEquals(Long.MAX_VALUE, back.get("big"));
        assertEquals(-3L, back.get("negative"));
        assertEquals(1.5, back.get("x"));
        assertEquals("Steve \u00e9\u26cf", back.get("name"));
        assertEquals(true, back.get("alive"));
        assertTrue(back.containsKey("nothing"));
        assertNull(back.get("nothing"));
        assertEquals(List.of(Map.of("type", "oak_log", "count", 12L)), back.get("inventory"));
        assertEquals(List.of(1L, 2L, 3L), back.get("ints"));
        assertEquals(new ArrayList<>(state.keySet()), new ArrayList<>(back.keySet()), "map order is kept");
        assertArrayEquals(new byte[] {0, 1, (byte) 0xff}, (byte[]) result(steve.get("raw")));
    }

    @Test
    void getPutDeleteOneAndMany() {
        ObjectHandle steve = client.object("Agent", "steve-crud");
        assertNull(result(steve.get("missing")));
        assertEquals("fallback", result(steve.get("missing", "fallback")));

        Map<String, Object> entries = new LinkedHashMap<>();
        entries.put("task:2", "build");
        entries.put("task:1", "mine");
        entries.put("hp", 20);
        result(steve.putMany(entries));
        Map<String, Object> found = result(steve.getMany(List.of("task:2", "zzz", "hp", "task:1")));
        assertEquals(List.of("hp", "task:1", "task:2"), new ArrayList<>(found.keySet()), "key byte order");
        assertEquals("mine", found.get("task:1"));
        assertEquals(20L, found.get("hp"));

        assertEquals(true, result(steve.delete("task:2")));
        assertEquals(false, result(steve.delete("task:2")));
        assertEquals(1L, result(steve.deleteMany(List.of("hp", "nope"))));
        assertEquals(List.of(Map.entry("task:1", "mine")), result(steve.list()));

        result(steve.deleteAll());
        assertEquals(List.of(), result(steve.list()));
    }

    @Test
    void listRangesAndOrder() {
        ObjectHandle chest = client.object("Chest", "list-ranges");
        Map<String, Object> entries = new LinkedHashMap<>();
        for (String key : List.of("a", "b", "c", "d", "task:1", "task:2", "task:3", "\u00e9")) {
            entries.put(key, key.toUpperCase());
        }
        result(chest.putMany(entries));
        assertEquals(List.of("a", "b", "c", "d", "task:1", "task:2", "task:3", "\u00e9"), keys(chest, ListOptions.all()));
        assertEquals(List.of("task:3", "task:2"), keys(chest, ListOptions.prefix("task:").reverse().limit(2)));
        assertEquals(List.of("b", "c"), keys(chest, ListOptions.all().start("b").end("d")));
        assertEquals(List.of("c", "d"), keys(chest, ListOptions.all().startAfter("b").end("task:1")));
        assertEquals(List.of(), keys(chest, ListOptions.all().start("d").end("b")));
        assertEquals(List.of("\u00e9", "task:3"), keys(chest, ListOptions.all().reverse().limit(2)));
        assertEquals("A", result(chest.list(ListOptions.all().limit(1))).get(0).getValue());
        failure(chest.list(ListOptions.all().limit(0)), BadRequestException.class);
        failure(chest.list(ListOptions.all().start("a").startAfter("a")), BadRequestException.class);
    }

    private static List<String> keys(ObjectHandle handle, ListOptions options) {
        List<String> keys = new ArrayList<>();
        result(handle.list(options)).forEach(entry -> keys.add(entry.getKey()));
        return keys;
    }

    @Test
    void transactions() {
        ObjectHandle steve = client.object("Agent", "steve-tx");
        result(steve.put("hp", 20));
        ConflictException conflict = failure(steve.transaction(new Transaction()
                .checkEquals("hp", 19).put("hp", 18)), ConflictException.class);
        assertTrue(conflict.getMessage().contains("hp"), conflict.getMessage());
        assertEquals(20L, result(steve.get("hp")));
        // 20 and 20.0 differ: checks compare by type too.
        failure(steve.transaction(new Transaction().checkEquals("hp", 20.0).put("hp", 1)), ConflictException.class);

        result(steve.transaction(new Transaction()
                .checkEquals("hp", 20).checkAbsent("dead")
                .put("hp", 18).put("task", "flee").delete("nothing")));
        assertEquals(18L, result(steve.get("hp")));
        assertEquals("flee", result(steve.get("task")));
    }

    @Test
    void addressingByIdReachesTheSameObject() {
        ObjectHandle byName = client.object("Agent", "steve-by-id");
        result(byName.put("state", "idle"));
        String id = result(client.idFromName("Agent", "steve-by-id"));
        ObjectHandle byId = client.objectById("Agent", id);
        assertEquals("idle", result(byId.get("state")));
        assertEquals(Target.byId("Agent", id), byId.target());

        List<StoredObject> agents = result(client.listObjects("Agent", null, 10_000));
        assertTrue(agents.contains(new StoredObject("Agent", id, "steve-by-id")), agents.toString());
        String unique = result(client.newUniqueId("Agent"));
        result(client.objectById("Agent", unique).put("k", 1));
        agents = result(client.listObjects("Agent", null, 10_000));
        assertTrue(agents.contains(new StoredObject("Agent", unique, null)), agents.toString());
        List<StoredObject> page = result(client.listObjects("Agent", agents.get(0).id(), 1));
        assertEquals(List.of(agents.get(1)), page);
        failure(client.objectById("Agent", "abc").get("k"), InvalidIdException.class);
    }

    @Test
    void alarms() {
        ObjectHandle foreman = client.object("Foreman", "alarm-far");
        long at = System.currentTimeMillis() + TimeUnit.DAYS.toMillis(365);
        assertEquals(OptionalLong.empty(), result(foreman.getAlarm()));
        result(foreman.setAlarm(at));
        assertEquals(OptionalLong.of(at), result(foreman.getAlarm()));
        String id = result(client.idFromName("Foreman", "alarm-far"));
        List<Alarm> alarms = result(client.listAlarms(null, 1000));
        Alarm mine = alarms.stream().filter(alarm -> alarm.id().equals(id)).findFirst().orElseThrow();
        assertEquals("Foreman", mine.className());
        assertEquals("alarm-far", mine.name());
        assertEquals(at, mine.atMs());
        assertEquals(0, mine.retryCount());
        assertTrue(result(client.listAlarms(at - 1, 1000)).stream().noneMatch(alarm -> alarm.id().equals(id)));
        result(foreman.deleteAlarm());
        assertEquals(OptionalLong.empty(), result(foreman.getAlarm()));
        failure(foreman.setAlarm(0), BadRequestException.class);
    }

    @Test
    void theGenericCall() {
        Target steve = Target.byName("Agent", "steve-generic");
        Map<String, Object> args = new LinkedHashMap<>();
        args.put("key", "k");
        args.put("value", List.of(1, "two"));
        assertEquals(Map.of(), result(client.call("storage.put", steve, args)));
        assertEquals(Map.of("found", true, "value", List.of(1L, "two")),
                result(client.call("storage.get", steve, Map.of("key", "k"))));
        assertEquals(List.of(1L), ((Map<?, ?>) result(client.call("ping", null, null))).get("protocol"));

        UnknownOpException unknown = failure(client.call("storage.fly", steve, Map.of()), UnknownOpException.class);
        assertEquals("UNKNOWN_OP", unknown.wireCode());
        failure(client.call("storage.get", steve, Map.of("key", "k", "colour", "red")), BadRequestException.class);
        failure(client.call("storage.put", steve, Map.of("key", 5, "value", 1)), BadRequestException.class);
        // Refused before it is sent: an Object is not a msgpack value.
        failure(client.call("storage.put", steve, Map.of("key", "k", "value", new Object())), BadRequestException.class);
    }

    @Test
    void oversizeValuesAreRefusedAndNothingIsWritten() {
        ObjectHandle steve = client.object("Agent", "steve-large");
        byte[] big = new byte[2 * 1024 * 1024 + 1];
        TooLargeException tooLarge = failure(steve.put("blob", big), TooLargeException.class);
        assertTrue(tooLarge.getMessage().contains("blob"), tooLarge.getMessage());
        assertNull(result(steve.get("blob")));
        try (LodestoneClient small = LodestoneClient.builder().endpoint(client.endpoint()).maxFrameBytes(1024).build()) {
            failure(small.object("Agent", "steve-large").put("blob", new byte[2048]), TooLargeException.class);
        }
    }

    @Test
    void aCallerChosenIdempotencyKeyAppliesAWriteOnce() {
        ObjectHandle steve = client.object("Agent", "steve-idem");
        result(steve.put("task", "mine"));
        ObjectHandle once = steve.withOptions(CallOptions.DEFAULTS.idempotencyKey("delete-task-7"));
        assertEquals(true, result(once.delete("task")));
        result(steve.put("task", "mine again"));
        // The same key again: the recorded result, and the new value is not deleted.
        assertEquals(true, result(once.delete("task")));
        assertEquals("mine again", result(steve.get("task")));
    }

    @Test
    void futuresCompleteOnTheGivenExecutor() throws InterruptedException {
        ExecutorService main = Executors.newSingleThreadExecutor(runnable -> new Thread(runnable, "server-main"));
        CountDownLatch tickRunning = new CountDownLatch(1);
        CountDownLatch tickDone = new CountDownLatch(1);
        try (LodestoneClient onMain = LodestoneClient.builder().endpoint(client.endpoint()).executor(main).build()) {
            // Hold the "main thread" so the reply cannot complete before the callbacks are attached.
            main.execute(() -> {
                tickRunning.countDown();
                try {
                    tickDone.await(Await.SECONDS, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertTrue(tickRunning.await(Await.SECONDS, TimeUnit.SECONDS));
            AtomicReference<String> thread = new AtomicReference<>();
            CompletableFuture<Map<String, Object>> ping = onMain.ping();
            CompletableFuture<Void> seen = ping.thenAccept(result -> thread.set(Thread.currentThread().getName()));
            AtomicReference<String> failedOn = new AtomicReference<>();
            CompletableFuture<?> failed = onMain.call("storage.fly", Target.byName("A", "b"), Map.of())
                    .exceptionally(error -> {
                        failedOn.set(Thread.currentThread().getName());
                        return null;
                    });
            tickDone.countDown();
            result(seen);
            result(failed);
            assertEquals("server-main", thread.get());
            assertEquals("server-main", failedOn.get());
        } finally {
            main.shutdownNow();
        }
    }

    @Test
    void closingFailsEveryPendingCallAndLaterOnes() {
        // Nobody serves this port: every call stays pending until the client is closed.
        LodestoneClient nowhere = LodestoneClient.builder()
                .endpoint("tcp://127.0.0.1:" + Daemon.freePort())
                .timeout(Duration.ofMinutes(5))
                .build();
        List<CompletableFuture<?>> pending = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            pending.add(nowhere.object("Agent", "steve-" + i).put("k", i));
            pending.add(nowhere.ping());
        }
        nowhere.close();
        for (CompletableFuture<?> future : pending) {
            ClientClosedException closed = failure(future, ClientClosedException.class);
            assertEquals(ErrorCode.UNAVAILABLE, closed.code());
        }
        failure(nowhere.ping(), ClientClosedException.class);
        nowhere.close();
        assertEquals(0, nowhere.pendingCalls());
    }

    @Test
    void typedHelpersRefuseWrongShapes() {
        InternalException error = assertThrows(InternalException.class,
                () -> Results.map(List.of(), "ping"));
        assertTrue(error.getMessage().contains("ping"));
        assertSame(ErrorCode.INTERNAL, error.code());
        assertEquals(Arrays.asList(1L, null), Msgpack.decode(Msgpack.encode(Arrays.asList(1, null))));
    }
}
