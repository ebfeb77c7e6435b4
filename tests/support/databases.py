"""Fresh test databases: a SpatiaLite file, or a new PostGIS database on a real server.

PostGIS comes from ``NEIGHBORGRID_TEST_POSTGIS_URL`` (a server URL; each test session creates and
drops its own database on it), falling back to the local trust-auth server. When neither answers,
PostGIS tests are skipped — unless ``NEIGHBORGRID_REQUIRE_ALL=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_POSTGIS_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def require_all() -> bool:
    return os.environ.get("NEIGHBORGRID_REQUIRE_ALL") == "1"


def unavailable(reason: str):
    """Skip, or fail in CI where every backend must run."""
    if require_all():
        pytest.fail(f"{reason} (NEIGHBORGRID_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(reason)


@contextmanager
def spatialite_url(tmp_dir: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_dir / 'neighborgrid-test.db'}"


@contextmanager
def postgis_url() -> Iterator[str]:
    server = make_url(os.environ.get("NEIGHBORGRID_TEST_POSTGIS_URL", DEFAULT_POSTGIS_URL))
    if server.drivername == "postgresql":
        server = server.set(drivername="postgresql+psycopg")
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    name = f"ng_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server, no rights: report why
        admin.dispose()
        unavailable(f"PostGIS server not reachable at {server.render_as_string(hide_password=True)}: {exc}")
    url = server.set(database=name)
    try:
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except Exception as exc:
            unavailable(f"PostGIS extension not available: {exc}")
        finally:
            engine.dispose()
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
