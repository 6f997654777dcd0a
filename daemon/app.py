"""Composing the daemon: storage, identity, runtime and sockets, in one exit stack.

Start-up opens storage, then binds the sockets, then reports ready; shutdown
runs in reverse: the server finishes its cycle and closes its sockets, then
storage closes.
"""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack

from daemon import __version__
from daemon.config import Config
from daemon.ids import IdFactory, load_or_create_secret
from daemon.runtime import Runtime
from daemon.server import Server
from daemon.storage import Store, StoreOptions

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    """Log lines to stderr, one per event, the way journald and terminals want them."""
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
        force=True,
    )


def store_options(config: Config) -> StoreOptions:
    """The storage options a configuration asks for."""
    return StoreOptions(
        map_size=config.map_size_mb << 20,
        max_map_size=config.max_map_size_mb << 20,
        idempotency_window_ms=config.idempotency_window_s * 1000,
    )


def run(config: Config) -> int:
    """Run the daemon until SIGTERM or SIGINT; return the process exit code."""
    with ExitStack() as stack:
        store = Store(config.data_dir, store_options(config))
        store.open()
        stack.callback(store.close)
        ids = IdFactory(load_or_create_secret(config.data_dir))
        runtime = Runtime(
            store,
            ids,
            __version__,
            declared_classes=config.declared_classes,
            allow_undeclared_classes=config.allow_undeclared_classes,
        )
        server = Server(config, runtime)
        rpc, pub = server.bind()
        stack.callback(server.close)
        server.install_signal_handlers()
        print(
            f"lodestone {__version__} serving data={config.data_dir.resolve()} rpc={rpc} pub={pub}",
            flush=True,
        )
        log.info("ready: rpc=%s pub=%s", rpc, pub)
        server.serve()
        log.info("stopped cleanly")
    return 0
