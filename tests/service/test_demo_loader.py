"""The demo loader is all-or-nothing and checks grid codes against the configured pattern."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from sqlalchemy import func, select

from service.areas.models import Area
from service.bootstrap import prepare_database
from service.config import Settings
from service.db import Database
from service.demo.loader import is_empty, load_demo
from service.grids.service import GridCodeError
from tests.support.databases import postgis_url, spatialite_url


@pytest.fixture(params=["spatialite", "postgis"])
def empty_db(request, tmp_path):
    with ExitStack() as stack:
        url = stack.enter_context(spatialite_url(tmp_path) if request.param == "spatialite" else postgis_url())
        db = Database.from_settings(Settings(database_url=url))
        stack.callback(db.dispose)
        prepare_database(db)
        yield db


def test_a_grid_code_outside_the_configured_layout_loads_nothing(empty_db):
    settings = Settings()
    with pytest.raises(GridCodeError, match="does not match"), empty_db.transaction() as session:
        load_demo(session, settings=settings.model_copy(update={"grid_code_pattern": r"^\d{20}$"}))
    with empty_db.reader() as session:
        assert is_empty(session)
        assert session.scalar(select(func.count()).select_from(Area)) == 0
