"""A daemon process as a context manager: killed on the way out, whatever the test raised."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import DaemonProcess, write_secret


@contextmanager
def serving(tmp_path: Path, config_text: str = "", stderr_path: Path | None = None) -> Iterator[DaemonProcess]:
    """A daemon on a fresh data directory under ``tmp_path`` (the test secret), with ``config_text``."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_secret(data_dir)
    config = tmp_path / "lodestone.toml"
    config.write_text(config_text)
    proc = DaemonProcess(data_dir, extra_args=["--config", str(config)], stderr_path=stderr_path)
    proc.start()
    try:
        yield proc
    finally:
        if proc.process is not None:
            proc.process.kill()
            proc.process.wait(10)
