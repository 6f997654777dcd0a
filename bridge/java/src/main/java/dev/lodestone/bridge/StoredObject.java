package dev.lodestone.bridge;

import java.util.Objects;

/** One entry of {@link LodestoneClient#listObjects}: a stored object's class, id and name. */
public final class StoredObject {
    private final String className;
    private final String id;
    private final String name;

    StoredObject(String className, String id, String name) {
        this.className = className;
        this.id = id;
        this.name = name;
    }

    /** The class. */
    public String className() {
        return className;
    }

    /** The object's id (64 hex characters). */
    public String id() {
        return id;
    }

    /** The object's name, or {@code null} for an object made with a unique id. */
    public String name() {
        return name;
    }

    /** The object as a target, by id. */
    public Target target() {
        return Target.byId(className, id);
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof StoredObject && ((StoredObject) other).className.equals(className)
                && ((StoredObject) other).id.equals(id) && Objects.equals(((StoredObject) other).name, name);
    }

    @Override
    public int hashCode() {
        return Objects.hash(className, id, name);
    }

    @Override
    public String toString() {
        return "StoredObject[" + className + " " + id + (name == null ? "" : " '" + name + "'") + "]";
    }
}
