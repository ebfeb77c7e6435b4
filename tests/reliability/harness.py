"""Shared by tests/reliability and tests/security: cheap fresh demo databases, served apps, the load tool.

Loading the demo costs 15-30 s per database on this machine, so each backend's demo is loaded once
per test session into a *template*, and every test that needs a database of its own gets a copy:
PostgreSQL's ``CREATE DATABASE … TEMPLATE`` (about a second), or a copy of the SpatiaLite file.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import load_intake
from service.app import create_app
from service.config import Settings
from service.db import Database
from tests.support.backends import DEMO_PASSWORD, Backend, make_settings
from tests.support.clock import TestClock
from tests.support.databases import postgis_url, spatialite_url
from tests.support.server import ServerThread

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("spatialite", "postgis")
#: Every demo account, by role (the authorization matrix calls each endpoint as each of them).
ROLE_USERS = {
    "admin": "admin",
    "dispatcher": "dispatcher",
    "planner": "planner",
    "grid_worker": "gridworker1",
    "volunteer": "volunteer1",
    "resident": "resident1",
    "department": "dept_zjj",
}


@dataclass
class Served:
    """A database URL and the server process (bench/load_intake.py ``ServerProcess``) serving it."""

    url: str
    server: Any


class DemoTemplates:
    """One demo database per backend, loaded on first use and copied for each test that asks."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()
        self._dir: Path | None = None

    def _tmp(self) -> Path:
        if self._dir is None:
            import tempfile

            self._dir = Path(tempfile.mkdtemp(prefix="ng-templates-"))
            self._stack.callback(shutil.rmtree, self._dir, True)
        return self._dir

    def template(self, backend: str) -> str:
        with self._lock:
            if backend not in self._urls:
                url = self._stack.enter_context(
                    spatialite_url(self._tmp() / backend) if backend == "spatialite" else postgis_url()
                )
                if backend == "spatialite":
                    (self._tmp() / backend).mkdir(exist_ok=True)
                load_intake.load_demo_into(url, password=DEMO_PASSWORD)
                if backend == "spatialite":
                    _checkpoint(url)
                self._urls[backend] = url
            return self._urls[backend]

    @contextmanager
    def clone(self, backend: str, tmp: Path) -> Iterator[str]:
        """A fresh copy of the demo database; dropped (PostGIS) when the block ends."""
        source = self.template(backend)
        if backend == "spatialite":
            target = tmp / f"clone-{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(make_url(source).database, target)
            yield f"sqlite:///{target}"
            return
        src = make_url(source)
        admin = create_engine(src.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        name = f"ng_test_{uuid.uuid4().hex[:10]}"
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{src.database}"'))
            yield src.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    def close(self) -> None:
        self._stack.close()
        self._urls.clear()


def _checkpoint(url: str) -> None:
    """Fold the WAL into the SpatiaLite file so that a plain file copy is the whole database."""
    conn = sqlite3.connect(make_url(url).database)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


TEMPLATES = DemoTemplates()


@contextmanager
def served_clone(backend: str, tmp: Path, **overrides) -> Iterator[Backend]:
    """A copy of the demo database served in-process (like ``private_backend``), with ``overrides``
    applied to the usual test settings (e.g. rate limits back on). ``.app`` is the FastAPI app."""
    with ExitStack() as stack:
        url = stack.enter_context(TEMPLATES.clone(backend, tmp))
        settings = make_settings(url, **({"media_dir": tmp / "media", "scheduler_enabled": False} | overrides))
        db = Database.from_settings(settings)
        stack.callback(db.dispose)
        served = serve_app(stack, settings, db)
        served.name = backend
        yield served


def serve_app(stack: ExitStack, settings: Settings, db: Database) -> Backend:
    """An app on ``db`` served over HTTP until the stack closes; the Backend carries ``.app``."""
    clock = TestClock()
    app = create_app(settings, database=db, clock=clock)
    server = ServerThread(app).start()
    stack.callback(server.stop)
    served = Backend(name=db.engine.dialect.name, settings=settings, db=db, base_url=server.base_url, clock=clock)
    served.app = app
    return served


def another_app(stack: ExitStack, b: Backend, **overrides) -> Backend:
    """A second app (its own settings, limiters and metrics) on the same database as ``b``."""
    served = serve_app(stack, b.settings.model_copy(update=overrides), b.db)
    served.name = b.name
    return served
