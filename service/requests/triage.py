"""The dispatcher's triage queue: the ranking rule, and the query that pages through it.

**The rule** (``urgency``), in one place: severity × lateness::

    urgency = 10 ** rank(warning_level) × lateness(minutes overdue)

* ``rank``: blue 0, yellow 1, orange 2, red 3 (the case's stored colour, which the scheduler keeps
  up to date with severity, impact and time pressure: ``sla.warning_level``);
* minutes overdue are counted against the case's *earliest running deadline*
  (``sla.running_deadlines``: response until accepted, on site until arrival, resolve until
  resolved; an open case that runs none, e.g. reopened after resolution, is counted against its
  resolve deadline). Negative means not yet due;
* ``lateness`` lies in [1, 10), so the level always comes first and a higher level outranks any
  lower one whatever the times (a red case overdue 5 minutes outranks a blue one overdue 3 days):

  - overdue by ``m ≥ 0`` minutes: ``5.5 + 4.5 × m / (m + LATENESS_SCALE_MINUTES)``, in [5.5, 10),
    rising with every minute (half-way to its ceiling after a day);
  - due in ``t > 0`` minutes: ``1 + 4.5 / (1 + t / LATENESS_SCALE_MINUTES)``, in (1, 5.5), higher
    the sooner it is due, so below every overdue case of its level.

Ties (same level, same deadline) are broken by the earlier deadline, then the lower id
(``sort_key``), so a page order is total and paging is stable.

**The query** (``queue``): the open cases the caller may see (``access.visible``), filtered. The
ranking needs "now", so it is done here and not in SQL: the few columns the rule reads are fetched
for *all* matching open cases (at city scale, about 5,000 open cases: a few hundred kilobytes, a
few milliseconds on either backend), ranked in Python, and only the requested page's rows are then
loaded in full. Counts are over all matches, never over the page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from service.areas.models import Area, AreaLevel
from service.auth.models import Role, User
from service.buildings.models import Building
from service.grids.models import Grid
from service.requests import access
from service.requests.models import OPEN_STATUSES, CategoryGroup, RequestCategory, ServiceRequest, WarningLevel
from service.requests.sla import clock_of, running_deadlines

#: Minutes overdue at which a case's lateness is half-way from its floor (5.5) to its ceiling (10).
LATENESS_SCALE_MINUTES = 24 * 60.0
#: How the queue may be ordered: ``urgency`` (this rule), ``due`` (earliest running deadline
#: first), ``created`` (oldest report first).
SORTS = ("urgency", "due", "created")


class Triageable(Protocol):
    """What the rule reads of a case: a ``ServiceRequest`` or a row of its columns."""

    id: int
    warning_level: WarningLevel
    reported_at: datetime
    accepted_at: datetime | None
    on_site_at: datetime | None
    resolved_at: datetime | None
    due_response_at: datetime
    due_onsite_at: datetime
    due_resolve_at: datetime


def due_at(req: Triageable) -> datetime:
    """The deadline the case is ranked against: its earliest running one, else its resolve deadline."""
    running = [due for _name, due in running_deadlines(clock_of(req))]
    return min(running) if running else req.due_resolve_at


def overdue_minutes(req: Triageable, now: datetime) -> float:
    """Minutes past ``due_at`` (negative: minutes until it is due)."""
    return (now - due_at(req)).total_seconds() / 60


def lateness(minutes_overdue: float) -> float:
    """The time factor of the rule, in [1, 10): [5.5, 10) once due, (1, 5.5) before."""
    scale = LATENESS_SCALE_MINUTES
    if minutes_overdue >= 0:
        return 5.5 + 4.5 * minutes_overdue / (minutes_overdue + scale)
    return 1 + 4.5 / (1 - minutes_overdue / scale)


def urgency(req: Triageable, now: datetime) -> float:
    """Severity × lateness: ``10 ** rank(warning_level) × lateness(overdue_minutes)``."""
    return 10.0 ** WarningLevel(req.warning_level).rank * lateness(overdue_minutes(req, now))


def sort_key(req: Triageable, now: datetime) -> tuple[float, datetime, int]:
    """The queue order: most urgent first, then the earlier deadline, then the lower id."""
    return (-urgency(req, now), due_at(req), req.id)


# -- the query ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """What the queue narrows the caller's open cases to; None (or False) is no filter."""

    level: WarningLevel | None = None
    unassigned: bool = False
    outside_coverage: bool | None = None
    grid_id: int | None = None
    community_id: int | None = None
    township: str | None = None
    group: CategoryGroup | None = None
    q: str | None = None


