"""Reading data that may be damaged in a child process, so that damage is reported, not fatal.

LMDB trusts its file: on some damage it returns an error, but a page whose
type lies trips one of its own assertions (``abort()``, SIGABRT), and a page
number past the end of the file kills the process with SIGBUS. Neither can
be caught in Python. So ``lodestone verify`` walks the data, and the daemon
probes what start-up reads, in a forked child: if the child dies by a
signal, the caller hears which, and reports the data as damaged.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

Emit = Callable[[str], None]


def run_isolated(work: Callable[[Emit], None], on_line: Callable[[str], None]) -> signal.Signals | None:
    """Run ``work(emit)`` in a forked child; each ``emit(line)`` reaches ``on_line`` here, in order.

    Returns ``None`` once the child finished (an exception in ``work`` is
    reported as a line ``"error: ..."`` first), or the signal that ended it.
    Call it only while this process runs one thread: a child forked from
    several threads may hang on a lock another thread held.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(work, write_fd)
    os.close(write_fd)
    with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            on_line(line.rstrip("\n"))
    _, status = os.waitpid(pid, 0)
    return signal.Signals(os.WTERMSIG(status)) if os.WIFSIGNALED(status) else None


def _child(work: Callable[[Emit], None], write_fd: int) -> None:
    code = 0
    try:
        with os.fdopen(write_fd, "w", encoding="utf-8") as out:

            def emit(line: str) -> None:
                out.write(line.replace("\n", " ") + "\n")
                out.flush()

            try:
                work(emit)
            except BaseException as exc:  # the parent reports it: nothing may unwind past the fork
                emit(f"error: {type(exc).__name__}: {exc}")
                code = 1
    finally:
        os._exit(code)


def signal_sentence(signum: signal.Signals) -> str:
    """Why a reader of the data died of ``signum``, for an operator."""
    if signum == signal.SIGABRT:
        return "LMDB stopped on one of its own consistency checks (SIGABRT) while reading it"
    if signum == signal.SIGBUS:
        return "reading it touched a page past the end of the file (SIGBUS)"
    return f"reading it was ended by {signum.name}"
