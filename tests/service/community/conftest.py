"""Fixtures for the community-life tests: demo facts, clients per demo user, the town's geography."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.community.support import Demo
from tests.service.requests.api import Api
from tests.service.requests.geodata import Town


@pytest.fixture(scope="session")
def demo(backend) -> Demo:
    return Demo.load(backend)


@pytest.fixture(scope="session")
def life_clients(backend) -> Iterator[dict]:
    pool: dict = {}
    yield pool
    Api(backend, pool).close()


@pytest.fixture
def api(backend, life_clients) -> Iterator[Api]:
    """The served app; requests a test creates are settled when it ends (volunteers' loads)."""
    client = Api(backend, life_clients)
    yield client
    client.settle()


@pytest.fixture(scope="session")
def life_town(backend) -> Town:
    return Town.load(backend)
