"""Engines and sessions for both backends; the one place that knows SpatiaLite from PostGIS.

* SpatiaLite (embedded default): a file opened through the stdlib ``sqlite3`` when it can load
  extensions, else ``pysqlite3`` (this machine's Python cannot). SpatiaLite metadata is initialised
  with ``init_mode="WGS84"`` (0.02 s instead of 45 s), the file runs in WAL mode with a busy timeout,
  foreign keys are enforced, and transactions are opened explicitly so SAVEPOINTs work.
  Sessions that write can ask for ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy
  timeout instead of failing on a lock upgrade.
* PostGIS: psycopg 3 with a pre-pinged pool.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from service.common.gdal import prime_gdal
from service.config import Settings

log = logging.getLogger(__name__)

#: The SpatiaLite file holds password hashes and key households' data: for this account only.
PRIVATE_MODE = 0o600


def _sqlite_module():
    """The DB-API module to use for SQLite: stdlib when it can load extensions, else pysqlite3."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        import pysqlite3.dbapi2 as pysqlite3
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError("This Python's sqlite3 cannot load extensions; install pysqlite3-binary") from exc
    return pysqlite3


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite file 0600 (whatever the umask) before SQLite does: SQLite gives its ``-wal``
    and ``-shm`` files the mode of the database file. A file (or ``-wal``/``-shm``) left readable by
    others, e.g. by an older version, is made 0600 with a warning."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        pass
    except OSError:
        return  # e.g. no such folder: SQLite will say so in its own words
    else:
        os.fchmod(fd, PRIVATE_MODE)  # exact, not masked
        os.close(fd)
        return
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(os.stat(file).st_mode)
            if mode & 0o077:
                os.chmod(file, PRIVATE_MODE)
                log.warning("%s was readable by others (mode %o); it is now 0600", file, mode)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("%s is readable by others and could not be made 0600: %s", file, exc.strerror)


def _configure_sqlite(engine: Engine, settings: Settings) -> None:
    from geoalchemy2.admin.dialects.sqlite import load_spatialite

    prime_gdal()  # before the first SpatiaLite load, see service/common/gdal.py
    os.environ.setdefault("SPATIALITE_LIBRARY_PATH", settings.spatialite_library_path)
    busy = int(settings.sqlite_busy_timeout_ms)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        load_spatialite(dbapi_conn, init_mode="WGS84")
        # After loading SpatiaLite: its initialisation sets the connection's busy timeout to 5 s.
        dbapi_conn.execute(f"PRAGMA busy_timeout = {busy}")
        dbapi_conn.execute("PRAGMA journal_mode = WAL")
        dbapi_conn.execute("PRAGMA synchronous = NORMAL")
        dbapi_conn.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def make_engine(settings: Settings) -> Engine:
    """Create the engine for ``settings.database_url`` (SpatiaLite file or PostGIS)."""
    url = settings.database_url
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, module=_sqlite_module(), connect_args={"check_same_thread": False})
        _configure_sqlite(engine, settings)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=settings.db_pool_size, max_overflow=settings.db_pool_size)


def is_sqlite(bind) -> bool:
    """True when ``bind`` (engine, connection or session) talks to SpatiaLite."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return bind.dialect.name == "sqlite"


@dataclass
class Database:
    """An engine with its two session factories: plain (reads) and writer (``BEGIN IMMEDIATE``)."""

    engine: Engine

    def __post_init__(self) -> None:
        self.reader = sessionmaker(self.engine, expire_on_commit=False)
        writer_bind = self.engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(self.engine) else self.engine
        self.writer = sessionmaker(writer_bind, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(make_engine(settings))

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A writer session that commits on success and rolls back on any error."""
        with self.writer() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
