package dev.lodestone.bridge;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;
import org.zeromq.ZMQException;

/**
 * Follows the daemon's PUB change stream on its own thread and hands each decoded event whose
 * topic starts with a subscribed prefix to a listener, on an executor.
 *
 * <p>Prefixes: {@code "change."} for every change, {@code "change.Agent."} for one class,
 * {@code "change.Agent.<id>"} for one object (see {@link LodestoneClient#idFromName}),
 * {@code "alarm."} for alarm notices, {@code ""} for everything.
 *
 * <p>The stream is best effort: a subscription takes a moment to reach the daemon (events
 * published right after {@link #subscribe} may be missed), and a subscriber that falls far behind
 * misses messages. Read the object to resynchronise. Events reach the listener in the order they
 * were published if the executor runs tasks in order (the default runs them on the subscriber's
 * thread; a server's main-thread executor also keeps the order).
 */
public final class LodestoneSubscriber implements AutoCloseable {
    /** The daemon's default PUB endpoint. */
    public static final String DEFAULT_ENDPOINT = "tcp://127.0.0.1:5556";

    private static final System.Logger LOG = System.getLogger(LodestoneSubscriber.class.getName());
    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    private static final byte[] EMPTY = new byte[0];
    private static final int HANDSHAKE_TIMEOUT_MS = 500;

    private final String endpoint;
    private final Consumer<LodestoneEvent> listener;
    private final Executor executor;
    private final ZContext context;
    private final ZMQ.Socket sub;
    private final ZMQ.Socket wakeReceiver;
    private final Object wakeLock = new Object();
    /** Guarded by {@link #wakeLock}; {@code null} once the thread is shutting down. */
    private ZMQ.Socket wakeSender;
    private final ConcurrentLinkedQueue<Subscription> changes = new ConcurrentLinkedQueue<>();
    private final AtomicLong received = new AtomicLong();
    private final Thread thread;
    private volatile boolean stopping;

    private static final class Subscription {
        private final String prefix;
        private final boolean add;

        Subscription(String prefix, boolean add) {
            this.prefix = prefix;
            this.add = add;
        }
    }

    private LodestoneSubscriber(Builder builder) {
        endpoint = builder.endpoint;
        listener = builder.listener;
        executor = builder.executor;
        int sequence = SEQUENCE.incrementAndGet();
        context = new ZContext(1);
        context.setLinger(0);
        try {
            String wakeAddress = "inproc://lodestone-subscriber-wake-" + sequence;
            wakeReceiver = context.createSocket(SocketType.PAIR);
            wakeReceiver.bind(wakeAddress);
            wakeSender = context.createSocket(SocketType.PAIR);
            wakeSender.connect(wakeAddress);
            sub = context.createSocket(SocketType.SUB);
            sub.setLinger(0);
            sub.setRcvHWM(100_000);
            // See IoThread: a fresh connection whose handshake stalls is made again after this.
            sub.setHandshakeIvl(HANDSHAKE_TIMEOUT_MS);
            if (builder.curve != null) {
                builder.curve.apply(sub);
            }
            for (String prefix : builder.prefixes) {
                sub.subscribe(prefix.getBytes(StandardCharsets.UTF_8));
            }
            sub.connect(endpoint);
        } catch (ZMQException | IllegalArgumentException e) {
            context.close();
            throw new IllegalArgumentException("cannot connect to " + endpoint + ": " + e.getMessage(), e);
        }
        thread = new Thread(this::run, "lodestone-subscriber-" + sequence);
        thread.setDaemon(true);
        thread.start();
    }

    /** A builder: {@link #DEFAULT_ENDPOINT}, no prefixes, the listener run on the subscriber's thread. */
    public static Builder builder() {
        return new Builder();
    }

    /** Also receive topics starting with {@code prefix} ({@code ""} for everything). Thread-safe. */
    public void subscribe(String prefix) {
        request(new Subscription(Objects.requireNonNull(prefix, "prefix"), true));
    }

    /** Stop receiving topics starting with {@code prefix} (as it was subscribed). Thread-safe. */
    public void unsubscribe(String prefix) {
        request(new Subscription(Objects.requireNonNull(prefix, "prefix"), false));
    }

    private void request(Subscription change) {
        if (stopping) {
            throw new ClientClosedException("the Lodestone subscriber was closed");
        }
        changes.add(change);
        wake();
    }

    private void wake() {
        synchronized (wakeLock) {
            if (wakeSender != null) {
                wakeSender.send(EMPTY, ZMQ.DONTWAIT);
            }
        }
    }

    /** Messages received so far (including any the listener threw on). */
    public long received() {
        return received.get();
    }

