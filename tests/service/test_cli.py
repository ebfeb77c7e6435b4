"""The neighborgrid command on fresh databases of both kinds: migrate, load-demo (once), create-user."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack

import pytest
from sqlalchemy import create_engine, func, select

from service.auth.models import User
from service.demo.loader import DEMO_USERS
from service.grids.models import Grid
from tests.support.databases import postgis_url, spatialite_url


@pytest.fixture(params=["spatialite", "postgis"])
def fresh_url(request, tmp_path):
    with ExitStack() as stack:
        yield stack.enter_context(spatialite_url(tmp_path) if request.param == "spatialite" else postgis_url())


def run_cli(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = os.environ | {"NEIGHBORGRID_DATABASE_URL": url, "NEIGHBORGRID_DEMO_PASSWORD": "cli-demo-pass"}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def count(url: str, model) -> int:
    from service.config import Settings
    from service.db import make_engine

    engine = make_engine(Settings(database_url=url)) if url.startswith("sqlite") else create_engine(url)
    with engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(model))
    engine.dispose()
    return n


def test_load_demo_once_refuses_twice_and_replaces_on_request(fresh_url):
    assert run_cli(fresh_url, "db", "upgrade").returncode == 0
    first = run_cli(fresh_url, "load-demo")
    assert first.returncode == 0, first.stderr
    assert "grids 25" in first.stderr
    assert count(fresh_url, Grid) == 25

    again = run_cli(fresh_url, "load-demo")
    assert again.returncode == 1
    assert "--replace" in again.stderr
    assert count(fresh_url, Grid) == 25

    assert run_cli(fresh_url, "load-demo", "--if-empty").returncode == 0
    replaced = run_cli(fresh_url, "load-demo", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert count(fresh_url, Grid) == 25

    made = run_cli(
        fresh_url,
        "create-user",
        "clerk01",
        "--role",
        "dispatcher",
        "--password-stdin",
        stdin="a-long-password\n",
    )
    assert made.returncode == 0, made.stderr
    bad = run_cli(fresh_url, "create-user", "clerk02", "--role", "dispatcher", "--password-stdin", stdin="short\n")
    assert bad.returncode == 2 and "password" in bad.stderr
    assert count(fresh_url, User) == len(DEMO_USERS) + 1  # the demo accounts + clerk01
