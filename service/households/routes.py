"""``/api/v1/key-households``: the register of households that need care (重点家庭包挂), their
weekly visits and the overdue list. Only caretakers, the grid's workers, dispatchers and admins;
every read is written to the audit log. The data work is in ``service.households.service``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.auth.deps import CurrentUser
from service.common.params import MAX_DB_ID, IdPath
from service.common.times import time_param
from service.deps import ClockDep, SettingsDep, WriteSession
from service.households import service as households
from service.households.schemas import (
    HouseholdIn,
    HouseholdLayer,
    HouseholdOut,
    HouseholdPage,
    HouseholdPatch,
    VisitIn,
    VisitRecorded,
)
from service.households.service import HouseholdFilter, Need, NewVisit

router = APIRouter(prefix="/api/v1/key-households", tags=["key households"])


@router.get(
    "",
    summary="Key households you may see; overdue ones with ?overdue=true (audited)",
    response_model=HouseholdPage | HouseholdLayer,
    response_model_exclude_unset=True,
)
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
) -> HouseholdPage | HouseholdLayer:
    """Caretakers see the households they care for, grid workers those in their grids, dispatchers and
    admins all; anyone else gets 403. ``format=geojson`` is the map layer: one feature per building
    (at its entrance) with counts, never a flat, a name or a phone number. Every household returned
    is written to the audit log."""
    where = HouseholdFilter(
        overdue=overdue, grid_id=grid_id, building_id=building_id, include_inactive=include_inactive
    )
    out = households.list_for(session, user=user, where=where, now=clock(), geojson=format == "geojson")
    session.commit()
    return out


@router.get(
    "/{household_id}",
    summary="One key household with its visits (audited)",
    response_model=HouseholdOut,
    response_model_exclude_unset=True,
)
def get_household(household_id: IdPath, session: WriteSession, clock: ClockDep, user: CurrentUser) -> HouseholdOut:
    out = households.read(session, user=user, household_id=household_id, now=clock())
    session.commit()
    return out


@router.post(
    "",
    status_code=201,
    summary="Register a key household (the grid's workers, dispatchers, admins)",
    response_model=HouseholdOut,
    response_model_exclude_unset=True,
)
def register(
    body: HouseholdIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: CurrentUser
) -> HouseholdOut:
    out = households.register(session, data=body, user=user, settings=settings, now=clock())
    session.commit()
    return out


@router.patch(
    "/{household_id}",
    summary="Change a key household: caretaker, frequency, details (grid staff)",
    response_model=HouseholdOut,
    response_model_exclude_unset=True,
)
def change(
    household_id: IdPath, body: HouseholdPatch, session: WriteSession, clock: ClockDep, user: CurrentUser
) -> HouseholdOut:
    out = households.change(session, household_id=household_id, data=body, user=user, now=clock())
    session.commit()
    return out


@router.post(
    "/{household_id}/visits",
    status_code=201,
    summary="Log a visit; a need found can become a request",
    response_model=VisitRecorded,
    response_model_exclude_unset=True,
)
def visit(
    household_id: IdPath,
    body: VisitIn,
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    user: CurrentUser,
) -> VisitRecorded:
    """Only the caretaker, the grid's workers, dispatchers and admins log visits (403 otherwise).
    Each need with ``raise_request`` goes through the normal intake at the household's building
    (channel ``patrol``); the answer carries the new requests' ids and tracking codes."""
    now = clock()
    household, building = households.load_for(session, user=user, household_id=household_id)
    at = time_param(body.at, "at", now) if body.at else None
    data = NewVisit(notes=body.notes, at=at, needs=[Need(**n.model_dump()) for n in body.needs])
    out = households.visit(
        session, household=household, building=building, data=data, user=user, settings=settings, now=now
    )
    session.commit()
    return out
