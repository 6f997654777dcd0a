package dev.lodestone.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lodestone.bridge.testing.Daemon;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZEvent;
import org.zeromq.ZMQ;

/**
 * The language-neutral vectors of schemas/vectors/wire_v1.json, run in order against a fresh
 * daemon whose secret is the vectors': Java encodes each request to the same bytes as Python,
 * the daemon's ok replies equal the recorded bytes, error replies have the recorded id and code,
 * and Java decodes (and re-encodes) every recorded reply the same way.
 */
class WireVectorsTest {
    private static final HexFormat HEX = HexFormat.of();
    private static Map<String, Object> vectors;
    private static Daemon daemon;

    @BeforeAll
    @SuppressWarnings("unchecked")
    static void start() throws IOException {
        Path file = Daemon.repo().resolve("schemas/vectors/wire_v1.json");
        vectors = new ObjectMapper().readValue(file.toFile(), LinkedHashMap.class);
        assertEquals(1, vectors.get("protocol"));
        daemon = Daemon.start(HEX.parseHex((String) vectors.get("secret_hex")), "tcp://127.0.0.1:*");
    }

    @AfterAll
    static void stop() {
        if (daemon != null) {
            daemon.close();
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> cases() {
        return (List<Map<String, Object>>) vectors.get("vectors");
    }

    @Test
    void requestsEncodeToTheRecordedBytes() {
        int encoded = 0;
        for (Map<String, Object> vector : cases()) {
            Object request = vector.get("request");
            if (request == null) {
                continue;
            }
            byte[] expected = HEX.parseHex((String) vector.get("request_hex"));
            assertEquals(HEX.formatHex(expected), HEX.formatHex(Msgpack.encode(request)), name(vector));
            encoded++;
        }
        assertTrue(encoded >= 18, "most vectors have a request: " + encoded);
    }

    /** The client's own envelope builder makes the same bytes from (id, op, target, args, idem). */
    @Test
    @SuppressWarnings("unchecked")
    void theClientsEnvelopeMatchesTheRecordedBytes() {
        for (Map<String, Object> vector : cases()) {
            if (!(vector.get("request") instanceof Map)) {
                continue; // raw bytes, or a batch (the array of requests like these)
            }
            Map<String, Object> request = (Map<String, Object>) vector.get("request");
            if (!Integer.valueOf(1).equals(request.get("v"))) {
                continue;
            }
            Map<String, Object> target = (Map<String, Object>) request.get("target");
            Target wireTarget = target == null ? null
                    : target.containsKey("name") ? Target.byName((String) target.get("class"), (String) target.get("name"))
                    : Target.byId((String) target.get("class"), (String) target.get("id"));
            Object id = request.get("id") instanceof Integer ? (Object) ((Integer) request.get("id")).longValue()
                    : request.get("id");
            byte[] bytes = Msgpack.encode(Wire.request(id, (String) request.get("op"), wireTarget,
                    (Map<String, Object>) request.get("args"), (String) request.get("idem")));
            assertEquals(vector.get("request_hex"), HEX.formatHex(bytes), name(vector));
        }
    }

    @Test
    void recordedRepliesDecodeAndReencode() {
        int batches = 0;
        for (Map<String, Object> vector : cases()) {
            byte[] reply = HEX.parseHex((String) vector.get("reply_hex"));
            Object decoded = Msgpack.decode(reply);
            assertEquals(normalise(vector.get("reply")), decoded, name(vector));
            assertEquals(vector.get("reply_hex"), HEX.formatHex(Msgpack.encode(decoded)), name(vector));
            if (vector.get("reply") instanceof List) {
                batches++;
                List<?> slots = (List<?>) decoded;
                for (int slot = 0; slot < slots.size(); slot++) {
                    checkResult(name(vector) + "[" + slot + "]", ((List<?>) vector.get("reply")).get(slot),
                            slots.get(slot));
                }
            } else {
                checkResult(name(vector), vector.get("reply"), decoded);
            }
        }
        assertTrue(batches >= 2, "the vectors have batch replies: " + batches);
    }

    private static void checkResult(String name, Object recorded, Object decoded) {
        Map<?, ?> expected = (Map<?, ?>) recorded;
        if (Boolean.TRUE.equals(expected.get("ok"))) {
            assertEquals(normalise(expected.get("result")), Wire.resultOf(decoded), name);
        } else {
            String code = (String) ((Map<?, ?>) expected.get("error")).get("code");
            LodestoneException error = assertThrows(LodestoneException.class, () -> Wire.resultOf(decoded));
            assertEquals(code, error.wireCode(), name);
            assertEquals(ErrorCode.valueOf(code), error.code());
            assertEquals(LodestoneException.fromWire(code, "", false).getClass(), error.getClass());
        }
    }

    /** Run in order: a fresh daemon with the vectors' secret answers with the recorded bytes. */
    @Test
    void theDaemonAnswersWithTheRecordedReplies() throws IOException {
        try (ZContext context = new ZContext(1)) {
            ZMQ.Socket dealer = connectedDealer(context, daemon.rpc());
            for (Map<String, Object> vector : cases()) {
                dealer.sendMore(new byte[0]);
                dealer.send(HEX.parseHex((String) vector.get("request_hex")));
                byte[] delimiter = dealer.recv();
                assertNotNull(delimiter, "no reply to " + name(vector) + "\n" + daemon.logTail());
                assertEquals(0, delimiter.length);
                assertTrue(dealer.hasReceiveMore());
                byte[] reply = dealer.recv();
                checkReply(name(vector), reply, vector.get("reply"), HEX.parseHex((String) vector.get("reply_hex")));
            }
        }
    }

    /** An ok reply equals the recorded bytes, an error reply has the recorded id and code; a batch's, slot by slot. */
    private static void checkReply(String name, byte[] reply, Object recorded, byte[] recordedBytes)
            throws IOException {
        if (recorded instanceof List) {
            List<byte[]> got = slots(reply);
            List<byte[]> want = slots(recordedBytes);
            assertEquals(want.size(), got.size(), name);
            for (int slot = 0; slot < want.size(); slot++) {
                checkReply(name + "[" + slot + "]", got.get(slot), ((List<?>) recorded).get(slot), want.get(slot));
            }
            return;
        }
        Map<?, ?> expected = (Map<?, ?>) recorded;
        if (Boolean.TRUE.equals(expected.get("ok"))) {
            assertEquals(HEX.formatHex(recordedBytes), HEX.formatHex(reply), name);
        } else {
            Map<?, ?> actual = assertInstanceOf(Map.class, Msgpack.decode(reply));
            assertEquals(normalise(expected.get("id")), actual.get("id"), name);
            assertEquals(Boolean.FALSE, actual.get("ok"), name);
            assertEquals(((Map<?, ?>) expected.get("error")).get("code"),
                    ((Map<?, ?>) actual.get("error")).get("code"), name);
        }
    }

    /** The bytes of each reply in a batch's reply array. */
    private static List<byte[]> slots(byte[] array) throws IOException {
        List<byte[]> slots = new ArrayList<>();
        try (MessageUnpacker unpacker = MessagePack.newDefaultUnpacker(array)) {
            int count = unpacker.unpackArrayHeader();
            for (int slot = 0; slot < count; slot++) {
                int start = (int) unpacker.getTotalReadBytes();
                unpacker.skipValue();
                slots.add(Arrays.copyOfRange(array, start, (int) unpacker.getTotalReadBytes()));
            }
        }
        return slots;
    }

    /**
     * A DEALER whose connection finished its handshake. JeroMQ 0.6.0 sometimes stalls a fresh
     * connection's handshake (and loses what was queued on it); the client works around it the
     * same way: a short handshake timeout, and nothing sent before the monitor says so.
     */
    private static ZMQ.Socket connectedDealer(ZContext context, String endpoint) {
        ZMQ.Socket dealer = context.createSocket(SocketType.DEALER);
        dealer.setLinger(0);
        dealer.setReceiveTimeOut(10_000);
        dealer.setHandshakeIvl(500);
        dealer.monitor("inproc://vectors-monitor", ZMQ.EVENT_HANDSHAKE_PROTOCOL);
        ZMQ.Socket monitor = context.createSocket(SocketType.PAIR);
        monitor.setReceiveTimeOut(10_000);
        monitor.connect("inproc://vectors-monitor");
        dealer.connect(endpoint);
        assertNotNull(ZEvent.recv(monitor), "no handshake with " + endpoint);
        return dealer;
    }

    private static String name(Map<String, Object> vector) {
        return "vector '" + vector.get("name") + "'";
    }

    /** JSON numbers as the decoder gives them: every integer a Long, every float a Double. */
    private static Object normalise(Object json) {
        if (json instanceof Integer || json instanceof Short || json instanceof Byte) {
            return ((Number) json).longValue();
        }
        if (json instanceof BigInteger) {
            BigInteger big = (BigInteger) json;
            return big.bitLength() < 64 ? (Object) big.longValue() : big;
        }
        if (json instanceof Map) {
            Map<Object, Object> map = new LinkedHashMap<>();
            ((Map<?, ?>) json).forEach((key, value) -> map.put(normalise(key), normalise(value)));
            return map;
        }
        if (json instanceof List) {
            List<Object> list = new ArrayList<>();
            ((List<?>) json).forEach(item -> list.add(normalise(item)));
            return list;
        }
        return json;
    }
}
