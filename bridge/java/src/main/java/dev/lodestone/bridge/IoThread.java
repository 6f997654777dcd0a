package dev.lodestone.bridge;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZEvent;
import org.zeromq.ZMQ;
import org.zeromq.ZMQException;
import org.zeromq.ZMonitor;

/**
 * The one thread that owns the client's DEALER socket (ZeroMQ sockets are not thread-safe).
 *
 * <p>Callers hand it {@link PendingCall}s through a lock-free queue and wake it with one byte on
 * an inproc PAIR socket (one wake-up per batch, however many calls were queued). Each wake-up it
 * takes every queued call, reads every reply the socket holds, matches each to its call by id,
 * fires due timers (attempt timeouts and retry backoffs) and sends what it can: every call waiting
 * to go out goes in one batch frame (docs/protocol.md; more than one past the batch and frame
 * limits), so a tick's calls cost one message, and a reply frame's array is matched slot by slot
 * by id. A group of calls handed over together ({@link #submitAll}) is taken in one wake-up.
 *
 * <p>Retries: an attempt that gets no reply within its timeout is sent again, with the same id
 * and idempotency key, up to the call's retries, and then fails with
 * {@link LodestoneTimeoutException}. A retryable error reply ({@code UNAVAILABLE}: nothing was
 * written) is retried after a short backoff. When the connection drops (a daemon restart), every
 * call still waiting for its reply is sent again as soon as the DEALER has reconnected, within its
 * current attempt. Writes without an idempotency key are never sent twice, except after a
 * retryable error reply, which says nothing was written.
 *
 * <p>Nothing is sent until the socket monitor reports a completed ZMTP handshake on the current
 * connection, and the handshake has a short timeout: JeroMQ 0.6.0 sometimes leaves a fresh TCP
 * connection without its handshake (a race in its poller), which the timeout turns into a
 * reconnect instead of a stall until the 30 s default. Requests held back meanwhile were never on
 * the wire, so even writes without a key lose nothing.
 */
final class IoThread implements Runnable {
    private static final System.Logger LOG = System.getLogger(IoThread.class.getName());
    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    private static final byte[] EMPTY = new byte[0];
    private static final long BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    /** While calls wait for the socket to take them, look again at least this often. */
    private static final long OUTBOX_RECHECK_MS = 100;
    /** After a handshake, the pipe may attach a moment after the monitor said so. */
    private static final long OUTBOX_RECHECK_READY_MS = 5;
    private static final int MONITORED_EVENTS =
            ZMQ.EVENT_CONNECTED | ZMQ.EVENT_DISCONNECTED | ZMQ.EVENT_HANDSHAKE_PROTOCOL;

    private final String endpoint;
    private final ZContext context;
    private final ZMQ.Socket dealer;
    private final ZMQ.Socket wakeReceiver;
    private final ZMQ.Socket monitor;
    private final Object wakeLock = new Object();
    /** Guarded by {@link #wakeLock}; {@code null} once the thread is shutting down. */
    private ZMQ.Socket wakeSender;
    private final AtomicBoolean wakePending = new AtomicBoolean();
    private final ConcurrentLinkedQueue<List<PendingCall<?>>> submissions = new ConcurrentLinkedQueue<>();
    private final int maxFrameBytes;
    private final int batchMaxRequests;
    /** Every call taken from the queue and not yet settled, by request id. */
    private final Map<Long, PendingCall<?>> inFlight = new ConcurrentHashMap<>();
    private final ArrayDeque<PendingCall<?>> outbox = new ArrayDeque<>();
    /** Replies matched this turn of the loop, completed at its end. */
    private final List<Runnable> settled = new ArrayList<>();
    private final PriorityQueue<Timer> timers = new PriorityQueue<>(Comparator.comparingLong(Timer::at));
    private volatile boolean stopping;
    private volatile boolean terminated;
    private volatile Throwable crash;
    /** The current connection finished its handshake: requests sent now reach the daemon. */
    private boolean ready;

    private static final class Timer {
        private final long at;
        private final PendingCall<?> call;
        private final int generation;

        Timer(long at, PendingCall<?> call, int generation) {
            this.at = at;
            this.call = call;
            this.generation = generation;
        }