@dataclass(frozen=True)
class Ranked:
    """One case of the page, with the numbers the rule gave it."""

    request: ServiceRequest
    urgency: float
    overdue_minutes: float


@dataclass(frozen=True)
class QueuePage:
    total: int
    counts: dict[str, int]
    items: list[Ranked]
    next_offset: int | None


#: The columns the rule and the counts read (a light row per open case, not the full case).
_COLUMNS = (
    ServiceRequest.id,
    ServiceRequest.warning_level,
    ServiceRequest.grid_id,
    ServiceRequest.reported_at,
    ServiceRequest.accepted_at,
    ServiceRequest.on_site_at,
    ServiceRequest.resolved_at,
    ServiceRequest.due_response_at,
    ServiceRequest.due_onsite_at,
    ServiceRequest.due_resolve_at,
)


def _search(user: User, text: str) -> ColumnElement[bool]:
    """Cases matching ``text``: by id, tracking code, the reporter's phone (exact digits, and only
    for the roles that see reporters) or the address (building name or number, grid name)."""
    text = text.strip()
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = f"%{escaped}%"  # what the user typed, matched literally (no wildcards of theirs)
    building = select(Building.id).where(
        or_(
            func.lower(Building.name_zh).like(like, escape="\\"),
            func.lower(Building.name_en).like(like, escape="\\"),
            func.lower(Building.number).like(like, escape="\\"),
        )
    )
    grid = select(Grid.id).where(
        or_(func.lower(Grid.name_zh).like(like, escape="\\"), func.lower(Grid.name_en).like(like, escape="\\"))
    )
    terms: list[ColumnElement[bool]] = [
        ServiceRequest.tracking_code == text.upper(),
        ServiceRequest.building_id.in_(building.scalar_subquery()),
        ServiceRequest.grid_id.in_(grid.scalar_subquery()),
    ]
    if text.isdigit():
        if int(text) < 2**31:
            terms.append(ServiceRequest.id == int(text))
        if user.role in (Role.DISPATCHER, Role.ADMIN):
            terms.append(ServiceRequest.reporter_phone == text)
    return or_(*terms)


def _matching(session: Session, user: User, f: QueueFilter) -> Select:
    query = select(*_COLUMNS).where(access.visible(session, user), ServiceRequest.status.in_(OPEN_STATUSES))
    if f.level is not None:
        query = query.where(ServiceRequest.warning_level == f.level)
    if f.unassigned:
        query = query.where(ServiceRequest.grid_id.is_(None))
    if f.outside_coverage is not None:
        query = query.where(ServiceRequest.outside_coverage.is_(f.outside_coverage))
    if f.grid_id is not None:
        query = query.where(ServiceRequest.grid_id == f.grid_id)
    if f.community_id is not None:
        query = query.where(ServiceRequest.community_id == f.community_id)
    if f.township is not None:
        township = select(Area.id).where(Area.code == f.township, Area.level == AreaLevel.TOWNSHIP)
        communities = select(Area.id).where(Area.parent_id.in_(township.scalar_subquery()))
        query = query.where(ServiceRequest.community_id.in_(communities.scalar_subquery()))
    if f.group is not None:
        kinds = select(RequestCategory.id).where(RequestCategory.group == f.group)
        query = query.where(ServiceRequest.category_id.in_(kinds.scalar_subquery()))
    if f.q:
        query = query.where(_search(user, f.q))
    return query


def queue(
    session: Session, *, user: User, where: QueueFilter, sort: str, limit: int, offset: int, now: datetime
) -> QueuePage:
    """One page of ``user``'s open cases in ``sort`` order, with the total and counts of all matches."""
    rows = list(session.execute(_matching(session, user, where)).all())
    levels = Counter(WarningLevel(r.warning_level).value for r in rows)
    counts = {level.value: levels.get(level.value, 0) for level in reversed(WarningLevel)}
    counts["overdue"] = sum(overdue_minutes(r, now) >= 0 for r in rows)
    counts["unassigned"] = sum(r.grid_id is None for r in rows)
    if sort == "due":
        rows.sort(key=lambda r: (due_at(r), r.id))
    elif sort == "created":
        rows.sort(key=lambda r: (r.reported_at, r.id))
    else:
        rows.sort(key=lambda r: sort_key(r, now))
    page = rows[offset : offset + limit]
    full = {r.id: r for r in session.scalars(select(ServiceRequest).where(ServiceRequest.id.in_([p.id for p in page])))}
    items = [Ranked(full[p.id], round(urgency(p, now), 6), round(overdue_minutes(p, now), 1)) for p in page]
    more = offset + limit < len(rows)
    return QueuePage(total=len(rows), counts=counts, items=items, next_offset=offset + limit if more else None)
