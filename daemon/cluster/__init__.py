"""Networks of servers: one Lodestone per backend, one owner per object, decided on etcd.

Off unless the configuration has a ``[cluster]`` table. :class:`ClusterNode`
is the server loop's gatekeeper (:mod:`daemon.server.gatekeeper`); the
operator's commands (``lodestone cluster ...``) are in :mod:`daemon.cluster.admin`.
docs/cluster.md is the guide: what moves, what is fenced, what is atomic.
"""

from __future__ import annotations

from daemon.cluster.node import ClusterNode

__all__ = ["ClusterNode"]