        long at() {
            return at;
        }
    }

    /**
     * Create the sockets and connect to {@code endpoint} (as a CURVE client if {@code curve} is not
     * {@code null}); the thread that runs {@link #run} owns them from then on.
     *
     * @throws IllegalArgumentException if ZeroMQ refuses the endpoint
     */
    IoThread(String endpoint, int handshakeTimeoutMs, int maxFrameBytes, int batchMaxRequests, CurveKeys curve) {
        this.endpoint = endpoint;
        this.maxFrameBytes = maxFrameBytes;
        this.batchMaxRequests = batchMaxRequests;
        int sequence = SEQUENCE.incrementAndGet();
        context = new ZContext(1);
        context.setLinger(0);
        try {
            String wakeAddress = "inproc://lodestone-wake-" + sequence;
            wakeReceiver = context.createSocket(SocketType.PAIR);
            wakeReceiver.bind(wakeAddress);
            wakeSender = context.createSocket(SocketType.PAIR);
            wakeSender.connect(wakeAddress);

            dealer = context.createSocket(SocketType.DEALER);
            dealer.setLinger(0);
            // Queue nothing for a peer that is not connected: a request sent into the void
            // would only be resent on reconnect anyway; keeping it in our outbox is clearer.
            dealer.setImmediate(true);
            // The call count bounds what is queued; a full pipe must never drop a reply.
            dealer.setSndHWM(0);
            dealer.setRcvHWM(0);
            dealer.setHandshakeIvl(handshakeTimeoutMs);
            if (curve != null) {
                curve.apply(dealer);
            }
            String monitorAddress = "inproc://lodestone-monitor-" + sequence;
            dealer.monitor(monitorAddress, MONITORED_EVENTS);
            monitor = context.createSocket(SocketType.PAIR);
            monitor.connect(monitorAddress);
            dealer.connect(endpoint);
        } catch (ZMQException | IllegalArgumentException e) {
            context.close();
            throw new IllegalArgumentException("cannot connect to " + endpoint + ": " + e.getMessage(), e);
        }
    }

    /** Queue {@code call} for the I/O thread, or fail it at once if the thread has stopped. */
    void submit(PendingCall<?> call) {
        submitAll(List.of(call));
    }

    /** Queue {@code calls} to be taken in one wake-up (so they go out together), or fail them if stopped. */
    void submitAll(List<PendingCall<?>> calls) {
        submissions.add(calls);
        wake(false);
        if (terminated) {
            failQueued(this::closedError);
        }
    }

    private void wake(boolean always) {
        if (always || wakePending.compareAndSet(false, true)) {
            synchronized (wakeLock) {
                if (wakeSender != null) {
                    wakeSender.send(EMPTY, ZMQ.DONTWAIT);
                }
            }
        }
    }

    /** Ask the thread to stop; it fails every pending call with {@link ClientClosedException}. */
    void stop() {
        stopping = true;
        wake(true);
    }

    boolean isStopping() {
        return stopping || terminated;
    }

    /** Calls taken by the I/O thread and not settled yet. */
    int inFlightCount() {
        return inFlight.size();
    }

    @Override
    public void run() {
        try (ZMQ.Poller poller = context.createPoller(3)) {
            int wakeIndex = poller.register(wakeReceiver, ZMQ.Poller.POLLIN);
            int monitorIndex = poller.register(monitor, ZMQ.Poller.POLLIN);
            poller.register(dealer, ZMQ.Poller.POLLIN);
            while (!stopping) {
                poller.poll(pollTimeoutMs(System.nanoTime()));
                if (poller.pollin(wakeIndex)) {
                    while (wakeReceiver.recv(ZMQ.DONTWAIT) != null) {
                        // Only the wake-up matters, not the bytes.
                    }
                }
                // Cleared before the queue is drained: a call queued after this wakes us again.
                wakePending.set(false);
                takeSubmissions(System.nanoTime());
                // Replies first: a reply that arrived before a disconnect must not be resent.
                readReplies();
                if (poller.pollin(monitorIndex)) {
                    readMonitorEvents();
                }
                fireTimers(System.nanoTime());
                flushOutbox();
                // Completed last, just before this thread sleeps: a caller woken by its future
                // then finds the core free instead of waiting for this loop to finish.
                completeSettled();
            }
        } catch (Throwable t) {
            crash = t;
            LOG.log(System.Logger.Level.ERROR, "the Lodestone client's I/O thread failed", t);
        } finally {
            shutdown();
        }
    }

