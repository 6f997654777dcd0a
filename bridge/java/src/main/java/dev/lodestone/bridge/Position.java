package dev.lodestone.bridge;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A point in the world, as the built-in classes take it: {@code {x, y, z}}.
 *
 * @param x the x coordinate
 * @param y the y coordinate
 * @param z the z coordinate
 */
public record Position(double x, double y, double z) {
    /** The point {@code (x, y, z)}. */
    public static Position of(double x, double y, double z) {
        return new Position(x, y, z);
    }

    Map<String, Object> toWire() {
        Map<String, Object> wire = new LinkedHashMap<>(4);
        wire.put("x", x);
        wire.put("y", y);
        wire.put("z", z);
        return wire;
    }
}
