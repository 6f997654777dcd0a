"""A batch's reply array assembled slot by slot, as a cluster node fills it (daemon/server/batch_reply.py)."""

from __future__ import annotations

from daemon.model import Request
from daemon.server.batch_reply import SlotEnvelope, by_frame, regroup, stand_ins
from daemon.server.batches import Inbox
from schemas.wire import decode, encode, error_reply, ok_reply

LIMIT = 1 << 20


def test_the_array_goes_out_once_every_slot_is_filled_in_slot_order_whatever_the_fill_order() -> None:
    inbox = Inbox(LIMIT)
    inbox.add([b"one", b""], Request(1, "ping", None, {}, None))
    inbox.add([b"many", b""], [Request(2, "ping", None, {}, None), error_reply(None, "BAD_REQUEST", "no"),
                               Request(3, "ping", None, {}, None)])
    envelopes, requests, refused = by_frame(inbox, LIMIT)  # a batch with a malformed element is split at once
    assert [request.id for request in requests if isinstance(request, Request)] == [1, 2, 3]
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
    first, second = stand_ins([b"c", b""], [Request("a", "ping", None, {}, None), Request("b", "ping", None, {}, None)],
                              4000)
    assert isinstance(first, SlotEnvelope) and isinstance(second, SlotEnvelope)
    assert first.fill(encode(ok_reply("a", "x" * 3000))) is None
    whole = second.fill(encode(ok_reply("b", "y" * 2000)))
    assert whole is not None and len(whole[1]) <= 4000
    replies = decode(whole[1])
    assert replies[0]["id"] == "a" and replies[0]["error"]["code"] == "TOO_LARGE"
    assert replies[1] == ok_reply("b", "y" * 2000)


def test_a_well_formed_batch_is_one_entry_for_the_gatekeeper_to_keep_whole_or_split() -> None:
    inbox = Inbox(LIMIT)
    batch = [Request(i, "ping", None, {}, None) for i in (1, 2)]
    inbox.add([b"many", b""], list(batch))
    inbox.add([b"one", b""], Request(3, "ping", None, {}, None))
    envelopes, entries, refused = by_frame(inbox, LIMIT)
    assert envelopes == [[b"many", b""], [b"one", b""]] and not any(type(e) is SlotEnvelope for e in envelopes)
    assert entries == [batch, Request(3, "ping", None, {}, None)] and refused == []


def test_a_batch_kept_whole_or_whose_every_element_runs_now_goes_in_whole_and_a_partial_one_slot_by_slot() -> None:
    whole = [Request(i, "ping", None, {}, None) for i in (1, 2, 3)]
    split = [Request(i, "ping", None, {}, None) for i in (4, 5)]
    all_run = [Request(i, "ping", None, {}, None) for i in (7, 8)]
    split_envelopes = stand_ins([b"split", b""], split, LIMIT)
    all_run_envelopes = stand_ins([b"all", b""], all_run, LIMIT)
    # What a gatekeeper lets run now: the batch it kept whole, the single, the split batch's last element,
    # and every element of a batch it split.
    admitted = Inbox(LIMIT)
    regroup([[b"whole", b""], [b"single", b""], split_envelopes[1], *all_run_envelopes],
            [whole, Request(6, "ping", None, {}, None), split[1], *all_run], admitted)
    frames = list(admitted.frames())
    ids = [[slot.id for slot in slots if isinstance(slot, Request)] if isinstance(slots, list) else slots.id
           for _, slots in frames]
    assert [envelope for envelope, _ in frames] == [[b"whole", b""], [b"single", b""], [], [b"all", b""]]
    assert ids == [[1, 2, 3], 6, 5, [7, 8]]
    assert type(frames[2][0]) is SlotEnvelope  # answered in its slot, with its batch's other element
