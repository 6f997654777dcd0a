package dev.lodestone.bridge;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * The Foreman, the registry of agents and the record of task assignments ({@code Foreman.*} ops,
 * docs/protocol.md "Foreman"); from {@link LodestoneClient#foreman()}. A registry entry is
 * {@code {name, health, position, currentTask, status, lastSeen, heartbeatAt}}; an agent is active
 * while its {@code lastSeen} is within the daemon's {@code active_window_s}.
 */
public final class ForemanHandle extends ClassHandle {
    static final String CLASS = "Foreman";

    ForemanHandle(LodestoneClient client, Target target, CallOptions options) {
        super(client, target, options);
    }

    /** A handle on the same Foreman whose calls use {@code options}. */
    public ForemanHandle withOptions(CallOptions options) {
        return new ForemanHandle(client, target, Objects.requireNonNull(options, "options"));
    }

    /** Record a heartbeat of {@code agent}: idle, no current task, seen now. */
    public CompletableFuture<Void> heartbeat(String agent, double health, Position position) {
        return heartbeat(agent, health, position, null, null, null);
    }

    /**
     * Record a heartbeat of {@code agent}; {@code currentTask} (a task map), {@code status}
     * ({@code idle} or {@code working}) and {@code lastSeen} (epoch ms) may be {@code null} for
     * none, idle and now.
     */
    public CompletableFuture<Void> heartbeat(String agent, double health, Position position,
            Map<String, ?> currentTask, String status, Long lastSeen) {
        return write("heartbeat", args("agent", agent, "health", health, "position", position.toWire(),
                "current_task", currentTask, "status", status, "last_seen", lastSeen), result -> null);
    }

    /** The registry entry of {@code agent}, with {@code active}; {@link NotFoundException} if it never sent a heartbeat. */
    public CompletableFuture<Map<String, Object>> agent(String agent) {
        return read("agent", args("agent", agent), asMap("agent"));
    }

    /** Up to 1000 active agents, most recently seen first. */
    public CompletableFuture<List<Map<String, Object>>> active() {
        return active(1000);
    }

    /** Up to {@code limit} (1..10000) active agents, most recently seen first. */
    public CompletableFuture<List<Map<String, Object>>> active(int limit) {
        return read("active", args("limit", limit), listField("active", "agents"));
    }

    /** The {@code k} (1..1000) nearest active agents to {@code (x, y, z)}, nearest first, each with its {@code distance}. */
    public CompletableFuture<List<Map<String, Object>>> nearest(double x, double y, double z, int k) {
        return nearest(x, y, z, k, null);
    }

    /** {@link #nearest(double, double, double, int)} within {@code maxDistance} ({@code null}: any distance). */
    public CompletableFuture<List<Map<String, Object>>> nearest(double x, double y, double z, int k,
            Double maxDistance) {
        return read("nearest", args("x", x, "y", y, "z", z, "k", k, "max_distance", maxDistance),
                listField("nearest", "agents"));
    }

    /**
     * Give {@code agent} a task and record the assignment, in one turn: {@code {seq, agent, task,
     * at}}. {@link NotFoundException} if the agent never spawned.
     */
    public CompletableFuture<Map<String, Object>> assign(String agent, String type, Object target) {
        return assign(agent, type, target, null);
    }

    /** {@link #assign(String, String, Object)} with the task id {@code id} ({@code null}: the next {@code t<n>}). */
    public CompletableFuture<Map<String, Object>> assign(String agent, String type, Object target, String id) {
        Map<String, Object> args = args("agent", agent, "type", type);
        args.put("target", target);
        if (id != null) {
            args.put("id", id);
        }
        return write("assign", args, asMap("assign"));
    }

    /** The last 100 assignments to any agent, newest first. */
    public CompletableFuture<List<Map<String, Object>>> assignments() {
        return assignments(null, 100);
    }

    /** The last {@code limit} (1..1000) assignments to {@code agent} ({@code null}: any), newest first. */
    public CompletableFuture<List<Map<String, Object>>> assignments(String agent, int limit) {
        return read("assignments", args("agent", agent, "limit", limit), listField("assignments", "assignments"));
    }
}
