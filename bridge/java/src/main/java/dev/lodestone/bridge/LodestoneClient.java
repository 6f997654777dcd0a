package dev.lodestone.bridge;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * A client for the Lodestone daemon's RPC endpoint (wire protocol v1, docs/protocol.md).
 *
 * <p>Every call returns at once with a {@link CompletableFuture}; the calling thread (a server's
 * tick thread) never blocks and never touches a socket. One background thread owns a DEALER
 * socket, sends requests pipelined and matches replies by request id. Futures are completed on
 * the {@linkplain Builder#executor executor} given to the builder, so a plugin that passes the
 * server's main-thread executor gets its callbacks on the main thread (a callback attached to a
 * future that has already completed runs, as always with {@code CompletableFuture}, on the
 * thread that attaches it).
 *
 * <p>A failed future completes with a {@link LodestoneException} subclass, one per wire error
 * code: {@link LodestoneTimeoutException} when no reply came after every retry,
 * {@link ClientClosedException} for calls pending when the client was closed. Write ops carry an
 * idempotency key (a random UUID, unless {@link CallOptions#idempotencyKey} gives one), so
 * resending them after a timeout or a reconnect applies them once.
 *
 * <p>Thread-safe: share one client across the plugin. {@link #close()} it on disable.
 */
public final class LodestoneClient implements AutoCloseable {
    /** The daemon's default RPC endpoint. */
    public static final String DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555";

    /** The name of the one Foreman, MissionControl and Telemetry object the built-in classes use by default. */
    public static final String GLOBAL = "global";

    private final String endpoint;
    private final Duration timeout;
    private final int retries;
    private final boolean idempotency;
    private final Executor executor;
    private final int maxFrameBytes;
    private final IoThread io;
    /** The batch this thread has open on this client, if any (see {@link #batch()}). */
    private final ThreadLocal<Batch> openBatch = new ThreadLocal<>();
    private final Thread thread;
    private final AtomicLong ids = new AtomicLong();
    private static final AtomicInteger THREADS = new AtomicInteger();

    private LodestoneClient(Builder builder) {
        endpoint = builder.endpoint;
        timeout = builder.timeout;
        retries = builder.retries;
        idempotency = builder.idempotency;
        executor = builder.executor;
        maxFrameBytes = builder.maxFrameBytes;
        io = new IoThread(endpoint, (int) builder.handshakeTimeout.toMillis(), maxFrameBytes,
                builder.batchMaxRequests, builder.curve);
        thread = new Thread(io, "lodestone-client-io-" + THREADS.incrementAndGet());
        thread.setDaemon(true);
        thread.start();
    }

    /** A builder with the defaults: {@link #DEFAULT_ENDPOINT}, 5 s timeout, 2 retries, idempotency on. */
    public static Builder builder() {
        return new Builder();
    }

    /** The endpoint this client connects to. */
    public String endpoint() {
        return endpoint;
    }

    // The generic call -----------------------------------------------------------------------

    /**
     * Send one request and complete with its decoded result: {@code null}, {@link Boolean},
     * {@link Long}, {@link Double}, {@link String}, {@code byte[]}, {@link List} or {@link Map}
     * (see docs/protocol.md for each op's result).
     *
     * @param op the wire op, for example {@code "storage.get"}
     * @param target the object for storage and alarm ops, {@code null} for the others
     * @param args the op's arguments ({@code null} for none)
     * @return a future that fails with the reply's typed {@link LodestoneException}
     */
    public CompletableFuture<Object> call(String op, Target target, Map<String, ?> args) {
        return call(op, target, args, CallOptions.DEFAULTS);
    }

    /** {@link #call(String, Target, Map)} with per-call overrides. */
    public CompletableFuture<Object> call(String op, Target target, Map<String, ?> args, CallOptions options) {
        return submit(op, target, args, options, Function.identity());
    }

    /**
     * The generic call with a conversion of its result, run on the executor before the returned
     * future completes. This is what every typed method here is built on (a wrong-shaped result
     * fails the future with {@link InternalException}).
     */
    <T> CompletableFuture<T> submit(String op, Target target, Map<String, ?> args, CallOptions options,
            Function<Object, T> convert) {
        // Any op may write (an operator's own class ops too): without a key it is never sent twice.
        return submit(op, target, args, options, true, convert);
    }

    /**
     * {@link #submit(String, Target, Map, CallOptions, Function)} for an op whose kind the caller
     * knows: a read may be resent as it is; a {@code write} is resent only under its idempotency key.
     * Every call carries a key while retries are on, so a retry is applied once whatever the op.
     */
    <T> CompletableFuture<T> submit(String op, Target target, Map<String, ?> args, CallOptions options,
            boolean write, Function<Object, T> convert) {
        Objects.requireNonNull(op, "op");
        Objects.requireNonNull(options, "options");
        CompletableFuture<T> future = new CompletableFuture<>();
        if (io.isStopping()) {
            future.completeExceptionally(new ClientClosedException("the Lodestone client was closed"));
            return future;
        }
        long id = ids.incrementAndGet();
        int callRetries = options.retriesOr(retries);
        String idem = options.idempotencyKey();
        if (idem == null && idempotency && callRetries > 0) {
            idem = UUID.randomUUID().toString().replace("-", "");
        }
        byte[] body;
        try {
            body = Msgpack.encode(Wire.request(id, op, target, args, idem));
        } catch (IllegalArgumentException e) {
            future.completeExceptionally(new BadRequestException("cannot send " + op + ": " + e.getMessage()));
            return future;
        }
        if (body.length > maxFrameBytes) {
            future.completeExceptionally(new TooLargeException("the " + op + " request is " + body.length
                    + " bytes, over the " + maxFrameBytes + "-byte frame limit; send it in smaller batches"));
            return future;
        }
        long timeoutNanos = options.timeoutOr(timeout).toNanos();
        PendingCall<T> call = new PendingCall<>(id, op, body, !write || idem != null, timeoutNanos, callRetries,
                convert, future, executor);
        Batch batch = openBatch.get();
        if (batch != null) {
            batch.add(call);
        } else {
            io.submit(call);
        }
        return future;
    }

    /**
     * Hold this thread's calls until the returned batch is closed, then hand them to the I/O
     * thread at once, so they go out in one batch frame (one message, one reply frame; more than
     * one only past {@link Builder#batchMaxRequests} or {@link Builder#maxFrameBytes}). Each call
     * still gets its own future, result and error; other threads' calls are not held. Use it
     * around a tick's calls:
     *
     * <pre>{@code
     * try (LodestoneClient.Batch tick = client.batch()) {
     *     for (Steve steve : steves) {
     *         client.agent(steve.name()).move(steve.position());
     *     }
     * }
     * }</pre>
     *
     * <p>Without it the I/O thread still sends whatever calls are queued when it wakes as one
     * frame; a batch makes sure a tick's calls are not split. Opening a batch while one is open on
     * this thread returns the open one; the calls go when the outermost is closed.
     */
    public Batch batch() {
        Batch open = openBatch.get();
        if (open != null) {
            open.depth++;
            return open;
        }
        Batch batch = new Batch();
        openBatch.set(batch);
        return batch;
    }

    /** Calls of one thread held back to go out together; see {@link LodestoneClient#batch()}. */
    public final class Batch implements AutoCloseable {
        private final List<PendingCall<?>> calls = new ArrayList<>();
        private int depth = 1;

        private Batch() {
        }

        void add(PendingCall<?> call) {
            calls.add(call);
        }

        /** How many calls it holds. */
        public int size() {
            return calls.size();
        }

        /** Hand the calls to the I/O thread (at the outermost close); closing again does nothing. */
        @Override
        public void close() {
            if (depth == 0 || --depth > 0) {
                return;
            }
            openBatch.remove();
            if (!calls.isEmpty()) {
                io.submitAll(List.copyOf(calls));
                calls.clear();
            }
        }
    }

    // Ops without a target ----------------------------------------------------------------------

    /** The daemon's protocol versions and software version: {@code {"protocol": [1], "version"}}. */
    public CompletableFuture<Map<String, Object>> ping() {
        return submit("ping", null, null, CallOptions.DEFAULTS, false, result -> Results.map(result, "ping"));
    }

    /** The daemon's storage figures and counters: {@code {"storage", "counters", "last_commit_ms"}}. */
    public CompletableFuture<Map<String, Object>> stats() {
        return submit("stats", null, null, CallOptions.DEFAULTS, false, result -> Results.map(result, "stats"));
    }

    /** The daemon's health: {@code {"status": "ok" or "warning", "warnings", ...}} (docs/protocol.md). */
    public CompletableFuture<Map<String, Object>> health() {
        return submit("health", null, null, CallOptions.DEFAULTS, false, result -> Results.map(result, "health"));
    }

    /** The id of {@code name} in {@code className}: always the same for the same name, in this deployment. */
    public CompletableFuture<String> idFromName(String className, String name) {
        return idCall("id.from_name", args("class", className, "name", name));
    }

    /** A fresh random id in {@code className}. */
    public CompletableFuture<String> newUniqueId(String className) {
        return idCall("id.new_unique", args("class", className));
    }

    /**
     * {@code id} itself, if this deployment made it for {@code className}; else the future fails
     * with {@link InvalidIdException}.
     */
    public CompletableFuture<String> idFromString(String className, String id) {
        return idCall("id.from_string", args("class", className, "id", id));
    }

    private CompletableFuture<String> idCall(String op, Map<String, Object> args) {
        return submit(op, null, args, CallOptions.DEFAULTS, false,
                result -> Results.string(Results.field(result, "id", op), op + " id"));
    }

    /**
     * Stored objects of {@code className} in id order, up to {@code limit} (1..10000), after the
     * id {@code after} ({@code null} to start at the beginning): page with the last id seen.
     */
    public CompletableFuture<List<StoredObject>> listObjects(String className, String after, int limit) {
        Map<String, Object> args = args("class", className);
        if (after != null) {
            args.put("after", after);
        }
        args.put("limit", limit);
        return submit("objects.list", null, args, CallOptions.DEFAULTS, false, result -> {
            List<StoredObject> objects = new ArrayList<>();
            for (Object item : Results.list(Results.field(result, "objects", "objects.list"), "objects")) {
                Map<String, Object> fields = Results.map(item, "objects.list entry");
                Object name = fields.get("name");
                objects.add(new StoredObject(className, Results.string(fields.get("id"), "object id"),
                        name == null ? null : Results.string(name, "object name")));
            }
            return Collections.unmodifiableList(objects);
        });
    }

    /**
     * Stored alarms in due order, of every class: those due at or before {@code dueByMs} (epoch
     * milliseconds; {@code null} for all), at most {@code limit} (1..10000).
     */
    public CompletableFuture<List<Alarm>> listAlarms(Long dueByMs, int limit) {
        Map<String, Object> args = new LinkedHashMap<>();
        if (dueByMs != null) {
            args.put("due_by_ms", dueByMs);
        }
        args.put("limit", limit);
        return submit("alarms.list", null, args, CallOptions.DEFAULTS, false, result -> {
            List<Alarm> alarms = new ArrayList<>();
            for (Object item : Results.list(Results.field(result, "alarms", "alarms.list"), "alarms")) {
                alarms.add(Alarm.fromWire(Results.map(item, "alarms.list entry")));
            }
            return Collections.unmodifiableList(alarms);
        });
    }

    // Objects -----------------------------------------------------------------------------------

    /** A handle on the object called {@code name} in {@code className}; no request is sent. */
    public ObjectHandle object(String className, String name) {
        return new ObjectHandle(this, Target.byName(className, name), CallOptions.DEFAULTS);
    }

    /** A handle on the object with id {@code id} in {@code className}; no request is sent. */
    public ObjectHandle objectById(String className, String id) {
        return new ObjectHandle(this, Target.byId(className, id), CallOptions.DEFAULTS);
    }

    /** A handle on {@code target}; no request is sent. */
    public ObjectHandle object(Target target) {
        return new ObjectHandle(this, Objects.requireNonNull(target, "target"), CallOptions.DEFAULTS);
    }

    // Built-in classes --------------------------------------------------------------------------

    /** A handle on the agent called {@code name} ({@code Agent.*} ops); no request is sent. */
    public AgentHandle agent(String name) {
        return new AgentHandle(this, Target.byName(AgentHandle.CLASS, name), CallOptions.DEFAULTS);
    }

    /** A handle on the Foreman {@code global}, the one agents report to by default. */
    public ForemanHandle foreman() {
        return foreman(GLOBAL);
    }

    /** A handle on the Foreman called {@code name} ({@code Foreman.*} ops); no request is sent. */
    public ForemanHandle foreman(String name) {
        return new ForemanHandle(this, Target.byName(ForemanHandle.CLASS, name), CallOptions.DEFAULTS);
    }

    /** A handle on the MissionControl {@code global}. */
    public MissionControlHandle missions() {
        return missions(GLOBAL);
    }

    /** A handle on the MissionControl called {@code name} ({@code MissionControl.*} ops). */
    public MissionControlHandle missions(String name) {
        return new MissionControlHandle(this, Target.byName(MissionControlHandle.CLASS, name), CallOptions.DEFAULTS);
    }

    /** A handle on the Telemetry {@code global}. */
    public TelemetryHandle telemetry() {
        return telemetry(GLOBAL);
    }

    /** A handle on the Telemetry called {@code name} ({@code Telemetry.*} ops). */
    public TelemetryHandle telemetry(String name) {
        return new TelemetryHandle(this, Target.byName(TelemetryHandle.CLASS, name), CallOptions.DEFAULTS);
    }

    // Lifecycle ---------------------------------------------------------------------------------

    /** Calls sent and not answered yet (for a plugin's status command or metrics). */
    public int pendingCalls() {
        return io.inFlightCount();
    }

    /**
     * Stop the I/O thread and close the socket. Every call still pending completes exceptionally
     * with {@link ClientClosedException} (a write among them may or may not have been applied), and
     * later calls fail the same way. Waits up to a few seconds for the thread; safe to call twice.
     */
    @Override
    public void close() {
        io.stop();
        try {
            thread.join(TimeUnit.SECONDS.toMillis(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        io.failAll(io::terminationError);
    }

    private static Map<String, Object> args(Object... pairs) {
        Map<String, Object> args = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            args.put((String) pairs[i], pairs[i + 1]);
        }
        return args;
    }

    @Override
    public String toString() {
        return "LodestoneClient[" + endpoint + "]";
    }

    /** Settings of a {@link LodestoneClient}; {@link #build()} connects (lazily: no daemon needed yet). */
    public static final class Builder {
        private String endpoint = DEFAULT_ENDPOINT;
        private Duration timeout = Duration.ofSeconds(5);
        private int retries = 2;
        private boolean idempotency = true;
        private Executor executor = ForkJoinPool.commonPool();
        private int maxFrameBytes = 16 * 1024 * 1024;
        private int batchMaxRequests = 1024;
        private Duration handshakeTimeout = Duration.ofMillis(500);
        private CurveKeys curve;

        private Builder() {
        }

        /** The daemon's RPC endpoint, {@code tcp://host:port} or {@code ipc://path}. */
        public Builder endpoint(String endpoint) {
            this.endpoint = Objects.requireNonNull(endpoint, "endpoint");
            return this;
        }

        /** How long each attempt waits for its reply (default 5 s). */
        public Builder timeout(Duration timeout) {
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("a timeout must be positive, got " + timeout);
            }
            this.timeout = timeout;
            return this;
        }

        /**
         * How many times a request is sent again after a timeout or a retryable error (default 2),
         * with the same id and idempotency key. A call fails with
         * {@link LodestoneTimeoutException} after {@code retries + 1} attempts without a reply.
         */
        public Builder retries(int retries) {
            if (retries < 0) {
                throw new IllegalArgumentException("retries must be >= 0, got " + retries);
            }
            this.retries = retries;
            return this;
        }

        /**
         * Whether calls carry a fresh idempotency key (default on). Off, a write is sent once
         * (never again after a timeout or a lost connection, since it might apply twice) and a
         * lost reply fails it with {@link LodestoneTimeoutException}; reads are retried either way.
         */
        public Builder idempotency(boolean idempotency) {
            this.idempotency = idempotency;
            return this;
        }

        /**
         * Where futures complete (default: the common fork-join pool). Pass the server's
         * main-thread executor to get callbacks on the main thread. If the executor refuses a
         * completion (a plugin being disabled), it runs on the client's own thread instead.
         */
        public Builder executor(Executor executor) {
            this.executor = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /**
         * The daemon's {@code max_frame_bytes} (default 16 MiB): a request bigger than this fails
         * at once with {@link TooLargeException} instead of being sent.
         */
        public Builder maxFrameBytes(int maxFrameBytes) {
            if (maxFrameBytes <= 0) {
                throw new IllegalArgumentException("maxFrameBytes must be positive, got " + maxFrameBytes);
            }
            this.maxFrameBytes = maxFrameBytes;
            return this;
        }

        /**
         * The daemon's {@code batch_max_requests} (default 1,024): the most requests the client
         * puts in one batch frame; more calls waiting go in several frames.
         */
        public Builder batchMaxRequests(int batchMaxRequests) {
            if (batchMaxRequests <= 0) {
                throw new IllegalArgumentException("batchMaxRequests must be positive, got " + batchMaxRequests);
            }
            this.batchMaxRequests = batchMaxRequests;
            return this;
        }

        /**
         * How long a new connection may take to finish its ZeroMQ handshake before it is dropped
         * and made again (default 500 ms; raise it for a slow link to a remote daemon).
         */
        public Builder handshakeTimeout(Duration handshakeTimeout) {
            if (handshakeTimeout.toMillis() <= 0 || handshakeTimeout.toMillis() > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("a handshake timeout must be 1 ms or more, got " + handshakeTimeout);
            }
            this.handshakeTimeout = handshakeTimeout;
            return this;
        }

        /**
         * Connect with CURVE, for a daemon that has {@code [security] curve = true}: the daemon's
         * public key and this client's key pair (default: none, for a daemon on loopback without
         * CURVE). A daemon that does not allow this client's key never answers: calls fail with
         * {@link LodestoneTimeoutException}.
         */
        public Builder curve(CurveKeys curve) {
            this.curve = Objects.requireNonNull(curve, "curve");
            return this;
        }

        /**
         * A client with these settings and its I/O thread. ZeroMQ connects in the background, so
         * this succeeds whether or not the daemon is up.
         *
         * @throws IllegalArgumentException if ZeroMQ refuses the endpoint
         */
        public LodestoneClient build() {
            return new LodestoneClient(this);
        }
    }
}
