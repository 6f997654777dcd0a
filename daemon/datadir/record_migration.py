"""``lodestone migrate``: upgrade every stored record to its type's current version, eagerly.

Records are found through the classes' ``records`` declarations (class name,
key, record type), never by guessing from the data. Each object is upgraded
in its own transaction, so a migration stopped at any point (even by SIGKILL)
leaves every object wholly old or wholly new, and running it again finishes
the job. The daemon must not be running: the data directory's lock is held
throughout.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from daemon.datadir.progress import Progress
from daemon.errors import BadData, DataTooNew
from daemon.model import ObjectRef
from daemon.runtime.classes import ObjectClass
from daemon.runtime.object_storage import ObjectStorage
from daemon.storage import Store, meta
from schemas.records import RecordError, RecordType

_PAGE = 1000


@dataclass
class MigrationReport:
    """Counts per (record type, version found), and how many records were rewritten."""

    found: Counter[tuple[str, int]] = field(default_factory=Counter)
    current: dict[str, int] = field(default_factory=dict)
    upgraded: int = 0
    objects: int = 0

    def stale(self) -> int:
        """How many records found are older than their type's current version."""
        return sum(count for (name, version), count in self.found.items() if version < self.current[name])

    def lines(self) -> list[str]:
        return [f"{name} v{version}: {count}" for (name, version), count in sorted(self.found.items())]


def migrate(
    store: Store, classes: Mapping[str, type[ObjectClass]], dry_run: bool, progress: Progress
) -> MigrationReport:
    """Upgrade (or with ``dry_run``, count) every declared record; see the module docstring.

    Raises ``BadData`` naming the object and key of a record that cannot be
    read (damaged, or newer than this code).
    """
    report = MigrationReport()
    progress.start("migrating records" if not dry_run else "counting records", None, "objects")
    for class_name, cls in sorted(classes.items()):
        if not cls.records:
            continue
        after: str | None = None
        while True:
            with store.snapshot() as snapshot:
                page = snapshot.list_objects(class_name, after, _PAGE)
            if not page:
                break
            for object_id, name in page:
                _migrate_object(store, ObjectRef(class_name, object_id, name), cls, dry_run, report)
                progress.update(report.objects)
            after = page[-1][0]
    return report


def _migrate_object(
    store: Store, ref: ObjectRef, cls: type[ObjectClass], dry_run: bool, report: MigrationReport
) -> None:
    cycle = store.begin()
    try:
        storage = ObjectStorage(cycle, ref)
        for key, record_type in cls.records.items():
            packed = storage.get_packed(key)
            if packed is None:
                continue
            try:
                version, fields = record_type.read_version(packed)
                report.found[(record_type.name, version)] += 1
                report.current[record_type.name] = record_type.current
                if version == record_type.current or dry_run:
                    continue
                storage.put_record(key, record_type, record_type.upgrade(fields, version))
            except RecordError as exc:
                raise BadData(f"{ref.class_name} {ref.name or ref.id}, key {key!r}: {exc}") from exc
            report.upgraded += 1
    except BaseException:
        cycle.abort()
        raise
    if dry_run:
        cycle.abort()
    else:
        cycle.apply(storage.changes)
        cycle.commit()
    report.objects += 1


def check_versions(store: Store, record_types: Iterable[RecordType]) -> None:
    """Refuse data with records newer than this code, then mark this code's versions as written.

    The data directory remembers, per record type, the newest version any
    Lodestone wrote to it. If that is newer than what this code knows, raises
    ``DataTooNew`` with a sentence saying what to do, before anything is served.
    """
    with store.env.begin(write=True) as txn:
        before: dict[str, int] = meta.read(txn, store.system[meta.META_DB], meta.RECORD_VERSIONS) or {}
        written = dict(before)
        for record_type in record_types:
            newest = written.get(record_type.name, 0)
            if newest > record_type.current:
                raise DataTooNew(
                    f"this data directory holds {record_type.name} records of version {newest}, written by a "
                    f"newer Lodestone; this one knows versions up to {record_type.current}. Upgrade Lodestone, "
                    "or restore a backup taken before the upgrade"
                )
            written[record_type.name] = max(newest, record_type.current)
        if written != before:
            meta.write(txn, store.system[meta.META_DB], meta.RECORD_VERSIONS, written)


def record_types(classes: Mapping[str, type[ObjectClass]]) -> list[RecordType]:
    """Every record type the classes declare, each once."""
    found: dict[str, RecordType] = {}
    for cls in classes.values():
        for record_type in cls.records.values():
            found[record_type.name] = record_type
    return list(found.values())
