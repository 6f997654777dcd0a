package dev.lodestone.bridge;

import java.util.Arrays;

/**
 * A msgpack extension value (type and payload), kept as it came so it can be stored back unchanged.
 * The daemon itself never makes one; another client may have stored one.
 */
public final class MsgpackExtension {
    private final byte type;
    private final byte[] data;

    /** An extension of {@code type} with a copy of {@code data}. */
    public MsgpackExtension(byte type, byte[] data) {
        this.type = type;
        this.data = data.clone();
    }

    /** The extension type (-128..127; negative types are reserved by msgpack). */
    public byte type() {
        return type;
    }

    /** A copy of the payload. */
    public byte[] data() {
        return data.clone();
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof MsgpackExtension && ((MsgpackExtension) other).type == type
                && Arrays.equals(((MsgpackExtension) other).data, data);
    }

    @Override
    public int hashCode() {
        return 31 * type + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "MsgpackExtension[type=" + type + ", " + data.length + " bytes]";
    }
}
