"""The deployment secret, checked at start against the data its ids were made with.

Every id is derived from the secret, so the data is only reachable with the
secret it was written with: a deleted ``secret`` file replaced by a fresh
one, or another deployment's, would make every object unreachable while the
daemon served on as if nothing had happened. So the data keeps a
fingerprint of its secret in ``_meta`` (recorded at the first start that
sees none), and :func:`open_secret` refuses to start when objects exist and
the secret is missing or is not the one recorded, naming the file and the
backup that has it.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from daemon.errors import DataDamaged
from daemon.ids import SECRET_FILE, create_secret, read_secret, secret_fingerprint
from daemon.storage import Store, meta
from daemon.storage.registry import REGISTRY_DB

log = logging.getLogger(__name__)

BACKUPS_DIR = "backups"


def open_secret(store: Store) -> bytes:
    """The deployment secret of the open ``store``'s data directory, created if there is no data yet.

    Records the secret's fingerprint in ``_meta`` if none is. Raises
    ``DataDamaged`` if objects exist and the ``secret`` file is missing or
    is not the secret they were made with (see the module docstring), and
    whatever :func:`daemon.ids.read_secret` raises.
    """
    data_dir = store.path
    secret = read_secret(data_dir)
    with store.env.begin(write=True) as txn:
        meta_db = store.system[meta.META_DB]
        recorded = txn.get(meta.SECRET_FINGERPRINT, db=meta_db)
        recorded = bytes(recorded) if recorded is not None else None
        objects = int(txn.stat(store.system[REGISTRY_DB])["entries"])
        if objects and secret is None:
            raise DataDamaged(
                f"the deployment secret {data_dir / SECRET_FILE} is missing, and the data holds {objects} "
                f"objects whose ids were made with it: none of them could be reached. {_where(data_dir, recorded)}"
            )
        if objects and secret is not None and recorded not in (None, secret_fingerprint(secret)):
            raise DataDamaged(
                f"the deployment secret {data_dir / SECRET_FILE} is not the one this data was written with "
                f"(its fingerprint differs from the one the data recorded): none of its {objects} objects "
                f"could be reached. {_where(data_dir, recorded)}"
            )
        if secret is None:
            secret = create_secret(data_dir)
            log.info("created a new deployment secret in %s", data_dir / SECRET_FILE)
        fingerprint = secret_fingerprint(secret)
        if recorded != fingerprint:
            txn.put(meta.SECRET_FINGERPRINT, fingerprint, db=meta_db)
    return secret


def _where(data_dir: Path, recorded: bytes | None) -> str:
    """Where to find the right secret: the newest backup under ``data_dir/backups`` that holds it."""
    found = _backup_holding(data_dir / BACKUPS_DIR, recorded)
    target = data_dir / SECRET_FILE
    if found is not None:
        return f"Copy {found} to {target} (chmod 600 {target}) and start again."
    return (
        f"Copy the secret from a backup of this data directory (lodestone backup DEST keeps it as DEST/{SECRET_FILE}) "
        f"to {target} (chmod 600 {target}), or restore that backup whole; then start again."
    )


def _backup_holding(backups: Path, recorded: bytes | None) -> Path | None:
    """The ``secret`` file of the newest backup in ``backups`` whose fingerprint is ``recorded``.

    With no fingerprint recorded, the newest backup's secret is the best guess.
    """
    candidates: list[tuple[float, Path]] = []
    with contextlib.suppress(OSError):
        for backup in backups.iterdir():
            path = backup / SECRET_FILE
            with contextlib.suppress(OSError):
                candidates.append((path.stat().st_mtime, path))
    for _, path in sorted(candidates, reverse=True):
        with contextlib.suppress(OSError):
            if recorded is None or secret_fingerprint(path.read_bytes()) == recorded:
                return path
    return None
