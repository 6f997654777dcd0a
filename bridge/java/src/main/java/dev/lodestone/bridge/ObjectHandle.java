package dev.lodestone.bridge;

import java.time.Instant;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;

/**
 * One object's storage and alarm (docs/protocol.md, "Storage"): a cheap, immutable handle from
 * {@link LodestoneClient#object}; making one sends nothing.
 *
 * <p>Requests on one object run one at a time, in the order this client sent them, and each sees
 * the writes before it. A write's future completes once the write is committed and fsync'd.
 * Values are anything {@link LodestoneClient#call} can carry; they come back decoded as
 * described there (integers as {@link Long}, floats as {@link Double}).
 */
public final class ObjectHandle {
    private final LodestoneClient client;
    private final Target target;
    private final CallOptions options;

    ObjectHandle(LodestoneClient client, Target target, CallOptions options) {
        this.client = client;
        this.target = target;
        this.options = options;
    }

    /** The object this handle addresses. */
    public Target target() {
        return target;
    }

    /**
     * A handle on the same object whose calls use {@code options}; for example a caller-chosen
     * idempotency key for one logical write.
     */
    public ObjectHandle withOptions(CallOptions options) {
        return new ObjectHandle(client, target, Objects.requireNonNull(options, "options"));
    }

    /** The value of {@code key}, or {@code null} if it is not stored. */
    public CompletableFuture<Object> get(String key) {
        return get(key, null);
    }

    /** The value of {@code key}, or {@code fallback} if it is not stored. */
    public CompletableFuture<Object> get(String key, Object fallback) {
        return client.submit("storage.get", target, args("key", key), options, false, result ->
                Results.bool(Results.field(result, "found", "storage.get"), "found")
                        ? Results.field(result, "value", "storage.get") : fallback);
    }

    /** The stored keys among {@code keys} (at most 128) and their values, in key byte order. */
    public CompletableFuture<Map<String, Object>> getMany(Collection<String> keys) {
        return client.submit("storage.get", target, args("keys", new ArrayList<>(keys)), options, false, result ->
                Collections.unmodifiableMap(new LinkedHashMap<>(
                        Results.map(Results.field(result, "values", "storage.get"), "values"))));
    }

    /** Store {@code value} under {@code key}; completes once it is durable. */
    public CompletableFuture<Void> put(String key, Object value) {
        Map<String, Object> args = args("key", key);
        args.put("value", value);
        return client.submit("storage.put", target, args, options, true, result -> null);
    }

    /** Store every pair (at most 128), all or none; completes once they are durable. */
    public CompletableFuture<Void> putMany(Map<String, ?> entries) {
        return client.submit("storage.put", target, args("entries", new LinkedHashMap<>(entries)), options, true,
                result -> null);
    }

    /** Delete {@code key}; whether it existed. */
    public CompletableFuture<Boolean> delete(String key) {
        return client.submit("storage.delete", target, args("key", key), options, true,
                result -> Results.bool(Results.field(result, "deleted", "storage.delete"), "deleted"));
    }

    /** Delete {@code keys} (at most 128); how many existed. */
    public CompletableFuture<Long> deleteMany(Collection<String> keys) {
        return client.submit("storage.delete", target, args("keys", new ArrayList<>(keys)), options, true,
                result -> Results.integer(Results.field(result, "deleted", "storage.delete"), "deleted"));
    }

    /** Every entry, in key byte order. */
    public CompletableFuture<List<Map.Entry<String, Object>>> list() {
        return list(ListOptions.all());
    }

    /** The entries in the range and order {@code range} gives. */
    public CompletableFuture<List<Map.Entry<String, Object>>> list(ListOptions range) {
        return client.submit("storage.list", target, range.toArgs(), options, false, result -> {
            List<Map.Entry<String, Object>> entries = new ArrayList<>();
            for (Object item : Results.list(Results.field(result, "entries", "storage.list"), "entries")) {
                List<Object> pair = Results.list(item, "storage.list entry");
                if (pair.size() != 2) {
                    throw new InternalException("a storage.list entry should be [key, value], got " + pair);
                }
                entries.add(new AbstractMap.SimpleImmutableEntry<>(
                        Results.string(pair.get(0), "storage.list key"), pair.get(1)));
            }
            return Collections.unmodifiableList(entries);
        });
    }

    /** Delete every key of the object (and its alarm). */
    public CompletableFuture<Void> deleteAll() {
        return client.submit("storage.delete_all", target, null, options, true, result -> null);
    }

    /**
     * Apply {@code transaction}'s writes if every check holds, in one turn; fails with
     * {@link ConflictException} (nothing written) if one does not.
     */
    public CompletableFuture<Void> transaction(Transaction transaction) {
        return client.submit("storage.transaction", target, transaction.toArgs(), options, true, result -> null);
    }

    /**
     * Set (or move) the object's alarm to {@code atMs} (epoch milliseconds, > 0). When it is due,
     * the daemon runs the class's alarm handler, or for a class without one publishes
     * {@code alarm.<class>.<id>} on the change stream and clears the alarm.
     */
    public CompletableFuture<Void> setAlarm(long atMs) {
        return client.submit("alarm.set", target, args("at_ms", atMs), options, true, result -> null);
    }

    /** {@link #setAlarm(long)} at {@code at}. */
    public CompletableFuture<Void> setAlarm(Instant at) {
        return setAlarm(at.toEpochMilli());
    }

    /** When the object's alarm is due (epoch milliseconds), or empty if it has none. */
    public CompletableFuture<OptionalLong> getAlarm() {
        return client.submit("alarm.get", target, null, options, false, result -> {
            Object at = Results.field(result, "at_ms", "alarm.get");
            return at == null ? OptionalLong.empty() : OptionalLong.of(Results.integer(at, "at_ms"));
        });
    }

    /** Clear the object's alarm, if it has one. */
    public CompletableFuture<Void> deleteAlarm() {
        return client.submit("alarm.delete", target, null, options, true, result -> null);
    }

    private static Map<String, Object> args(String name, Object value) {
        Map<String, Object> args = new LinkedHashMap<>(4);
        args.put(name, value);
        return args;
    }

    @Override
    public String toString() {
        return "ObjectHandle[" + target + "]";
    }
}
