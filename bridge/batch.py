"""Batches for the synchronous client: many calls in one request frame, one round trip.

    with client.batch() as batch:
        moves = [batch.call("Agent.move", {"class": "Agent", "name": name}, {"x": x, "y": 64, "z": z})
                 for name, x, z in positions]
    results = [move.result() for move in moves]

The calls go out when the ``with`` block ends (or on :meth:`Batch.send`), as
one batch frame (docs/protocol.md; more than one if they pass the client's
``batch_max_requests`` or ``max_frame_bytes``). Each call gets its own result
or error, as if sent alone in that order. Retries follow the client's:
a frame with no reply in time is sent again whole, and calls that got a
retryable error are sent again, each with its own idempotency key.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from bridge._common import check_size, frames_of, idempotency_key, replies_in, result_of
from bridge.errors import BadRequest, LodestoneError, Timeout, error_from_reply
from schemas.wire import encode, request

_RETRY_BACKOFF_S = 0.05


class Sender(Protocol):
    """What a batch sends through: the synchronous :class:`~bridge.client.Client`."""

    endpoint: str
    timeout: float
    retries: int
    max_frame_bytes: int
    batch_max_requests: int

    def next_id(self) -> int: ...

    def round_trip(self, frame: bytes, wait_ms: int) -> Any: ...


class BatchCall:
    """One call of a batch; its result is there once the batch has been sent."""

    def __init__(self, op: str) -> None:
        self.op = op
        self._reply: Any = None
        self._error: LodestoneError | None = None
        self.done = False

    def _settle(self, reply: Any = None, error: LodestoneError | None = None) -> None:
        self._reply, self._error, self.done = reply, error, True

    def result(self) -> Any:
        """The call's result; raises its typed error, or ``BadRequest`` if the batch was not sent yet."""
        if not self.done:
            raise BadRequest(f"{self.op}: the batch has not been sent yet; end its with block or call send()")
        if self._error is not None:
            raise self._error
        return result_of(self._reply)


class Batch:
    """Calls collected to be sent together in one round trip (see the module docstring)."""

    def __init__(self, client: Sender) -> None:
        self._client = client
        self._calls: list[tuple[int, bytes, BatchCall]] = []
        self._sent = False

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.send()

    def __len__(self) -> int:
        return len(self._calls)

    def call(
        self, op: str, target: dict[str, str] | None = None, args: dict[str, Any] | None = None, *,
        idem: str | None = None,
    ) -> BatchCall:
        """Add a call (as :meth:`Client.call` takes it); its result is there after the batch is sent."""
        if self._sent:
            raise BadRequest("this batch was sent already; start another with client.batch()")
        client = self._client
        request_id = client.next_id()
        body = encode(request(request_id, op, target, args, idempotency_key(idem, client.retries)))
        handle = BatchCall(op)
        self._calls.append((request_id, check_size(body, op, client.max_frame_bytes), handle))
        return handle

    def send(self, timeout: float | None = None) -> list[BatchCall]:
        """Send every call and wait for every result; return the calls in order.

        A call that never got a reply, after the client's retries, holds
        ``Timeout``; one that got a retryable error every time holds that error.
        """
        if self._sent:
            return [handle for _, _, handle in self._calls]
        self._sent = True
        client = self._client
        wait_ms = int((client.timeout if timeout is None else timeout) * 1000)
        waiting = {request_id: (body, handle) for request_id, body, handle in self._calls}
        last: dict[int, LodestoneError] = {}
        for attempt in range(client.retries + 1):
            if attempt:
                time.sleep(_RETRY_BACKOFF_S * attempt)
            ids = list(waiting)
            frames = frames_of([waiting[i][0] for i in ids], client.batch_max_requests, client.max_frame_bytes)
            start = 0
            for count, frame in frames:
                carried, start = ids[start:start + count], start + count
                reply = client.round_trip(frame, wait_ms)
                if reply is None:
                    for request_id in carried:
                        last[request_id] = Timeout(f"no reply to {waiting[request_id][1].op} from "
                                                   f"{client.endpoint} within {wait_ms} ms")
                    continue
                self._take(reply, carried, waiting, last)
            if not waiting:
                break
        for request_id, (_, handle) in waiting.items():
            handle._settle(error=last[request_id])
        return [handle for _, _, handle in self._calls]

    @staticmethod
    def _take(reply: Any, carried: list[int], waiting: dict[int, tuple[bytes, BatchCall]],
              last: dict[int, LodestoneError]) -> None:
        """Settle the calls ``reply`` answers; keep those with a retryable error waiting."""
        if isinstance(reply, dict) and reply.get("id") is None and reply.get("ok") is False:
            error = error_from_reply(reply.get("error"))  # the whole frame was refused
            for carried_id in carried:
                waiting.pop(carried_id)[1]._settle(error=error)
            return
        for answer in replies_in(reply):
            answer_id = answer.get("id") if isinstance(answer, dict) else None
            if type(answer_id) is not int or (entry := waiting.get(answer_id)) is None:
                continue
            if not answer.get("ok") and isinstance(answer.get("error"), dict) and answer["error"].get("retryable"):
                last[answer_id] = error_from_reply(answer["error"])
                continue
            del waiting[answer_id]
            entry[1]._settle(answer)
