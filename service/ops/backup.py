"""Backup and restore, the same on both backends: a zip of one JSON-lines file per table.

Geometries are stored as hex WKB (exact), times as ISO 8601 UTC, JSON as JSON. A backup from
PostGIS restores into SpatiaLite and back. Restore needs a migrated, empty database; it inserts
tables in foreign-key order (self-references in a second pass) and moves PostgreSQL's id sequences
past the restored ids, all in one transaction.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import shapely
from geoalchemy2 import Geometry, WKBElement
from geoalchemy2.shape import to_shape
from sqlalchemy import Date, Table, func, insert, select, text, update
from sqlalchemy.orm import Session

from service import migrate
from service.models import Base
from service.orm import UtcDateTime

FORMAT = "neighborgrid-backup/1"
#: A backup holds password hashes and key households' data: for this account only.
PRIVATE_MODE = 0o600
#: Derived or transient data that is rebuilt rather than restored.
SKIPPED: frozenset[str] = frozenset()


class BackupError(RuntimeError):
    pass


def _tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in SKIPPED]


def _encode(value: Any, column) -> Any:
    if value is None:
        return None
    if isinstance(column.type, Geometry):
        return shapely.to_wkb(to_shape(value), hex=True)  # plain WKB, exact doubles
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, (int, float, str, bool)):  # enums
        return value.value
    return value


def _decode(value: Any, column) -> Any:
    if value is None:
        return None
    if isinstance(column.type, Geometry):
        return WKBElement(bytes.fromhex(value), srid=4326, extended=False)
    if isinstance(column.type, UtcDateTime):
        return datetime.fromisoformat(value)
    if isinstance(column.type, Date):
        return date.fromisoformat(value)
    return value


def _rows(session: Session, table: Table) -> Iterator[dict[str, Any]]:
    pk = list(table.primary_key.columns)
    result = session.execute(select(table).order_by(*pk)).mappings()
    for row in result:
        yield {c.name: _encode(row[c.name], c) for c in table.columns}


def backup(session: Session, path: Path, *, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Write every table to ``path`` (0600, whatever the umask; replaced atomically); returns row counts."""
    counts: dict[str, int] = {}
    tmp = path.with_suffix(path.suffix + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), PRIVATE_MODE)
    os.fchmod(fd, PRIVATE_MODE)  # exact, also for a .part left by an earlier run
    with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for table in _tables():
            n = 0
            with zf.open(f"{table.name}.jsonl", "w") as fh:
                for row in _rows(session, table):
                    fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
                    n += 1
            counts[table.name] = n
            if progress:
                progress(table.name, n)
        manifest = {"format": FORMAT, "schema": migrate.head_revision(), "tables": counts}
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
    tmp.replace(path)
    return counts


def _self_refs(table: Table) -> list[str]:
    return [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]


def restore(session: Session, path: Path, *, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Load a backup into an empty database (in the caller's transaction)."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BackupError(f"not a backup file: {exc}") from None
    with zf:
        try:
            manifest = json.loads(zf.read("manifest.json"))
        except KeyError:
            raise BackupError("not a neighborgrid backup (no manifest.json)") from None
        if manifest.get("format") != FORMAT:
            raise BackupError(f"unknown backup format {manifest.get('format')!r}")
        if manifest.get("schema") != migrate.head_revision():
            raise BackupError(
                f"the backup is of schema {manifest.get('schema')}; this database is at {migrate.head_revision()}"
            )
        for table in _tables():
            if session.scalar(select(func.count()).select_from(table)):
                raise BackupError(f"the database is not empty (table {table.name}); restore needs an empty one")
        counts: dict[str, int] = {}
        for table in _tables():
            name = f"{table.name}.jsonl"
            if name not in zf.namelist():
                raise BackupError(f"the backup has no {name}")
            columns = {c.name: c for c in table.columns}
            deferred = _self_refs(table)
            rows = []
            with zf.open(name) as fh:
                for line in fh:
                    raw = json.loads(line)
                    rows.append({k: _decode(v, columns[k]) for k, v in raw.items() if k in columns})
            if rows:
                first = [{k: (None if k in deferred else v) for k, v in r.items()} for r in rows]
                for start in range(0, len(first), 1000):
                    session.execute(insert(table), first[start : start + 1000])
                pk = next(iter(table.primary_key.columns)).name
                for r in rows:
                    if any(r.get(col) is not None for col in deferred):
                        session.execute(
                            update(table).where(table.c[pk] == r[pk]).values({col: r[col] for col in deferred})
                        )
            counts[table.name] = len(rows)
            if progress:
                progress(table.name, len(rows))
        _reset_sequences(session)
    session.flush()
    return counts


def _reset_sequences(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in _tables():
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and pk[0].autoincrement is not False and pk[0].type.python_type is int:
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                    f"COALESCE((SELECT MAX({pk[0].name}) FROM {table.name}), 0) + 1, false)"
                )
            )


def dump(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Every table as encoded rows (for comparing two databases)."""
    return {t.name: list(_rows(session, t)) for t in _tables()}
