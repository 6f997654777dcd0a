package dev.lodestone.bridge;

import static dev.lodestone.bridge.testing.Await.failure;
import static dev.lodestone.bridge.testing.Await.result;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lodestone.bridge.testing.Daemon;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.zeromq.ZMQ;

/**
 * CURVE against a real daemon with {@code [security] curve = true}: keys made by {@code lodestone
 * keys}, one client key allowed. The allowed client and subscriber work; a client with no key, or
 * with a key the daemon does not allow, gets nothing, and the daemon goes on serving the allowed one.
 */
class CurveTest {
    private static Daemon daemon;
    private static CurveKeys allowed;
    private static CurveKeys stranger;

    @BeforeAll
    static void start() throws Exception {
        daemon = Daemon.prepare(null, "tcp://127.0.0.1:*");
        String dataDir = daemon.dataDir().toString();
        String serverKey = daemon.command("keys", "server", "--data-dir", dataDir);
        String pluginKey = daemon.command("keys", "client", "plugin", "--data-dir", dataDir);
        daemon.command("keys", "client", "stranger", "--data-dir", dataDir);
        Path curve = daemon.dataDir().resolve("curve");
        allowed = CurveKeys.load(curve.resolve("server.key"), curve.resolve("clients/plugin.key_secret"));
        stranger = CurveKeys.load(curve.resolve("server.key"), curve.resolve("clients/stranger.key_secret"));
        assertEquals(serverKey, allowed.serverKey());
        assertEquals(pluginKey, allowed.publicKey());
        daemon.start("[security]\ncurve = true\nclient_keys = [\"" + pluginKey + "\"]\n");
    }

    @AfterAll
    static void stop() {
        daemon.close();
    }

    private static LodestoneClient.Builder quick() {
        return LodestoneClient.builder().endpoint(daemon.rpc()).timeout(Duration.ofMillis(500)).retries(0);
    }

    @Test
    void anAllowedClientReadsAndWrites() {
        try (LodestoneClient client = LodestoneClient.builder().endpoint(daemon.rpc()).curve(allowed).build()) {
            ObjectHandle chest = client.object("Chest", "java-curve");
            result(chest.put("slots", 3));
            assertEquals(3L, result(chest.get("slots")));
        }
    }

    @Test
    void clientsWithoutAnAllowedKeyGetNothingAndTheAllowedOneKeepsWorking() {
        try (LodestoneClient good = LodestoneClient.builder().endpoint(daemon.rpc()).curve(allowed).build();
                LodestoneClient noKey = quick().build();
                LodestoneClient unknown = quick().curve(stranger).build()) {
            assertEquals("0.1.0", result(good.ping()).get("version"));
            failure(noKey.ping(), LodestoneTimeoutException.class);
            failure(unknown.object("Chest", "java-stolen").put("gold", 64), LodestoneTimeoutException.class);
            assertEquals("0.1.0", result(good.ping()).get("version"));
            assertNull(result(good.object("Chest", "java-stolen").get("gold")));
            Map<?, ?> counters = (Map<?, ?>) result(good.stats()).get("counters");
            assertTrue(((Long) counters.get("curve.refused")) >= 1, "the stranger's key was refused: " + counters);
        }
    }

    @Test
    void onlyAnAllowedSubscriberHearsTheChangeStream() throws InterruptedException {
        BlockingQueue<LodestoneEvent> heard = new LinkedBlockingQueue<>();
        BlockingQueue<LodestoneEvent> overheard = new LinkedBlockingQueue<>();
        try (LodestoneClient client = LodestoneClient.builder().endpoint(daemon.rpc()).curve(allowed).build();
                LodestoneSubscriber subscriber = LodestoneSubscriber.builder().endpoint(daemon.pub())
                        .curve(allowed).subscribe("change.Chest.").listener(heard::add).build();
                LodestoneSubscriber noKey = LodestoneSubscriber.builder().endpoint(daemon.pub())
                        .subscribe("change.Chest.").listener(overheard::add).build();
                LodestoneSubscriber unknown = LodestoneSubscriber.builder().endpoint(daemon.pub())
                        .curve(stranger).subscribe("change.Chest.").listener(overheard::add).build()) {
            ObjectHandle chest = client.object("Chest", "java-stream");
            LodestoneEvent event = null;
            for (int attempt = 0; attempt < 200 && event == null; attempt++) {
                result(chest.put("n", attempt));
                event = heard.poll(100, TimeUnit.MILLISECONDS);
            }
            assertTrue(event != null, "the allowed subscriber heard nothing");
            result(chest.put("n", "last"));
            while (event != null && !"last".equals(event.changes().get(0).get("value"))) {
                event = heard.poll(10, TimeUnit.SECONDS);
            }
            assertTrue(event != null, "the allowed subscriber missed the last write");
            assertEquals(0, noKey.received() + unknown.received());
            assertTrue(overheard.isEmpty());
        }
    }

    @Test
    void keysThatAreNotZ85AreRefusedAndTheSecretNeverPrinted() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> CurveKeys.of("short", allowed.publicKey(), allowed.publicKey()));
        assertTrue(error.getMessage().contains("server key"), error.getMessage());
        ZMQ.Curve.KeyPair pair = ZMQ.Curve.generateKeyPair();
        CurveKeys keys = CurveKeys.of(allowed.serverKey(), pair.publicKey, pair.secretKey);
        assertTrue(!keys.toString().contains(pair.secretKey) && keys.toString().contains(pair.publicKey));
    }
}
