"""Fixtures for the reliability tests: copies of a demo database loaded once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import load_intake as tool
from tests.reliability.harness import TEMPLATES, DemoTemplates, Served
from tests.support.databases import unavailable


@pytest.fixture(scope="session")
def templates() -> Iterator[DemoTemplates]:
    yield TEMPLATES
    TEMPLATES.close()


@pytest.fixture(scope="package")
def pg_server(templates, tmp_path_factory):
    """``neighborgrid serve --workers 2`` on a copy of the demo in PostGIS, shared by the reliability tests
    (each counts its own rows by its own Idempotency-Key prefix and reads its own part of the log)."""
    tmp = tmp_path_factory.mktemp("pg-server")
    with templates.clone("postgis", tmp) as url, tool.serve(url, workers=2, tmp=tmp) as server:
        yield Served(url, server)


@pytest.fixture(scope="package")
def sl_server(templates, tmp_path_factory):
    """The same on a copy of the demo in a SpatiaLite file (the embedded default)."""
    tmp = tmp_path_factory.mktemp("sl-server")
    with templates.clone("spatialite", tmp) as url, tool.serve(url, workers=2, tmp=tmp) as server:
        yield Served(url, server)


@pytest.fixture
def own_cluster_server(templates, tmp_path):
    """``neighborgrid serve --workers 2`` on a copy of the demo in a PostgreSQL cluster of its own
    (``pg_createcluster``, dropped afterwards), which the test may stop and restart: the shared server
    that other tests use is never touched."""
    reason = tool.can_make_clusters()
    if reason:
        unavailable(reason)
    with tool.throwaway_cluster() as cluster:
        url = tool.copy_database(templates.template("postgis"), cluster)
        with tool.serve(url, workers=2, tmp=tmp_path) as server:
            yield Served(url, server)
