"""Fixtures for the request tests: an ``Api`` that cleans up after itself, the movable clock, the town."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.requests.api import Api
from tests.service.requests.geodata import Town
from tests.support.clock import TestClock


@pytest.fixture
def clock(backend) -> Iterator[TestClock]:
    """The app's clock; put back to real time when the test ends."""
    yield backend.clock
    backend.clock.reset()


@pytest.fixture(scope="session")
def clients(backend) -> Iterator[dict]:
    """HTTP clients per demo user, kept for the session (each costs about 0.2 s to create)."""
    pool: dict = {}
    yield pool
    Api(backend, pool).close()


@pytest.fixture
def api(backend, clients) -> Iterator[Api]:
    """The served app for one test; the requests it creates are settled when the test ends."""
    client = Api(backend, clients)
    yield client
    client.settle()


@pytest.fixture(scope="session")
def town(backend) -> Town:
    """Grids, buildings, workers, volunteers and categories as the API reports them (read once)."""
    return Town.load(backend)
