"""The usual request envelope, decoded and checked in C by msgspec in one call.

:func:`typed_request` accepts only what :func:`daemon.server.envelope.parse`'s
check-by-check path would accept, and gives the same :class:`Request` for it,
down to the argument values: every key a string, every value nil, a boolean,
an integer, a float, a string, or a list or a string-keyed map of those at
most :data:`ARG_DEPTH` levels down. Anything else (binary data, which msgspec
cannot tell from a string in one union; a binary or integer key; an extension
type; deeper nesting; an unknown top-level key; an envelope field that is
wrong) returns ``None`` and is left to the
check-by-check path, which decides and words the refusal. Because nothing
accepted here nests deeper than a few levels, the depth limit the slow path
enforces holds here by construction.

:func:`typed_batch` reads a whole batch frame the same way, with one
difference: the ``value`` of a ``storage.put`` comes as the msgpack bytes
the put would store (:class:`~schemas.wire.Encoded`, made by the encoder the
put uses, so the stored bytes are the same), encoded as soon as it is
decoded. Its objects are then freed at once, while the CPU's cache still
holds them; kept until the cycle ends, after the commit has written its
pages, freeing them cost about 2 us more per put than the encoding itself.
A cluster node that forwards such a put sends its value as those bytes
(``schemas.wire.encode_value``). Single frames keep their decoded values.
"""

from __future__ import annotations

import contextlib
from typing import Union

import msgspec

from daemon.model import PlainArgs, Request
from schemas.plain import PLAIN_DEPTH, PLAIN_ENCODER, PLAIN_VALUE
from schemas.wire import SUPPORTED_VERSIONS, Encoded

MAX_REQUEST_ID_CHARS = 256
MAX_IDEM_BYTES = 256
# How many levels of lists and maps an argument value may hold to be decoded here.
ARG_DEPTH = PLAIN_DEPTH


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    """A request as the fast path takes it; an unknown key sends it to the check-by-check path."""

    v: int
    id: Union[int, str]  # noqa: UP007
    op: str
    target: Union[dict[str, str], None] = None  # noqa: UP007
    args: dict[str, PLAIN_VALUE] = msgspec.field(default_factory=dict)
    idem: Union[str, None] = None  # noqa: UP007
    readonly: bool = False


_DECODER = msgspec.msgpack.Decoder(_Envelope)
_BATCH_DECODER = msgspec.msgpack.Decoder(list[_Envelope])


def typed_request(body: bytes) -> Request | None:
    """The request in ``body`` if it is a well-formed usual one; ``None`` leaves it to the slow path."""
    try:
        envelope = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return _checked(envelope)


def typed_batch(body: bytes) -> list[Request] | None:
    """The requests of the batch frame ``body`` if every element is a well-formed usual one, decoded in one call.

    ``None`` (an element :func:`typed_request` would not take, or no element
    at all) leaves the frame to be read element by element. Each request is
    the one :func:`typed_request` gives for its element's bytes, but for the
    value of a ``storage.put``, which comes encoded (see the module docstring).
    """
    try:
        envelopes = _BATCH_DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    requests: list[Request] = []
    for envelope in envelopes:
        request = _checked(envelope)
        if request is None:
            return None
        if request.op == "storage.put" and "value" in request.args:
            args = request.args
            with contextlib.suppress(TypeError, OverflowError, msgspec.EncodeError):  # the put's path words it
                args["value"] = Encoded(PLAIN_ENCODER.encode(args["value"]))
        requests.append(request)
    return requests or None


def _checked(envelope: _Envelope) -> Request | None:
    request_id, idem = envelope.id, envelope.idem
    if (
        envelope.v in SUPPORTED_VERSIONS
        and envelope.op
        and (type(request_id) is int or len(request_id) <= MAX_REQUEST_ID_CHARS)  # type: ignore[arg-type]
        and (idem is None or (idem != "" and len(idem.encode()) <= MAX_IDEM_BYTES))
    ):
        return Request(request_id, envelope.op, envelope.target, PlainArgs(envelope.args), idem, envelope.readonly)
    return None
