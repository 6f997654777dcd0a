"""The daemon's replies, routed to the requests that wait for them.

A reply is matched by its gateway id to the request waiting for it and
handed to that request's waiter with the client's own id; a reply nobody
waits for any more (its request timed out or was answered already, or its
client left) is dropped and counted.

A batch frame's reply array is split here and each element routed on its
own, so a client never sees how its requests travelled. A daemon that
refuses batch frames whole answers one with a single error, which names no
request: when it was the socket's only batch frame outstanding, those
requests get ``UNAVAILABLE`` (they did not run); otherwise the daemon may be
about to commit the others, and every outstanding batch frame's requests get
``INTERNAL`` (outcome unknown, not retryable). The gateway sends one frame
per request from then on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from daemon.gateway.batching import Queued
from daemon.gateway.frames import (
    crowded_out,
    crowded_reply,
    decode_reply,
    error_frame,
    reply_gateway_id,
    split_array,
    unavailable,
    with_client_id,
)
from daemon.gateway.pending import Pending, SentBatches, overtaken
from schemas.wire import ErrorCode


class Replies:
    """Routes each reply to its entry of the waiting requests, and takes that entry out of the table.

    ``pending`` and ``batches`` are the pool's own: it adds to them as it
    sends, and this takes out what is answered. ``resend`` sends a request
    again alone; ``stop_batching`` is told, with the daemon's reason, that
    the daemon refused a batch frame.
    """

    def __init__(self, pending: dict[int, Pending], batches: SentBatches, counters: Counter[str],
                 resend: Callable[[Queued], None], stop_batching: Callable[[str | None], None]) -> None:
        self._pending = pending
        self._batches = batches
        self.counters = counters
        self._resend = resend
        self._stop_batching = stop_batching

    def route_batch(self, index: int, body: bytes) -> None:
        """Route each reply of a batch frame's reply array on its own.

        A request whose reply gave way to ``TOO_LARGE`` because the array was
        over the daemon's ``max_frame_bytes`` (the replies of a batch frame
        are held to it together) is sent again alone when that is safe (a read,
        or a write under an ``idem`` key, which the daemon answers with the
        result it recorded): its client did not ask for it to share a frame.
        It is not sent again when its client has later requests on the same
        object in flight (see :func:`overtaken`): it gets a retryable
        ``TOO_LARGE`` instead, so the client's order holds.
        """
        try:
            replies = split_array(body)
        except ValueError:
            self.counters["replies.unroutable"] += 1
            return
        first = reply_gateway_id(replies[0]) if replies else None
        requests = self._batches.answered(index, first) if first is not None else None
        if requests is not None and len(requests) != len(replies):
            requests = None
        for slot, reply in enumerate(replies):
            if requests is not None and requests[slot].resendable and crowded_out(reply):
                if not overtaken(self._pending, requests[slot], requests):
                    self.counters["requests.resent_alone"] += 1
                    self._resend(requests[slot])
                    continue
                self.counters["requests.crowded_out"] += 1
                reply = crowded_reply(reply)
            self.route(reply, -1)

    def route(self, reply: bytes, index: int) -> None:
        """Hand a reply to its waiter; ``index`` is the socket of a reply that is a frame of its own, else -1."""
        gateway_id = reply_gateway_id(reply)
        if gateway_id is None and index >= 0 and self._batches.any(index):
            self._refused(index, reply)
            return
        entry = self._pending.pop(gateway_id, None) if gateway_id is not None else None
        if entry is None:
            self.counters["replies.late" if gateway_id is not None else "replies.unroutable"] += 1
            return
        if entry.waiter.gone:
            self.counters["replies.discarded"] += 1
            return
        entry.waiter.settle(entry.slot, with_client_id(reply, entry.client_id))

    def answer_unavailable(self, gateway_id: int, message: str) -> None:
        """Answer a request that was not run UNAVAILABLE, if it still waits."""
        entry = self._pending.pop(gateway_id, None)
        if entry is not None and not entry.waiter.gone:
            entry.waiter.settle(entry.slot, unavailable(entry.client_id, message))

    def _refused(self, index: int, reply: bytes) -> None:
        """A batch frame refused whole (its reply is one error); which one is known only if one is outstanding.

        With one, none of its requests ran: each gets ``UNAVAILABLE``. With
        more, the daemon may have accepted all but the refused one and be
        about to commit them: every request of every outstanding frame of the
        socket gets a not retryable error saying its outcome is unknown, and
        their later replies are dropped as late.
        """
        frames = self._batches.refused(index)
        try:
            error = decode_reply(reply).get("error")
            reason = error.get("message") if isinstance(error, dict) else None
        except Exception:  # msgpack raises several unrelated types on bad bytes
            reason = None
        self._stop_batching(reason)
        self.counters["upstream.batch_frames_refused"] += 1
        if len(frames) == 1:
            for queued in frames[0]:
                self.answer_unavailable(queued.gateway_id, f"the daemon refused the frame this request travelled in "
                                        f"({reason}); nothing ran, retry")
            return
        self.counters["upstream.batch_frames_unknown"] += len(frames)
        for requests in frames:
            for queued in requests:
                self._unknown(queued.gateway_id, (
                    f"the daemon refused one of the {len(frames)} batch frames outstanding with this request's "
                    f"({reason}) and the gateway cannot tell which: this request may or may not have run; one "
                    "with an idem key may be sent again safely"))

    def _unknown(self, gateway_id: int, message: str) -> None:
        """Answer a request whose outcome cannot be known INTERNAL (not retryable), if it still waits."""
        entry = self._pending.pop(gateway_id, None)  # its reply, if it comes, is then late
        if entry is not None and not entry.waiter.gone:
            entry.waiter.settle(entry.slot, error_frame(entry.client_id, ErrorCode.INTERNAL, message))
