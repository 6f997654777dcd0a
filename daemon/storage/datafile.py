"""LMDB's data file checked with plain reads before it is mapped.

LMDB maps ``data.mdb`` into memory and trusts it: a file shorter than its
meta page says (a copy cut short, a full disk, a bad restore) kills the
process with SIGBUS the moment a page past its end is touched, with no
message. So the daemon, ``verify`` and ``restore`` read the two meta pages
with ordinary file reads first, the way LMDB chooses between them, and
refuse a file that is not whole with a sentence.

A meta page (LMDB 0.9, 64-bit) is a 16-byte page header whose flags hold
``P_META``, then: magic ``0xBEEFC0DE`` (u32), data version 1 (u32), fixed
address, map size, the free and main databases (48 bytes each; the free
database's first field is the page size), the last page number used and
the transaction id. LMDB uses the valid meta with the larger transaction id.

A whole file may still hold a damaged page, and on some (a page whose type
lies) LMDB aborts the process on one of its own assertions. So before the
daemon maps the data for good, :func:`probe` reads what start-up reads in a
child process (:mod:`~daemon.storage.isolated`) and turns its death into a
refusal with a sentence.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import lmdb

from daemon.errors import DataDamaged
from daemon.storage.isolated import run_isolated, signal_sentence

DATA_FILE = "data.mdb"
MAGIC = 0xBEEFC0DE
DATA_VERSION = 1
_P_META = 0x08
_PAGE_HEADER = struct.Struct("<QHHHH")  # page number, pad, flags, lower, upper: 16 bytes
_META = struct.Struct("<IIQQ")  # magic, version, address, map size (from byte 16)
_PAGE_SIZE_AT = 40  # the free database's md_pad
_ROOTS_AT = (80, 128)  # md_root of the free and the main database
_TAIL = struct.Struct("<QQ")  # last page number, transaction id (from byte 136)
_TAIL_AT = 136
_META_BYTES = _TAIL_AT + _TAIL.size
_NO_PAGE = (1 << 64) - 1


@dataclass(frozen=True)
class MetaPage:
    """What LMDB's current meta page says about the file."""

    page_size: int
    map_size: int
    last_page: int
    txnid: int
    roots: tuple[int, ...]

    @property
    def bytes_needed(self) -> int:
        """How long the file must be: every page up to the last one used."""
        return (self.last_page + 1) * self.page_size


def check(path: Path) -> MetaPage | None:
    """Check that the data file ``path`` is whole; return its current meta, or ``None`` if there is no file.

    Raises ``DataDamaged`` with a sentence naming the file if it is empty,
    not an LMDB file, of another LMDB data version, or shorter than its meta
    page says. Reads only.
    """
    try:
        with path.open("rb") as reader:
            first = reader.read(_META_BYTES)
            size = reader.seek(0, 2)
            if size == 0:
                raise _damaged(path, "it is empty; its data is gone")
            meta0 = _parse(path, first, 0)
            reader.seek(meta0.page_size)
            meta1 = _parse(path, reader.read(_META_BYTES), 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataDamaged(f"cannot read the data file {path}: {exc}") from exc
    current = meta1 if meta1.txnid > meta0.txnid else meta0
    if any(root != _NO_PAGE and root > current.last_page for root in current.roots):
        raise _damaged(path, "its current meta page points past its last page")
    if size < current.bytes_needed:
        raise _damaged(
            path,
            f"it is {size} bytes but its last page ends at byte {current.bytes_needed}: it was cut short "
            "(a full disk, or a copy that did not finish)",
        )
    return current


def probe(lmdb_dir: Path, opened: Iterable[bytes], walked: Iterable[bytes]) -> None:
    """Open the databases ``opened`` and read every record of those ``walked``, in a child process.

    Call it before the environment is opened in this process, and only while
    no other process writes to it (the daemon holds the directory's lock).
    Raises ``DataDamaged`` with a sentence if LMDB fails or kills the child.
    """
    if not (lmdb_dir / DATA_FILE).is_file():
        return
    errors: list[str] = []

    def read(emit: object) -> None:
        names = list(opened)
        with lmdb.open(str(lmdb_dir), readonly=True, lock=False, max_dbs=len(names), subdir=True,
                       create=False, readahead=False) as env, env.begin() as txn:
            dbs = {name: env.open_db(name, txn=txn, create=False) for name in names if txn.get(name) is not None}
            for name in walked:
                if name in dbs:
                    for _ in txn.cursor(dbs[name]):
                        pass

    died = run_isolated(read, errors.append)
    if died is not None or errors:
        why = signal_sentence(died) if died is not None else errors[0]
        raise DataDamaged(
            f"cannot read the data in {lmdb_dir}: {why}. Restore the latest backup "
            "(lodestone restore BACKUP --force); lodestone verify lists what it can still read"
        )


def _parse(path: Path, raw: bytes, number: int) -> MetaPage:
    if len(raw) < _META_BYTES:
        raise _damaged(path, f"it is too short to hold LMDB's meta page {number}")
    _, _, flags, _, _ = _PAGE_HEADER.unpack_from(raw)
    magic, version, _, map_size = _META.unpack_from(raw, _PAGE_HEADER.size)
    if not flags & _P_META or magic != MAGIC:
        raise _damaged(path, f"its meta page {number} is not an LMDB meta page")
    if version != DATA_VERSION:
        raise _damaged(path, f"its meta page {number} has LMDB data version {version}, not {DATA_VERSION}")
    (page_size,) = struct.unpack_from("<I", raw, _PAGE_SIZE_AT)
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        raise _damaged(path, f"its meta page {number} gives a page size of {page_size}")
    last_page, txnid = _TAIL.unpack_from(raw, _TAIL_AT)
    if last_page < 1 or last_page >= 1 << 48:
        raise _damaged(path, f"its meta page {number} gives {last_page} as the last page")
    roots = tuple(struct.unpack_from("<Q", raw, root_at)[0] for root_at in _ROOTS_AT)
    return MetaPage(page_size, map_size, last_page, txnid, roots)


def _damaged(path: Path, why: str) -> DataDamaged:
    return DataDamaged(
        f"the data file {path} is damaged: {why}. Restore the latest backup "
        "(lodestone restore BACKUP --force) or put back a whole copy of the file"
    )
