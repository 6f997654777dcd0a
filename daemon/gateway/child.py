"""The gateway as a child process of ``lodestone serve``: started after the daemon binds, stopped before it exits.

A real process, so the daemon's loop stays ZeroMQ-only. It is given the
endpoints the daemon actually bound, reads the rest of its configuration
from the same file, and exits by itself if the daemon dies without stopping it.
"""

from __future__ import annotations

import logging
import selectors
import signal
import subprocess
import sys

from daemon.gateway.config import GatewayConfig

log = logging.getLogger(__name__)


class GatewayChild:
    """One ``lodestone gateway`` subprocess."""

    def __init__(self, config: GatewayConfig, log_level: str) -> None:
        self.config = config
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, rpc: str, pub: str, timeout: float = 30.0) -> str:
        """Start the gateway for the daemon at ``rpc`` and ``pub``; return the URL it listens on.

        Raises ``OSError`` if it does not report that it listens within ``timeout`` seconds.
        """
        command = [sys.executable, "-m", "daemon", "gateway", "--rpc", rpc, "--pub", pub,
                   "--log-level", self.log_level, "--exit-with-parent"]
        if self.config.source is not None:
            command += ["--config", str(self.config.source)]
        if self.config.listen is not None:
            command += ["--listen", self.config.listen]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout)
        line = self.process.stdout.readline().decode() if ready else ""
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if "listen" not in fields:
            self.stop()
            raise OSError(f"the gateway did not start (see its error above): {line.strip() or 'no output'}")
        log.info("gateway started (pid %d) on %s", self.process.pid, fields["listen"])
        return fields["listen"]

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; return its exit code."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("the gateway did not stop within %g s; killing it", timeout)
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if process.returncode not in (0, -signal.SIGTERM):
            log.warning("the gateway exited with code %s", process.returncode)
        return process.returncode
