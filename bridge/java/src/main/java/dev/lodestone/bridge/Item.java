package dev.lodestone.bridge;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A stack of items given to an agent's inventory ops: {@code count} (>= 1) of {@code type}.
 *
 * @param type the item type, for example {@code "oak_log"}
 * @param count how many
 */
public record Item(String type, long count) {
    /** Checks that {@code type} is given. */
    public Item {
        Objects.requireNonNull(type, "type");
    }

    /** {@code count} of {@code type}. */
    public static Item of(String type, long count) {
        return new Item(type, count);
    }

    Map<String, Object> toWire() {
        Map<String, Object> wire = new LinkedHashMap<>(4);
        wire.put("type", type);
        wire.put("count", count);
        return wire;
    }
}
