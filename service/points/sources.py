"""Confirming that a volunteer earned points for a source: a request handled, a wish fulfilled, an
event attended. Grid workers (party branch secretaries and group leaders in our practice) confirm
sources in their own grids; dispatchers and admins confirm any."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from service.auth.models import User
from service.community.people import may_act_in_community, may_act_in_grid
from service.points.ledger import PointsError, earn
from service.points.models import CommunityEvent, PointsEntry, SourceType
from service.points.rules import SKILL_KIND
from service.requests.models import ServiceRequest, Status
from service.volunteers.models import Volunteer
from service.wishes.models import WISH_CATEGORIES, Wish, WishStatus

#: A request's volunteer earns once the work is done.
HANDLED = frozenset({Status.RESOLVED, Status.VERIFIED, Status.EVALUATED, Status.CLOSED})


@dataclass
class Earning:
    volunteer_id: int
    source_type: SourceType
    source_id: int
    hours: float | None = None
    kind: str | None = None
    note: str | None = None


def confirm_earning(session: Session, *, data: Earning, user: User, now: datetime) -> PointsEntry:
    volunteer = session.get(Volunteer, data.volunteer_id)
    if volunteer is None:
        raise PointsError(404, f"no volunteer with id {data.volunteer_id}", "volunteer_id")
    if data.source_type is SourceType.REQUEST:
        req = session.get(ServiceRequest, data.source_id)
        if req is None:
            raise PointsError(404, f"no request with id {data.source_id}", "source_id")
        if not may_act_in_grid(session, user, req.grid_id):
            raise PointsError(403, "grid workers confirm service only in their own grids")
        if req.volunteer_id != volunteer.id:
            raise PointsError(422, f"request {req.id} was not handled by volunteer {volunteer.id}", "volunteer_id")
        if req.status not in HANDLED:
            raise PointsError(409, f"request {req.id} is {req.status.value}; it earns once resolved", "source_id")
        kind = data.kind or SKILL_KIND.get(req.category.skill, "general")
        hours, grid_id, community_id = data.hours, req.grid_id, req.community_id
        if hours is None:
            raise PointsError(422, "hours is required for a request (how long the service took)", "hours")
    elif data.source_type is SourceType.WISH:
        wish = session.get(Wish, data.source_id)
        if wish is None:
            raise PointsError(404, f"no wish with id {data.source_id}", "source_id")
        if not may_act_in_grid(session, user, wish.grid_id):
            raise PointsError(403, "grid workers confirm service only in their own grids")
        if wish.claimant_volunteer_id != volunteer.id:
            raise PointsError(422, f"wish {wish.id} was not claimed by volunteer {volunteer.id}", "volunteer_id")
        if wish.status not in (WishStatus.FULFILLED, WishStatus.CONFIRMED):
            raise PointsError(409, f"wish {wish.id} is {wish.status.value}; it earns once fulfilled", "source_id")
        kind = data.kind or WISH_CATEGORIES[wish.category][2]
        hours, grid_id, community_id = data.hours or wish.hours, wish.grid_id, wish.community_id
    else:
        event = session.get(CommunityEvent, data.source_id)
        if event is None:
            raise PointsError(404, f"no community event with id {data.source_id}", "source_id")
        if not (
            may_act_in_grid(session, user, event.grid_id) or may_act_in_community(session, user, event.community_id)
        ):
            raise PointsError(403, "grid workers confirm attendance only in their own community")
        if event.starts_at > now:
            raise PointsError(409, f"event {event.id} has not started yet", "source_id")
        kind = data.kind or event.service_kind
        hours, grid_id, community_id = data.hours or event.hours, event.grid_id, event.community_id
    entry = earn(
        session,
        volunteer_id=volunteer.id,
        source_type=data.source_type,
        source_id=data.source_id,
        hours=hours,
        service_kind=kind,
        grid_id=grid_id,
        community_id=community_id,
        actor=user,
        now=now,
        note=data.note,
    )
    if data.source_type is SourceType.WISH:
        wish.points_awarded = entry.amount
    return entry
