"""Fixtures the request, community-life and browser tests share: the movable clock, HTTP clients
per demo user kept for the session, an ``Api`` that settles the requests a test created, and the
town as the API reports it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.requests.api import Api
from tests.support.clock import TestClock
from tests.support.town import Town


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
    """The served app for one test; the requests it creates are settled when the test ends, so
    volunteers' loads do not pile up."""
    client = Api(backend, clients)
    yield client
    client.settle()


@pytest.fixture(scope="session")
def town(backend) -> Town:
    """Grids, buildings, workers, volunteers and categories as the API reports them (read once)."""
    return Town.of(backend)
