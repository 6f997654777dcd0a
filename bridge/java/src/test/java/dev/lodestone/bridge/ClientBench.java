package dev.lodestone.bridge;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lodestone.bridge.testing.Daemon;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * The Java client's round trips beside the Python clients', against one daemon in one run.
 *
 * <p>Starts a daemon from this repository (as the tests do) and measures, in {@code ROUNDS}
 * interleaved rounds so that load from elsewhere on the machine falls on every column alike:
 *
 * <ul>
 *   <li>{@link LodestoneClient}: lockstep read and durable-write latency (one request in flight,
 *       p50 and p99), then pipelined read and write throughput (one client, up to {@code WINDOW}
 *       requests in flight, writes spread over {@code OBJECTS} objects so they share commits);
 *   <li>a bare JeroMQ DEALER driven by the calling thread itself (no I/O thread, no futures), with
 *       the same request bytes: the floor under the Java client, to which its design adds two
 *       thread hand-offs per call;
 *   <li>{@code bench/clients.py} for the Python clients: {@code Client} (REQ, lockstep) and
 *       {@code AsyncClient} (DEALER, pipelined).
 * </ul>
 *
 * <p>Each cell is the median of the rounds. Every write carries an idempotency key in every column
 * (the clients' default). The Java client's futures complete on its I/O thread here (a direct
 * executor), so the figures are the client's own; it first makes {@code WARM_UP} reads so the JIT
 * has compiled the path, as it would have in a long-running server.
 *
 * <p>Run: {@code mvn -q -B -Pbench test-compile exec:java -Dlodestone.python=PATH} in bridge/java.
 * A benchmark, not a test: it asserts nothing and is never part of {@code mvn verify}.
 */
public final class ClientBench {
    private static final int ROUNDS = 3;
    private static final int READS = 2000;
    private static final int WRITES = 400;
    private static final int PIPELINED_READS = 10000;
    private static final int PIPELINED_WRITES = 3000;
    private static final int WINDOW = 256;
    private static final int OBJECTS = 64;
    private static final int WARM_UP = 20000;

    private ClientBench() {
    }

    /** The same ~300-byte agent state as bench/clients.py. */
    static Map<String, Object> agentState() {
        Map<String, Object> position = new LinkedHashMap<>();
        position.put("x", 120.5);
        position.put("y", 64.0);
        position.put("z", -33.25);
        List<Map<String, Object>> inventory = new ArrayList<>();
        String[] types = {"oak_log", "cobblestone", "bread", "iron_pickaxe"};
        int[] counts = {12, 64, 5, 1};
        for (int slot = 0; slot < types.length; slot++) {
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("type", types[slot]);
            item.put("count", counts[slot]);
            item.put("slot", slot);
            inventory.add(item);
        }
        Map<String, Object> gather = new LinkedHashMap<>();
        gather.put("kind", "gather");
        gather.put("item", "oak_log");
        gather.put("goal", 64);
        Map<String, Object> build = new LinkedHashMap<>();
        build.put("kind", "build");
        build.put("item", "hut");
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("blocksMined", 1200);
        stats.put("ticksAlive", 480000);
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("name", "steve-42");
        state.put("health", 20);
        state.put("maxHealth", 20);
        state.put("position", position);
        state.put("inventory", inventory);
        state.put("tasks", List.of(gather, build));
        state.put("stats", stats);
        return state;
    }

    public static void main(String[] args) throws Exception {
        List<Map<String, Double>> java = new ArrayList<>();
        List<Map<String, Double>> bare = new ArrayList<>();
        List<Map<String, Double>> python = new ArrayList<>();
        Map<String, Object> state = agentState();
        try (Daemon daemon = Daemon.start();
                LodestoneClient client = LodestoneClient.builder().endpoint(daemon.rpc())
                        .timeout(Duration.ofSeconds(30)).executor(Runnable::run).build()) {
            ObjectHandle steve = client.object("Agent", "bench-java");
            steve.put("state", state).get();
            for (int i = 0; i < WARM_UP; i++) {
                steve.get("state").get();
            }
            for (int round = 0; round < ROUNDS; round++) {
                java.add(measureJava(client, state));
                bare.add(measureBareJeromq(daemon.rpc(), state));
                python.add(measurePython(daemon.rpc()));
            }
        }
        print(median(java), median(python), median(bare));
    }

    private static Map<String, Double> measureJava(LodestoneClient client, Map<String, Object> state)
            throws Exception {
        ObjectHandle steve = client.object("Agent", "bench-java");
        long[] reads = new long[READS];
        for (int i = 0; i < READS; i++) {
            long started = System.nanoTime();
            steve.get("state").get();
            reads[i] = System.nanoTime() - started;
        }
        long[] writes = new long[WRITES];
        for (int i = 0; i < WRITES; i++) {
            long started = System.nanoTime();
            steve.put("state", state).get();
            writes[i] = System.nanoTime() - started;
        }
        Map<String, Double> figures = latencies(reads, writes);
        figures.put("pipelined_read_per_s", pipelined(client, state, PIPELINED_READS, false));
        figures.put("pipelined_write_per_s", pipelined(client, state, PIPELINED_WRITES, true));
        return figures;
    }

    private static double pipelined(LodestoneClient client, Map<String, Object> state, int total, boolean write)
            throws Exception {
        List<ObjectHandle> objects = new ArrayList<>();
        for (int i = 0; i < OBJECTS; i++) {
            ObjectHandle object = client.object("Agent", "bench-java-" + i);
            object.put("state", state).get();
            objects.add(object);
        }
        Semaphore slots = new Semaphore(WINDOW);
        List<CompletableFuture<?>> calls = new ArrayList<>(total);
        long started = System.nanoTime();
        for (int i = 0; i < total; i++) {
            slots.acquire();
            ObjectHandle object = objects.get(i % OBJECTS);
            CompletableFuture<?> call = write ? object.put("state", state) : object.get("state");
            calls.add(call.whenComplete((result, error) -> slots.release()));
        }
        CompletableFuture.allOf(calls.toArray(new CompletableFuture<?>[0])).get(5, TimeUnit.MINUTES);
        return total / ((System.nanoTime() - started) / 1e9);
    }

    /** Lockstep latency on a bare DEALER owned by this thread: the bytes the client would send. */
    private static Map<String, Double> measureBareJeromq(String rpc, Map<String, Object> state) {
        Target target = Target.byName("Agent", "bench-bare");
        Map<String, Object> putArgs = new LinkedHashMap<>();
        putArgs.put("key", "state");
        putArgs.put("value", state);
        byte[] read = Msgpack.encode(Wire.request(1L, "storage.get", target, Map.of("key", "state"), null));
        try (ZContext context = new ZContext(1)) {
            ZMQ.Socket dealer = context.createSocket(SocketType.DEALER);
            dealer.setLinger(0);
            // As in the client: a stalled first handshake (a JeroMQ bug) is redone after 500 ms.
            dealer.setHandshakeIvl(500);
            dealer.setReceiveTimeOut(2000);
            dealer.connect(rpc);
            while (roundTrip(dealer, read) == null) {
                // The request was lost with the stalled connection: send it again.
            }
            dealer.setReceiveTimeOut(30_000);
            // The JeroMQ code under it is already compiled: the client's warm-up ran it.
            for (int i = 0; i < READS; i++) {
                roundTrip(dealer, read);
            }
            long[] reads = new long[READS];
            for (int i = 0; i < READS; i++) {
                long started = System.nanoTime();
                roundTrip(dealer, read);
                reads[i] = System.nanoTime() - started;
            }
            long[] writes = new long[WRITES];
            for (int i = 0; i < WRITES; i++) {
                String idem = UUID.randomUUID().toString().replace("-", "");
                byte[] write = Msgpack.encode(Wire.request((long) i, "storage.put", target, putArgs, idem));
                long started = System.nanoTime();
                roundTrip(dealer, write);
                writes[i] = System.nanoTime() - started;
            }
            return latencies(reads, writes);
        }
    }

    private static byte[] roundTrip(ZMQ.Socket dealer, byte[] request) {
        dealer.sendMore(new byte[0]);
        dealer.send(request);
        return dealer.recv() == null ? null : dealer.recv();
    }

    private static Map<String, Double> measurePython(String rpc) throws IOException, InterruptedException {
        List<String> command = List.of(Daemon.python(), "bench/clients.py", "--rpc", rpc,
                "--reads", String.valueOf(READS), "--writes", String.valueOf(WRITES),
                "--pipelined-reads", String.valueOf(PIPELINED_READS),
                "--pipelined-writes", String.valueOf(PIPELINED_WRITES), "--window", String.valueOf(WINDOW));
        Process process = new ProcessBuilder(command).directory(Daemon.repo().toFile())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(10, TimeUnit.MINUTES) || process.exitValue() != 0) {
            throw new IllegalStateException("bench/clients.py failed: " + out);
        }
        Map<String, Double> figures = new LinkedHashMap<>();
        new ObjectMapper().readTree(out.trim()).properties()
                .forEach(field -> figures.put(field.getKey(), field.getValue().asDouble()));
        return figures;
    }

    private static Map<String, Double> latencies(long[] reads, long[] writes) {
        Map<String, Double> figures = new LinkedHashMap<>();
        figures.put("read_p50_ms", percentileMs(reads, 0.50));
        figures.put("read_p99_ms", percentileMs(reads, 0.99));
        figures.put("write_p50_ms", percentileMs(writes, 0.50));
        figures.put("write_p99_ms", percentileMs(writes, 0.99));
        return figures;
    }

    private static double percentileMs(long[] samples, double q) {
        long[] ordered = samples.clone();
        Arrays.sort(ordered);
        return ordered[Math.min(ordered.length - 1, (int) (q * ordered.length))] / 1e6;
    }

    /** Each figure's median over the rounds. */
    private static Map<String, Double> median(List<Map<String, Double>> rounds) {
        Map<String, Double> medians = new LinkedHashMap<>();
        for (String name : rounds.get(0).keySet()) {
            double[] values = rounds.stream().mapToDouble(round -> round.get(name)).sorted().toArray();
            medians.put(name, values[values.length / 2]);
        }
        return medians;
    }

    private static void print(Map<String, Double> java, Map<String, Double> python, Map<String, Double> bare) {
        String[][] rows = {
            {"read latency p50 (ms)", "read_p50_ms", "%.3f"},
            {"read latency p99 (ms)", "read_p99_ms", "%.3f"},
            {"durable write latency p50 (ms)", "write_p50_ms", "%.3f"},
            {"durable write latency p99 (ms)", "write_p99_ms", "%.3f"},
            {"pipelined reads per s (window " + WINDOW + ")", "pipelined_read_per_s", "%,.0f"},
            {"pipelined durable writes per s (window " + WINDOW + ", " + OBJECTS + " objects)",
                "pipelined_write_per_s", "%,.0f"},
        };
        System.out.println();
        System.out.printf(Locale.ROOT, "Lodestone clients, one daemon, medians of %d interleaved rounds of %d lockstep"
                + " reads, %d lockstep writes, %d pipelined reads, %d pipelined writes (~300-byte agent state)%n%n",
                ROUNDS, READS, WRITES, PIPELINED_READS, PIPELINED_WRITES);
        System.out.printf(Locale.ROOT, "| %-58s | %-20s | %-27s | %-18s |%n", "measure", "Java LodestoneClient",
                "Python Client / AsyncClient", "bare JeroMQ DEALER");
        System.out.printf(Locale.ROOT, "|%s|%s|%s|%s|%n", "-".repeat(60), "-".repeat(22), "-".repeat(29),
                "-".repeat(20));
        for (String[] row : rows) {
            Double floor = bare.get(row[1]);
            System.out.printf(Locale.ROOT, "| %-58s | %20s | %27s | %18s |%n", row[0],
                    String.format(Locale.ROOT, row[2], java.get(row[1])),
                    String.format(Locale.ROOT, row[2], python.get(row[1])),
                    floor == null ? "-" : String.format(Locale.ROOT, row[2], floor));
        }
    }
}
