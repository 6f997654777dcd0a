package dev.lodestone.bridge;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The object a storage or alarm request is for: a class and either a name or an id
 * (docs/protocol.md, "Requests"). The same name in the same class is always the same object.
 */
public final class Target {
    private final String className;
    private final String name;
    private final String id;

    private Target(String className, String name, String id) {
        this.className = Objects.requireNonNull(className, "className");
        this.name = name;
        this.id = id;
    }

    /** The object called {@code name} in {@code className}. */
    public static Target byName(String className, String name) {
        return new Target(className, Objects.requireNonNull(name, "name"), null);
    }

    /** The object with id {@code id} (64 hex characters, from an id call) in {@code className}. */
    public static Target byId(String className, String id) {
        return new Target(className, null, Objects.requireNonNull(id, "id"));
    }

    /** The class name. */
    public String className() {
        return className;
    }

    /** The object's name, or {@code null} when it is addressed by id. */
    public String name() {
        return name;
    }

    /** The object's id, or {@code null} when it is addressed by name. */
    public String id() {
        return id;
    }

    /** The wire form: {@code {"class", "name"}} or {@code {"class", "id"}}. */
    Map<String, Object> toWire() {
        Map<String, Object> wire = new LinkedHashMap<>(4);
        wire.put("class", className);
        if (name != null) {
            wire.put("name", name);
        } else {
            wire.put("id", id);
        }
        return wire;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof Target)) {
            return false;
        }
        Target that = (Target) other;
        return className.equals(that.className) && Objects.equals(name, that.name) && Objects.equals(id, that.id);
    }

    @Override
    public int hashCode() {
        return Objects.hash(className, name, id);
    }

    @Override
    public String toString() {
        return name != null ? className + " '" + name + "'" : className + " " + id;
    }
}
