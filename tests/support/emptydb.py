"""An empty database (migrated, reference data only) on either backend, and a one-call import into it.

Onboarding starts from nothing, so its tests cannot use the demo-loaded ``backend`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.bootstrap import prepare_database
from service.config import Settings
from service.db import Database
from service.imports.options import ImportOptions
from service.imports.service import run_import, settled
from tests.support.backends import make_settings
from tests.support.databases import postgis_url, spatialite_url


@dataclass
class EmptyCity:
    """A migrated, empty database and its settings."""

    name: str
    settings: Settings
    db: Database

    def load(self, kind: str, data: bytes, filename: str, **options: Any) -> dict[str, Any]:
        """Import ``data`` as ``kind`` and commit (or roll back a dry run / refusal, which raises)."""
        opts = ImportOptions(**({"comment": "test"} | options))
        with self.db.writer() as session, settled(session, dry_run=opts.dry_run):
            report = run_import(
                session,
                kind=kind,
                data=data,
                filename=filename,
                options=opts,
                by="test",
                actor=None,
                now=datetime.now(UTC),
                settings=self.settings,
            )
        return report


@contextmanager
def empty_city(backend: str, tmp_dir: Path, **overrides: Any) -> Iterator[EmptyCity]:
    """A fresh empty database on ``backend`` ("spatialite" or "postgis"), disposed afterwards."""
    with ExitStack() as stack:
        url = stack.enter_context(spatialite_url(tmp_dir) if backend == "spatialite" else postgis_url())
        settings = make_settings(url, **overrides)
        db = Database.from_settings(settings)
        stack.callback(db.dispose)
        prepare_database(db)
        yield EmptyCity(backend, settings, db)
