"""Composing the daemon: storage, identity, runtime and sockets, in one exit stack.

Start-up opens storage (which checks the disk and the data file first), checks
the deployment secret against the data, removes what killed backups left,
applies class migrations, then binds the sockets, then re-arms alarms, then
reports ready (to systemd too, through ``$NOTIFY_SOCKET``); shutdown runs in
reverse: the server finishes its cycle and closes its sockets, then storage
closes. SIGHUP re-reads the configuration and applies what can change live.
"""

from __future__ import annotations

import gc
import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from daemon import __version__
from daemon.config import Config
from daemon.datadir import class_migrations
from daemon.datadir.backup import backup, remove_stale_staging
from daemon.datadir.progress import Progress
from daemon.datadir.record_migration import check_versions, record_types
from daemon.datadir.secret import BACKUPS_DIR, open_secret
from daemon.gateway.child import GatewayChild
from daemon.ids import IdFactory
from daemon.runtime import RetryPolicy, Runtime, RuntimeOptions
from daemon.runtime.classes import load_classes
from daemon.server import AlarmScheduler, Server, ensure_open_files
from daemon.service.notify import Notifier, Watchdog, watchdog_interval
from daemon.service.reload import reload
from daemon.service.security import curve_guard
from daemon.storage import Store, StoreOptions

log = logging.getLogger(__name__)

# The cyclic collector's thresholds while serving. Refcounting frees nearly everything a request
# makes, so the collector mostly rescans survivors: with CPython's defaults (700, 10, 10) its passes
# took about 2.5% of a pipelined write load, and each full pass (~7 ms) stalled every request in
# flight; with start-up frozen and these thresholds, under 0.1% (bench/core.py's load, 1,000 agents).
GC_THRESHOLDS = (20_000, 20, 20)


def store_options(config: Config) -> StoreOptions:
    """The storage options a configuration asks for."""
    return StoreOptions(
        map_size=config.map_size_mb << 20,
        max_map_size=config.max_map_size_mb << 20,
    )


def runtime_options(config: Config) -> RuntimeOptions:
    """The runtime policies a configuration asks for."""
    return RuntimeOptions(
        declared_classes=config.declared_classes,
        allow_undeclared_classes=config.allow_undeclared_classes,
        idempotency_window_ms=config.idempotency_window_s * 1000,
        alarm_retry=RetryPolicy(base_ms=config.alarm_retry_base_ms, max_retries=config.alarm_max_retries),
        alarm_batch=config.cycle_max_requests,
        class_options=config.class_options,
        resident_limit=config.max_resident_objects,
        resident_idle_s=config.resident_idle_s,
    )


