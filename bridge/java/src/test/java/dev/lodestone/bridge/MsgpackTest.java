package dev.lodestone.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The codec against bytes made by Python's msgpack.packb(use_bin_type=True). */
class MsgpackTest {
    private static final HexFormat HEX = HexFormat.of();

    private static String hex(Object value) {
        return HEX.formatHex(Msgpack.encode(value));
    }

    @Test
    void integersUseTheirSmallestForm() {
        Object[][] cases = {
            {0, "00"}, {127, "7f"}, {128, "cc80"}, {255, "ccff"}, {256, "cd0100"}, {65535, "cdffff"},
            {65536, "ce00010000"}, {4294967295L, "ceffffffff"}, {4294967296L, "cf0000000100000000"},
            {-1, "ff"}, {-32, "e0"}, {-33, "d0df"}, {-128, "d080"}, {-129, "d1ff7f"}, {-32768, "d18000"},
            {-32769, "d2ffff7fff"}, {-2147483648, "d280000000"}, {-2147483649L, "d3ffffffff7fffffff"},
            {Long.MAX_VALUE, "cf7fffffffffffffff"}, {Long.MIN_VALUE, "d38000000000000000"},
            {new BigInteger("18446744073709551615"), "cfffffffffffffffff"}, {(short) 5, "05"}, {(byte) -5, "fb"},
        };
        for (Object[] item : cases) {
            assertEquals(item[1], hex(item[0]), "encoding " + item[0]);
            Object back = Msgpack.decode(HEX.parseHex((String) item[1]));
            if (item[0] instanceof BigInteger) {
                assertEquals(item[0], back);
            } else {
                assertEquals(((Number) item[0]).longValue(), back, "decoding " + item[1]);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> Msgpack.encode(BigInteger.ONE.shiftLeft(64)));
    }

    @Test
    void floatsAreFloat64() {
        assertEquals("cb3ff8000000000000", hex(1.5));
        assertEquals("cb3fb999999999999a", hex(0.1));
        assertEquals("cb8000000000000000", hex(-0.0));
        assertEquals("cb3ff8000000000000", hex(1.5f));
        assertEquals(0.1, Msgpack.decode(HEX.parseHex("cb3fb999999999999a")));
        // A float32 from another encoder still decodes, as a Double.
        assertEquals(1.5, Msgpack.decode(HEX.parseHex("ca3fc00000")));
    }

    @Test
    void stringsBinariesArraysAndMapsUseTheirSmallestHeaders() {
        int[][] strings = {{0, 0xa0}, {31, 0xbf}, {32, 0xd9}, {255, 0xd9}, {256, 0xda}, {65535, 0xda}, {65536, 0xdb}};
        for (int[] item : strings) {
            byte[] bytes = Msgpack.encode("a".repeat(item[0]));
            assertEquals(item[1], bytes[0] & 0xff, "a string of " + item[0]);
            assertEquals("a".repeat(item[0]), Msgpack.decode(bytes));
        }
        assertEquals("a5c3a9e29b8f", hex("\u00e9\u26cf"), "UTF-8, header by byte length");
        assertEquals("d920" + "c3a9".repeat(16), hex("\u00e9".repeat(16)), "16 chars but 32 bytes: str8");
        assertEquals("c400", hex(new byte[0]));
        assertEquals("c501", hex(new byte[256]).substring(0, 4));
        assertEquals("c6000100", hex(new byte[65536]).substring(0, 8));
        assertEquals("9f", hex(new ArrayList<>(Collections.nCopies(15, 0))).substring(0, 2));
        assertEquals("dc0010", hex(new int[16]).substring(0, 6));
        Map<String, Object> sixteen = new LinkedHashMap<>();
        for (int i = 0; i < 16; i++) {
            sixteen.put(String.valueOf(i), 0);
        }
        assertEquals("de0010a130", hex(sixteen).substring(0, 10));
        Map<String, Object> nested = new LinkedHashMap<>();
        nested.put("a", Arrays.asList(null, true, false, Map.of("b", new byte[] {0})));
        assertEquals("81a16194c0c3c281a162c40100", hex(nested));
    }

    @Test
    void decodingGivesPlainJavaValuesInWireOrder() {
        Map<?, ?> map = (Map<?, ?>) Msgpack.decode(HEX.parseHex("83a17a01a16102a16d03"));
        assertEquals(List.of("z", "a", "m"), new ArrayList<>(map.keySet()));
        assertArrayEquals(new byte[] {0}, (byte[]) ((Map<?, ?>) ((List<?>) ((Map<?, ?>) Msgpack.decode(
                HEX.parseHex("81a16194c0c3c281a162c40100"))).get("a")).get(3)).get("b"));
        MsgpackExtension ext = (MsgpackExtension) Msgpack.decode(HEX.parseHex("d40501"));
        assertEquals(5, ext.type());
        assertEquals("d40501", hex(ext));
    }

    @Test
    void badInputIsRefusedWithItsPath() {
        IllegalArgumentException type = assertThrows(IllegalArgumentException.class,
                () -> Msgpack.encode(Map.of("state", Map.of("when", new Object()))));
        assertTrue(type.getMessage().contains("value.state.when"), type.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Msgpack.encode("\ud800"), "a lone surrogate");
        List<Object> cycle = new ArrayList<>();
        cycle.add(cycle);
        assertThrows(IllegalArgumentException.class, () -> Msgpack.encode(cycle));
        assertThrows(IllegalArgumentException.class, () -> Msgpack.decode(HEX.parseHex("c1")), "never used");
        assertThrows(IllegalArgumentException.class, () -> Msgpack.decode(HEX.parseHex("92")), "truncated");
        assertThrows(IllegalArgumentException.class, () -> Msgpack.decode(HEX.parseHex("0101")), "extra bytes");
        assertThrows(IllegalArgumentException.class, () -> Msgpack.decode(HEX.parseHex("a2c3a9ff")), "bad UTF-8");
    }
}
