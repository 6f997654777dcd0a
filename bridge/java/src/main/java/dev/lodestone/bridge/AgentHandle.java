package dev.lodestone.bridge;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * One agent, one Steve ({@code Agent.*} ops, docs/protocol.md "Agent"); from
 * {@link LodestoneClient#agent(String)}. No request is sent until a method is called.
 *
 * <p>Results are the daemon's maps, with the source document's camelCase field names: the state
 * is {@code {name, health, maxHealth, position, inventory, stats, tasks, createdAt, lastSeen}}.
 * Every op on an agent that has not spawned fails with {@link NotFoundException}; a precondition
 * that does not hold (spawned already, fewer items held than removed) with
 * {@link ConflictException}, and nothing is written.
 */
public final class AgentHandle extends ClassHandle {
    static final String CLASS = "Agent";

    AgentHandle(LodestoneClient client, Target target, CallOptions options) {
        super(client, target, options);
    }

    /** The agent's name. */
    public String name() {
        return target.name();
    }

    /** A handle on the same agent whose calls use {@code options} (an idempotency key for one write). */
    public AgentHandle withOptions(CallOptions options) {
        return new AgentHandle(client, target, Objects.requireNonNull(options, "options"));
    }

    /** First spawn at the configured spawn point, with full health; returns the state. */
    public CompletableFuture<Map<String, Object>> init() {
        return init(null, null, null, null);
    }

    /** First spawn at {@code position}; returns the state. */
    public CompletableFuture<Map<String, Object>> init(Position position) {
        return init(position, null, null, null);
    }

    /**
     * First spawn; each argument may be {@code null} for the daemon's default (the {@code spawn}
     * point, full health, the {@code max_health} option, an empty inventory). Returns the state;
     * fails with {@link ConflictException} if the agent has spawned before.
     */
    public CompletableFuture<Map<String, Object>> init(Position position, Double health, Double maxHealth,
            List<Item> inventory) {
        return write("init", args("position", position == null ? null : position.toWire(), "max_health", maxHealth,
                "health", health, "inventory", items(inventory)), asMap("init"));
    }

    /** The state. */
    public CompletableFuture<Map<String, Object>> state() {
        return read("state", args(), asMap("state"));
    }

    /**
     * Take {@code amount} (> 0) of damage from {@code source}: {@code {health, died}}, and when it
     * died (and respawned) {@code death: {position, inventory, source, at}}.
     */
    public CompletableFuture<Map<String, Object>> damage(double amount, String source) {
        return write("damage", args("amount", amount, "source", source), asMap("damage"));
    }

    /** Heal by {@code amount} (> 0); the new health, capped at {@code maxHealth}. */
    public CompletableFuture<Double> heal(double amount) {
        return write("heal", args("amount", amount),
                result -> Results.number(Results.field(result, "health", op("heal")), "health"));
    }

    /** Move to {@code (x, y, z)}: {@code {position, distance, distanceTraveled}}. */
    public CompletableFuture<Map<String, Object>> move(double x, double y, double z) {
        return write("move", args("x", x, "y", y, "z", z), asMap("move"));
    }

    /** {@link #move(double, double, double)} to {@code position}. */
    public CompletableFuture<Map<String, Object>> move(Position position) {
        return move(position.x(), position.y(), position.z());
    }

    /** Count blocks mined and placed (>= 0, not both 0); returns the stats. */
    public CompletableFuture<Map<String, Object>> blocks(long mined, long placed) {
        return write("blocks", args("mined", mined == 0 ? null : mined, "placed", placed == 0 ? null : placed),
                asMap("blocks"));
    }

    /** Add {@code count} of {@code type} (stacking by type); returns the inventory. */
    public CompletableFuture<List<Map<String, Object>>> addItem(String type, long count) {
        return addItem(type, count, null);
    }

    /**
     * Add {@code count} of {@code type}; a new type takes {@code slot} ({@code null}: the lowest
     * free one). Returns the inventory; {@link ConflictException} if the slot holds another type.
     */
    public CompletableFuture<List<Map<String, Object>>> addItem(String type, long count, Integer slot) {
        return write("inventory.add", args("type", type, "count", count, "slot", slot),
                listField("inventory.add", "inventory"));
    }

    /** Remove {@code count} of {@code type}; returns the inventory. {@link ConflictException} if fewer are held. */
    public CompletableFuture<List<Map<String, Object>>> removeItem(String type, long count) {
        return write("inventory.remove", args("type", type, "count", count),
                listField("inventory.remove", "inventory"));
    }

    /**
     * Remove some items and add others, all or nothing ({@code note} may be {@code null}); returns
     * the inventory. {@link ConflictException} if a removal is short.
     */
    public CompletableFuture<List<Map<String, Object>>> swapItems(List<Item> remove, List<Item> add, String note) {
        return write("inventory.swap", args("remove", items(remove), "add", items(add), "note", note),
                listField("inventory.swap", "inventory"));
    }

    /**
     * Give {@code give} to the agent {@code partner} and take {@code receive} from it, both or
     * neither; returns this agent's inventory. {@link ConflictException} if either side is short,
     * {@link NotFoundException} if the partner never spawned.
     */
    public CompletableFuture<List<Map<String, Object>>> trade(String partner, List<Item> give, List<Item> receive) {
        return write("trade", args("partner", partner, "give", items(give), "receive", items(receive)),
                listField("trade", "inventory"));
    }

    /** Give the agent a task ({@code type} one of mine, build, move, attack); returns it, pending, id {@code t<n>}. */
    public CompletableFuture<Map<String, Object>> assignTask(String type, Object target) {
        return assignTask(type, target, null);
    }

    /**
     * Give the agent a task with the id {@code id} ({@code null}: the next {@code t<n>}); returns it.
     * {@link ConflictException} if an open task has that id.
     */
    public CompletableFuture<Map<String, Object>> assignTask(String type, Object target, String id) {
        Map<String, Object> args = args("type", type, "id", id);
        args.put("target", target);
        return write("task.assign", args, asMap("task.assign"));
    }

    /**
     * Set an open task's status (pending, in_progress, completed, failed); returns the task.
     * {@link NotFoundException} if no open task has that id.
     */
    public CompletableFuture<Map<String, Object>> updateTask(String id, String status) {
        return write("task.update", args("id", id, "status", status), asMap("task.update"));
    }

    /** The open tasks (pending or in progress), oldest first. */
    public CompletableFuture<List<Map<String, Object>>> tasks() {
        return read("task.list", args(), listField("task.list", "tasks"));
    }

    /** The last 100 finished tasks, newest first. */
    public CompletableFuture<List<Map<String, Object>>> taskHistory() {
        return taskHistory(100);
    }

    /** The last {@code limit} (1..1000) finished tasks, newest first. */
    public CompletableFuture<List<Map<String, Object>>> taskHistory(int limit) {
        return read("task.history", args("limit", limit), listField("task.history", "tasks"));
    }

    /** The agent's own event log, the last 100 {@code {type, data, at}}, newest first. */
    public CompletableFuture<List<Map<String, Object>>> events() {
        return events(100);
    }

    /** The agent's own event log, the last {@code limit} (1..1000), newest first. */
    public CompletableFuture<List<Map<String, Object>>> events(int limit) {
        return read("events", args("limit", limit), listField("events", "events"));
    }

    /** The last 100 deaths {@code {position, inventory, source, at}}, newest first. */
    public CompletableFuture<List<Map<String, Object>>> deaths() {
        return deaths(100);
    }

    /** The last {@code limit} (1..100) deaths, newest first. */
    public CompletableFuture<List<Map<String, Object>>> deaths(int limit) {
        return read("deaths", args("limit", limit), listField("deaths", "deaths"));
    }
}
