package dev.lodestone.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** One exception class per wire error code, as the protocol's table lists them. */
class ErrorCodesTest {
    private static final Map<ErrorCode, Class<? extends LodestoneException>> CLASSES = new LinkedHashMap<>();

    static {
        CLASSES.put(ErrorCode.BAD_REQUEST, BadRequestException.class);
        CLASSES.put(ErrorCode.UNSUPPORTED_VERSION, UnsupportedVersionException.class);
        CLASSES.put(ErrorCode.UNKNOWN_OP, UnknownOpException.class);
        CLASSES.put(ErrorCode.INVALID_ID, InvalidIdException.class);
        CLASSES.put(ErrorCode.NOT_FOUND, NotFoundException.class);
        CLASSES.put(ErrorCode.TOO_LARGE, TooLargeException.class);
        CLASSES.put(ErrorCode.CONFLICT, ConflictException.class);
        CLASSES.put(ErrorCode.UNAVAILABLE, UnavailableException.class);
        CLASSES.put(ErrorCode.TIMEOUT, LodestoneTimeoutException.class);
        CLASSES.put(ErrorCode.INTERNAL, InternalException.class);
    }

    @Test
    void everyCodeHasItsOwnClass() {
        assertEquals(ErrorCode.values().length, CLASSES.size());
        for (Map.Entry<ErrorCode, Class<? extends LodestoneException>> entry : CLASSES.entrySet()) {
            ErrorCode code = entry.getKey();
            LodestoneException error = LodestoneException.fromWire(code.name(), "what happened", code.retryable());
            assertSame(entry.getValue(), error.getClass(), code.name());
            assertEquals(code, error.code());
            assertEquals(code.name(), error.wireCode());
            assertEquals("what happened", error.getMessage());
            assertEquals(code.retryable(), error.retryable(), code.name());
        }
        assertTrue(ErrorCode.UNAVAILABLE.retryable());
        assertTrue(ErrorCode.TIMEOUT.retryable());
        assertFalse(ErrorCode.CONFLICT.retryable());
    }

    @Test
    void theReplysRetryableFlagWinsAndUnknownCodesAreKept() {
        assertFalse(LodestoneException.fromWire("UNAVAILABLE", "full", false).retryable());
        LodestoneException future = LodestoneException.fromWire("RATE_LIMITED", "slow down", true);
        assertSame(LodestoneException.class, future.getClass());
        assertNull(future.code());
        assertEquals("RATE_LIMITED", future.wireCode());
        assertTrue(future.retryable());
    }

    @Test
    void repliesMapToTheirExceptions() {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("code", "CONFLICT");
        error.put("message", "check 0 failed");
        error.put("retryable", false);
        Map<String, Object> reply = new LinkedHashMap<>();
        reply.put("v", 1L);
        reply.put("id", 9L);
        reply.put("ok", false);
        reply.put("error", error);
        ConflictException conflict = assertThrows(ConflictException.class, () -> Wire.resultOf(reply));
        assertEquals("check 0 failed", conflict.getMessage());
        assertEquals(9L, Wire.replyId(reply));
        assertThrows(InternalException.class, () -> Wire.resultOf(Map.of("v", 1L)));
        assertThrows(InternalException.class, () -> Wire.resultOf("not a map"));
        assertEquals("r", Wire.resultOf(Map.of("ok", true, "result", "r")));
    }
}
