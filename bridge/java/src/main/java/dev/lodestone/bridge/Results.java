package dev.lodestone.bridge;

import java.util.List;
import java.util.Map;

/** Reading the fields of decoded results; a result of the wrong shape is an {@link InternalException}. */
final class Results {
    private Results() {
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object value, String what) {
        if (value instanceof Map) {
            return (Map<String, Object>) value;
        }
        throw malformed(what, "a map", value);
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object value, String what) {
        if (value instanceof List) {
            return (List<Object>) value;
        }
        throw malformed(what, "a list", value);
    }

    static Object field(Object result, String name, String what) {
        Map<String, Object> fields = map(result, what);
        if (!fields.containsKey(name)) {
            throw new InternalException(what + " has no field '" + name + "': " + fields);
        }
        return fields.get(name);
    }

    static String string(Object value, String what) {
        if (value instanceof String) {
            return (String) value;
        }
        throw malformed(what, "a string", value);
    }

    static long integer(Object value, String what) {
        if (value instanceof Long) {
            return (Long) value;
        }
        throw malformed(what, "an integer", value);
    }

    static double number(Object value, String what) {
        if (value instanceof Long || value instanceof Double) {
            return ((Number) value).doubleValue();
        }
        throw malformed(what, "a number", value);
    }

    /** A list of maps, as an unmodifiable list. */
    static List<Map<String, Object>> maps(Object value, String what) {
        List<Map<String, Object>> maps = new java.util.ArrayList<>();
        for (Object item : list(value, what)) {
            maps.add(map(item, what + " entry"));
        }
        return java.util.Collections.unmodifiableList(maps);
    }

    static boolean bool(Object value, String what) {
        if (value instanceof Boolean) {
            return (Boolean) value;
        }
        throw malformed(what, "a boolean", value);
    }

    private static InternalException malformed(String what, String expected, Object value) {
        String type = value == null ? "nil" : value.getClass().getSimpleName();
        return new InternalException(what + " should be " + expected + ", got " + type + ": " + value);
    }
}
