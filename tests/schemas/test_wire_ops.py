"""The clients' list of write ops matches what the daemon declares, so every write carries an idem key."""

from __future__ import annotations

from daemon.ops import OPS
from daemon.world import CLASSES
from schemas.wire import WRITE_OPS


def test_write_ops_match_the_daemons_declarations() -> None:
    declared = {name for name, op in OPS.items() if op.writes}
    declared |= {f"{cls.name}.{method}" for cls in CLASSES for method, (_, writes) in cls.ops.items() if writes}
    assert declared == WRITE_OPS
