"""``neighborgrid import`` and ``neighborgrid init`` as an operator runs them, on fresh databases of
both backends: the installed command in a subprocess, no terminal, nothing on stdin.

A city starts from a database that does not even have its schema yet: ``import`` migrates it, the
districts arrive in GCJ-02 (as Amap exports them) and are stored in WGS84; a dry run and a refused
file save nothing; a bad option exits 2 naming it. ``init`` creates the first administrator from a
password file and refuses a second time, and without a terminal or a file it exits 2 at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import Polygon, box
from sqlalchemy import func, select

from service.areas.models import Area
from service.auth.models import Role, User
from service.auth.security import verify_password
from service.config import Settings
from service.db import Database
from service.grids.models import Grid
from service.imports.models import ImportRun
from service.requests.models import RequestCategory
from tests.support.backends import BACKENDS
from tests.support.cityfiles import geojson_bytes, max_offset_m, to_gcj02
from tests.support.databases import postgis_url, spatialite_url

NEIGHBORGRID = str(Path(sys.executable).with_name("neighborgrid"))

#: Two districts side by side east of Zhangzhou (WGS84, exact); the file holds them in GCJ-02.
DISTRICTS = {
    "350625": ("长泰区", shapely.segmentize(box(117.60, 24.55, 117.75, 24.70), 0.01)),
    "350629": ("华安县", shapely.segmentize(box(117.75, 24.55, 117.90, 24.70), 0.01)),
}
GCJ02_FILE = geojson_bytes(
    [{"adcode": code, "name": name, "level": "区县"} for code, (name, _) in DISTRICTS.items()],
    [to_gcj02(geom) for _, geom in DISTRICTS.values()],
)
#: The same districts with two faults: a repeated code and a self-crossing ring.
BOWTIE = Polygon([(117.60, 24.55), (117.75, 24.70), (117.75, 24.55), (117.60, 24.70)])
BAD_FILE = geojson_bytes(
    [{"adcode": "350625", "name": "长泰区"}, {"adcode": "350625", "name": "又一个"}, {"adcode": "350629", "name": "X"}],
    [to_gcj02(DISTRICTS["350625"][1]), to_gcj02(DISTRICTS["350629"][1]), to_gcj02(BOWTIE)],
)
ADMIN_PASSWORD = "first-admin-password"


def neighborgrid(url: str, *args: str) -> subprocess.CompletedProcess:
    """The installed command with no terminal and nothing on stdin (as in CI or a cron job)."""
    env = os.environ | {"NEIGHBORGRID_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run(
        [NEIGHBORGRID, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300
    )


def count(url: str, model: Any, *where: Any) -> int:
    db = Database.from_settings(Settings(database_url=url))
    try:
        with db.reader() as session:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    finally:
        db.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def fresh(request, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A database of the backend with nothing in it, not even the schema, and a folder for files."""
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp(f"cli-{request.param}")
        url = stack.enter_context(spatialite_url(tmp) if request.param == "spatialite" else postgis_url())
        yield url, tmp


# -- import --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imported(fresh) -> dict[str, Any]:
    """Each step's answer and what the database held after it, in the order an operator works."""
    url, tmp = fresh
    good, bad = tmp / "districts_gcj02.geojson", tmp / "districts_broken.geojson"
    good.write_bytes(GCJ02_FILE)
    bad.write_bytes(BAD_FILE)
    steps: dict[str, Any] = {}

    def step(name: str, *args: str) -> None:
        done = neighborgrid(url, "import", *args)
        steps[name] = (done, count(url, Area), count(url, ImportRun))

    step("dry_run", "areas", str(good), "--coord-type", "gcj02", "--dry-run")
    step("refused", "areas", str(bad), "--coord-type", "gcj02", "--comment", "broken export")
    step("bad_option", "areas", str(good), "--coord-type", "mars", "--comment", "x")
    step("no_comment", "areas", str(good), "--coord-type", "gcj02")
    step("saved", "areas", str(good), "--coord-type", "gcj02", "--comment", "districts from Amap")
    step("again", "areas", str(good), "--coord-type", "gcj02", "--comment", "the same file", "--json")
    db = Database.from_settings(Settings(database_url=url))
    with db.reader() as session:
        steps["stored"] = {a.code: (a.name_zh, a.level.value, to_shape(a.geom)) for a in session.scalars(select(Area))}
    db.dispose()
    return steps


def test_a_dry_run_reports_and_saves_nothing(imported):
    done, areas, runs = imported["dry_run"]
    assert done.returncode == 0, done.stderr
    assert "dry run, nothing saved" in done.stdout
    assert "created 2, updated 0, unchanged 0, retired 0" in done.stdout
    assert (areas, runs) == (0, 0)


