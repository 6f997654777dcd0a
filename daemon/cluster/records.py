"""What the cluster keeps in etcd: its keys, and the records under them (JSON, versioned).

Under ``/lodestone/<cluster>/``:

* ``nodes/<node>``: a live node's endpoints, attached to its lease (the key
  goes when the lease expires: that is how other nodes know it is down);
* ``owners/<class>/<id>``: the object's owner. Its mod revision is the
  owner's *epoch*, the fencing token every move compares. Never attached to
  a lease: an owner that stops renewing keeps its objects (unavailable)
  until it returns or an operator evicts it;
* ``lost/<node>/<class>/<id>``: what an eviction gave up (the epoch and the
  time), for the operator.

JSON, so ``etcdctl get --prefix /lodestone/`` is readable by a person.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

RECORD_VERSION = 1


@dataclass(frozen=True)
class Keys:
    """The etcd keys of one cluster."""

    cluster: str

    @property
    def root(self) -> bytes:
        return f"/lodestone/{self.cluster}/".encode()

    @property
    def nodes(self) -> bytes:
        return self.root + b"nodes/"

    @property
    def owners(self) -> bytes:
        return self.root + b"owners/"

    def node(self, node: str) -> bytes:
        return self.nodes + node.encode()

    def owner(self, class_name: str, object_id: str) -> bytes:
        return self.owners + f"{class_name}/{object_id}".encode()

    def lost(self, node: str, class_name: str, object_id: str) -> bytes:
        return self.root + f"lost/{node}/{class_name}/{object_id}".encode()

    def owner_ref(self, key: bytes) -> tuple[str, str]:
        """``(class, id)`` of an owner key."""
        class_name, _, object_id = key[len(self.owners):].decode().partition("/")
        return class_name, object_id


@dataclass(frozen=True)
class NodeInfo:
    """A live node: where its rpc and pub sockets are."""

    node: str
    rpc: str
    pub: str

    def encode(self) -> bytes:
        return _dump({"node": self.node, "rpc": self.rpc, "pub": self.pub})

    @classmethod
    def decode(cls, raw: bytes) -> NodeInfo:
        value = _load(raw, "node record")
        return cls(value["node"], value["rpc"], value["pub"])


@dataclass(frozen=True)
class Owner:
    """An object's owner record, with its epoch (the record's mod revision; 0 if there is no record).

    ``node`` is ``None`` when an eviction left the object to whichever node
    claims it next. ``from_node``/``from_epoch`` name the owner and epoch a
    move took it from: a node that exported the object under that epoch
    knows its copy went whole to ``node``.
    """

    class_name: str
    name: str | None
    node: str | None
    epoch: int = 0
    from_node: str | None = None
    from_epoch: int = 0
    evicted: str | None = None

    def encode(self) -> bytes:
        return _dump({"class": self.class_name, "name": self.name, "node": self.node, "from": self.from_node,
                      "from_epoch": self.from_epoch, "evicted": self.evicted})

    @classmethod
    def decode(cls, raw: bytes, epoch: int) -> Owner:
        value = _load(raw, "owner record")
        return cls(value["class"], value.get("name"), value.get("node"), epoch, value.get("from"),
                   int(value.get("from_epoch") or 0), value.get("evicted"))


def lost_record(epoch: int, name: str | None, at_ms: int) -> bytes:
    """The record an eviction leaves for an object it gave up."""
    return _dump({"epoch": epoch, "name": name, "evicted_ms": at_ms})


def _dump(value: dict[str, Any]) -> bytes:
    return json.dumps({"v": RECORD_VERSION, **value}, separators=(",", ":")).encode()


def _load(raw: bytes, what: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(raw)
    if value.get("v", 0) > RECORD_VERSION:
        raise ValueError(f"{what} version {value['v']} is newer than this Lodestone's {RECORD_VERSION}; "
                         "upgrade every node of the cluster")
    return value
