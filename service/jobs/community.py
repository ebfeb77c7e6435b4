"""The community-life part of the scheduler tick (run by ``service.jobs.loop`` on every
worker): claims that ran out go back to the open list, and key households that became overdue are
announced. Like the deadline tick, it works from data in the database, one short transaction per
row guarded by the row's version, so several workers racing change each row once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm.exc import StaleDataError

from service.db import Database
from service.households.service import flag_overdue
from service.wishes.models import Wish
from service.wishes.service import expire_claim, open_ids_past_claim


@dataclass
class CommunityTick:
    claims_expired: int = 0
    households_overdue: int = 0


def expire_wish_claims(db: Database, *, now: datetime) -> int:
    with db.reader() as session:
        ids = open_ids_past_claim(session, now)
    expired = 0
    for wish_id in ids:
        try:
            with db.transaction() as session:
                wish = session.get(Wish, wish_id)
                if wish is not None and expire_claim(session, wish, now):
                    session.flush()
                    expired += 1
        except StaleDataError:
            continue  # the claimant fulfilled or released it meanwhile, or another worker expired it
    return expired


def community_tick(db: Database, *, now: datetime) -> CommunityTick:
    return CommunityTick(
        claims_expired=expire_wish_claims(db, now=now),
        households_overdue=flag_overdue(db, now=now),
    )
