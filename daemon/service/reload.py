"""SIGHUP: read the configuration again and apply what can change while serving.

:data:`daemon.config.LIVE_KEYS` change live, everywhere they are used; any
other key that changed is logged as waiting for the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from daemon.config import Config, reloaded
from daemon.errors import ConfigError
from daemon.server import Server
from daemon.service import logs
from daemon.service.notify import Notifier

log = logging.getLogger(__name__)


def apply_live(server: Server, config: Config) -> None:
    """Put the live keys of ``config`` into effect: the log level and the cycle size (requests and alarms)."""
    logs.set_level(config.log_level)
    server.config = config
    server.cycle_max_requests = config.cycle_max_requests
    server.runtime.alarm_batch = config.cycle_max_requests


def reload(server: Server, notifier: Notifier, reload_config: Callable[[], Config] | None, serving: str) -> None:
    """Re-read the configuration and apply its live keys; keep serving whatever happens.

    Sends ``RELOADING=1`` first and ``READY=1`` when done. A configuration that
    no longer loads is logged and ignored: the running one stays.
    """
    notifier.reloading()
    status = serving
    if reload_config is None:
        log.info("reload: there is no configuration to read again")
    else:
        try:
            config, later = reloaded(server.config, reload_config())
        except ConfigError as exc:
            log.error("reload failed; still running with the previous configuration: %s", exc)
            status = f"{serving}; the last reload failed: {exc}"
        else:
            apply_live(server, config)
            log.info(
                "reloaded the configuration: log_level=%s cycle_max_requests=%d",
                config.log_level, config.cycle_max_requests,
            )
            if later:
                log.warning("changed in the configuration, applied at the next start: %s", ", ".join(later))
    notifier.ready(status)
