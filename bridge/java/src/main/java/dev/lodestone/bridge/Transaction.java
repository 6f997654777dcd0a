package dev.lodestone.bridge;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The checks and writes of one {@code storage.transaction}: if every check holds, every write is
 * applied, in one turn; otherwise nothing is and the call fails with {@link ConflictException}
 * naming the first check that failed. Checks compare by value and type: {@code 1}, {@code 1.0}
 * and {@code true} differ (docs/protocol.md, "transaction"). Not thread-safe; build it on one
 * thread, then pass it to {@link ObjectHandle#transaction(Transaction)}.
 */
public final class Transaction {
    private final List<Map<String, Object>> checks = new ArrayList<>();
    private final List<Map<String, Object>> ops = new ArrayList<>();

    /** An empty transaction. */
    public Transaction() {
    }

    /** Require {@code key} to hold a value equal to {@code value}. */
    public Transaction checkEquals(String key, Object value) {
        Map<String, Object> check = entry(key);
        check.put("value", value);
        checks.add(check);
        return this;
    }

    /** Require {@code key} to hold no value. */
    public Transaction checkAbsent(String key) {
        Map<String, Object> check = entry(key);
        check.put("absent", true);
        checks.add(check);
        return this;
    }

    /** Store {@code value} under {@code key} if the checks hold. */
    public Transaction put(String key, Object value) {
        Map<String, Object> op = new LinkedHashMap<>(4);
        op.put("op", "put");
        op.put("key", Objects.requireNonNull(key, "key"));
        op.put("value", value);
        ops.add(op);
        return this;
    }

    /** Delete {@code key} if the checks hold. */
    public Transaction delete(String key) {
        Map<String, Object> op = new LinkedHashMap<>(4);
        op.put("op", "delete");
        op.put("key", Objects.requireNonNull(key, "key"));
        ops.add(op);
        return this;
    }

    private static Map<String, Object> entry(String key) {
        Map<String, Object> check = new LinkedHashMap<>(4);
        check.put("key", Objects.requireNonNull(key, "key"));
        return check;
    }

    /** The {@code storage.transaction} args: {@code {"checks": [...], "ops": [...]}}. */
    Map<String, Object> toArgs() {
        Map<String, Object> args = new LinkedHashMap<>(4);
        args.put("checks", new ArrayList<>(checks));
        args.put("ops", new ArrayList<>(ops));
        return args;
    }

    @Override
    public String toString() {
        return "Transaction" + toArgs();
    }
}
