"""Operations: liveness and readiness, the Prometheus metrics, and backup/restore through the CLI.

* ``/healthz`` answers while the process lives; ``/readyz`` only when the database answers and its
  migrations are current (an unmigrated database and an unreachable server both give 503).
* ``/metrics`` counts requests and latencies by route template (deltas between two scrapes equal the
  requests made), open requests by warning level and breached deadlines equal to the database's own
  count, and event-stream clients follow a stream being opened and closed.
* ``neighborgrid backup`` of a demo database (after some activity: cases, audit entries, an edited
  grid) restored by ``neighborgrid restore`` into an empty database of the same and of the other
  kind: every table of the database holds exactly the same rows (geometries compared as WKB).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from geoalchemy2 import Geometry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, inspect, select

import service.models  # noqa: F401  (every table)
from service.db import Database
from service.models import Base
from service.requests.models import ServiceRequest
from tests.reliability.harness import BACKENDS, ROLE_USERS, serve_app, served_clone
from tests.support.backends import DEMO_PASSWORD, make_settings
from tests.support.databases import postgis_url, spatialite_url

ROOT = Path(__file__).resolve().parents[2]
CLI = [str(Path(sys.executable).parent / "neighborgrid")]
#: Bookkeeping tables of the database engines and of Alembic, not the service's data.
ENGINE_TABLES = {
    *("alembic_version", "spatial_ref_sys", "geometry_columns", "spatialite_history", "sqlite_sequence"),
    *("ElementaryGeometries", "KNN", "KNN2", "SpatialIndex", "data_licenses", "geometry_columns_time"),
}


def _metrics(c: httpx.Client) -> dict[tuple[str, tuple], float]:
    r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(m: dict, name: str, **labels) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


def test_healthz_and_readyz(secured, tmp_path):
    with httpx.Client(base_url=secured.base_url) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json() == {"status": "ready"}
    with ExitStack() as stack:
        # A database that was never migrated: alive, not ready.
        settings = make_settings(f"sqlite:///{tmp_path / 'empty.db'}", scheduler_enabled=False)
        db = Database.from_settings(settings)
        stack.callback(db.dispose)
        empty = serve_app(stack, settings, db)
        # A PostgreSQL server that does not answer (nothing listens on port 9).
        settings = make_settings("postgresql+psycopg://postgres@127.0.0.1:9/none", scheduler_enabled=False)
        db = Database.from_settings(settings)
        stack.callback(db.dispose)
        gone = serve_app(stack, settings, db)
        for served, status in ((empty, "migrations pending"), (gone, "unavailable")):
            with httpx.Client(base_url=served.base_url, timeout=30) as c:
                assert c.get("/healthz").status_code == 200
                r = c.get("/readyz")
                assert r.status_code == 503 and r.json()["status"] == status, r.text


def _breached(db) -> dict[str, int]:
    table = ServiceRequest.__table__
    with db.engine.connect() as conn:
        return {
            name: conn.scalar(select(func.count()).where(table.c[f"{name}_breached"].is_(True)))
            for name in ("response", "onsite", "resolve")
        }


def test_metrics_count_requests_open_cases_breaches_and_stream_clients(secured, tmp_path):
    # A copy of its own with the SLA scheduler on; a case, then two days later: its deadlines breach.
    with served_clone(secured.name, tmp_path, scheduler_enabled=True) as b, httpx.Client(base_url=b.base_url) as c:
        late = {"category": "noise", "description": "metrics: late", "lon": 117.7552, "lat": 24.6221}
        assert c.post("/api/v1/requests", json=late).status_code == 201
        b.clock.advance(timedelta(days=2))
        deadline = time.monotonic() + 60
        seen = [{}]
        while not (sum(seen[-1].values()) > 0 and seen[-1] == seen[-2:][0]):  # breaches, and settled
            assert time.monotonic() < deadline, "the scheduler marked no breach"
            time.sleep(1)
            seen.append(_breached(b.db))
        _check_metrics(b, c)


def _check_metrics(secured, c: httpx.Client) -> None:
    """Requests and latencies by route, open cases by warning level, breaches, stream clients."""
    token = c.post("/api/v1/auth/token", data={"username": "dispatcher", "password": DEMO_PASSWORD}).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    before = _metrics(c)
    grids = c.get("/api/v1/grids").json()["features"]
    for g in grids[:3]:
        assert c.get(f"/api/v1/grids/{g['id']}").status_code == 200
    assert c.get("/api/v1/grids/987654321").status_code == 404
    case = c.post(
        "/api/v1/requests", json={"category": "noise", "description": "metrics", "lon": 117.7552, "lat": 24.6221}
    ).json()
    after = _metrics(c)

    # Requests and latencies by route template (not by raw path), with the status.
    route = {"method": "GET", "route": "/api/v1/grids/{grid_id}"}
    requests = "neighborgrid_http_requests_total"
    assert _value(after, requests, **route, status="200") - _value(before, requests, **route, status="200") == 3
    assert _value(after, requests, **route, status="404") - _value(before, requests, **route, status="404") == 1
    count = "neighborgrid_http_request_duration_seconds_count"
    assert _value(after, count, **route) - _value(before, count, **route) == 4
    total = "neighborgrid_http_request_duration_seconds_sum"
    assert _value(after, total, **route) > _value(before, total, **route)
    assert not [k for k in after if dict(k[1]).get("route", "").startswith("/api/v1/grids/9")], "raw paths"

    # Open requests by warning level and breached deadlines: the database's own counts.
    with secured.db.engine.connect() as conn:
        table = ServiceRequest.__table__
        open_statuses = ("reported", "accepted", "dispatched", "on_site", "reopened")
        status_text = func.lower(table.c.status)
        rows = conn.execute(
            select(table.c.warning_level, func.count())
            .where(status_text.in_(open_statuses))
            .group_by(table.c.warning_level)
        ).all()
        by_level = {str(getattr(level, "value", level)).lower(): n for level, n in rows}
    breached = _breached(secured.db)
    assert sum(by_level.values()) > 0 and case["warning_level"] in by_level
    for level in ("blue", "yellow", "orange", "red"):
        assert _value(after, "neighborgrid_open_requests", warning_level=level) == by_level.get(level, 0), level
    assert (
        _value(after, "neighborgrid_open_requests", warning_level=case["warning_level"])
        == _value(before, "neighborgrid_open_requests", warning_level=case["warning_level"]) + 1
    )
    for name, n in breached.items():
        assert _value(after, "neighborgrid_sla_breaches", deadline=name) == n, name

    # Event-stream clients: one while a stream is open, none after.
    assert _value(after, "neighborgrid_event_stream_clients") == 0
    with c.stream("GET", "/api/v1/events", headers=bearer) as stream:
        assert stream.status_code == 200
        assert _value(_metrics(c), "neighborgrid_event_stream_clients") == 1
    deadline = time.monotonic() + 10
    while _value(_metrics(c), "neighborgrid_event_stream_clients") != 0:
        assert time.monotonic() < deadline, "the closed stream is still counted"
        time.sleep(0.2)


# -- backup and restore ----------------------------------------------------------------------------------


def _cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"NEIGHBORGRID_DATABASE_URL": url, "NEIGHBORGRID_SECRET_KEY": "x" * 64, "COLUMNS": "200"}
    done = subprocess.run([*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _plain(value):
    """A value as both drivers can agree on: aware datetimes in UTC, Decimals as floats."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def table_rows(url: str) -> dict[str, list[tuple]]:
    """Every data table of the database at ``url``, read with plain SQL, geometries as WKB."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        engine.dispose()
        engine = Database.from_settings(make_settings(url)).engine  # SpatiaLite loaded
    try:
        names = set(inspect(engine).get_table_names()) - ENGINE_TABLES
        names = {n for n in names if not n.startswith(("idx_", "sql_", "virts_", "views_", "vector_", "spatial"))}
        names -= {n for n in names if n.endswith(("_geometry_columns", "_statistics", "_auth", "_field_infos"))}
        known = set(Base.metadata.tables)
        assert names <= known, f"tables the comparison does not know: {sorted(names - known)}"
        out = {}
        with engine.connect() as conn:
            for name in sorted(known):
                table = Base.metadata.tables[name]
                columns = [
                    func.ST_AsBinary(c).label(c.name) if isinstance(c.type, Geometry) else c for c in table.columns
                ]
                query = select(*columns).order_by(*table.primary_key.columns)
                out[name] = [tuple(_plain(v) for v in row) for row in conn.execute(query)]
        return out
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("target", BACKENDS)
def test_backup_restores_every_table_into_an_empty_database(secured, target, tmp_path):
    with httpx.Client(base_url=secured.base_url, timeout=60) as c:  # some activity beyond the demo
        admin = c.post("/api/v1/auth/token", data={"username": ROLE_USERS["admin"], "password": DEMO_PASSWORD})
        bearer = {"Authorization": f"Bearer {admin.json()['access_token']}"}
        case = c.post(
            "/api/v1/requests",
            json={
                "category": "noise",
                "description": "备份 ✓",
                "lon": 117.7552,
                "lat": 24.6221,
                "reporter_phone": "13800001111",
            },
        ).json()
        assert c.post(
            f"/api/v1/requests/{case['id']}/transitions", json={"action": "accept"}, headers=bearer
        ).is_success
    source_url = secured.settings.database_url
    backup = tmp_path / "backup.zip"
    _cli(source_url, "backup", str(backup))
    expected = table_rows(source_url)
    assert expected["requests"] and expected["audit_log"] and expected["grids"]
    with spatialite_url(tmp_path) if target == "spatialite" else postgis_url() as target_url:
        done = _cli(target_url, "restore", str(backup))
        assert "restored" in done.stdout + done.stderr
        restored = table_rows(target_url)
        for name, rows in expected.items():
            assert len(restored[name]) == len(rows), name
            assert restored[name] == rows, f"table {name} differs after the restore"
        # A second restore into the now full database is refused and changes nothing.
        env = os.environ | {"NEIGHBORGRID_DATABASE_URL": target_url, "NEIGHBORGRID_SECRET_KEY": "x" * 64}
        again = subprocess.run([*CLI, "restore", str(backup)], cwd=ROOT, env=env, capture_output=True, text=True)
        assert again.returncode == 2 and "not empty" in again.stdout + again.stderr
        assert table_rows(target_url)["requests"] == expected["requests"]
