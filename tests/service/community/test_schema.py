"""The community-life schema on both backends: the wishes' spatial index, the ledger's append-only
triggers (also after ``load-demo --replace`` empties it), and the demo shifted to the load time."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from service import migrate
from service.config import Settings
from service.db import Database
from service.points.models import EntryKind, PointsEntry
from service.points.purge import purge_ledger
from service.volunteers.models import Volunteer
from service.wishes.models import Wish, WishStatus
from tests.support.databases import postgis_url, spatialite_url


def test_wish_locations_have_a_spatial_index(backend):
    with backend.db.engine.connect() as conn:
        if backend.name == "spatialite":
            enabled = conn.scalar(
                text("SELECT spatial_index_enabled FROM geometry_columns WHERE f_table_name = 'wishes'")
            )
            assert enabled == 1
        else:
            assert conn.scalar(text("SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_wishes_location'")) == 1


def test_the_demo_is_shifted_to_the_load_time(backend):
    """Positions are hours old, live claims have not expired, and some households are overdue."""
    with backend.db.reader() as s:
        newest = s.scalar(select(func.max(Volunteer.position_at)).where(Volunteer.ref.is_not(None)))
        claims = list(s.scalars(select(Wish).where(Wish.status == WishStatus.CLAIMED, Wish.ref.is_not(None))))
        first_entry = s.scalar(select(func.min(PointsEntry.at)))
    now = datetime.now(UTC)
    assert timedelta(0) <= now - newest < timedelta(hours=4)
    assert claims and all(w.claim_expires_at > w.claimed_at for w in claims)
    assert now - first_entry < timedelta(days=200)


@pytest.fixture(params=["spatialite", "postgis"])
def bare_db(request, tmp_path):
    """A migrated database without the demo (fast)."""
    with ExitStack() as stack:
        url = stack.enter_context(spatialite_url(tmp_path) if request.param == "spatialite" else postgis_url())
        db = Database.from_settings(Settings(database_url=url))
        stack.callback(db.dispose)
        migrate.upgrade(db.engine)
        yield db


def test_purging_the_ledger_keeps_it_append_only(bare_db):
    with bare_db.transaction() as s:
        v = Volunteer(name_zh="测试", skills=[], on_duty=False)
        s.add(v)
        s.flush()
        s.add(PointsEntry(at=datetime.now(UTC), volunteer_id=v.id, kind=EntryKind.EARN, amount=5, actor="test"))
    with pytest.raises(Exception, match="append-only"), bare_db.transaction() as s:
        s.execute(text("DELETE FROM points_ledger"))
    with bare_db.transaction() as s:
        purge_ledger(s)  # load-demo --replace, inside its own transaction
    with bare_db.reader() as s:
        assert s.scalar(select(func.count()).select_from(PointsEntry)) == 0
    with bare_db.transaction() as s:
        s.add(PointsEntry(at=datetime.now(UTC), volunteer_id=v.id, kind=EntryKind.EARN, amount=7, actor="test"))
    for statement in ("UPDATE points_ledger SET amount = 0", "DELETE FROM points_ledger"):
        with pytest.raises(Exception, match="append-only"), bare_db.transaction() as s:
            s.execute(text(statement))
    # A purge that fails half-way leaves the triggers in place (it is one transaction).
    with pytest.raises(RuntimeError), bare_db.transaction() as s:
        purge_ledger(s)
        raise RuntimeError("load failed")
    with bare_db.reader() as s:
        assert s.scalar(select(func.sum(PointsEntry.amount))) == 7
    with pytest.raises(Exception, match="append-only"), bare_db.transaction() as s:
        s.execute(text("DELETE FROM points_ledger"))
