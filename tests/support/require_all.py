"""In CI (``NEIGHBORGRID_REQUIRE_ALL=1``) a skipped test fails the run: PostGIS and browser tests must run."""

from __future__ import annotations

import pytest

from tests.support.databases import require_all


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if not require_all():
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(
            f"NEIGHBORGRID_REQUIRE_ALL=1: {len(skipped)} test(s) were skipped; failing the run", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
