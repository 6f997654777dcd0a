"""Whether a batch frame runs here whole: the gatekeeper's fast path, asked once for all its elements.

A batch frame whose every element would run here now, each routed on its
own, runs as on one daemon: kept whole, in one cycle, without the stand-in
envelopes its elements would otherwise travel under. :func:`batch_here`
says whether that is so; when it is not, the batch is split and each
element takes its own route, which gives the elements that run here the
same result.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any

from daemon.cluster.records import Owner
from daemon.errors import LodestoneError
from daemon.model import ObjectRef, Request
from daemon.runtime.ops import GLOBAL_OPS


def batch_here(requests: list[Request], writable: bool, node: str, owners: dict[str, Owner],
               leaving: Container[str], arriving: Container[str],
               resolve: Callable[[Any], ObjectRef]) -> bool | None:
    """Whether every request of a batch frame runs here now: ``None`` if any must take its own route;
    otherwise whether any of them touches an object (so the cycle acknowledges writes, see the output gate).

    A request runs here, with no side effect of its routing, when it names
    no object (an op like ``ping`` or ``id.from_name``, but neither
    ``health``, which the gatekeeper answers, nor ``cluster.*``, the ops
    between nodes), or its object is owned here (its owner record names
    ``node``), not moving (neither ``leaving`` nor ``arriving``), and the
    node is ``writable``. Anything else (an object owned elsewhere or by
    nobody, one on the move, a node that may not acknowledge writes, a
    target that does not resolve) is ``None``.
    """
    touches = False
    for request in requests:
        op = request.op
        if request.target is None or op in GLOBAL_OPS:
            if op == "health" or op.startswith("cluster."):
                return None
            continue
        if not writable:
            return None
        try:
            object_id = resolve(request.target).id
        except LodestoneError:
            return None
        owner = owners.get(object_id)
        if owner is None or owner.node != node or object_id in leaving or object_id in arriving:
            return None
        touches = True
    return touches