    private void completeSettled() {
        for (Runnable completion : settled) {
            completion.run();
        }
        settled.clear();
    }

    private long pollTimeoutMs(long now) {
        long wait = -1;
        Timer next = timers.peek();
        if (next != null) {
            wait = Math.max(0, TimeUnit.NANOSECONDS.toMillis(next.at - now + 999_999));
        }
        if (!outbox.isEmpty()) {
            long recheck = ready ? OUTBOX_RECHECK_READY_MS : OUTBOX_RECHECK_MS;
            wait = wait < 0 ? recheck : Math.min(wait, recheck);
        }
        return wait;
    }

    private void takeSubmissions(long now) {
        List<PendingCall<?>> group;
        while ((group = submissions.poll()) != null) {
            for (PendingCall<?> call : group) {
                if (call.isDone()) {
                    continue;
                }
                inFlight.put(call.id, call);
                startAttempt(call, now);
            }
        }
    }

    private void startAttempt(PendingCall<?> call, long now) {
        call.attempts++;
        call.generation++;
        call.awaitingReply = true;
        call.sent = false;
        timers.add(new Timer(now + call.timeoutNanos, call, call.generation));
        enqueue(call);
    }

    private void enqueue(PendingCall<?> call) {
        if (!call.queued) {
            call.queued = true;
            outbox.add(call);
        }
    }

    private void flushOutbox() {
        if (!ready) {
            return;
        }
        List<PendingCall<?>> group = new ArrayList<>();
        while (takeGroup(group)) {
            byte[] frame = group.size() == 1 ? group.get(0).body : Msgpack.array(group, call -> call.body);
            // No connection (IMMEDIATE): keep them until the DEALER has (re)connected.
            if (!dealer.send(EMPTY, ZMQ.SNDMORE | ZMQ.DONTWAIT)) {
                for (int i = group.size() - 1; i >= 0; i--) {
                    outbox.addFirst(group.get(i));
                }
                return;
            }
            // The rest of a multipart message is always taken once its first frame was.
            dealer.send(frame, ZMQ.DONTWAIT);
            for (PendingCall<?> call : group) {
                call.queued = false;
                call.sent = true;
            }
            group.clear();
        }
    }

    /**
     * Move the calls that go out in the next frame from the outbox into {@code group}: as many as
     * fit in one batch ({@code batchMaxRequests}, {@code maxFrameBytes}); false if none is left.
     */
    private boolean takeGroup(List<PendingCall<?>> group) {
        long size = 5; // an array header takes at most 5 bytes
        PendingCall<?> call;
        while ((call = outbox.peek()) != null && group.size() < batchMaxRequests) {
            if (call.isDone() || !call.awaitingReply) {
                outbox.poll();
                call.queued = false;
                if (call.isDone()) {
                    inFlight.remove(call.id, call);
                }
                continue;
            }
            if (!group.isEmpty() && size + call.body.length > maxFrameBytes) {
                break;
            }
            size += call.body.length;
            group.add(outbox.poll());
        }
        return !group.isEmpty();
    }

    private void readReplies() {
        byte[] frame;
        while ((frame = dealer.recv(ZMQ.DONTWAIT)) != null) {
            byte[] body = frame;
            while (dealer.hasReceiveMore()) {
                body = dealer.recv(0);
            }
            handleFrame(body);
        }
    }

    /** A reply frame: one reply, or a batch's array of them. */
    private void handleFrame(byte[] body) {
        Object reply;
        try {
            reply = Msgpack.decode(body);
        } catch (IllegalArgumentException e) {
            LOG.log(System.Logger.Level.WARNING, "ignored an unreadable reply from {0}: {1}", endpoint, e.getMessage());
            return;
        }
        if (reply instanceof List) {
            for (Object slot : (List<?>) reply) {
                handleReply(slot);
            }
        } else {
            handleReply(reply);
        }
    }