def test_a_refused_import_exits_1_lists_every_problem_and_saves_nothing(imported):
    done, areas, runs = imported["refused"]
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused, nothing saved" in done.stdout
    assert "2 problem(s)" in done.stdout
    lines = [line for line in done.stdout.splitlines() if line.startswith("problem ")]
    assert any("feature 1 (350625) code duplicate_code" in line for line in lines), done.stdout
    bowtie = next(line for line in lines if "invalid_geometry" in line)
    assert bowtie.startswith("problem feature 2 (350629) geometry invalid_geometry: the polygon is invalid")
    assert "(gcj02) = wgs84 117." in bowtie  # where: in the file's GCJ-02 and in WGS84
    assert (areas, runs) == (0, 0)


def test_a_bad_option_exits_2_naming_the_field(imported):
    done, areas, _ = imported["bad_option"]
    assert done.returncode == 2
    assert done.stderr.startswith("coord_type: "), done.stderr
    assert "Traceback" not in done.stderr
    assert areas == 0


def test_saving_without_a_comment_exits_2_naming_comment(imported):
    done, areas, _ = imported["no_comment"]
    assert done.returncode == 2
    assert done.stderr.startswith("comment: "), done.stderr
    assert areas == 0


def test_the_gcj02_districts_are_saved_in_wgs84_within_1cm(imported):
    done, areas, runs = imported["saved"]
    assert done.returncode == 0, done.stderr
    assert "saved (run " in done.stdout and "crs gcj02" in done.stdout.lower()
    assert "created 2, updated 0, unchanged 0, retired 0" in done.stdout
    assert (areas, runs) == (2, 1)
    stored = imported["stored"]
    assert set(stored) == set(DISTRICTS)
    for code, (name, exact) in DISTRICTS.items():
        assert stored[code][:2] == (name, "district")
        assert max_offset_m(stored[code][2], exact) < 0.01


def test_reimporting_with_json_prints_the_report_and_changes_nothing(imported):
    done, areas, runs = imported["again"]
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["saved"] is True and report["kind"] == "areas"
    assert report["counts"] == {"created": 0, "updated": 0, "unchanged": 2, "retired": 0}
    assert report["problems"] == [] and report["source"]["crs"]
    assert (areas, runs) == (2, 2)


# -- init ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def initialised(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """On each backend's own fresh database: init without a password source, with a short one, with
    a good one, then once more; and what the database held after each."""
    out: dict[str, Any] = {}
    for backend in BACKENDS:
        with ExitStack() as stack:
            tmp = tmp_path_factory.mktemp(f"init-{backend}")
            url = stack.enter_context(spatialite_url(tmp) if backend == "spatialite" else postgis_url())
            short, good = tmp / "short.txt", tmp / "admin-password.txt"
            short.write_text("abc\n", encoding="utf-8")
            good.write_text(f"  {ADMIN_PASSWORD}  \nsecond line is not the password\n", encoding="utf-8")
            steps: dict[str, Any] = {}
            for name, args in (
                ("no_source", ()),
                ("short", ("--admin-password-file", str(short))),
                ("first", ("--admin", "chief", "--admin-password-file", str(good))),
                ("second", ("--admin-password-file", str(good))),
            ):
                done = neighborgrid(url, "init", *args)
                steps[name] = (done, count(url, User))
            db = Database.from_settings(Settings(database_url=url))
            with db.reader() as session:
                steps["users"] = [(u.username, u.role, u.password_hash) for u in session.scalars(select(User))]
                steps["data"] = (
                    session.scalar(select(func.count()).select_from(Area)),
                    session.scalar(select(func.count()).select_from(Grid)),
                    session.scalar(select(func.count()).select_from(RequestCategory)),
                )
            db.dispose()
            out[backend] = steps
    yield out


@pytest.mark.parametrize("backend", BACKENDS)
def test_init_with_no_terminal_and_no_file_exits_2_and_creates_no_one(initialised, backend):
    done, users = initialised[backend]["no_source"]
    assert done.returncode == 2
    assert "--admin-password-file" in done.stderr
    assert users == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_init_refuses_a_password_shorter_than_the_account_rules_allow(initialised, backend):
    done, users = initialised[backend]["short"]
    assert done.returncode == 2
    assert done.stderr.startswith("password: password must have at least 8 characters"), done.stderr
    assert users == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_init_creates_exactly_one_admin_from_the_file_and_nothing_else(initialised, backend):
    steps = initialised[backend]
    done, users = steps["first"]
    assert done.returncode == 0, done.stderr
    assert "administrator chief created" in done.stderr
    assert users == 1
    ((username, role, password_hash),) = steps["users"]
    assert (username, role) == ("chief", Role.ADMIN)
    assert verify_password(ADMIN_PASSWORD, password_hash)  # the first line, stripped
    areas, grids, categories = steps["data"]
    assert (areas, grids) == (0, 0)
    assert categories > 0  # the reference categories requests are filed under


@pytest.mark.parametrize("backend", BACKENDS)
def test_init_refuses_a_second_time(initialised, backend):
    done, users = initialised[backend]["second"]
    assert done.returncode == 1
    assert "already has 1 account" in done.stderr
    assert users == 1