    /** Stop the thread and close the socket; no event is delivered after the listener's current one. */
    @Override
    public void close() {
        stopping = true;
        wake();
        if (Thread.currentThread() != thread) {
            try {
                thread.join(TimeUnit.SECONDS.toMillis(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void run() {
        try (ZMQ.Poller poller = context.createPoller(2)) {
            int wakeIndex = poller.register(wakeReceiver, ZMQ.Poller.POLLIN);
            int subIndex = poller.register(sub, ZMQ.Poller.POLLIN);
            while (!stopping) {
                poller.poll(-1);
                if (poller.pollin(wakeIndex)) {
                    while (wakeReceiver.recv(ZMQ.DONTWAIT) != null) {
                        // Only the wake-up matters.
                    }
                }
                applySubscriptions();
                if (poller.pollin(subIndex)) {
                    readEvents();
                }
            }
        } catch (RuntimeException e) {
            if (!stopping) {
                LOG.log(System.Logger.Level.ERROR, "the Lodestone subscriber's thread failed", e);
            }
        } finally {
            stopping = true;
            synchronized (wakeLock) {
                wakeSender = null;
            }
            context.close();
        }
    }

    private void applySubscriptions() {
        Subscription change;
        while ((change = changes.poll()) != null) {
            byte[] prefix = change.prefix.getBytes(StandardCharsets.UTF_8);
            if (change.add) {
                sub.subscribe(prefix);
            } else {
                sub.unsubscribe(prefix);
            }
        }
    }

    private void readEvents() {
        byte[] topic;
        while (!stopping && (topic = sub.recv(ZMQ.DONTWAIT)) != null) {
            List<byte[]> frames = new ArrayList<>(2);
            frames.add(topic);
            while (sub.hasReceiveMore()) {
                frames.add(sub.recv(0));
            }
            received.incrementAndGet();
            LodestoneEvent event = decode(frames);
            if (event != null) {
                deliver(event);
            }
        }
    }

    private LodestoneEvent decode(List<byte[]> frames) {
        String topic = new String(frames.get(0), StandardCharsets.UTF_8);
        if (frames.size() != 2) {
            LOG.log(System.Logger.Level.WARNING, "ignored a {0}-frame message on {1}", frames.size(), topic);
            return null;
        }
        try {
            Object body = Msgpack.decode(frames.get(1));
            if (!(body instanceof Map)) {
                throw new IllegalArgumentException("the body is not a map");
            }
            Map<String, Object> fields = new LinkedHashMap<>();
            for (Map.Entry<?, ?> entry : ((Map<?, ?>) body).entrySet()) {
                fields.put(String.valueOf(entry.getKey()), entry.getValue());
            }
            return new LodestoneEvent(topic, fields);
        } catch (IllegalArgumentException e) {
            LOG.log(System.Logger.Level.WARNING, "ignored an unreadable event on {0}: {1}", topic, e.getMessage());
            return null;
        }
    }

    private void deliver(LodestoneEvent event) {
        Runnable task = () -> {
            try {
                listener.accept(event);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "the Lodestone event listener failed on " + event.topic(), e);
            }
        };
        try {
            executor.execute(task);
        } catch (RuntimeException refused) {
            LOG.log(System.Logger.Level.DEBUG, "the executor refused an event; dropped {0}", event.topic());
        }
    }

    @Override
    public String toString() {
        return "LodestoneSubscriber[" + endpoint + "]";
    }

    /** Settings of a {@link LodestoneSubscriber}; {@link #build()} starts its thread. */
    public static final class Builder {
        private String endpoint = DEFAULT_ENDPOINT;
        private final List<String> prefixes = new ArrayList<>();
        private Consumer<LodestoneEvent> listener;
        private Executor executor = Runnable::run;
        private CurveKeys curve;

        private Builder() {
        }

        /**
         * Connect with CURVE, for a daemon that has {@code [security] curve = true} (default:
         * none). A daemon that does not allow this client's key sends it nothing.
         */
        public Builder curve(CurveKeys curve) {
            this.curve = Objects.requireNonNull(curve, "curve");
            return this;
        }

        /** The daemon's PUB endpoint. */
        public Builder endpoint(String endpoint) {
            this.endpoint = Objects.requireNonNull(endpoint, "endpoint");
            return this;
        }

        /** Receive topics starting with {@code prefix}; call once per prefix. */
        public Builder subscribe(String prefix) {
            prefixes.add(Objects.requireNonNull(prefix, "prefix"));
            return this;
        }

        /** What to do with each event (required). Exceptions it throws are logged and skipped. */
        public Builder listener(Consumer<LodestoneEvent> listener) {
            this.listener = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /**
         * Where the listener runs (default: the subscriber's own thread). A server's main-thread
         * executor is a good choice for a plugin; an executor that refuses a task drops that event.
         */
        public Builder executor(Executor executor) {
            this.executor = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /**
         * A subscriber with these settings, connected in the background.
         *
         * @throws IllegalStateException without a listener
         * @throws IllegalArgumentException if ZeroMQ refuses the endpoint
         */
        public LodestoneSubscriber build() {
            if (listener == null) {
                throw new IllegalStateException("a subscriber needs a listener");
            }
            return new LodestoneSubscriber(this);
        }
    }
}
