"""Log lines on stderr, in the form journald or a terminal wants them.

Under systemd, stderr is connected to the journal and ``$JOURNAL_STREAM``
names that stream as ``DEVICE:INODE``. When it matches the process's stderr,
each line starts with its syslog priority (``<3>`` error, ``<4>`` warning,
``<6>`` info, ``<7>`` debug; sd-daemon(3)), so the journal files it at the
right level; the level name is then left out, since the journal shows it.
Otherwise lines read ``2026-12-06 14:03:07,512 LEVEL logger: message`` (the
journal stamps its own lines; a terminal, a panel's console or a file does not).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

_TERMINAL_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_JOURNAL_FORMAT = "%(name)s: %(message)s"


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a ``logging`` level."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


class JournalFormatter(logging.Formatter):
    """Prefixes every line of a record (tracebacks too) with ``<priority>``."""

    def __init__(self) -> None:
        super().__init__(_JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def stderr_is_journal(environ: Mapping[str, str], fd: int = 2) -> bool:
    """Whether ``$JOURNAL_STREAM`` names the stream on ``fd`` (as systemd.exec(5) advises)."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        stat = os.fstat(fd)
        return (stat.st_dev, stat.st_ino) == (int(device), int(inode))
    except (OSError, ValueError):
        return False


def terminal_formatter() -> logging.Formatter:
    """The format of lines that do not go to the journal: with the time."""
    return logging.Formatter(_TERMINAL_FORMAT)


def configure_logging(level: str, environ: Mapping[str, str]) -> None:
    """Send every log record at ``level`` or above to stderr, one line per record."""
    handler = logging.StreamHandler(sys.stderr)
    try:
        fd = sys.stderr.fileno()
    except (OSError, ValueError):
        fd = -1
    if stderr_is_journal(environ, fd):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(terminal_formatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def set_level(level: str) -> None:
    """Change the level of the root logger (a reload does this)."""
    logging.getLogger().setLevel(level.upper())
