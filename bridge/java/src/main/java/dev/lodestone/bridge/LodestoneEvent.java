package dev.lodestone.bridge;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * One message of the daemon's change stream (docs/protocol.md, "Change stream"): its topic and
 * decoded body.
 *
 * <p>Topics are {@code <kind>.<class>.<id>}: kind {@code change} (body {@code {"v", "class", "id",
 * "name", "commit", "cleared", "changes": [{"key", "value"} or {"key", "deleted": true}]}}),
 * {@code alarm} for a due alarm of a class without a handler, {@code alarm_dropped} for an alarm
 * given up after its retries.
 */
public final class LodestoneEvent {
    private final String topic;
    private final Map<String, Object> body;

    LodestoneEvent(String topic, Map<String, Object> body) {
        this.topic = topic;
        this.body = Collections.unmodifiableMap(body);
    }

    /** The full topic, for example {@code change.Agent.b39a26b3...}. */
    public String topic() {
        return topic;
    }

    /** The decoded body. */
    public Map<String, Object> body() {
        return body;
    }

    /** The topic's first part: {@code change}, {@code alarm} or {@code alarm_dropped}. */
    public String kind() {
        int dot = topic.indexOf('.');
        return dot < 0 ? topic : topic.substring(0, dot);
    }

    /** The object's class, from the body. */
    public String className() {
        return (String) body.get("class");
    }

    /** The object's id, from the body. */
    public String objectId() {
        return (String) body.get("id");
    }

    /** The object's name, or {@code null} when it was addressed by id. */
    public String name() {
        return (String) body.get("name");
    }

    /**
     * A change event's changes, in order: maps {@code {"key", "value"}} or {@code {"key",
     * "deleted": true}}; empty for other kinds.
     */
    @SuppressWarnings("unchecked")
    public List<Map<String, Object>> changes() {
        Object changes = body.get("changes");
        return changes instanceof List ? (List<Map<String, Object>>) changes : List.of();
    }

    @Override
    public String toString() {
        return "LodestoneEvent[" + topic + " " + body + "]";
    }
}
