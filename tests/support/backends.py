"""The ``backend`` fixture: the whole app, for real, on SpatiaLite and on PostGIS.

Per backend and test session: a fresh database, migrated by Alembic, the demo loaded by the same
loader ``neighborgrid load-demo`` uses, and the app served over real HTTP on a loopback port.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
import pytest

from service.app import create_app
from service.bootstrap import prepare_database
from service.config import Settings
from service.db import Database
from service.demo.loader import load_demo
from tests.support.clock import TestClock
from tests.support.databases import postgis_url, spatialite_url
from tests.support.server import ServerThread

DEMO_PASSWORD = "demo-password-for-tests"
BACKENDS = ["spatialite", "postgis"]


@dataclass
class Backend:
    name: str
    settings: Settings
    db: Database
    base_url: str
    clock: TestClock
    _tokens: dict[str, str] = field(default_factory=dict)

    def client(self, username: str | None = None) -> httpx.Client:
        """An HTTP client for the served app, signed in as ``username`` when given."""
        headers = {"Authorization": f"Bearer {self.token(username)}"} if username else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def token(self, username: str, password: str = DEMO_PASSWORD) -> str:
        if username not in self._tokens:
            with httpx.Client(base_url=self.base_url, timeout=30) as c:
                r = c.post("/api/v1/auth/token", data={"username": username, "password": password})
                r.raise_for_status()
                self._tokens[username] = r.json()["access_token"]
        return self._tokens[username]


def make_settings(url: str, **overrides) -> Settings:
    values = {
        "database_url": url,
        "demo_password": DEMO_PASSWORD,
        "secret_key": "test-secret-key-0123456789abcdef" * 2,
        "sla_tick_seconds": 0.2,
        "events_poll_seconds": 3.0,
        # The shared test apps serve many tests from one IP: limits and lockouts are tested on
        # apps of their own (tests/service/test_limits.py).
        "login_rate_per_ip": 0,
        "intake_rate_per_ip": 0,
        "code_lookups_per_ip_minute": 0,
        "code_misses_per_ip_hour": 0,
        "photo_uploads_per_ip_hour": 0,
        "photo_bytes_per_ip_hour": 0,
        "login_max_failures": 10_000,
        # Tests move the clock by days and months: demo positions must keep counting for the
        # nearest-volunteer choice (the production default forgets positions after a 12-hour shift).
        "volunteer_position_max_age_minutes": None,
    }
    return Settings(**(values | overrides))


def serve(stack: ExitStack, settings: Settings, db: Database, clock: TestClock) -> str:
    """Serve an app on ``db`` until the stack closes; returns its base URL."""
    server = ServerThread(create_app(settings, database=db, clock=clock)).start()
    stack.callback(server.stop)
    return server.base_url


def start_backend(name: str, stack: ExitStack, tmp_dir, **overrides) -> Backend:
    """A fresh database of kind ``name`` with the demo loaded, served over HTTP."""
    url = stack.enter_context(spatialite_url(tmp_dir) if name == "spatialite" else postgis_url())
    settings = make_settings(url, **({"media_dir": tmp_dir / "media"} | overrides))
    db = Database.from_settings(settings)
    stack.callback(db.dispose)
    prepare_database(db)
    with db.transaction() as session:
        load_demo(session, settings=settings)
    clock = TestClock()
    base_url = serve(stack, settings, db, clock)
    return Backend(name=name, settings=settings, db=db, base_url=base_url, clock=clock)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request, tmp_path_factory) -> Iterator[Backend]:
    """Each test using this runs once on SpatiaLite and once on PostGIS."""
    with ExitStack() as stack:
        b = start_backend(request.param, stack, tmp_path_factory.mktemp(request.param))
        yield b
        b.clock.reset()


@pytest.fixture(params=BACKENDS)
def private_backend(request, tmp_path) -> Iterator[Backend]:
    """Like ``backend`` but a database of the test's own, with the in-app scheduler off, for tests
    that move time for every request or restart the app."""
    with ExitStack() as stack:
        yield start_backend(request.param, stack, tmp_path, scheduler_enabled=False)


@pytest.fixture
def anon(backend: Backend) -> Iterator[httpx.Client]:
    with backend.client() as c:
        yield c
