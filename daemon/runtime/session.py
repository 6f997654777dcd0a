"""A turn as the runtime runs it: the objects it touches, the calls it makes, what it publishes.

A :class:`Session` is one top-level turn (a request, or an alarm delivery).
Every object the turn reaches, itself or through calls, gets one storage
view with its own change set; if the turn finishes, the runtime applies them
all to the cycle's transaction, so a call between objects is as atomic as a
single object's turn. Calls form a chain: a call back into an object already
in the chain is refused (it would see its own half-done turn), which is also
why calls cannot deadlock: one thread runs them, one after the other.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from daemon.errors import BadRequest, NotFound, UnknownOp
from daemon.model import ChangeSet, ObjectRef
from daemon.runtime.classes import AlarmInfo, ObjectClass, Turn
from daemon.runtime.object_storage import ObjectStorage, Reader
from daemon.runtime.residents import Residents

MAX_CALL_DEPTH = 8


class CallPolicy(Protocol):
    """Where a turn's calls go when this process does not hold every object (a cluster node sets one).

    :meth:`resolve` names the object a call reaches, raising if the turn
    cannot reach it; :meth:`outbox` says whether a call to a write op of an
    object elsewhere goes out after the turn commits instead: it returns the
    outbox object to queue the call in (``None``: call it now, here).
    """

    def resolve(self, target: dict[str, Any]) -> ObjectRef: ...

    def outbox(self, target: ObjectRef, writes: bool) -> ObjectRef | None: ...


class Session:
    """One top-level turn: the storage views, the call chain and the notices of it."""

    def __init__(
        self,
        reader: Reader,
        now_ms: int,
        classes: Mapping[str, type[ObjectClass]],
        residents: Residents,
        resolve: Callable[[dict[str, Any]], ObjectRef],
        policy: CallPolicy | None = None,
        wanted: Callable[[bytes], bool] | None = None,
    ) -> None:
        self._reader = reader
        self.now_ms = now_ms
        self._classes = classes
        self._residents = residents
        self._resolve = resolve if policy is None else policy.resolve
        self._policy = policy
        # Which notices to keep (None: all). One nobody will be sent is dropped at once: kept to the end
        # of the cycle only to be thrown away, it cost an Agent.move about 2 us (its freeing, long after).
        self._wanted = wanted
        self._queued = 0
        self.storages: dict[str, ObjectStorage] = {}
        self.notices: list[tuple[bytes, Any]] = []
        self._chain: list[str] = []

    def storage(self, ref: ObjectRef) -> ObjectStorage:
        """The one storage view of ``ref`` in this turn."""
        view = self.storages.get(ref.id)
        if view is None:
            view = self.storages[ref.id] = ObjectStorage(self._reader, ref)
        return view

    def turn(self, ref: ObjectRef) -> Turn:
        """The :class:`Turn` handed to ``ref``'s handler."""
        return Turn(ref, self.storage(ref), self.now_ms, self)

    def instance(self, ref: ObjectRef) -> ObjectClass:
        """``ref``'s in-memory form; raises ``NotFound`` for a class without behaviour."""
        cls = self._classes.get(ref.class_name)
        if cls is None:
            raise NotFound(f"class {ref.class_name!r} has no ops; only the storage.* ops reach its objects")
        return self._residents.get(ref, cls)

    def invoke(self, ref: ObjectRef, method: str, args: dict[str, Any]) -> Any:
        """Run ``method`` of ``ref`` as (part of) this turn."""
        instance = self.instance(ref)
        found = type(instance).ops.get(method)
        if found is None:
            known = ", ".join(sorted(f"{ref.class_name}.{name}" for name in type(instance).ops))
            raise UnknownOp(f"{ref.class_name} has no op {method!r}; its ops are {known}")
        if ref.id in self._chain:
            raise BadRequest(f"re-entrant call into {ref.class_name} {ref.name or ref.id} refused")
        if len(self._chain) >= MAX_CALL_DEPTH:
            raise BadRequest(f"calls between objects nest deeper than {MAX_CALL_DEPTH}")
        self._chain.append(ref.id)
        saved = self._save_point() if len(self._chain) > 1 else None
        try:
            return getattr(instance, found[0])(self.turn(ref), args)
        except BaseException:
            if saved is not None:
                self._roll_back(saved, ref)
            raise
        finally:
            self._chain.pop()

    def alarm(self, ref: ObjectRef, alarm: AlarmInfo) -> None:
        """Run ``ref``'s alarm handler as this turn; ``ref`` is on the call chain as an op's object is."""
        instance = self.instance(ref)
        self._chain.append(ref.id)
        try:
            instance.on_alarm(self.turn(ref), alarm)
        finally:
            self._chain.pop()

    def _save_point(self) -> tuple[int, dict[str, tuple[dict[bytes, Any], bool, Any]]]:
        return len(self.notices), {
            object_id: (dict(view.changes.entries), view.changes.cleared, view.changes.alarm)
            for object_id, view in self.storages.items()
        }

    def _roll_back(self, saved: tuple[int, dict[str, tuple[dict[bytes, Any], bool, Any]]], target: ObjectRef) -> None:
        """Undo a call that raised, so a caller that catches the error keeps none of the call's writes.

        The in-memory forms of the objects it changed are dropped too.
        """
        notices, views = saved
        del self.notices[notices:]
        for object_id, view in list(self.storages.items()):
            before = views.get(object_id)
            if before is None:
                del self.storages[object_id]
            elif before != (view.changes.entries, view.changes.cleared, view.changes.alarm):
                view.changes.entries, view.changes.cleared, view.changes.alarm = before
            else:
                continue
            self._residents.drop(object_id)
        self._residents.drop(target.id)

    # Calls (what handlers reach through their Turn) ------------------------
    def call(self, target: ObjectRef, method: str, args: dict[str, Any]) -> Any:
        if self._policy is not None:
            cls = self._classes.get(target.class_name)
            found = cls.ops.get(method) if cls is not None else None
            box = self._policy.outbox(target, found is None or found[1])
            if box is not None:
                self._queue(box, target, method, args)
                return None
        return self.invoke(target, method, args)

    def _queue(self, box: ObjectRef, target: ObjectRef, method: str, args: dict[str, Any]) -> None:
        """Write the call into ``box`` (it commits with this turn); its idempotency key names the calling turn."""
        caller = self._chain[-1] if self._chain else ""
        self._queued += 1
        idem = f"{caller}:{self.now_ms}:{self._queued}:{secrets.token_hex(4)}"
        self.storage(box).put(f"{self.now_ms:013d}:{idem}", {
            "v": 1, "class": target.class_name, "id": target.id, "name": target.name, "method": method,
            "args": args, "idem": idem,
        })

    def ref(self, class_name: str, name: str) -> ObjectRef:
        return self._resolve({"class": class_name, "name": name})

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        encoded = topic.encode()
        if self._wanted is None or self._wanted(encoded):
            self.notices.append((encoded, body))

    # end of the turn --------------------------------------------------------
    def change_sets(self) -> list[ChangeSet]:
        """Every object's change set, for the cycle to apply (the turn finished)."""
        return [view.changes for view in self.storages.values()]

    def touched(self) -> list[str]:
        """Ids of every object this turn reached."""
        return list(self.storages)
