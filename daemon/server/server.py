"""The ZeroMQ front: a ROUTER for requests, an XPUB for the change stream.

One thread runs :meth:`Server.serve`. Each loop it drains every request that
has arrived (up to ``cycle_max_requests``; a batch frame is taken whole, see
:mod:`daemon.server.batches`) and drives them through one
runtime :class:`~daemon.runtime.Cycle`, phase by phase: the turns; the
replies the output gate lets out early; the due alarms, a slice at a time,
while no request waits; the commit (with fsync); the other replies; then
the change stream.

The server knows nothing of LMDB: it deals in frames, envelopes and replies.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import zmq

from daemon.config import Config
from daemon.errors import Unavailable, to_wire
from daemon.model import Request
from daemon.runtime import Runtime
from daemon.server.alarm_clock import AlarmScheduler
from daemon.server.batch_reply import SlotEnvelope, by_frame, regroup, stand_ins
from daemon.server.batches import Inbox, Slot, encode_batch, is_batch, read_batch
from daemon.server.connections import Connections
from daemon.server.curve import CurveGuard
from daemon.server.encoder import Encoder
from daemon.server.envelope import parse
from daemon.server.gatekeeper import Gatekeeper
from daemon.server.publisher import Publisher
from daemon.server.subscriptions import Subscriptions
from schemas.wire import encode

log = logging.getLogger(__name__)

_POLL_MS = 1000
# Plain ints: pyzmq's flag enums cost microseconds per operation on the hot path.
_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
# libzmq drops a peer that sends a frame over this, before Python sees it; frames
# between max_frame_bytes and this get a TOO_LARGE reply instead.
_TRANSPORT_FRAME_FACTOR = 4
# Alarms fire for at most this long in one cycle; the rest fire in the next one...
_ALARM_BUDGET_S = 0.1
# ... and in slices this long, between which the loop looks for waiting requests: they wait at
# most about this much (plus the commit) behind a burst of alarms.
_ALARM_SLICE_S = 0.01


class Server:
    """Binds the endpoints and serves until :meth:`stop` is called."""

    def __init__(
        self, config: Config, runtime: Runtime, counters: Counter[str], context: zmq.Context[Any] | None = None
    ) -> None:
        self.config = config
        self.runtime = runtime
        # The daemon's counters (shared with the runtime; the server writes only its own keys).
        self.counters = counters
        self.cycle_max_requests = config.cycle_max_requests
        self._context = context or zmq.Context.instance()
        self._router: zmq.Socket[bytes] | None = None
        self._pub: zmq.Socket[bytes] | None = None
        self._encoder = Encoder(config.max_frame_bytes, counters)
        self._publisher: Publisher | None = None
        self._connections = Connections(config.max_connections, counters, self._context)
        self._monitors: list[zmq.Socket[bytes]] = []
        self._stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.on_cycle: Callable[[], None] | None = None
        # Lifecycle hooks (app.py sets them): a reload asked for by SIGHUP, the start
        # of a graceful stop, and each request batch served (its size and seconds).
        self.on_reload: Callable[[], None] | None = None
        self.on_stopping: Callable[[], object] | None = None
        self.on_batch: Callable[[int, float], None] | None = None
        # How long the loop waits for a request; a watchdog needs it shorter.
        self.poll_ms = _POLL_MS
        self._reload_requested = False
        self._saved_handlers: dict[int, Any] = {}
        self.scheduler: AlarmScheduler | None = None
        # CURVE on both sockets (set before bind(); see daemon/server/curve.py).
        self.curve: CurveGuard | None = None
        # In cluster mode, what decides which requests run here and whether replies may go out.
        self.gatekeeper: Gatekeeper | None = None

    def bind(self) -> tuple[str, str]:
        """Bind ROUTER and PUB; return the endpoints actually bound (ports resolved)."""
        router = self._context.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 1000)
        router.setsockopt(zmq.MAXMSGSIZE, self.config.max_frame_bytes * _TRANSPORT_FRAME_FACTOR)
        router.setsockopt(zmq.RCVHWM, 100_000)
        router.setsockopt(zmq.SNDHWM, 100_000)
        pub = self._context.socket(zmq.XPUB)
        pub.setsockopt(zmq.LINGER, 1000)
        try:
            if self.curve is not None:
                self.curve.start(self._context)
                self.curve.secure(router)
                self.curve.secure(pub)
            router.bind(self.config.rpc)
            pub.bind(self.config.pub)
        except zmq.ZMQError as exc:
            router.close(0)
            pub.close(0)
            if self.curve is not None:
                self.curve.stop()
            raise OSError(f"cannot bind {self.config.rpc} / {self.config.pub}: {exc}") from exc
        self._router, self._pub = router, pub
        self._monitors = [self._connections.watch(router), self._connections.watch(pub)]
        subscriptions = Subscriptions(self.config.max_subscriptions, self.counters)
        self._publisher = Publisher(pub, subscriptions, self.config.pub_buffer_bytes, self.counters, self._encoder)
        self.runtime.notice_wanted = self._publisher.wants  # turns drop the notices no one would be sent
        return (
            router.getsockopt_string(zmq.LAST_ENDPOINT),
            pub.getsockopt_string(zmq.LAST_ENDPOINT),
        )

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the loop gracefully; SIGHUP asks it to reload.

        The handlers only set flags; the wake-up socket ends the loop's wait and
        the loop acts on them between cycles. :meth:`close` restores the
        handlers that were there before.
        """
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)

        def on_stop(signum: int, _: FrameType | None) -> None:
            log.info("received %s; finishing turns in flight and stopping", signal.Signals(signum).name)
            self._stopping = True

        def on_hangup(signum: int, _: FrameType | None) -> None:
            self._reload_requested = True

        for signum, handler in ((signal.SIGTERM, on_stop), (signal.SIGINT, on_stop), (signal.SIGHUP, on_hangup)):
            self._saved_handlers[signum] = signal.signal(signum, handler)

    def wake(self) -> None:
        """End the loop's wait so it looks at its flags; safe from any thread."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def arm_alarms(self) -> None:
        """Load the alarm horizon into the scheduler; fire at once if any alarm is already due."""
        if self.scheduler is not None:
            self.scheduler.arm_from(self.runtime)

    def stop(self) -> None:
        """Ask the loop to stop after the cycle in flight; safe from any thread."""
        self._stopping = True
        self.wake()

    def serve(self) -> None:
        """Serve until stopped; then refuse what is queued with UNAVAILABLE and close."""
        assert self._router is not None, "bind() first"
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._wake_r.fileno(), zmq.POLLIN)
        poller.register(self._pub, zmq.POLLIN)
        for monitor in self._monitors:
            poller.register(monitor, zmq.POLLIN)
        while not self._stopping:
            ready = dict(poller.poll(self.poll_ms))
            if self._wake_r.fileno() in ready:
                self._drain_wakeups()
            if self._pub in ready and self._publisher is not None:
                for prefix in self._publisher.track():
                    # Notices of alarms held since start-up wait for a subscriber such as this one.
                    if self.runtime.release_held(prefix) and self.scheduler is not None:
                        self.scheduler.request_due()
            for monitor in self._monitors:
                if monitor in ready:
                    self._connections.handle(monitor)
            if self._stopping:
                break
            if self._reload_requested:
                self._reload_requested = False
                if self.on_reload is not None:
                    self.on_reload()
            self._serve_cycle(self._router in ready)
            if self.on_cycle is not None:
                self.on_cycle()
        if self.on_stopping is not None:
            self.on_stopping()
        self._refuse_queued()

    def close(self) -> None:
        """Close the sockets (pending PUB messages get a short linger)."""
        self._connections.close()
        self._monitors = []
        for sock in (self._router, self._pub):
            if sock is not None:
                sock.close()
        self._router = self._pub = None
        if self.curve is not None:
            self.curve.stop()
        self._publisher = None
        self.runtime.notice_wanted = None
        if self._saved_handlers:
            signal.set_wakeup_fd(-1)
            for signum, handler in self._saved_handlers.items():
                signal.signal(signum, handler)
            self._saved_handlers.clear()
        self._wake_r.close()
        self._wake_w.close()

    # internals -------------------------------------------------------------
    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _receive(self) -> Iterator[list[bytes]]:
        """The messages waiting on the ROUTER, one at a time, until none is left (or the caller stops)."""
        assert self._router is not None
        recv = self._router.recv
        more = self._router.get
        while True:
            try:
                frames = [recv(_NOBLOCK)]
            except zmq.Again:
                return
            while more(_RCVMORE):
                frames.append(recv(_NOBLOCK))
            yield frames

    def _serve_cycle(self, requests_waiting: bool) -> None:
        """One cycle: the requests that arrived and, if a timer said so, the due alarms; one commit."""
        assert self._router is not None
        due = False
        if self.scheduler is not None:
            due, reload = self.scheduler.take()
            if reload:
                self.arm_alarms()
        inbox = self._take_requests() if requests_waiting else self._inbox()
        gatekeeper = self.gatekeeper
        if gatekeeper is not None:
            inbox, due = self._admit(gatekeeper, inbox, due)
        requests = inbox.requests
        if not requests and not due:
            # Batch frames whose every element was refused still get their reply array.
            for envelope, body in inbox.ready(set(), lambda index: {}):
                self._send(self._router.send, envelope, body)
            return
        started = time.perf_counter()
        cycle = self.runtime.cycle(requests, fire_alarms=due)
        early = set(cycle.run_turns())
        if gatekeeper is not None and not gatekeeper.may_reply():
            early = set()
        send = self._router.send
        for envelope, body in inbox.ready(early, cycle.reply):  # in one burst, which the socket sends in fewer writes
            self._send(send, envelope, body)
        if due:
            deadline = time.perf_counter() + _ALARM_BUDGET_S
            while cycle.fire_alarms(_ALARM_SLICE_S) and not self._waiting() and time.perf_counter() < deadline:
                pass
        result = cycle.commit()
        if gatekeeper is not None:
            gatekeeper.gate(result)
        if self.on_batch is not None and requests:
            self.on_batch(len(requests), time.perf_counter() - started)
        if result.replies:  # none when the cluster's output gate withheld them
            for envelope, body in inbox.rest(result.replies):
                self._send(send, envelope, body)
        if self._publisher is not None:
            self._publisher.publish(result)
        if self.scheduler is not None:
            self.scheduler.after_cycle(self.runtime, result.alarm_times, due, result.more_due)

    @staticmethod
    def _send(send: Callable[..., Any], envelope: list[bytes], body: bytes) -> None:
        if type(envelope) is SlotEnvelope:  # an element of a batch routed on its own (cluster mode)
            whole = envelope.fill(body)
            if whole is None:
                return
            envelope, body = whole
        for frame in envelope:
            send(frame, _SNDMORE)
        send(body, 0)

    def _waiting(self) -> bool:
        """Whether requests have arrived since this cycle took its batch."""
        assert self._router is not None
        return bool(int(self._router.get(_EVENTS)) & _POLLIN)

    def _inbox(self) -> Inbox:
        return Inbox(self.config.max_frame_bytes, self._encoder.reply)

    def _send_reply(self, envelope: list[bytes], reply: dict[str, Any]) -> None:
        """Send one reply now (the cluster's gatekeeper answers requests it does not run here)."""
        assert self._router is not None
        self._send(self._router.send, envelope, self._encoder.reply(reply))

    def _admit(self, gatekeeper: Gatekeeper, inbox: Inbox, due: bool) -> tuple[Inbox, bool]:
        """What the cluster's gatekeeper lets run here; it routes request by request (docs/cluster.md).

        A batch frame whose every element runs here now stays whole, as on
        one daemon. Any other is split: each element goes to the gatekeeper
        under a stand-in envelope (:mod:`daemon.server.batch_reply`) that
        puts its reply in its slot, and the frame's reply array goes out once
        every slot is filled.
        """
        envelopes, entries, refused = by_frame(inbox, self.config.max_frame_bytes)
        for stand_in, error in refused:  # a malformed element's error, in its slot
            self._send_reply(stand_in, error)
        run_envelopes, run, due = gatekeeper.admit(envelopes, entries, due, self._send_reply, self._split)
        if not refused and len(run) == len(entries) and all(map(operator.is_, run, entries)) \
                and all(map(operator.is_, run_envelopes, envelopes)):
            return inbox, due  # every frame runs here as it came (the usual cycle): the inbox as it is
        admitted = self._inbox()
        regroup(run_envelopes, run, admitted)
        return admitted, due

    def _split(self, envelope: list[bytes], requests: list[Request]) -> list[list[bytes]]:
        """A batch frame's stand-in envelopes, one per element (for the gatekeeper to route each on its own)."""
        return stand_ins(envelope, requests, self.config.max_frame_bytes)

    def _take_requests(self) -> Inbox:
        """The well-formed requests waiting, up to ``cycle_max_requests`` (a batch frame is taken whole).

        Malformed frames are answered at once (or dropped, without an envelope).
        """
        assert self._router is not None
        inbox = self._inbox()
        counters = self.counters
        for frames in self._receive():
            if len(frames) < 3 or frames[-2] != b"":
                counters["dropped_envelopes"] += 1
                continue
            counters["frames"] += 1
            body = frames[-1]
            parsed: Request | list[Slot] | dict[str, Any]
            if is_batch(body):
                counters["batches"] += 1
                parsed = read_batch(body, self.config.max_frame_bytes, self.config.batch_max_requests)
                if isinstance(parsed, list):
                    for slot in parsed:
                        if isinstance(slot, dict):
                            counters[f"errors.{slot['error']['code']}"] += 1
            else:
                parsed = parse(body, self.config.max_frame_bytes)
            if isinstance(parsed, dict):
                counters[f"errors.{parsed['error']['code']}"] += 1
                self._router.send_multipart([*frames[:-1], encode(parsed)])
                continue
            inbox.add(frames[:-1], parsed)
            if len(inbox.requests) >= self.cycle_max_requests:
                break
        return inbox

    def _refuse_queued(self) -> None:
        assert self._router is not None
        refused = 0
        unavailable = Unavailable("the daemon is shutting down; retry after it restarts")
        for frames in self._receive():
            if len(frames) < 3 or frames[-2] != b"":
                continue
            body = frames[-1]
            reply: bytes
            if is_batch(body):
                parsed = read_batch(body, self.config.max_frame_bytes, self.config.batch_max_requests)
                if isinstance(parsed, dict):
                    reply = encode(parsed)
                else:
                    replies = [to_wire(slot.id, unavailable) if isinstance(slot, Request) else slot for slot in parsed]
                    reply = encode_batch(replies, self.config.max_frame_bytes, self._encoder.reply)
                    refused += len(replies) - 1
            else:
                single = parse(body, self.config.max_frame_bytes)
                reply = encode(to_wire(single.id if isinstance(single, Request) else single["id"], unavailable))
            self._router.send_multipart([*frames[:-1], reply])
            refused += 1
        if refused:
            log.info("refused %d queued requests while stopping", refused)