    private void handleReply(Object reply) {
        Long id = Wire.replyId(reply);
        PendingCall<?> call = id == null ? null : inFlight.get(id);
        if (call == null) {
            // A late reply to a request sent twice, or one with no id we could have sent (nil).
            return;
        }
        Object result;
        try {
            result = Wire.resultOf(reply);
        } catch (LodestoneException error) {
            if (error.retryable() && call.attempts <= call.retries && !call.isDone()) {
                // Nothing was written: waiting a little and sending again is safe even for a write.
                call.awaitingReply = false;
                call.generation++;
                timers.add(new Timer(System.nanoTime() + BACKOFF_NANOS * call.attempts, call, call.generation));
                return;
            }
            inFlight.remove(call.id, call);
            settled.add(() -> call.fail(error));
            return;
        }
        inFlight.remove(call.id, call);
        settled.add(() -> call.succeed(result));
    }

    private void readMonitorEvents() {
        ZEvent event;
        while ((event = ZEvent.recv(monitor, ZMQ.DONTWAIT)) != null) {
            ZMonitor.Event kind = event.getEvent();
            if (kind == ZMonitor.Event.HANDSHAKE_PROTOCOL) {
                ready = true;
                LOG.log(System.Logger.Level.DEBUG, "connected to {0}", endpoint);
            } else if (kind == ZMonitor.Event.CONNECTED) {
                ready = false;
            } else if (kind == ZMonitor.Event.DISCONNECTED) {
                if (ready) {
                    LOG.log(System.Logger.Level.DEBUG, "lost the connection to {0}", endpoint);
                }
                ready = false;
                resendAfterDisconnect();
            }
        }
    }

    /** The connection dropped: requests and replies in it are lost; send again what is safe to. */
    private void resendAfterDisconnect() {
        for (PendingCall<?> call : inFlight.values()) {
            if (call.awaitingReply && call.sent && call.resendable && !call.isDone()) {
                call.sent = false;
                enqueue(call);
            }
        }
    }

    private void fireTimers(long now) {
        Timer timer;
        while ((timer = timers.peek()) != null && timer.at <= now) {
            timers.poll();
            PendingCall<?> call = timer.call;
            if (timer.generation != call.generation || call.isDone()) {
                if (call.isDone()) {
                    inFlight.remove(call.id, call);
                }
                continue;
            }
            if (!call.awaitingReply) {
                startAttempt(call, now);
            } else if (call.resendable && call.attempts <= call.retries) {
                startAttempt(call, now);
            } else {
                inFlight.remove(call.id, call);
                long eachMs = TimeUnit.NANOSECONDS.toMillis(call.timeoutNanos);
                call.fail(new LodestoneTimeoutException("no reply to " + call.op + " from " + endpoint
                        + " after " + call.attempts + (call.attempts == 1 ? " attempt" : " attempts")
                        + " of " + eachMs + " ms"));
            }
        }
    }

    private void shutdown() {
        // Replies already matched are delivered, even when the loop ended on an error.
        completeSettled();
        synchronized (wakeLock) {
            wakeSender = null;
        }
        try {
            context.close();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "closing the client's sockets failed", e);
        }
        terminated = true;
        failAll(this::closedError);
    }

    private LodestoneException closedError() {
        Throwable cause = crash;
        if (cause != null) {
            return new InternalException("the Lodestone client's I/O thread failed: " + cause);
        }
        return new ClientClosedException("the Lodestone client was closed");
    }

    /** Fail every call not settled yet, each with its own error; safe from any thread, and more than once. */
    void failAll(Supplier<LodestoneException> error) {
        for (PendingCall<?> call : inFlight.values()) {
            call.fail(error.get());
        }
        inFlight.clear();
        failQueued(error);
    }

    private void failQueued(Supplier<LodestoneException> error) {
        List<PendingCall<?>> group;
        while ((group = submissions.poll()) != null) {
            for (PendingCall<?> call : group) {
                call.fail(error.get());
            }
        }
    }

    /** Whether the thread has closed its sockets. */
    boolean isTerminated() {
        return terminated;
    }

    /** The error pending calls get once the thread has stopped. */
    LodestoneException terminationError() {
        return closedError();
    }
}
