"""``lodestone cluster status | where | evict``: the command line's way into the cluster's records.

The command line reaches :mod:`daemon.cluster` only through here, as the
layers want it (the cluster is composed by the service).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Literal

from daemon.cluster.admin import EvictRefused, evict, status, where
from daemon.cluster.etcd import Etcd, EtcdError, EtcdUnavailable
from daemon.cluster.records import Keys
from daemon.config import ClusterSettings

Outcome = Literal["ok", "none", "refused", "unreachable"]


def cluster_command(settings: ClusterSettings, action: str, emit: Callable[[Any], None], class_name: str = "",
                    name: str = "", node: str = "") -> Outcome:
    """Run ``action`` against the cluster's etcd; ``emit`` each JSON result; say how it went.

    ``none``: ``where`` found no object; ``refused``: etcd or the eviction
    refused; ``unreachable``: no etcd endpoint answered. Errors are printed
    on stderr.
    """
    etcd, keys = Etcd(settings.etcd), Keys(settings.name)
    try:
        if action == "status":
            emit(status(etcd, keys))
        elif action == "where":
            found = where(etcd, keys, class_name, name)
            for entry in found:
                emit(entry)
            return "ok" if found else "none"
        else:
            evicted = evict(etcd, keys, node)
            for entry in evicted:
                emit(entry)
            print(f"evicted {len(evicted)} objects of node {node}; their state there is lost", file=sys.stderr)
    except (EvictRefused, EtcdError) as exc:
        print(f"lodestone: {exc}", file=sys.stderr)
        return "refused"
    except EtcdUnavailable as exc:
        print(f"lodestone: {exc}", file=sys.stderr)
        return "unreachable"
    return "ok"
