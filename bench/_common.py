"""Shared helpers for the benchmark scripts: demo data, random points, percentiles, tables, fresh
databases and free ports."""

from __future__ import annotations

import json
import os
import platform
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "fixtures" / "demo"


def features(name: str) -> list[dict[str, Any]]:
    """The features of one demo GeoJSON file."""
    with (DEMO_DIR / name).open(encoding="utf-8") as fh:
        return json.load(fh)["features"]


def township() -> BaseGeometry:
    """The demo township's outline (the area of level ``township``)."""
    outlines = [shape(f["geometry"]) for f in features("areas.geojson") if f["properties"]["level"] == "township"]
    if len(outlines) != 1:
        raise RuntimeError(f"expected one township in the demo, found {len(outlines)}")
    return outlines[0]


def points_in(polygon: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform random lon/lat points inside ``polygon`` (rejection sampling), shape (n, 2)."""
    import shapely

    minx, miny, maxx, maxy = polygon.bounds
    shapely.prepare(polygon)
    out = np.empty((0, 2))
    while len(out) < n:
        batch = np.column_stack([rng.uniform(minx, maxx, 2 * n), rng.uniform(miny, maxy, 2 * n)])
        inside = shapely.contains_xy(polygon, batch[:, 0], batch[:, 1])
        out = np.vstack([out, batch[inside]])
    return out[:n]


def pct(values, q: float) -> float:
    """The q-th percentile (0-100) of ``values``; nan when there are none."""
    values = np.asarray(values, dtype=float)
    return float(np.percentile(values, q)) if len(values) else float("nan")


def table(rows: list[tuple], header: tuple, *, inf_text: str = "inf") -> str:
    """A plain-text table with columns padded to fit (numbers right-aligned, infinity as ``inf_text``)."""
    cells = [tuple(str(c) for c in header)] + [tuple(_fmt(c, inf_text) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for k, r in enumerate(cells):
        parts = []
        for i, c in enumerate(r):
            numeric = k > 0 and isinstance(rows[k - 1][i], int | float)
            parts.append(c.rjust(widths[i]) if numeric else c.ljust(widths[i]))
        lines.append("  ".join(parts).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value, inf_text: str = "inf") -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        if value == float("inf"):
            return inf_text
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 0.01 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine() -> str:
    """One line describing where the figures were measured."""
    python = f"{platform.python_implementation()} {platform.python_version()}"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{python}, {os.cpu_count()} CPUs, {platform.machine()}, load average {load}; code {code_version()}"


def code_version() -> str:
    """The checked-out commit, marked ``+dirty`` when tracked files have uncommitted changes."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


# -- databases and ports for served runs ----------------------------------------------------------

DEFAULT_POSTGIS_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def fresh_database(backend: str, tmp: Path, *, server_url: str | None = None) -> Iterator[str]:
    """A new, empty spatial database URL; a PostGIS one (on ``server_url``, else
    ``NEIGHBORGRID_BENCH_POSTGIS_URL``) is dropped when the block ends."""
    if backend == "spatialite":
        yield f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(server_url or os.environ.get("NEIGHBORGRID_BENCH_POSTGIS_URL", DEFAULT_POSTGIS_SERVER))
    if server.drivername == "postgresql":
        server = server.set(drivername="postgresql+psycopg")
    # pre-ping: a run may restart the server between CREATE and DROP
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    name = f"ng_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name)
    try:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        engine.dispose()
        yield url.render_as_string(hide_password=False)
    finally:
        _drop(admin, name, text)


def _drop(admin, name: str, text) -> None:
    """Drop the benchmark database; a few tries on fresh connections (the server may have restarted),
    then a warning naming it rather than an exception that would swallow the figures."""
    for attempt in range(3):
        admin.dispose()  # never reuse a pooled connection the server may have closed
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            break
        except Exception as exc:  # the figures are still worth printing
            if attempt == 2:
                print(f"WARNING: could not drop database {name!r} ({exc.__class__.__name__}); drop it by hand")
            time.sleep(2)
    admin.dispose()


def free_port() -> int:
    """A free TCP port on loopback for a served run."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
