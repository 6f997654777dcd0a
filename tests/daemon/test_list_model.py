"""list() against a plain sorted model, including keys past LMDB's 511-byte limit."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.model import Request
from daemon.runtime import Runtime
from tests.conftest import as_sent, ok

AGENT = {"class": "Agent", "name": "model"}
LONG_STEM = "s" * 478  # long keys share the first 479 bytes or not, and sort among themselves

short_keys = st.text(alphabet="ab\u00e9\U0001f600\x00", max_size=4)
long_keys = st.builds(lambda tail: LONG_STEM + tail, st.text(alphabet="ab\u00e9\U0001f600", min_size=1, max_size=40))
keys = st.one_of(short_keys, long_keys)
bounds = st.one_of(st.none(), keys)


def model_list(data: dict[str, int], options: dict[str, Any]) -> list[str]:
    ordered = sorted(data, key=lambda key: key.encode())
    low = options.get("start", options.get("start_after"))
    selected = [
        key for key in ordered
        if (low is None or key.encode() > low.encode()
            or (key == low and "start" in options))
        and ("end" not in options or key.encode() < options["end"].encode())
        and key.startswith(options.get("prefix", ""))
    ]
    if options.get("reverse"):
        selected.reverse()
    return selected[: options["limit"]] if "limit" in options else selected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stored=st.dictionaries(keys, st.integers(0, 9), max_size=25),
    pending=st.dictionaries(keys, st.one_of(st.none(), st.integers(10, 19)), max_size=6),
    start=bounds, start_after=bounds, end=bounds,
    prefix=st.one_of(st.none(), st.sampled_from(["", "a", "s", LONG_STEM, LONG_STEM + "a"])),
    reverse=st.booleans(),
    limit=st.one_of(st.none(), st.integers(1, 8)),
)
def test_list_matches_the_model(
    runtime: Runtime,
    stored: dict[str, int],
    pending: dict[str, int | None],
    start: str | None,
    start_after: str | None,
    end: str | None,
    prefix: str | None,
    reverse: bool,
    limit: int | None,
) -> None:
    ok(runtime.run_cycle([Request(0, "storage.delete_all", AGENT, {}, None)]).replies[0])
    if stored:
        ok(runtime.run_cycle([Request(0, "storage.put", AGENT, {"entries": stored}, None)]).replies[0])
    options: dict[str, Any] = {"reverse": reverse}
    for name, value in (("start", start), ("end", end), ("prefix", prefix), ("limit", limit)):
        if value is not None:
            options[name] = value
    if start is None and start_after is not None:
        options["start_after"] = start_after
    # The pending writes and the list run in one cycle: the list sees earlier turns' writes.
    ops = [{"op": "put", "key": key, "value": value} if value is not None else {"op": "delete", "key": key}
           for key, value in pending.items()]
    replies = runtime.run_cycle([
        Request(1, "storage.transaction", AGENT, {"ops": ops}, None),
        Request(2, "storage.list", AGENT, options, None),
    ]).replies
    ok(replies[0])
    expected_data = dict(stored)
    for key, value in pending.items():
        if value is None:
            expected_data.pop(key, None)
        else:
            expected_data[key] = value
    listed = ok(as_sent(replies[1]))["entries"]
    expected = model_list(expected_data, options)
    assert [key for key, _ in listed] == expected
    assert all(expected_data[key] == value for key, value in listed)
