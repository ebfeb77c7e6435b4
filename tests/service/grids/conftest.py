"""Fixtures for the grid-editing tests.

Tests that accept edits use ``private_backend`` (a fresh database per test), or, for a scenario
split into one test per step, ``scenario_backend`` (a fresh database per module). The validation and
role tests only send edits that must be refused, so they share one fresh database per backend for
this package (``refusing_backend``): never the session's shared demo, which other tests need intact.
The known-bug tests use it too, on department layers that no other test here looks at.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from service.common.gdal import prime_gdal
from tests.support.backends import BACKENDS, Backend, start_backend
from tests.support.town import Town

prime_gdal()  # GDAL before SpatiaLite, or GeoPackage writes in this process crash (service/common/gdal.py)


@pytest.fixture(scope="package", params=BACKENDS)
def refusing_backend(request, tmp_path_factory) -> Iterator[Backend]:
    with ExitStack() as stack:
        yield start_backend(
            request.param, stack, tmp_path_factory.mktemp(f"grids-{request.param}"), scheduler_enabled=False
        )


@pytest.fixture(scope="module", params=BACKENDS)
def scenario_backend(request, tmp_path_factory) -> Iterator[Backend]:
    """A database of the module's own for a scenario whose steps are module-scoped fixtures (each
    test checks one step), with the in-app scheduler off."""
    with ExitStack() as stack:
        yield start_backend(
            request.param, stack, tmp_path_factory.mktemp(f"scenario-{request.param}"), scheduler_enabled=False
        )


@pytest.fixture(scope="package")
def clients(refusing_backend) -> Iterator[dict[str | None, httpx.Client]]:
    """HTTP clients per demo user (None: anonymous) for the module's database."""

    class Pool(dict):
        def __missing__(self, user):
            self[user] = refusing_backend.client(user)
            return self[user]

    pool = Pool()
    yield pool
    for c in pool.values():
        c.close()


@pytest.fixture(scope="package")
def town(refusing_backend, clients) -> Town:
    return Town.load(clients["planner"])
