"""Fixtures for the security tests: copies of a demo database loaded once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.harness import BACKENDS, TEMPLATES, DemoTemplates, served_clone
from tests.security.endpoints import Ctx
from tests.support.backends import Backend


@pytest.fixture(scope="session")
def templates() -> Iterator[DemoTemplates]:
    yield TEMPLATES
    TEMPLATES.close()


@pytest.fixture(scope="package", params=BACKENDS)
def secured(request, templates, tmp_path_factory) -> Iterator[Backend]:
    """A copy of the demo served in-process per backend, for the security tests that change
    accounts or data (sign-outs, edits) and so cannot share the session's ``backend``."""
    tmp = tmp_path_factory.mktemp(f"secured-{request.param}")
    with served_clone(request.param, tmp) as b:
        yield b


@pytest.fixture(scope="module")
def ctx(secured) -> Iterator[Ctx]:
    """Signed-in clients of every demo role on the ``secured`` copy, and its subject cases."""
    c = Ctx(secured)
    yield c
    c.close()
