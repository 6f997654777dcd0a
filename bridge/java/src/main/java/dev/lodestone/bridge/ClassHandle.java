package dev.lodestone.bridge;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * What the built-in classes' handles share: the object, the per-call options, and the two kinds
 * of call. Each typed method names its op ({@code <Class>.<method>}), builds its arguments
 * (leaving out those given as {@code null}) and converts the result on the client's executor.
 * Writes carry an idempotency key like the storage writes, so a retried write is applied once.
 */
abstract class ClassHandle {
    final LodestoneClient client;
    final Target target;
    final CallOptions options;

    ClassHandle(LodestoneClient client, Target target, CallOptions options) {
        this.client = client;
        this.target = target;
        this.options = Objects.requireNonNull(options, "options");
    }

    /** The object this handle addresses. */
    public Target target() {
        return target;
    }

    final <T> CompletableFuture<T> read(String method, Map<String, Object> args, Function<Object, T> convert) {
        return client.submit(target.className() + "." + method, target, args, options, false, convert);
    }

    final <T> CompletableFuture<T> write(String method, Map<String, Object> args, Function<Object, T> convert) {
        return client.submit(target.className() + "." + method, target, args, options, true, convert);
    }

    final String op(String method) {
        return target.className() + "." + method;
    }

    /** A result that is a map, as is. */
    final Function<Object, Map<String, Object>> asMap(String method) {
        String what = op(method);
        return result -> Results.map(result, what);
    }

    /** The list of maps in the result's {@code field}. */
    final Function<Object, List<Map<String, Object>>> listField(String method, String field) {
        String what = op(method);
        return result -> Results.maps(Results.field(result, field, what), what + " " + field);
    }

    /** Arguments from name/value pairs, leaving out the {@code null} values (absent on the wire). */
    static Map<String, Object> args(Object... pairs) {
        Map<String, Object> args = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            if (pairs[i + 1] != null) {
                args.put((String) pairs[i], pairs[i + 1]);
            }
        }
        return args;
    }

    /** {@code items} on the wire, or {@code null} for none. */
    static List<Map<String, Object>> items(List<Item> items) {
        return items == null || items.isEmpty() ? null : items.stream().map(Item::toWire).toList();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + target + "]";
    }
}
