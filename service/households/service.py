"""The key-household register: who may see which household, the reads (each one audited), the
register and its changes, visits (a need found becomes a request in one step), and the overdue
check the scheduler runs. Functions take a session and keyword arguments and never commit;
refusals are ``DomainError``s."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from geoalchemy2.shape import from_shape
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service.audit.service import audit
from service.auth.models import User
from service.buildings.models import Building
from service.buildings.service import anchor_point
from service.common.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from service.common.geojson import feature
from service.community.people import may_act_in_grid
from service.config import Settings
from service.db import Database
from service.events.outbox import publish
from service.grids.models import GridWorker
from service.households import access
from service.households.models import HouseholdVisit, KeyHousehold
from service.households.schemas import (
    HouseholdIn,
    HouseholdLayer,
    HouseholdOut,
    HouseholdPage,
    HouseholdPatch,
    VisitOut,
    VisitRecorded,
)
from service.requests.intake import IntakeError, NewRequest, create_request
from service.requests.models import Channel
from service.volunteers.models import Volunteer

OVERDUE_TOPIC = "key_household.overdue"
VISITED_TOPIC = "key_household.visited"


def due_at(h: KeyHousehold) -> datetime:
    """When the next visit is due: the last visit (or registration) plus the frequency."""
    return (h.last_visit_at or h.created_at) + timedelta(days=h.visit_every_days)


def is_overdue(h: KeyHousehold, now: datetime) -> bool:
    return h.active and due_at(h) <= now


def read_audit(session: Session, user: User, households: list[KeyHousehold], *, action: str, now: datetime) -> None:
    """Every read of a household is written to the audit log, one entry per household."""
    for h in households:
        audit(session, actor=user, action=f"key_household:{action}", entity="key_household", entity_id=h.id, now=now)


def household_view(h: KeyHousehold, building: Building, now: datetime, *, with_visits: bool = False) -> HouseholdOut:
    """The full record, for those who may see it (never for a map layer)."""
    p = anchor_point(building)
    due = due_at(h)
    overdue = is_overdue(h, now)
    visits = {"visits": [visit_view(v) for v in h.visits]} if with_visits else {}
    return HouseholdOut(
        id=h.id,
        version=h.version,
        building_id=building.id,
        building_name_zh=building.name_zh,
        grid_id=building.grid_id,
        unit_label=h.unit_label,
        head_name=h.head_name,
        phone=h.phone,
        kinds=h.kinds,
        members=h.members,
        notes=h.notes,
        caretaker_worker_id=h.caretaker_worker_id,
        caretaker_volunteer_id=h.caretaker_volunteer_id,
        visit_every_days=h.visit_every_days,
        last_visit_at=h.last_visit_at.isoformat() if h.last_visit_at else None,
        due_at=due.isoformat(),
        overdue=overdue,
        overdue_days=round((now - due).total_seconds() / 86400, 2) if overdue else 0,
        active=h.active,
        lon=round(p.x, 7),
        lat=round(p.y, 7),
        **visits,
    )


def visit_view(v: HouseholdVisit) -> VisitOut:
    return VisitOut.model_validate(
        {"id": v.id, "at": v.at.isoformat(), "visitor": v.visitor, "notes": v.notes, "needs": v.needs}
    )


def building_layer(rows: list[tuple[KeyHousehold, Building]], now: datetime) -> HouseholdLayer:
    """The map layer: one point per building (its entrance), with counts, never a flat or a name."""
    per_building: dict[int, tuple[Building, list[KeyHousehold]]] = {}
    for h, b in rows:
        per_building.setdefault(b.id, (b, []))[1].append(h)
    features = []
    for bid, (b, households) in sorted(per_building.items()):
        overdue = [h for h in households if is_overdue(h, now)]
        props = {
            "building_id": bid,
            "building_name_zh": b.name_zh,
            "building_name_en": b.name_en,
            "grid_id": b.grid_id,
            "households": len(households),
            "overdue": len(overdue),
            "kinds": sorted({k for h in households for k in h.kinds}),
            "oldest_due_at": min(due_at(h) for h in households).isoformat(),
            "household_ids": sorted(h.id for h in households),
        }
        features.append(feature(bid, from_shape(anchor_point(b), srid=4326), props))
    return HouseholdLayer.model_validate({"type": "FeatureCollection", "now": now.isoformat(), "features": features})


# -- reads: each one checked against the caller and written to the audit log ----------------------


@dataclass
class HouseholdFilter:
    overdue: bool | None = None
    grid_id: int | None = None
    building_id: int | None = None
    include_inactive: bool = False


def list_for(
    session: Session, *, user: User, where: HouseholdFilter, now: datetime, geojson: bool
) -> HouseholdPage | HouseholdLayer:
    """The households ``user`` may see (403 for those who may see none), as a list or as the map
    layer; every household returned is written to the audit log."""
    access.require_access(session, user)
    query = (
        select(KeyHousehold, Building)
        .join(Building, Building.id == KeyHousehold.building_id)
        .where(access.visible(session, user))
        .order_by(KeyHousehold.id)
    )
    if not where.include_inactive:
        query = query.where(KeyHousehold.active.is_(True))
    if where.grid_id is not None:
        query = query.where(Building.grid_id == where.grid_id)
    if where.building_id is not None:
        query = query.where(Building.id == where.building_id)
    rows = [(h, b) for h, b in session.execute(query) if where.overdue is None or is_overdue(h, now) == where.overdue]
    read_audit(session, user, [h for h, _b in rows], action="map" if geojson else "list", now=now)
    if geojson:
        return building_layer(rows, now)
    items = [household_view(h, b, now) for h, b in rows]
    return HouseholdPage(items=items, total=len(items), overdue=sum(i.overdue for i in items), now=now.isoformat())


def load_for(session: Session, *, user: User, household_id: int) -> tuple[KeyHousehold, Building]:
    """A household with its building, if ``user`` may see it (404 when there is none, 403 when
    it is not theirs)."""
    access.require_access(session, user)
    household = session.get(KeyHousehold, household_id)
    if household is None:
        raise NotFound(f"no key household with id {household_id}", field="household_id")
    if not access.can_see(session, user, household):
        raise Forbidden("you do not care for this household and it is not in your grid", field="household_id")
    building = session.get(Building, household.building_id)
    assert building is not None  # the foreign key has no ON DELETE: a household keeps its building
    return household, building


def read(session: Session, *, user: User, household_id: int, now: datetime) -> HouseholdOut:
    """One household with its visits, audited."""
    household, building = load_for(session, user=user, household_id=household_id)
    out = household_view(household, building, now, with_visits=True)
    read_audit(session, user, [household], action="read", now=now)
    return out


# -- the register -----------------------------------------------------------------------------------


def _may_register(session: Session, user: User, building: Building) -> None:
    if not may_act_in_grid(session, user, building.grid_id):
        raise Forbidden("only the building's grid workers, dispatchers and admins register key households")


def register(session: Session, *, data: HouseholdIn, user: User, settings: Settings, now: datetime) -> HouseholdOut:
    """Register a household (the building's grid workers, dispatchers, admins), with its caretaker."""
    building = session.get(Building, data.building_id)
    if building is None:
        raise Invalid(f"no building with id {data.building_id}", field="building_id")
    _may_register(session, user, building)
    caretaker_exists(session, worker_id=data.caretaker_worker_id, volunteer_id=data.caretaker_volunteer_id)
    values = data.model_dump()
    values["kinds"] = [k.value for k in data.kinds]
    values["visit_every_days"] = data.visit_every_days or settings.key_household_visit_days
    household = KeyHousehold(**values, created_at=now, updated_at=now)
    session.add(household)
    session.flush()
    audit(session, actor=user, action="key_household:register", entity="key_household", entity_id=household.id, now=now)
    return household_view(household, building, now)


#: Fields a change may leave out but not set to null.
_NOT_NULL = ("head_name", "kinds", "members", "visit_every_days", "active")


def change(session: Session, *, household_id: int, data: HouseholdPatch, user: User, now: datetime) -> HouseholdOut:
    """Change a household's details, caretaker or frequency (the grid's staff), guarded by its version."""
    household, building = load_for(session, user=user, household_id=household_id)
    _may_register(session, user, building)
    if data.version is not None and data.version != household.version:
        raise Conflict(f"stale version {data.version}; the household is at {household.version}", field="version")
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    for name in _NOT_NULL:
        if name in changes and changes[name] is None:
            raise Invalid(f"{name} may not be null", field=name)
    if data.kinds is not None:
        changes["kinds"] = [k.value for k in data.kinds]
    worker_id = changes.get("caretaker_worker_id", household.caretaker_worker_id)
    volunteer_id = changes.get("caretaker_volunteer_id", household.caretaker_volunteer_id)
    caretaker_exists(session, worker_id=worker_id, volunteer_id=volunteer_id)
    for name, value in changes.items():
        setattr(household, name, value)
    household.updated_at = now
    try:
        session.flush()
    except StaleDataError:
        raise Conflict("the household changed meanwhile; reload it", field="version") from None
    audit(
        session,
        actor=user,
        action="key_household:change",
        entity="key_household",
        entity_id=household.id,
        after={"fields": sorted(changes)},
        now=now,
    )
    return household_view(household, building, now)


@dataclass
class Need:
    description: str
    category: str | None = None
    raise_request: bool = False


@dataclass
class NewVisit:
    notes: str
    at: datetime | None = None
    needs: list[Need] = field(default_factory=list)


def log_visit(
    session: Session, *, household: KeyHousehold, data: NewVisit, user: User, settings: Settings, now: datetime
) -> HouseholdVisit:
    """Record a visit; each need with ``raise_request`` becomes a request through the normal intake
    (located at the building, channel ``patrol``, no reporter: nothing in it names the household)."""
    at = data.at or now
    if at > now + timedelta(minutes=5):
        raise Invalid("at must not lie in the future", field="at")
    if at < now - timedelta(days=30):
        raise Invalid("at must lie within the last 30 days", field="at")
    if not data.notes.strip():
        raise Invalid("notes must say how the household is", field="notes")
    needs = []
    for i, need in enumerate(data.needs):
        if not need.description.strip():
            raise Invalid("a need must be described", field=f"needs[{i}].description")
        entry: dict[str, Any] = {"description": need.description.strip(), "category": need.category, "request_id": None}
        if need.raise_request:
            if not need.category:
                raise Invalid("a need raised as a request needs its category", field=f"needs[{i}].category")
            try:
                req = create_request(
                    session,
                    data=NewRequest(
                        category=need.category,
                        description=need.description.strip(),
                        channel=Channel.PATROL,
                        building_id=household.building_id,
                    ),
                    settings=settings,
                    now=now,
                )
            except IntakeError as exc:
                # intake's refusal, naming the need it is about
                raise DomainError(str(exc), field=f"needs[{i}].{exc.field}", status=exc.status) from None
            entry["request_id"] = req.id
            entry["tracking_code"] = req.tracking_code
        needs.append(entry)
    visit = HouseholdVisit(
        household_id=household.id,
        at=at,
        visitor_user_id=user.id,
        visitor=user.display_name or user.username,
        notes=data.notes.strip(),
        needs=needs,
        recorded_at=now,
    )
    session.add(visit)
    if household.last_visit_at is None or at > household.last_visit_at:
        household.last_visit_at = at
    household.updated_at = now
    session.flush()
    audit(
        session,
        actor=user,
        action="key_household:visit",
        entity="key_household",
        entity_id=household.id,
        after={"visit_id": visit.id, "requests": [n["request_id"] for n in needs if n["request_id"]]},
        now=now,
    )
    grid_id = session.scalar(select(Building.grid_id).where(Building.id == household.building_id))
    publish(session, VISITED_TOPIC, {"grid_id": grid_id})
    return visit


def visit(
    session: Session,
    *,
    household: KeyHousehold,
    building: Building,
    data: NewVisit,
    user: User,
    settings: Settings,
    now: datetime,
) -> VisitRecorded:
    """Log a visit to a household ``user`` may see (``load_for``), answering with the visit and the
    household as it now stands."""
    try:
        record = log_visit(session, household=household, data=data, user=user, settings=settings, now=now)
        session.flush()
    except StaleDataError:
        raise Conflict("the household changed meanwhile; try again", field="household_id") from None
    return VisitRecorded.model_validate(
        visit_view(record).model_dump(exclude_unset=True) | {"household": household_view(household, building, now)}
    )


def caretaker_exists(session: Session, *, worker_id: int | None, volunteer_id: int | None) -> None:
    if worker_id is None and volunteer_id is None:
        raise Invalid(
            "a key household needs a caretaker: caretaker_worker_id or caretaker_volunteer_id",
            field="caretaker_worker_id",
        )
    if worker_id is not None and session.get(GridWorker, worker_id) is None:
        raise Invalid(f"no grid worker with id {worker_id}", field="caretaker_worker_id")
    if volunteer_id is not None and session.get(Volunteer, volunteer_id) is None:
        raise Invalid(f"no volunteer with id {volunteer_id}", field="caretaker_volunteer_id")


# -- the scheduler's overdue check ----------------------------------------------------------------


def flag_overdue(db: Database, *, now: datetime) -> int:
    """Publish ``key_household.overdue`` once for each household that has become overdue.

    Each overdue spell is announced once: the due instant is stored with the announcement, and the
    change is guarded by the household's version, so several workers racing announce it once. The
    event carries the grid and its overdue count only (the stream is open to every staff role, so
    it never names a household or a building); clients re-read ``GET /api/v1/key-households``.
    """
    with db.reader() as session:
        rows = list(session.scalars(select(KeyHousehold).where(KeyHousehold.active.is_(True))))
        pending = [h.id for h in rows if due_at(h) <= now and h.overdue_notified_due != due_at(h)]
    flagged = 0
    for household_id in pending:
        try:
            with db.transaction() as session:
                h = session.get(KeyHousehold, household_id)
                if h is None or not is_overdue(h, now) or h.overdue_notified_due == due_at(h):
                    continue
                h.overdue_notified_due = due_at(h)
                session.flush()
                grid_id = session.scalar(select(Building.grid_id).where(Building.id == h.building_id))
                in_grid = session.scalars(
                    select(KeyHousehold)
                    .join(Building, Building.id == KeyHousehold.building_id)
                    .where(Building.grid_id == grid_id, KeyHousehold.active.is_(True))
                )
                count = sum(1 for other in in_grid if is_overdue(other, now))
                audit(
                    session,
                    actor=None,
                    action="key_household:overdue",
                    entity="key_household",
                    entity_id=h.id,
                    after={"due_at": due_at(h).isoformat()},
                    now=now,
                )
                publish(session, OVERDUE_TOPIC, {"grid_id": grid_id, "overdue_in_grid": count})
                flagged += 1
        except StaleDataError:
            continue  # another worker announced it first
    return flagged
