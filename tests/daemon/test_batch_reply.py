"""A batch's reply array assembled slot by slot, as a cluster node fills it (daemon/server/batch_reply.py)."""

from __future__ import annotations

from daemon.model import Request
from daemon.server.batch_reply import SlotEnvelope, one_by_one, regroup
from daemon.server.batches import Inbox
from schemas.wire import decode, encode, error_reply, ok_reply

LIMIT = 1 << 20


def test_the_array_goes_out_once_every_slot_is_filled_in_slot_order_whatever_the_fill_order() -> None:
    inbox = Inbox(LIMIT)
    inbox.add([b"one", b""], Request(1, "ping", None, {}, None))
    inbox.add([b"many", b""], [Request(2, "ping", None, {}, None), error_reply(None, "BAD_REQUEST", "no"),
                               Request(3, "ping", None, {}, None)])
    envelopes, requests, refused = one_by_one(inbox, LIMIT)
    assert [request.id for request in requests] == [1, 2, 3]
    assert envelopes[0] == [b"one", b""] and type(envelopes[0]) is list
    slots = [slot for slot in (envelopes[1], envelopes[2], refused[0][0]) if isinstance(slot, SlotEnvelope)]
    assert len(slots) == 3 and all(slot == [] for slot in slots)  # a stand-in routes nowhere by itself
    assert slots[2].fill(encode(refused[0][1])) is None
    assert slots[1].fill(encode(ok_reply(3, "third"))) is None
    whole = slots[0].fill(encode(ok_reply(2, "first")))
    assert whole is not None and whole[0] == [b"many", b""]
    assert [(reply["id"], reply.get("result")) for reply in decode(whole[1])] == [(2, "first"), (None, None),
                                                                                  (3, "third")]


def test_an_array_over_the_frame_limit_gives_way_largest_first_keeping_each_slots_id() -> None:
    inbox = Inbox(4000)
    inbox.add([b"c", b""], [Request("a", "ping", None, {}, None), Request("b", "ping", None, {}, None)])
    envelopes, _, _ = one_by_one(inbox, 4000)
    first, second = envelopes
    assert isinstance(first, SlotEnvelope) and isinstance(second, SlotEnvelope)
    assert first.fill(encode(ok_reply("a", "x" * 3000))) is None
    whole = second.fill(encode(ok_reply("b", "y" * 2000)))
    assert whole is not None and len(whole[1]) <= 4000
    replies = decode(whole[1])
    assert replies[0]["id"] == "a" and replies[0]["error"]["code"] == "TOO_LARGE"
    assert replies[1] == ok_reply("b", "y" * 2000)


def test_a_batch_whose_every_element_runs_now_goes_back_in_whole_and_a_partial_one_slot_by_slot() -> None:
    inbox = Inbox(LIMIT)
    whole = [Request(i, "ping", None, {}, None) for i in (1, 2, 3)]
    split = [Request(i, "ping", None, {}, None) for i in (4, 5)]
    inbox.add([b"whole", b""], list(whole))
    inbox.add([b"single", b""], Request(6, "ping", None, {}, None))
    inbox.add([b"split", b""], list(split))
    envelopes, requests, _ = one_by_one(inbox, LIMIT)
    # What a gatekeeper lets run now: all of the first batch, the single, the second batch's last element.
    kept = [0, 1, 2, 3, 5]
    admitted = Inbox(LIMIT)
    regroup([envelopes[i] for i in kept], [requests[i] for i in kept], admitted)
    frames = list(admitted.frames())
    ids = [[slot.id for slot in slots if isinstance(slot, Request)] if isinstance(slots, list) else slots.id
           for _, slots in frames]
    assert [envelope for envelope, _ in frames] == [[b"whole", b""], [b"single", b""], []]
    assert ids == [[1, 2, 3], 6, 5]
    assert type(frames[2][0]) is SlotEnvelope  # answered in its slot, with its batch's other element
