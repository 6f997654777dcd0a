package dev.lodestone.bridge;

import java.util.LinkedHashMap;
import java.util.Map;

/** Wire protocol v1 envelopes: building requests and reading replies (docs/protocol.md). */
final class Wire {
    static final int PROTOCOL_VERSION = 1;

    private Wire() {
    }

    /**
     * A request envelope in the order the Python client builds it: {@code v, id, op, target?,
     * args, idem?}. {@code target} and {@code idem} are left out when {@code null}.
     */
    static Map<String, Object> request(Object id, String op, Target target, Map<String, ?> args, String idem) {
        Map<String, Object> message = new LinkedHashMap<>(8);
        message.put("v", PROTOCOL_VERSION);
        message.put("id", id);
        message.put("op", op);
        if (target != null) {
            message.put("target", target.toWire());
        }
        message.put("args", args != null ? args : Map.of());
        if (idem != null) {
            message.put("idem", idem);
        }
        return message;
    }

    /** The id of a decoded reply, or {@code null} when it has none this client could have sent. */
    static Long replyId(Object reply) {
        if (reply instanceof Map) {
            Object id = ((Map<?, ?>) reply).get("id");
            if (id instanceof Long) {
                return (Long) id;
            }
        }
        return null;
    }

    /**
     * The result of a decoded reply.
     *
     * @throws LodestoneException the reply's error as its typed exception, or
     *     {@link InternalException} for a reply that is not a v1 reply
     */
    static Object resultOf(Object reply) {
        if (!(reply instanceof Map) || !(((Map<?, ?>) reply).get("ok") instanceof Boolean)) {
            throw new InternalException("malformed reply from the daemon: " + abbreviate(reply));
        }
        Map<?, ?> map = (Map<?, ?>) reply;
        if ((Boolean) map.get("ok")) {
            return map.get("result");
        }
        Object error = map.get("error");
        if (!(error instanceof Map)) {
            throw new InternalException("malformed error reply: " + abbreviate(reply));
        }
        Map<?, ?> fields = (Map<?, ?>) error;
        Object code = fields.get("code");
        Object message = fields.get("message");
        throw LodestoneException.fromWire(
                code instanceof String ? (String) code : ErrorCode.INTERNAL.name(),
                message instanceof String ? (String) message : "",
                Boolean.TRUE.equals(fields.get("retryable")));
    }

    private static String abbreviate(Object value) {
        String text = String.valueOf(value);
        return text.length() <= 200 ? text : text.substring(0, 200) + "...";
    }
}
