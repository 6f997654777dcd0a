"""The change stream's subscription index: prefix matching as a scan would answer it, in time that
does not grow with the number of prefixes, and the cap on distinct prefixes."""

from __future__ import annotations

import time
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from daemon.server.subscriptions import Subscriptions

_BYTES = st.binary(max_size=6)


@given(st.lists(st.tuples(st.booleans(), _BYTES), max_size=40), st.lists(_BYTES, max_size=20))
def test_matches_what_a_scan_of_every_prefix_answers(ops: list[tuple[bool, bytes]], topics: list[bytes]) -> None:
    index = Subscriptions(1_000, Counter())
    model: set[bytes] = set()
    for subscribe, prefix in ops:
        if subscribe:
            index.subscribe(prefix)
            model.add(prefix)
        else:
            index.unsubscribe(prefix)
            model.discard(prefix)
        assert len(index) == len(model)
    for topic in [*topics, *model]:
        assert index.wanted(topic) == any(topic.startswith(prefix) for prefix in model)


def test_many_prefixes_cost_no_more_than_one() -> None:
    topic = b"change.Chest." + b"a" * 64
    one = Subscriptions(200_000, Counter())
    one.subscribe(b"telemetry.")
    many = Subscriptions(200_000, Counter())
    for n in range(100_000):
        many.subscribe(b"change.Chest.%064d" % n)  # as long as the topic, and none matches it

    def rate(index: Subscriptions) -> float:
        started = time.perf_counter()
        for _ in range(20_000):
            index.wanted(topic)
        return 20_000 / (time.perf_counter() - started)

    baseline = max(rate(one) for _ in range(3))
    assert max(rate(many) for _ in range(3)) >= baseline / 3


def test_prefixes_past_the_cap_are_refused_counted_and_take_room_that_frees() -> None:
    counters: Counter[str] = Counter()
    index = Subscriptions(2, counters)
    assert index.subscribe(b"a.") and index.subscribe(b"b.")
    assert not index.subscribe(b"c.")
    assert not index.subscribe(b"c.")  # one prefix, counted once
    assert len(index) == 2 and index.refused == 1 and counters["subscriptions_refused"] == 1
    assert not index.wanted(b"c.x")
    index.unsubscribe(b"a.")
    assert index.wanted(b"c.x") and not index.wanted(b"a.x") and index.refused == 0
    index.unsubscribe(b"zzz")  # never subscribed: nothing changes
    assert len(index) == 2
