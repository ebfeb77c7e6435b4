"""``/api/v1/teams``: professional service teams and their members; ``/api/v1/party-registrations``:
in-service party members' double registration (双报到) and their yearly "4+1" duties."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from service.areas.models import Area, AreaLevel
from service.audit.service import audit
from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.common.fields import Id
from service.common.params import MAX_DB_ID, IdPath
from service.common.problems import Problem
from service.community.people import may_act_in_community
from service.community.times import local_date
from service.deps import ClockDep, ReadSession, WriteSession
from service.teams.models import DutyKind, PartyRegistration, RegistrationDuty, Team, TeamMember, TeamRole
from service.volunteers.models import Volunteer

router = APIRouter(prefix="/api/v1", tags=["teams"])

Viewer = Annotated[
    User, Depends(require_roles(Role.VOLUNTEER, Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN, Role.PLANNER))
]
Organiser = Annotated[User, Depends(require_roles(Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN))]

#: The "4+1" rule: at least this many of each duty per year.
YEARLY_MINIMUM = {DutyKind.PARTY_MEETING: 1, DutyKind.CADRE_TALK: 1, DutyKind.SURVEY: 1, DutyKind.VOLUNTEER_DAY: 1}


def _team_dict(team: Team, *, members: bool, people: dict[int, Volunteer] | None = None) -> dict[str, Any]:
    leader = next((m.volunteer_id for m in team.members if m.role is TeamRole.LEADER), None)
    out = {
        "id": team.id,
        "name_zh": team.name_zh,
        "name_en": team.name_en,
        "kind": team.kind,
        "community_id": team.community_id,
        "grid_id": team.grid_id,
        "description": team.description,
        "active": team.active,
        "leader_volunteer_id": leader,
        "member_count": len(team.members),
    }
    if members:
        people = people or {}
        out["members"] = [
            {
                "volunteer_id": m.volunteer_id,
                "role": m.role.value,
                "name_zh": people[m.volunteer_id].name_zh if m.volunteer_id in people else None,
                "name_en": people[m.volunteer_id].name_en if m.volunteer_id in people else None,
                "skills": people[m.volunteer_id].skills if m.volunteer_id in people else [],
                "joined_at": m.joined_at.isoformat(),
            }
            for m in team.members
        ]
    return out


@router.get("/teams", summary="Professional service teams with their leaders (volunteers, staff)")
def teams(
    session: ReadSession,
    _user: Viewer,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    grid_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
) -> list[dict[str, Any]]:
    query = select(Team).options(selectinload(Team.members)).order_by(Team.community_id, Team.id)
    for column, value in ((Team.community_id, community_id), (Team.grid_id, grid_id), (Team.kind, kind)):
        if value is not None:
            query = query.where(column == value)
    return [_team_dict(t, members=False) for t in session.scalars(query)]


@router.get("/teams/{team_id}", summary="One team with its members (volunteers, staff)")
def team(team_id: IdPath, session: ReadSession, _user: Viewer) -> dict[str, Any]:
    t = session.get(Team, team_id)
    if t is None:
        raise Problem(404, f"no team with id {team_id}", field="team_id")
    ids = [m.volunteer_id for m in t.members]
    people = {v.id: v for v in session.scalars(select(Volunteer).where(Volunteer.id.in_(ids)))} if ids else {}
    return _team_dict(t, members=True, people=people)


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    kind: str = Field(min_length=1, max_length=40, description="mediation, legal, poverty_relief, tutoring…")
    community_id: Id
    grid_id: Id | None = None
    description: str | None = Field(default=None, max_length=2000)


@router.post("/teams", status_code=201, summary="Form a service team (the community's staff)")
def create_team(body: TeamIn, session: WriteSession, clock: ClockDep, user: Organiser) -> dict[str, Any]:
    community = session.get(Area, body.community_id)
    if community is None or community.level is not AreaLevel.COMMUNITY:
        raise Problem(422, f"no community with id {body.community_id}", field="community_id")
    if not may_act_in_community(session, user, community.id):
        raise Problem(403, "grid workers form teams only in their own community", field="community_id")
    t = Team(**body.model_dump(), created_at=clock())
    session.add(t)
    session.flush()
    audit(session, actor=user, action="team:create", entity="team", entity_id=t.id, after={"name_zh": t.name_zh})
    session.commit()
    return _team_dict(t, members=True)


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    volunteer_id: Id
    role: TeamRole = TeamRole.MEMBER


@router.put("/teams/{team_id}/members", summary="Add a member or change their role; a new leader replaces the old")
def put_member(team_id: IdPath, body: MemberIn, session: WriteSession, clock: ClockDep, user: Organiser):
    t = session.get(Team, team_id)
    if t is None:
        raise Problem(404, f"no team with id {team_id}", field="team_id")
    if not may_act_in_community(session, user, t.community_id):
        raise Problem(403, "grid workers change teams only in their own community")
    if session.get(Volunteer, body.volunteer_id) is None:
        raise Problem(422, f"no volunteer with id {body.volunteer_id}", field="volunteer_id")
    if body.role is TeamRole.LEADER:
        for m in t.members:
            if m.role is TeamRole.LEADER:
                m.role = TeamRole.MEMBER
    member = next((m for m in t.members if m.volunteer_id == body.volunteer_id), None)
    if member is None:
        t.members.append(TeamMember(volunteer_id=body.volunteer_id, role=body.role, joined_at=clock()))
    else:
        member.role = body.role
    session.flush()
    audit(
        session,
        actor=user,
        action="team:member",
        entity="team",
        entity_id=t.id,
        after={"volunteer_id": body.volunteer_id, "role": body.role.value},
    )
    session.commit()
    return team(team_id, session, user)


@router.delete("/teams/{team_id}/members/{volunteer_id}", status_code=204, summary="Take a member off a team")
def remove_member(team_id: IdPath, volunteer_id: IdPath, session: WriteSession, user: Organiser) -> None:
    t = session.get(Team, team_id)
    if t is None:
        raise Problem(404, f"no team with id {team_id}", field="team_id")
    if not may_act_in_community(session, user, t.community_id):
        raise Problem(403, "grid workers change teams only in their own community")
    member = next((m for m in t.members if m.volunteer_id == volunteer_id), None)
    if member is None:
        raise Problem(404, f"volunteer {volunteer_id} is not in team {team_id}", field="volunteer_id")
    t.members.remove(member)
    audit(
        session, actor=user, action="team:remove", entity="team", entity_id=t.id, after={"volunteer_id": volunteer_id}
    )
    session.commit()


# -- double registration (双报到) -------------------------------------------------------------------


def _registration_dict(r: PartyRegistration, year: int, *, people: bool) -> dict[str, Any]:
    done = {k.value: 0 for k in DutyKind}
    for d in r.duties:
        if d.done_on.year == year:
            done[d.kind.value] += 1
    missing = [k.value for k, n in YEARLY_MINIMUM.items() if done[k.value] < n]
    out = {
        "id": r.id,
        "name_zh": r.name_zh,
        "name_en": r.name_en,
        "work_unit_zh": r.work_unit_zh,
        "community_id": r.community_id,
        "party_org_id": r.party_org_id,
        "volunteer_id": r.volunteer_id,
        "registered_on": r.registered_on.isoformat(),
        "active": r.active,
        "year": year,
        "duties": done,
        "missing": missing,
        "short": bool(missing),
    }
    if people:
        out["phone"] = r.phone
    return out


@router.get("/party-registrations", summary="Double registrations (双报到) with this year's duties and who is short")
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
    year = year or local_date(clock()).year
    query = select(PartyRegistration).options(selectinload(PartyRegistration.duties)).order_by(PartyRegistration.id)
    query = query.where(PartyRegistration.active.is_(True))
    if community_id is not None:
        query = query.where(PartyRegistration.community_id == community_id)
    items = [_registration_dict(r, year, people=True) for r in session.scalars(query)]
    if short is not None:
        items = [i for i in items if i["short"] == short]
    return {
        "year": year,
        "rule": {k.value: n for k, n in YEARLY_MINIMUM.items()},
        "total": len(items),
        "short": sum(i["short"] for i in items),
        "items": items,
    }


class RegistrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    work_unit_zh: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    community_id: Id
    party_org_id: Id | None = None
    volunteer_id: Id | None = None
    registered_on: date | None = None


@router.post("/party-registrations", status_code=201, summary="Register an in-service party member with the community")
def register(body: RegistrationIn, session: WriteSession, clock: ClockDep, user: Organiser) -> dict[str, Any]:
    community = session.get(Area, body.community_id)
    if community is None or community.level is not AreaLevel.COMMUNITY:
        raise Problem(422, f"no community with id {body.community_id}", field="community_id")
    if not may_act_in_community(session, user, community.id):
        raise Problem(403, "grid workers register party members only in their own community", field="community_id")
    if body.volunteer_id is not None and session.get(Volunteer, body.volunteer_id) is None:
        raise Problem(422, f"no volunteer with id {body.volunteer_id}", field="volunteer_id")
    now = clock()
    r = PartyRegistration(**(body.model_dump() | {"registered_on": body.registered_on or local_date(now)}))
    session.add(r)
    session.flush()
    audit(session, actor=user, action="registration:create", entity="party_registration", entity_id=r.id)
    session.commit()
    session.refresh(r)
    return _registration_dict(r, local_date(now).year, people=True)


class DutyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DutyKind
    done_on: date
    note: str | None = Field(default=None, max_length=1000)


@router.post("/party-registrations/{registration_id}/duties", status_code=201, summary="Record a duty done (staff)")
def record_duty(registration_id: IdPath, body: DutyIn, session: WriteSession, clock: ClockDep, user: Organiser):
    r = session.get(PartyRegistration, registration_id)
    if r is None:
        raise Problem(404, f"no registration with id {registration_id}", field="registration_id")
    if not may_act_in_community(session, user, r.community_id):
        raise Problem(403, "grid workers record duties only in their own community")
    now = clock()
    if body.done_on > local_date(now):
        raise Problem(422, "done_on must not lie in the future", field="done_on")
    if body.done_on < r.registered_on:
        raise Problem(422, "done_on must not precede the registration", field="done_on")
    r.duties.append(
        RegistrationDuty(
            kind=body.kind, done_on=body.done_on, note=body.note, recorded_by=user.username, recorded_at=now
        )
    )
    session.flush()
    audit(
        session,
        actor=user,
        action="registration:duty",
        entity="party_registration",
        entity_id=r.id,
        after={"kind": body.kind.value, "done_on": body.done_on.isoformat()},
    )
    session.commit()
    session.refresh(r)
    return _registration_dict(r, body.done_on.year, people=True)
