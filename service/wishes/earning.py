"""A fulfilled wish as a points source: its claimant earns when the grid's staff confirm it.

Registered with ``service.points.sources.register_source`` by ``service.wiring.connect_domains``,
so the points package never imports wishes (wishes sits above points)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.auth.models import User
from service.common.errors import Conflict, Forbidden, Invalid, NotFound
from service.community.people import may_act_in_grid
from service.points.models import PointsEntry
from service.points.sources import Earning, Source
from service.volunteers.models import Volunteer
from service.wishes.models import WISH_CATEGORIES, Wish, WishStatus


def wish_source(session: Session, data: Earning, volunteer: Volunteer, user: User, now: datetime) -> Source:
    """The wish ``data.source_id``, fulfilled by ``volunteer``; the wish records the points it earned."""
    wish = session.get(Wish, data.source_id)
    if wish is None:
        raise NotFound(f"no wish with id {data.source_id}", field="source_id")
    if not may_act_in_grid(session, user, wish.grid_id):
        raise Forbidden("grid workers confirm service only in their own grids")
    if wish.claimant_volunteer_id != volunteer.id:
        raise Invalid(f"wish {wish.id} was not claimed by volunteer {volunteer.id}", field="volunteer_id")
    if wish.status not in (WishStatus.FULFILLED, WishStatus.CONFIRMED):
        raise Conflict(f"wish {wish.id} is {wish.status.value}; it earns once fulfilled", field="source_id")

    def credited(entry: PointsEntry) -> None:
        wish.points_awarded = entry.amount

    return Source(
        kind=data.kind or WISH_CATEGORIES[wish.category][2],
        hours=data.hours or wish.hours,
        grid_id=wish.grid_id,
        community_id=wish.community_id,
        credited=credited,
    )
