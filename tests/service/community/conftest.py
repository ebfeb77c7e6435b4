"""Fixtures for the community-life tests: the demo's facts; the clock, clients, ``api`` and
``town`` are the shared ones (tests/support/fixtures.py)."""

from __future__ import annotations

import pytest

from tests.service.community.support import Demo


@pytest.fixture(scope="session")
def demo(backend) -> Demo:
    return Demo.load(backend)
