package dev.lodestone.bridge;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * The telemetry log ({@code Telemetry.*} ops, docs/protocol.md "Telemetry"); from
 * {@link LodestoneClient#telemetry()}. An event is {@code {agent, type, data, at}}, {@code at}
 * the daemon's time (epoch ms); {@code type} is 1-64 letters, digits, {@code _} or {@code -}.
 */
public final class TelemetryHandle extends ClassHandle {
    static final String CLASS = "Telemetry";

    TelemetryHandle(LodestoneClient client, Target target, CallOptions options) {
        super(client, target, options);
    }

    /** A handle on the same telemetry log whose calls use {@code options}. */
    public TelemetryHandle withOptions(CallOptions options) {
        return new TelemetryHandle(client, target, Objects.requireNonNull(options, "options"));
    }

    /** Log an event without data; returns it. */
    public CompletableFuture<Map<String, Object>> log(String agent, String type) {
        return log(agent, type, null);
    }

    /** Log an event of {@code agent} with {@code data} (any value, or {@code null}); returns it. */
    public CompletableFuture<Map<String, Object>> log(String agent, String type, Object data) {
        return write("log", args("agent", agent, "type", type, "data", data), asMap("log"));
    }

    /** Log 1..128 events {@code {agent, type, data?}}, all or none; returns how many. */
    public CompletableFuture<Long> logMany(List<? extends Map<String, ?>> events) {
        List<Map<String, Object>> wire = new ArrayList<>();
        for (Map<String, ?> event : events) {
            wire.add(new LinkedHashMap<>(event));
        }
        return write("log_many", args("events", wire),
                result -> Results.integer(Results.field(result, "logged", op("log_many")), "logged"));
    }

    /** The last 100 events of {@code agent}, newest first. */
    public CompletableFuture<List<Map<String, Object>>> latest(String agent) {
        return latest(agent, 100);
    }

    /** The last {@code limit} (1..1000) events of {@code agent}, newest first. */
    public CompletableFuture<List<Map<String, Object>>> latest(String agent, int limit) {
        return read("latest", args("agent", agent, "limit", limit), listField("latest", "events"));
    }

    /** Up to 1000 events of {@code type}, of every agent, newest first. */
    public CompletableFuture<List<Map<String, Object>>> byType(String type) {
        return byType(type, null, null, 1000);
    }

    /**
     * Up to {@code limit} (1..10000) events of {@code type} with {@code startMs <= at <= endMs}
     * (either {@code null} for no bound), newest first.
     */
    public CompletableFuture<List<Map<String, Object>>> byType(String type, Long startMs, Long endMs, int limit) {
        return read("by_type", args("type", type, "start_ms", startMs, "end_ms", endMs, "limit", limit),
                listField("by_type", "events"));
    }

    /** Per event type of {@code agent}: {@code {count, firstSeen, lastSeen}} over the retained events. */
    public CompletableFuture<Map<String, Map<String, Object>>> stats(String agent) {
        return read("stats", args("agent", agent), result -> {
            Map<String, Map<String, Object>> types = new LinkedHashMap<>();
            for (Map.Entry<String, Object> entry
                    : Results.map(Results.field(result, "types", op("stats")), "types").entrySet()) {
                types.put(entry.getKey(), Results.map(entry.getValue(), "stats of " + entry.getKey()));
            }
            return types;
        });
    }
}
