"""1,000 agents moving at 20 Hz: the page keeps drawing frames and moves each marker at most once a frame.

The load is made in the page: change-stream frames, msgpack-encoded as the
gateway sends them, are handed to the page's link at 20,000 a second (1,000
agents x 20 Hz), so everything after the socket runs as in use (decoding,
the commit check, the store, the per-frame marker updates). A daemon on this
machine's two cores cannot write 20,000 agent moves a second with fsync and
leave a core for the browser, so the load does not come through it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.dashboard.conftest import Dashboard
from tests.gateway.conftest import Stack

AGENTS = 1000
HZ = 20
SECONDS = 3

# The file's leading comment lines are left out: the rest is one function expression for page.evaluate.
LOAD = "\n".join(line for line in (Path(__file__).parent / "load.js").read_text().splitlines()
                 if not line.startswith("//"))


def test_a_thousand_agents_at_20_hz_keep_the_page_responsive(stack: Stack, screenshots: Path,
                                                             dashboards: Callable[..., Dashboard]) -> None:
    page = dashboards(stack.gateway.url, stack.tokens["admin"])
    result = page.page.evaluate(LOAD, [AGENTS, HZ, SECONDS])
    print(f"\n1,000 agents x 20 Hz for {SECONDS} s: {result}")
    assert result["wrong"] == 0, "every marker ends where its agent's last change put it"
    # What the page does per message (decode, the commit check, the store, the tail) costs at most
    # five times the bare decoding measured right after, in the same conditions (measured: 2.5-3):
    # a ratio, so a machine busy with other work does not fail the test. Measured on a quiet machine,
    # the page takes the whole 20,000 a second and draws ~58 frames a second, p95 gap 17 ms (printed).
    assert result["busyMs"] < 5 * result["decodeOnlyMs"], "handling a message costs little more than decoding it"
    # Coalesced: one draw per animation frame at most, each marker moved at most once in it.
    assert result["drawnFrames"] <= result["frames"]
    assert result["moved"] <= result["drawnFrames"] * AGENTS
    page.page.evaluate("window.lodestone.map.fitAll()")
    page.shoot(screenshots, "load-1000-agents")
