"""Journal-friendly log lines: syslog priorities when stderr is the journal."""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

from daemon.service.logs import JournalFormatter, stderr_is_journal, syslog_priority


def record(level: int, message: str, exc_info: bool = False) -> logging.LogRecord:
    info = None
    if exc_info:
        try:
            raise ValueError("boom")
        except ValueError:
            info = sys.exc_info()
    return logging.LogRecord("daemon.test", level, __file__, 1, message, None, info)


def test_every_line_of_a_record_carries_its_priority() -> None:
    text = JournalFormatter().format(record(logging.ERROR, "two\nlines", exc_info=True))
    lines = text.splitlines()
    assert lines[0] == "<3>daemon.test: two"
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>ValueError: boom"


def test_levels_map_to_syslog_priorities() -> None:
    assert [syslog_priority(level) for level in (10, 20, 30, 40, 50)] == [7, 6, 4, 3, 2]


def test_journal_stream_must_name_the_stream_itself(tmp_path: Path) -> None:
    path = tmp_path / "stream"
    with path.open("w") as stream:
        stat = os.fstat(stream.fileno())
        assert stderr_is_journal({"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}, stream.fileno())
        assert not stderr_is_journal({"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino + 1}"}, stream.fileno())
        assert not stderr_is_journal({"JOURNAL_STREAM": "garbage"}, stream.fileno())
        assert not stderr_is_journal({}, stream.fileno())


def test_lines_not_bound_for_the_journal_carry_the_time() -> None:
    from daemon.service.logs import terminal_formatter

    line = terminal_formatter().format(record(logging.WARNING, "disk nearly full"))
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING \S+: disk nearly full$", line), line
