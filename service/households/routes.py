"""``/api/v1/key-households``: the register of households that need care (重点家庭包挂), their
weekly visits and the overdue list. Only caretakers, the grid's workers, dispatchers and admins;
every read is written to the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, Strict
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from service.audit.service import audit
from service.auth.deps import CurrentUser
from service.buildings.models import Building
from service.common.fields import Id
from service.common.params import MAX_DB_ID, IdPath
from service.common.problems import Problem
from service.community.people import may_act_in_grid
from service.community.times import parse_time
from service.deps import ClockDep, SettingsDep, WriteSession
from service.households import access
from service.households.models import HouseholdKind, KeyHousehold
from service.households.service import (
    HouseholdError,
    Need,
    NewVisit,
    building_features,
    caretaker_exists,
    household_dict,
    is_overdue,
    log_visit,
    read_audit,
    visit_dict,
)

router = APIRouter(prefix="/api/v1/key-households", tags=["key households"])


def _problem(exc: HouseholdError) -> Problem:
    return Problem(exc.status, str(exc), field=exc.field)


def _load(session, user, household_id: int) -> tuple[KeyHousehold, Building]:
    access.require_access(session, user)
    household = session.get(KeyHousehold, household_id)
    if household is None:
        raise Problem(404, f"no key household with id {household_id}", field="household_id")
    if not access.can_see(session, user, household):
        raise Problem(403, "you do not care for this household and it is not in your grid", field="household_id")
    return household, session.get(Building, household.building_id)


@router.get("", summary="Key households you may see; overdue ones with ?overdue=true (audited)")
def list_households(
    session: WriteSession,
    clock: ClockDep,
    user: CurrentUser,
    overdue: bool | None = Query(None, description="true: only those whose last visit is older than their frequency"),
    grid_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    building_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    include_inactive: bool = False,
    format: Annotated[
        str, Query(pattern="^(json|geojson)$", description="geojson: the map layer, one point per building")
    ] = "json",
) -> dict[str, Any]:
    """Caretakers see the households they care for, grid workers those in their grids, dispatchers and
    admins all; anyone else gets 403. ``format=geojson`` is the map layer: one feature per building
    (at its entrance) with counts, never a flat, a name or a phone number. Every household returned
    is written to the audit log."""
    access.require_access(session, user)
    now = clock()
    query = (
        select(KeyHousehold, Building)
        .join(Building, Building.id == KeyHousehold.building_id)
        .where(access.visible(session, user))
        .order_by(KeyHousehold.id)
    )
    if not include_inactive:
        query = query.where(KeyHousehold.active.is_(True))
    if grid_id is not None:
        query = query.where(Building.grid_id == grid_id)
    if building_id is not None:
        query = query.where(Building.id == building_id)
    rows = [(h, b) for h, b in session.execute(query).all() if overdue is None or is_overdue(h, now) == overdue]
    read_audit(session, user, [h for h, _b in rows], action="map" if format == "geojson" else "list", now=now)
    session.commit()
    if format == "geojson":
        return {"type": "FeatureCollection", "now": now.isoformat(), "features": building_features(rows, now)}
    items = [household_dict(h, b, now) for h, b in rows]
    return {"items": items, "total": len(items), "overdue": sum(i["overdue"] for i in items), "now": now.isoformat()}


@router.get("/{household_id}", summary="One key household with its visits (audited)")
def get_household(household_id: IdPath, session: WriteSession, clock: ClockDep, user: CurrentUser) -> dict[str, Any]:
    household, building = _load(session, user, household_id)
    now = clock()
    body = household_dict(household, building, now, with_visits=True)
    read_audit(session, user, [household], action="read", now=now)
    session.commit()
    return body


class HouseholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    building_id: Id
    unit_label: str | None = Field(default=None, max_length=40, description="the flat, e.g. 2单元301 (never mapped)")
    head_name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    kinds: list[HouseholdKind] = Field(min_length=1, max_length=6)
    members: Annotated[int, Strict(), Field(ge=1, le=30)] = 1
    notes: str | None = Field(default=None, max_length=2000)
    caretaker_worker_id: Id | None = None
    caretaker_volunteer_id: Id | None = None
    visit_every_days: Annotated[int, Strict(), Field(ge=1, le=90)] | None = Field(
        default=None, description="default NEIGHBORGRID_KEY_HOUSEHOLD_VISIT_DAYS (7: weekly)"
    )


class HouseholdPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Id | None = None
    unit_label: str | None = Field(default=None, max_length=40)
    head_name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    kinds: list[HouseholdKind] | None = Field(default=None, min_length=1, max_length=6)
    members: Annotated[int, Strict(), Field(ge=1, le=30)] | None = None
    notes: str | None = Field(default=None, max_length=2000)
    caretaker_worker_id: Id | None = None
    caretaker_volunteer_id: Id | None = None
    visit_every_days: Annotated[int, Strict(), Field(ge=1, le=90)] | None = None
    active: bool | None = None


def _may_register(session, user, building: Building) -> None:
    if not may_act_in_grid(session, user, building.grid_id):
        raise Problem(403, "only the building's grid workers, dispatchers and admins register key households")


@router.post("", status_code=201, summary="Register a key household (the grid's workers, dispatchers, admins)")
def register(body: HouseholdIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: CurrentUser):
    building = session.get(Building, body.building_id)
    if building is None:
        raise Problem(422, f"no building with id {body.building_id}", field="building_id")
    _may_register(session, user, building)
    try:
        caretaker_exists(session, worker_id=body.caretaker_worker_id, volunteer_id=body.caretaker_volunteer_id)
    except HouseholdError as exc:
        raise _problem(exc) from None
    now = clock()
    data = body.model_dump()
    data["kinds"] = [k.value for k in body.kinds]
    data["visit_every_days"] = body.visit_every_days or settings.key_household_visit_days
    household = KeyHousehold(**data, created_at=now, updated_at=now)
    session.add(household)
    session.flush()
    audit(session, actor=user, action="key_household:register", entity="key_household", entity_id=household.id, now=now)
    out = household_dict(household, building, now)
    session.commit()
    return out


@router.patch("/{household_id}", summary="Change a key household: caretaker, frequency, details (grid staff)")
def change(household_id: IdPath, body: HouseholdPatch, session: WriteSession, clock: ClockDep, user: CurrentUser):
    household, building = _load(session, user, household_id)
    _may_register(session, user, building)
    if body.version is not None and body.version != household.version:
        raise Problem(409, f"stale version {body.version}; the household is at {household.version}", field="version")
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    for name in ("head_name", "kinds", "members", "visit_every_days", "active"):
        if name in changes and changes[name] is None:
            raise Problem(422, f"{name} may not be null", field=name)
    if "kinds" in changes:
        changes["kinds"] = [k.value for k in body.kinds]
    worker_id = changes.get("caretaker_worker_id", household.caretaker_worker_id)
    volunteer_id = changes.get("caretaker_volunteer_id", household.caretaker_volunteer_id)
    try:
        caretaker_exists(session, worker_id=worker_id, volunteer_id=volunteer_id)
    except HouseholdError as exc:
        raise _problem(exc) from None
    now = clock()
    for name, value in changes.items():
        setattr(household, name, value)
    household.updated_at = now
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise Problem(409, "the household changed meanwhile; reload it", field="version") from None
    audit(
        session,
        actor=user,
        action="key_household:change",
        entity="key_household",
        entity_id=household.id,
        after={"fields": sorted(changes)},
        now=now,
    )
    out = household_dict(household, building, now)
    session.commit()
    return out


class NeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=2000)
    category: str | None = Field(default=None, max_length=40, description="a request category (GET /api/v1/categories)")
    raise_request: bool = Field(default=False, description="turn this need into a request now")


class VisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: str = Field(min_length=1, max_length=4000)
    at: str | None = Field(default=None, max_length=40, description="ISO 8601; default now; within the last 30 days")
    needs: list[NeedIn] = Field(default_factory=list, max_length=10)


@router.post("/{household_id}/visits", status_code=201, summary="Log a visit; a need found can become a request")
def visit(
    household_id: IdPath,
    body: VisitIn,
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: CurrentUser,
) -> dict[str, Any]:
    """Only the caretaker, the grid's workers, dispatchers and admins log visits (403 otherwise).
    Each need with ``raise_request`` goes through the normal intake at the household's building
    (channel ``patrol``); the answer carries the new requests' ids and tracking codes."""
    household, building = _load(session, user, household_id)
    now = clock()
    at = parse_time(body.at, "at", now) if body.at else None
    data = NewVisit(notes=body.notes, at=at, needs=[Need(**n.model_dump()) for n in body.needs])
    try:
        record = log_visit(session, household=household, data=data, user=user, settings=settings, now=now)
        out = visit_dict(record) | {"household": household_dict(household, building, now)}
        session.commit()
    except HouseholdError as exc:
        session.rollback()
        raise _problem(exc) from None
    except StaleDataError:
        session.rollback()
        raise Problem(409, "the household changed meanwhile; try again", field="household_id") from None
    return out
