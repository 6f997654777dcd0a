package dev.lodestone.bridge;

import java.util.Map;

/** One entry of {@link LodestoneClient#listAlarms}: a stored alarm and the object it belongs to. */
public final class Alarm {
    private final String className;
    private final String id;
    private final String name;
    private final long atMs;
    private final long scheduledMs;
    private final long retryCount;

    private Alarm(String className, String id, String name, long atMs, long scheduledMs, long retryCount) {
        this.className = className;
        this.id = id;
        this.name = name;
        this.atMs = atMs;
        this.scheduledMs = scheduledMs;
        this.retryCount = retryCount;
    }

    static Alarm fromWire(Map<String, Object> fields) {
        Object name = fields.get("name");
        return new Alarm(
                Results.string(fields.get("class"), "alarm class"),
                Results.string(fields.get("id"), "alarm id"),
                name == null ? null : Results.string(name, "alarm name"),
                Results.integer(fields.get("at_ms"), "alarm at_ms"),
                Results.integer(fields.get("scheduled_ms"), "alarm scheduled_ms"),
                Results.integer(fields.get("retry_count"), "alarm retry_count"));
    }

    /** The object's class. */
    public String className() {
        return className;
    }

    /** The object's id. */
    public String id() {
        return id;
    }

    /** The object's name, or {@code null} if it was addressed by id. */
    public String name() {
        return name;
    }

    /** When the alarm is due now (epoch milliseconds; later than scheduled after a failed run). */
    public long atMs() {
        return atMs;
    }

    /** When the alarm was first due (epoch milliseconds). */
    public long scheduledMs() {
        return scheduledMs;
    }

    /** How many times its handler failed and was retried so far. */
    public long retryCount() {
        return retryCount;
    }

    /** The object as a target, by id. */
    public Target target() {
        return Target.byId(className, id);
    }

    @Override
    public String toString() {
        return "Alarm[" + className + " " + id + " at " + atMs + (retryCount > 0 ? " retry " + retryCount : "") + "]";
    }
}
