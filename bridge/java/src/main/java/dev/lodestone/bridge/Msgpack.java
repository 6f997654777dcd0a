package dev.lodestone.bridge;

import java.io.IOException;
import java.lang.reflect.Array;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetEncoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessageFormat;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessagePackException;
import org.msgpack.core.MessagePacker;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.core.ExtensionTypeHeader;

/**
 * The msgpack codec, byte-compatible with the daemon's ({@code msgpack.packb(use_bin_type=True)}
 * and {@code unpackb(raw=False)} in Python).
 *
 * <p>Encoding uses the smallest form of every integer, float64 for every float, str for strings
 * and bin for {@code byte[]}; maps keep their iteration order (use a {@link LinkedHashMap} when the
 * order matters). Decoding gives {@code null}, {@link Boolean}, {@link Long} (a {@link BigInteger}
 * only for unsigned values above {@code Long.MAX_VALUE}), {@link Double}, {@link String},
 * {@code byte[]}, {@link List} ({@link ArrayList}), {@link Map} ({@link LinkedHashMap}, wire order)
 * and {@link MsgpackExtension}.
 */
final class Msgpack {
    private static final int MAX_DEPTH = 512;
    private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);
    private static final BigInteger INT64_MIN = BigInteger.valueOf(Long.MIN_VALUE);
    private static final MessagePack.UnpackerConfig UNPACKER = new MessagePack.UnpackerConfig()
            .withActionOnMalformedString(CodingErrorAction.REPORT)
            .withActionOnUnmappableString(CodingErrorAction.REPORT);

    private Msgpack() {
    }

    /**
     * The msgpack bytes of {@code value}.
     *
     * @throws IllegalArgumentException naming the path of a value that msgpack cannot carry (an
     *     unsupported type, an integer out of the 64-bit range, a string that is not valid
     *     Unicode, or nesting deeper than 512)
     */
    static byte[] encode(Object value) {
        try (MessageBufferPacker packer = MessagePack.newDefaultBufferPacker()) {
            CharsetEncoder utf8 = StandardCharsets.UTF_8.newEncoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
            pack(packer, utf8, value, "value", 0);
            return packer.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("a buffer packer does not do I/O", e);
        }
    }

    private static void pack(MessagePacker out, CharsetEncoder utf8, Object value, String path, int depth)
            throws IOException {
        if (depth > MAX_DEPTH) {
            throw new IllegalArgumentException(path + " is nested more than " + MAX_DEPTH + " deep (a cycle?)");
        }
        if (value == null) {
            out.packNil();
        } else if (value instanceof Boolean) {
            out.packBoolean((Boolean) value);
        } else if (value instanceof Long || value instanceof Integer || value instanceof Short
                || value instanceof Byte) {
            out.packLong(((Number) value).longValue());
        } else if (value instanceof BigInteger) {
            BigInteger big = (BigInteger) value;
            if (big.compareTo(INT64_MIN) < 0 || big.compareTo(UINT64_MAX) > 0) {
                throw new IllegalArgumentException(path + " = " + big + " is outside msgpack's 64-bit integers");
            }
            out.packBigInteger(big);
        } else if (value instanceof Double || value instanceof Float) {
            out.packDouble(((Number) value).doubleValue());
        } else if (value instanceof CharSequence) {
            packString(out, utf8, value.toString(), path);
        } else if (value instanceof byte[]) {
            byte[] bytes = (byte[]) value;
            out.packBinaryHeader(bytes.length);
            out.writePayload(bytes);
        } else if (value instanceof Map) {
            Map<?, ?> map = (Map<?, ?>) value;
            out.packMapHeader(map.size());
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                pack(out, utf8, entry.getKey(), path + " key", depth + 1);
                pack(out, utf8, entry.getValue(), path + "." + entry.getKey(), depth + 1);
            }
        } else if (value instanceof Collection) {
            Collection<?> items = (Collection<?>) value;
            out.packArrayHeader(items.size());
            int index = 0;
            for (Object item : items) {
                pack(out, utf8, item, path + "[" + index++ + "]", depth + 1);
            }
        } else if (value.getClass().isArray()) {
            int length = Array.getLength(value);
            out.packArrayHeader(length);
            for (int i = 0; i < length; i++) {
                pack(out, utf8, Array.get(value, i), path + "[" + i + "]", depth + 1);
            }
        } else if (value instanceof MsgpackExtension) {
            MsgpackExtension ext = (MsgpackExtension) value;
            out.packExtensionTypeHeader(ext.type(), ext.data().length);
            out.writePayload(ext.data());
        } else {
            throw new IllegalArgumentException(path + " is a " + value.getClass().getName()
                    + ", which msgpack cannot carry: use null, Boolean, an integer, Double, String, byte[],"
                    + " Map, List or an array");
        }
    }

    private static void packString(MessagePacker out, CharsetEncoder utf8, String text, String path)
            throws IOException {
        ByteBuffer encoded;
        try {
            encoded = utf8.reset().encode(CharBuffer.wrap(text));
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(path + " is not valid Unicode (a lone surrogate?)", e);
        }
        out.packRawStringHeader(encoded.remaining());
        out.writePayload(encoded.array(), encoded.arrayOffset() + encoded.position(), encoded.remaining());
    }

    /** A msgpack array of the already encoded {@code items}: a batch frame of requests. */
    static <T> byte[] array(List<T> items, Function<T, byte[]> encoded) {
        try (MessageBufferPacker packer = MessagePack.newDefaultBufferPacker()) {
            packer.packArrayHeader(items.size());
            for (T item : items) {
                packer.writePayload(encoded.apply(item));
            }
            return packer.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("a buffer packer does not do I/O", e);
        }
    }

    /**
     * The value encoded in {@code bytes}, which must hold exactly one msgpack value.
     *
     * @throws IllegalArgumentException if the bytes are not exactly one valid msgpack value
     */
    static Object decode(byte[] bytes) {
        try (MessageUnpacker in = UNPACKER.newUnpacker(bytes)) {
            Object value = unpack(in, 0);
            if (in.hasNext()) {
                throw new IllegalArgumentException("extra bytes after the msgpack value");
            }
            return value;
        } catch (IOException | MessagePackException e) {
            throw new IllegalArgumentException("not valid msgpack: " + e.getMessage(), e);
        }
    }

    private static Object unpack(MessageUnpacker in, int depth) throws IOException {
        if (depth > MAX_DEPTH) {
            throw new IllegalArgumentException("msgpack value nested more than " + MAX_DEPTH + " deep");
        }
        MessageFormat format = in.getNextFormat();
        switch (format.getValueType()) {
            case NIL:
                in.unpackNil();
                return null;
            case BOOLEAN:
                return in.unpackBoolean();
            case INTEGER:
                if (format == MessageFormat.UINT64) {
                    BigInteger big = in.unpackBigInteger();
                    return big.bitLength() < 64 ? (Object) big.longValue() : big;
                }
                return in.unpackLong();
            case FLOAT:
                return in.unpackDouble();
            case STRING:
                return in.unpackString();
            case BINARY:
                return in.readPayload(in.unpackBinaryHeader());
            case ARRAY: {
                int size = in.unpackArrayHeader();
                List<Object> list = new ArrayList<>(Math.min(size, 1024));
                for (int i = 0; i < size; i++) {
                    list.add(unpack(in, depth + 1));
                }
                return list;
            }
            case MAP: {
                int size = in.unpackMapHeader();
                Map<Object, Object> map = new LinkedHashMap<>(Math.min(size, 1024) * 2);
                for (int i = 0; i < size; i++) {
                    Object key = unpack(in, depth + 1);
                    map.put(key, unpack(in, depth + 1));
                }
                return map;
            }
            case EXTENSION: {
                ExtensionTypeHeader header = in.unpackExtensionTypeHeader();
                return new MsgpackExtension(header.getType(), in.readPayload(header.getLength()));
            }
            default:
                throw new IllegalArgumentException("unknown msgpack format " + format);
        }
    }
}
