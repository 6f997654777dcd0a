package dev.lodestone.bridge;

import static dev.lodestone.bridge.testing.Await.failure;
import static dev.lodestone.bridge.testing.Await.result;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lodestone.bridge.testing.Daemon;
import dev.lodestone.bridge.testing.DaemonExtension;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The typed calls on the built-in classes (Agent, Foreman, MissionControl, Telemetry), against a real daemon. */
@ExtendWith(DaemonExtension.class)
class BuiltinClassesTest {
    private static LodestoneClient client;

    @BeforeAll
    static void connect(Daemon daemon) {
        client = LodestoneClient.builder().endpoint(daemon.rpc()).timeout(Duration.ofSeconds(10)).build();
    }

    @AfterAll
    static void close() {
        client.close();
    }

    private static double number(Object value) {
        assertTrue(value instanceof Long || value instanceof Double, "not a number: " + value);
        return ((Number) value).doubleValue();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object value) {
        assertTrue(value instanceof Map, "not a map: " + value);
        return (Map<String, Object>) value;
    }

    @Test
    void agentCalls() {
        AgentHandle ann = client.agent("ann");
        AgentHandle bob = client.agent("bob");
        Map<String, Object> spawned = result(ann.init(Position.of(1, 64, 1), 25.0, 30.0, null));
        assertEquals("ann", spawned.get("name"));
        assertEquals(25.0, number(spawned.get("health")));
        assertEquals(30.0, number(spawned.get("maxHealth")));
        result(bob.init(null, null, null, List.of(Item.of("bread", 3))));

        assertEquals(30.0, result(ann.heal(10)));
        Map<String, Object> hit = result(ann.damage(4, "bee"));
        assertEquals(26.0, number(hit.get("health")));
        assertEquals(false, hit.get("died"));
        assertEquals(5.0, number(result(ann.move(4, 64, 5)).get("distance")));
        assertEquals(2L, result(ann.blocks(2, 0)).get("blocksMined"));

        List<Map<String, Object>> inventory = result(ann.addItem("oak_log", 4, 3));
        assertEquals(List.of(Map.of("type", "oak_log", "count", 4L, "slot", 3L)), inventory);
        assertEquals(3L, result(ann.removeItem("oak_log", 1)).get(0).get("count"));
        inventory = result(ann.swapItems(List.of(Item.of("oak_log", 3)), List.of(Item.of("charcoal", 3)), "smelting"));
        assertEquals("charcoal", inventory.get(0).get("type"));
        inventory = result(ann.trade("bob", List.of(Item.of("charcoal", 1)), List.of(Item.of("bread", 2))));
        assertTrue(inventory.stream().anyMatch(item -> "bread".equals(item.get("type"))
                && Long.valueOf(2).equals(item.get("count"))), inventory.toString());

        Map<String, Object> task = result(ann.assignTask("mine", Map.of("block", "coal")));
        assertEquals("pending", task.get("status"));
        assertEquals(List.of(task), result(ann.tasks()));
        assertEquals("completed", result(ann.updateTask((String) task.get("id"), "completed")).get("status"));
        assertEquals(task.get("id"), result(ann.taskHistory(1)).get(0).get("id"));
        assertEquals(List.of(), result(ann.tasks()));
        assertEquals("task_updated", result(ann.events(2)).get(0).get("type"));
        assertEquals(List.of(), result(ann.deaths()));

        Map<String, Object> state = result(ann.state());
        assertEquals(1L, map(state.get("stats")).get("tasksAssigned"));
        assertEquals(26.0, number(state.get("health")));
    }

    @Test
    void agentDeathRespawns() {
        AgentHandle cara = client.agent("cara");
        result(cara.init(Position.of(0, 64, 0)));
        result(cara.addItem("dirt", 5));
        Map<String, Object> hit = result(cara.damage(1000, "lava"));
        assertEquals(true, hit.get("died"));
        assertEquals("lava", map(hit.get("death")).get("source"));
        assertEquals(1, result(cara.deaths()).size());
        assertEquals(List.of(), result(cara.state()).get("inventory"));
    }

    @Test
    void agentErrorsAreTyped() {
        AgentHandle dan = client.agent("dan");
        NotFoundException unspawned = failure(dan.state(), NotFoundException.class);
        assertEquals(ErrorCode.NOT_FOUND, unspawned.code());
        assertTrue(unspawned.getMessage().contains("has not spawned"), unspawned.getMessage());

        result(dan.init());
        failure(dan.init(), ConflictException.class);
        result(dan.addItem("cobblestone", 2));
        ConflictException underflow = failure(dan.removeItem("cobblestone", 9), ConflictException.class);
        assertFalse(underflow.retryable());
        assertEquals(List.of(Map.of("type", "cobblestone", "count", 2L, "slot", 0L)),
                result(dan.state()).get("inventory"), "nothing changed");
        failure(dan.trade("never-spawned", List.of(Item.of("cobblestone", 1)), List.of()), NotFoundException.class);
        failure(dan.updateTask("t99", "completed"), NotFoundException.class);
        BadRequestException negative = failure(dan.damage(-3, "bee"), BadRequestException.class);
        assertTrue(negative.getMessage().startsWith("Agent.damage"), negative.getMessage());
    }