def run(
    config: Config,
    reload_config: Callable[[], Config] | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run the daemon until SIGTERM or SIGINT; return the process exit code.

    ``reload_config`` reads the configuration again from its sources; SIGHUP
    calls it (see :func:`reload`). ``environ`` (default ``os.environ``) is
    where ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC`` are looked up.
    """
    environ = os.environ if environ is None else environ
    counters: Counter[str] = Counter()
    curve = curve_guard(config, counters)  # refuses an unguarded non-loopback bind before anything opens
    ensure_open_files(config.max_connections)
    classes = load_classes(config.class_modules, config.class_options)
    notifier = Notifier.from_environ(environ)
    with ExitStack() as stack:
        stack.callback(notifier.close)
        notifier.status(f"opening storage in {config.data_dir}")
        store = Store(config.data_dir, store_options(config))
        store.open()
        stack.callback(store.close)
        secret = open_secret(store)
        remove_stale_staging(config.data_dir / BACKUPS_DIR)
        notifier.status("applying class migrations")
        migrated = class_migrations.apply(
            store, config.class_migrations, lambda tag: backup_first(store, f"migration-{tag}")
        )
        check_versions(store, record_types(classes))
        ids = IdFactory(secret, migrated.namespaces)
        runtime = Runtime(store, ids, __version__, runtime_options(config), classes, counters=counters)
        runtime.retired = migrated.retired
        server = Server(config, runtime, counters)
        server.curve = curve
        server.on_cycle = store.tick  # clears readers a dead process left, every few seconds
        notifier.status(f"binding {config.rpc} and {config.pub}")
        rpc, pub = server.bind()
        stack.callback(server.close)
        notifier.status("re-arming alarms")
        runtime.hold_overdue_notices(config.alarm_notice_grace_s * 1000)
        scheduler = AlarmScheduler(server.wake, runtime.clock, horizon_ms=config.alarm_horizon_s * 1000)
        server.scheduler = scheduler
        scheduler.start()
        stack.callback(scheduler.shutdown)
        server.arm_alarms()
        if config.cluster is not None:
            notifier.status(f"joining cluster {config.cluster.name} as node {config.cluster.node_id}")
            join_cluster(stack, config, server, rpc, pub, environ)
        server.install_signal_handlers()
        endpoints = f"rpc={rpc} pub={pub}"
        if config.metrics is not None:
            endpoints += f" metrics={serve_metrics(stack, server, config.metrics)}"
        if config.gateway is not None and config.gateway.listen is not None:
            notifier.status("starting the gateway")
            gateway = GatewayChild(config.gateway, config.log_level)
            stack.callback(gateway.stop)
            endpoints += f" gateway={gateway.start(rpc, pub)}"
        print(f"lodestone {__version__} serving data={config.data_dir.resolve()} {endpoints}", flush=True)
        log.info("ready: %s", endpoints)
        serving = f"serving {endpoints}"
        supervise(server, notifier, environ, lambda: reload(server, notifier, reload_config, serving))
        notifier.ready(serving)
        settle_collector()
        server.serve()
        log.info("stopped cleanly")
    return 0


def join_cluster(stack: ExitStack, config: Config, server: Server, rpc: str, pub: str,
                 environ: Mapping[str, str]) -> None:
    """Make the server a cluster node (docs/cluster.md): it takes a lease and settles unfinished moves first.

    Two test hooks: ``LODESTONE_CLUSTER_CRASH_AT`` names a step of a handoff
    at which the process kills itself (crashes mid-move);
    ``LODESTONE_CLUSTER_AUDIT`` names a file that gets a line per
    acknowledged ``storage.put``, with the epoch it ran under.
    """
    import zmq

    from daemon.cluster import ClusterNode

    assert config.cluster is not None
    node = ClusterNode(config.cluster, server.runtime.store, server.runtime, config.max_frame_bytes,
                       zmq.Context.instance(), environ.get("LODESTONE_CLUSTER_CRASH_AT") or None,
                       environ.get("LODESTONE_CLUSTER_AUDIT") or None)
    stack.callback(node.close)
    node.start(rpc, pub, server.wake, server.arm_alarms)
    server.gatekeeper = node


def settle_collector() -> None:
    """Tune the cyclic garbage collector for serving; call once start-up is done.

    What start-up made lives as long as the daemon, so it is frozen out of the
    collector's passes; see :data:`GC_THRESHOLDS`.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def backup_first(store: Store, why: str) -> Path:
    """Back the open store up under ``DATA_DIR/backups/`` before a destructive step; return where."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = store.path / BACKUPS_DIR / f"before-{why}-{stamp}"
    dest.parent.mkdir(mode=0o700, exist_ok=True)
    backup(store.path, dest, Progress(None), open_env=store.env)
    log.warning("backed the data up to %s before %s", dest, why)
    return dest


def serve_metrics(stack: ExitStack, server: Server, address: str) -> str:
    """Start the Prometheus endpoint on ``address``, fed by ``server``'s loop; return where it listens."""
    from daemon.service.metrics import Metrics

    metrics = Metrics(server.runtime)
    bound = metrics.serve(address)
    stack.callback(metrics.close)
    server.on_batch = metrics.observe_batch
    server.on_cycle = _then(server.on_cycle, metrics.refresh)
    return bound


def supervise(server: Server, notifier: Notifier, environ: Mapping[str, str], on_reload: Callable[[], None]) -> None:
    """Hook the server loop up to systemd: watchdog pings, STOPPING, and reloads.

    With ``$WATCHDOG_USEC`` set, the loop itself pings each half interval, its
    poll timeout shortened to fit, so a stuck loop is noticed and restarted.
    """
    interval = watchdog_interval(environ)
    if interval is not None and notifier.enabled:
        watchdog = Watchdog(notifier, interval)
        server.poll_ms = min(server.poll_ms, watchdog.poll_ms)
        server.on_cycle = _then(server.on_cycle, watchdog.tick)
        log.info("watchdog: pinging systemd every %.3f s", interval)
    server.on_stopping = notifier.stopping
    server.on_reload = on_reload


def _then(first: Callable[[], None] | None, second: Callable[[], None]) -> Callable[[], None]:
    if first is None:
        return second

    def both() -> None:
        first()
        second()

    return both
