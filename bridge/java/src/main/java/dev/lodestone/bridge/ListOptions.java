package dev.lodestone.bridge;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The range and order of {@link ObjectHandle#list(ListOptions)}; immutable, each method returns a
 * copy. Keys are compared in UTF-8 byte order: {@code start} is inclusive, {@code startAfter}
 * exclusive (not both), {@code end} exclusive, {@code prefix} narrows the range, {@code reverse}
 * only changes the order, {@code limit} is a positive count (docs/protocol.md, "list").
 */
public final class ListOptions {
    private static final ListOptions ALL = new ListOptions(null, null, null, null, false, null);

    private final String start;
    private final String startAfter;
    private final String end;
    private final String prefix;
    private final boolean reverse;
    private final Integer limit;

    private ListOptions(String start, String startAfter, String end, String prefix, boolean reverse, Integer limit) {
        this.start = start;
        this.startAfter = startAfter;
        this.end = end;
        this.prefix = prefix;
        this.reverse = reverse;
        this.limit = limit;
    }

    /** Every entry, ascending. */
    public static ListOptions all() {
        return ALL;
    }

    /** Entries whose key starts with {@code prefix}. */
    public static ListOptions prefix(String prefix) {
        return ALL.withPrefix(prefix);
    }

    /** Keys at or after {@code start}. */
    public ListOptions start(String start) {
        return new ListOptions(start, startAfter, end, prefix, reverse, limit);
    }

    /** Keys strictly after {@code startAfter}, for paging on from the last key seen. */
    public ListOptions startAfter(String startAfter) {
        return new ListOptions(start, startAfter, end, prefix, reverse, limit);
    }

    /** Keys strictly before {@code end}. */
    public ListOptions end(String end) {
        return new ListOptions(start, startAfter, end, prefix, reverse, limit);
    }

    /** Keys that start with {@code prefix}. */
    public ListOptions withPrefix(String prefix) {
        return new ListOptions(start, startAfter, end, prefix, reverse, limit);
    }

    /** Descending order. */
    public ListOptions reverse() {
        return new ListOptions(start, startAfter, end, prefix, true, limit);
    }

    /** At most {@code limit} entries ({@code limit <= 0} is refused by the daemon with BAD_REQUEST). */
    public ListOptions limit(int limit) {
        return new ListOptions(start, startAfter, end, prefix, reverse, limit);
    }

    /** The {@code storage.list} args, leaving out what is unset (the Python client's order). */
    Map<String, Object> toArgs() {
        Map<String, Object> args = new LinkedHashMap<>(8);
        putIfSet(args, "start", start);
        putIfSet(args, "start_after", startAfter);
        putIfSet(args, "end", end);
        putIfSet(args, "prefix", prefix);
        putIfSet(args, "limit", limit);
        if (reverse) {
            args.put("reverse", true);
        }
        return args;
    }

    private static void putIfSet(Map<String, Object> args, String name, Object value) {
        if (value != null) {
            args.put(name, value);
        }
    }

    @Override
    public String toString() {
        return "ListOptions" + toArgs();
    }
}