    @Test
    void writesWithOneIdempotencyKeyApplyOnce() {
        AgentHandle eve = client.agent("eve");
        result(eve.init());
        double full = number(result(eve.state()).get("health"));
        AgentHandle once = eve.withOptions(CallOptions.DEFAULTS.idempotencyKey("eve-hit-1"));
        Map<String, Object> first = result(once.damage(5, "arrow"));
        assertEquals(first, result(once.damage(5, "arrow")));
        assertEquals(full - 5, number(result(eve.state()).get("health")));
    }

    @Test
    void foremanCalls() {
        result(client.agent("finn").init(Position.of(10, 64, 10)));
        ForemanHandle foreman = client.foreman();
        assertEquals(Target.byName("Foreman", "global"), foreman.target());
        result(foreman.heartbeat("carl", 20, Position.of(500, 64, 500), null, "idle", null));
        Map<String, Object> carl = result(foreman.agent("carl"));
        assertEquals(true, carl.get("active"));
        assertEquals("idle", carl.get("status"));
        assertTrue(result(foreman.active()).stream().anyMatch(entry -> "carl".equals(entry.get("name"))));
        List<Map<String, Object>> nearest = result(foreman.nearest(500, 64, 501, 1, 10.0));
        assertEquals(List.of("carl"), nearest.stream().map(entry -> entry.get("name")).toList());
        assertEquals(1.0, number(nearest.get(0).get("distance")));

        Map<String, Object> assignment = result(foreman.assign("finn", "build", "hut"));
        assertEquals("finn", assignment.get("agent"));
        assertEquals("build", map(assignment.get("task")).get("type"));
        assertEquals(List.of(assignment.get("task")), result(client.agent("finn").tasks()));
        assertEquals(List.of("finn"), result(foreman.assignments("finn", 10)).stream()
                .map(entry -> entry.get("agent")).toList());
    }

    @Test
    void foremanErrorsAreTyped() {
        ForemanHandle foreman = client.foreman();
        NotFoundException unknown = failure(foreman.assign("nobody", "mine", "coal"), NotFoundException.class);
        assertEquals(ErrorCode.NOT_FOUND, unknown.code());
        assertEquals(List.of(), result(foreman.assignments("nobody", 10)), "nothing was recorded");
        failure(foreman.agent("never-beat"), NotFoundException.class);
        failure(foreman.nearest(0, 0, 0, 0), BadRequestException.class);
    }

    @Test
    void missionControlCalls() {
        result(client.agent("gus").init());
        MissionControlHandle missions = client.missions();
        Map<String, Object> mission = result(missions.create("Hut", "a hut by the river",
                List.of(Map.of("type", "build", "target", "hut"), Map.of("type", "mine", "target", "oak_log"))));
        String id = (String) mission.get("id");
        assertEquals("planned", mission.get("status"));
        assertEquals(mission, result(missions.get(id)));
        assertTrue(result(missions.list("planned")).stream().anyMatch(m -> id.equals(m.get("id"))));
        assertEquals("active", result(missions.assign(id, "gus")).get("status"));
        assertEquals("active", result(missions.updateObjective(id, "o1", "completed", "gus")).get("status"));
        assertEquals("completed", result(missions.updateObjective(id, "o2", "completed")).get("status"));
        assertTrue(result(missions.list("completed", 10)).stream().anyMatch(m -> id.equals(m.get("id"))));
    }

    @Test
    void missionControlErrorsAreTyped() {
        MissionControlHandle missions = client.missions();
        failure(missions.get("m9999"), NotFoundException.class);
        Map<String, Object> mission = result(missions.create("Doomed", List.of(Map.of("type", "explore", "target", "cave"))));
        String id = (String) mission.get("id");
        failure(missions.assign(id, "never-spawned"), NotFoundException.class);
        assertEquals("failed", result(missions.fail(id)).get("status"));
        failure(missions.fail(id), ConflictException.class);
        failure(missions.updateObjective(id, "o1", "completed"), ConflictException.class);
    }

    @Test
    void telemetryCalls() {
        TelemetryHandle telemetry = client.telemetry();
        Map<String, Object> event = result(telemetry.log("hal", "chat", Map.of("text", "hi")));
        assertEquals("hal", event.get("agent"));
        assertEquals(Map.of("text", "hi"), event.get("data"));
        long at = (Long) event.get("at");
        assertEquals(2L, result(telemetry.logMany(List.of(Map.of("agent", "hal", "type", "chat"),
                Map.of("agent", "ivy", "type", "mine")))));
        assertEquals(List.of("chat", "chat"), result(telemetry.latest("hal")).stream()
                .map(e -> e.get("type")).toList());
        assertEquals(2, result(telemetry.byType("chat", at, at + 60_000, 100)).size());
        assertTrue(result(telemetry.byType("mine")).stream().anyMatch(e -> "ivy".equals(e.get("agent"))));
        Map<String, Map<String, Object>> stats = result(telemetry.stats("hal"));
        assertEquals(2L, stats.get("chat").get("count"));
    }

    @Test
    void telemetryErrorsAreTyped() {
        TelemetryHandle telemetry = client.telemetry();
        BadRequestException badType = failure(telemetry.log("hal", "no spaces"), BadRequestException.class);
        assertTrue(badType.getMessage().contains("type must be 1-64 letters"), badType.getMessage());
        failure(telemetry.logMany(List.of()), BadRequestException.class);
    }
}
