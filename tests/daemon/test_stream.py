"""Change-stream bodies: assembled from parts, the same bytes as the map they stand for."""

from __future__ import annotations

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from daemon.model import Change, ChangeEvent, ObjectRef
from daemon.server.stream import change_body, change_body_slow

_VALUES = st.builds(msgpack.packb, st.integers(-(2**63), 2**64 - 1) | st.text(max_size=40))
_CHANGES = st.lists(st.builds(Change, st.text(max_size=600), st.one_of(st.none(), _VALUES)), max_size=40)


@given(st.builds(ChangeEvent,
                 st.builds(ObjectRef, st.text(min_size=1, max_size=64), st.text(alphabet="0123456789abcdef",
                                                                              min_size=64, max_size=64),
                           st.one_of(st.none(), st.text(max_size=300))),
                 st.booleans(), _CHANGES, st.integers(0, 2**64 - 1)))
def test_a_change_body_is_the_map_it_stands_for(event: ChangeEvent) -> None:
    assert change_body(event) == change_body_slow(event)
    body = msgpack.unpackb(change_body(event).data)
    assert body["changes"] == [{"key": change.key, "deleted": True} if change.packed is None
                               else {"key": change.key, "value": msgpack.unpackb(change.packed)}
                               for change in event.changes]
