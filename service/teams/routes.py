"""``/api/v1/teams``: professional service teams and their members; ``/api/v1/party-registrations``:
in-service party members' double registration (双报到) and their yearly "4+1" duties."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.common.params import MAX_DB_ID, IdPath
from service.community.times import local_date
from service.deps import ClockDep, ReadSession, WriteSession
from service.teams import service
from service.teams.schemas import (
    DutyIn,
    MemberIn,
    RegistrationIn,
    RegistrationOut,
    Registrations,
    TeamDetail,
    TeamIn,
    TeamOut,
)

router = APIRouter(prefix="/api/v1", tags=["teams"])

Viewer = Annotated[
    User, Depends(require_roles(Role.VOLUNTEER, Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN, Role.PLANNER))
]
Organiser = Annotated[User, Depends(require_roles(Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN))]


@router.get(
    "/teams", response_model=list[TeamOut], summary="Professional service teams with their leaders (volunteers, staff)"
)
def teams(
    session: ReadSession,
    _user: Viewer,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    grid_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
) -> list[dict[str, Any]]:
    found = service.list_teams(session, community_id=community_id, grid_id=grid_id, kind=kind)
    return [service.team_dict(t) for t in found]


@router.get("/teams/{team_id}", response_model=TeamDetail, summary="One team with its members (volunteers, staff)")
def team(team_id: IdPath, session: ReadSession, _user: Viewer) -> dict[str, Any]:
    return service.team_detail(session, team_id=team_id)


@router.post(
    "/teams", status_code=201, response_model=TeamDetail, summary="Form a service team (the community's staff)"
)
def create_team(body: TeamIn, session: WriteSession, clock: ClockDep, user: Organiser) -> dict[str, Any]:
    t = service.create_team(session, data=body.model_dump(), user=user, now=clock())
    session.commit()
    return service.team_dict(t, people={})


@router.put(
    "/teams/{team_id}/members",
    response_model=TeamDetail,
    summary="Add a member or change their role; a new leader replaces the old",
)
def put_member(
    team_id: IdPath, body: MemberIn, session: WriteSession, clock: ClockDep, user: Organiser
) -> dict[str, Any]:
    service.put_member(session, team_id=team_id, volunteer_id=body.volunteer_id, role=body.role, user=user, now=clock())
    session.commit()
    return service.team_detail(session, team_id=team_id)


@router.delete("/teams/{team_id}/members/{volunteer_id}", status_code=204, summary="Take a member off a team")
def remove_member(team_id: IdPath, volunteer_id: IdPath, session: WriteSession, user: Organiser) -> None:
    service.remove_member(session, team_id=team_id, volunteer_id=volunteer_id, user=user)
    session.commit()


# -- double registration (双报到) -------------------------------------------------------------------


@router.get(
    "/party-registrations",
    response_model=Registrations,
    summary="Double registrations (双报到) with this year's duties and who is short",
)
def registrations(
    session: ReadSession,
    clock: ClockDep,
    user: Organiser,
    year: Annotated[int | None, Query(ge=2000, le=2200, description="default this year")] = None,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    short: bool | None = Query(None, description="true: only those who have not yet done every duty this year"),
) -> dict[str, Any]:
    """The "4+1" rule: each registered in-service party member does at least one community party
    meeting, one talk with community cadres, one survey and one volunteer day a year."""
    return service.registrations(session, year=year or local_date(clock()).year, community_id=community_id, short=short)


@router.post(
    "/party-registrations",
    status_code=201,
    response_model=RegistrationOut,
    summary="Register an in-service party member with the community",
)
def register(body: RegistrationIn, session: WriteSession, clock: ClockDep, user: Organiser) -> dict[str, Any]:
    now = clock()
    r = service.register(session, data=body.model_dump(), user=user, now=now)
    session.commit()
    session.refresh(r)
    return service.registration_dict(r, local_date(now).year)


@router.post(
    "/party-registrations/{registration_id}/duties",
    status_code=201,
    response_model=RegistrationOut,
    summary="Record a duty done (staff)",
)
def record_duty(
    registration_id: IdPath, body: DutyIn, session: WriteSession, clock: ClockDep, user: Organiser
) -> dict[str, Any]:
    r = service.record_duty(
        session,
        registration_id=registration_id,
        kind=body.kind,
        done_on=body.done_on,
        note=body.note,
        user=user,
        now=clock(),
    )
    session.commit()
    session.refresh(r)
    return service.registration_dict(r, body.done_on.year)
