"""Confirming that a volunteer earned points for a source: a request handled, a wish fulfilled, an
event attended. Grid workers (party branch secretaries and group leaders in our practice) confirm
sources in their own grids; dispatchers and admins confirm any.

Each source type has a resolver that checks the source and says what it earns. Requests and
community events are resolved here; a domain above points (wishes) registers its own resolver with
:func:`register_source` from ``service.wiring.connect_domains``, so points never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from service.auth.models import User
from service.common.errors import Conflict, Forbidden, Invalid, NotFound
from service.community.people import may_act_in_community, may_act_in_grid
from service.points.ledger import earn
from service.points.models import CommunityEvent, PointsEntry, SourceType
from service.points.rules import SKILL_KIND
from service.requests.models import ServiceRequest, Status
from service.volunteers.models import Volunteer

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


@dataclass(frozen=True)
class Source:
    """What a checked source earns: the service's kind and duration and where it took place;
    ``credited`` (if any) is told the entry once it is written."""

    kind: str
    hours: float
    grid_id: int | None
    community_id: int | None
    credited: Callable[[PointsEntry], None] | None = None


#: Checks a source for the volunteer and the confirming user, raising a DomainError when it may not earn.
SourceResolver = Callable[[Session, Earning, Volunteer, User, datetime], Source]

_RESOLVERS: dict[SourceType, SourceResolver] = {}


def register_source(source_type: SourceType, resolver: SourceResolver) -> None:
    """Let ``resolver`` check sources of ``source_type`` (registering again replaces it)."""
    _RESOLVERS[source_type] = resolver


def _request_source(session: Session, data: Earning, volunteer: Volunteer, user: User, now: datetime) -> Source:
    req = session.get(ServiceRequest, data.source_id)
    if req is None:
        raise NotFound(f"no request with id {data.source_id}", field="source_id")
    if not may_act_in_grid(session, user, req.grid_id):
        raise Forbidden("grid workers confirm service only in their own grids")
    if req.volunteer_id != volunteer.id:
        raise Invalid(f"request {req.id} was not handled by volunteer {volunteer.id}", field="volunteer_id")
    if req.status not in HANDLED:
        raise Conflict(f"request {req.id} is {req.status.value}; it earns once resolved", field="source_id")
    kind = data.kind or SKILL_KIND.get(req.category.skill, "general")
    if data.hours is None:
        raise Invalid("hours is required for a request (how long the service took)", field="hours")
    return Source(kind=kind, hours=data.hours, grid_id=req.grid_id, community_id=req.community_id)


def _event_source(session: Session, data: Earning, volunteer: Volunteer, user: User, now: datetime) -> Source:
    event = session.get(CommunityEvent, data.source_id)
    if event is None:
        raise NotFound(f"no community event with id {data.source_id}", field="source_id")
    if not (may_act_in_grid(session, user, event.grid_id) or may_act_in_community(session, user, event.community_id)):
        raise Forbidden("grid workers confirm attendance only in their own community")
    if event.starts_at > now:
        raise Conflict(f"event {event.id} has not started yet", field="source_id")
    return Source(
        kind=data.kind or event.service_kind,
        hours=data.hours or event.hours,
        grid_id=event.grid_id,
        community_id=event.community_id,
    )


register_source(SourceType.REQUEST, _request_source)
register_source(SourceType.EVENT, _event_source)


def confirm_earning(session: Session, *, data: Earning, user: User, now: datetime) -> PointsEntry:
    """Check the source and credit its points to the volunteer (once per source)."""
    volunteer = session.get(Volunteer, data.volunteer_id)
    if volunteer is None:
        raise NotFound(f"no volunteer with id {data.volunteer_id}", field="volunteer_id")
    resolver = _RESOLVERS.get(data.source_type)
    if resolver is None:
        raise LookupError(f"no resolver for {data.source_type.value} sources: is connect_domains() called?")
    source = resolver(session, data, volunteer, user, now)
    entry = earn(
        session,
        volunteer_id=volunteer.id,
        source_type=data.source_type,
        source_id=data.source_id,
        hours=source.hours,
        service_kind=source.kind,
        grid_id=source.grid_id,
        community_id=source.community_id,
        actor=user,
        now=now,
        note=data.note,
    )
    if source.credited is not None:
        source.credited(entry)
    return entry
