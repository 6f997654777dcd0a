"""The ``lodestone`` command's exit codes (documented in its ``--help`` and the README)."""

from __future__ import annotations

EXIT_ERROR = 1  # the daemon answered with an error, a key was not found, or an operation was refused
EXIT_USAGE = 2
EXIT_NO_REPLY = 3
EXIT_BAD_DATA = 65  # verify found bad records, or the data is damaged or newer than this Lodestone
EXIT_SYSTEM = 71  # the system refused something at start (address in use, disk full, permission)
EXIT_LOCKED = 75  # the data directory is in use
EXIT_CONFIG = 78  # the configuration is invalid
