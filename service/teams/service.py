"""Service teams (专业服务队) and double registrations (双报到): who may keep them, and the yearly
"4+1" rule (each registered in-service party member does at least one of each duty a year).
These functions never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from service.areas.models import Area, AreaLevel
from service.audit.service import audit
from service.auth.models import User
from service.common.errors import Forbidden, Invalid, NotFound
from service.community.people import may_act_in_community
from service.community.times import local_date
from service.teams.models import DutyKind, PartyRegistration, RegistrationDuty, Team, TeamMember, TeamRole
from service.volunteers.models import Volunteer

#: The "4+1" rule: at least this many of each duty per year.
YEARLY_MINIMUM = {DutyKind.PARTY_MEETING: 1, DutyKind.CADRE_TALK: 1, DutyKind.SURVEY: 1, DutyKind.VOLUNTEER_DAY: 1}


# -- teams ------------------------------------------------------------------------------------------


def team_dict(team: Team, *, people: dict[int, Volunteer] | None = None) -> dict[str, Any]:
    """A team with its leader and size; with ``people`` (may be empty), also its members."""
    leader = next((m.volunteer_id for m in team.members if m.role is TeamRole.LEADER), None)
    out: dict[str, Any] = {
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
    if people is not None:
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


def list_teams(
    session: Session, *, community_id: int | None = None, grid_id: int | None = None, kind: str | None = None
) -> Sequence[Team]:
    query = select(Team).options(selectinload(Team.members)).order_by(Team.community_id, Team.id)
    if community_id is not None:
        query = query.where(Team.community_id == community_id)
    if grid_id is not None:
        query = query.where(Team.grid_id == grid_id)
    if kind is not None:
        query = query.where(Team.kind == kind)
    return session.scalars(query).all()


def get_team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"no team with id {team_id}", field="team_id")
    return team


def team_detail(session: Session, *, team_id: int) -> dict[str, Any]:
    """A team with its members' names and skills."""
    team = get_team(session, team_id)
    ids = [m.volunteer_id for m in team.members]
    people = {v.id: v for v in session.scalars(select(Volunteer).where(Volunteer.id.in_(ids)))} if ids else {}
    return team_dict(team, people=people)


def _community(session: Session, community_id: int) -> Area:
    community = session.get(Area, community_id)
    if community is None or community.level is not AreaLevel.COMMUNITY:
        raise Invalid(f"no community with id {community_id}", field="community_id")
    return community


def create_team(session: Session, *, data: dict[str, Any], user: User, now: datetime) -> Team:
    """Form a team in a community the caller keeps."""
    community = _community(session, data["community_id"])
    if not may_act_in_community(session, user, community.id):
        raise Forbidden("grid workers form teams only in their own community", field="community_id")
    team = Team(**data, created_at=now)
    session.add(team)
    session.flush()
    audit(session, actor=user, action="team:create", entity="team", entity_id=team.id, after={"name_zh": team.name_zh})
    return team


def _team_kept_by(session: Session, team_id: int, user: User) -> Team:
    team = get_team(session, team_id)
    if not may_act_in_community(session, user, team.community_id):
        raise Forbidden("grid workers change teams only in their own community")
    return team


def put_member(session: Session, *, team_id: int, volunteer_id: int, role: TeamRole, user: User, now: datetime) -> Team:
    """Add a member or change their role; a new leader replaces the old."""
    team = _team_kept_by(session, team_id, user)
    if session.get(Volunteer, volunteer_id) is None:
        raise Invalid(f"no volunteer with id {volunteer_id}", field="volunteer_id")
    if role is TeamRole.LEADER:
        for m in team.members:
            if m.role is TeamRole.LEADER:
                m.role = TeamRole.MEMBER
    member = next((m for m in team.members if m.volunteer_id == volunteer_id), None)
    if member is None:
        team.members.append(TeamMember(volunteer_id=volunteer_id, role=role, joined_at=now))
    else:
        member.role = role
    session.flush()
    audit(
        session,
        actor=user,
        action="team:member",
        entity="team",
        entity_id=team.id,
        after={"volunteer_id": volunteer_id, "role": role.value},
    )
    return team


def remove_member(session: Session, *, team_id: int, volunteer_id: int, user: User) -> None:
    team = _team_kept_by(session, team_id, user)
    member = next((m for m in team.members if m.volunteer_id == volunteer_id), None)
    if member is None:
        raise NotFound(f"volunteer {volunteer_id} is not in team {team_id}", field="volunteer_id")
    team.members.remove(member)
    audit(
        session,
        actor=user,
        action="team:remove",
        entity="team",
        entity_id=team.id,
        after={"volunteer_id": volunteer_id},
    )


# -- double registration (双报到) -------------------------------------------------------------------


def registration_dict(r: PartyRegistration, year: int) -> dict[str, Any]:
    """A registration with the duties done in ``year``, what the "4+1" rule still misses, and the phone."""
    done = {k.value: 0 for k in DutyKind}
    for d in r.duties:
        if d.done_on.year == year:
            done[d.kind.value] += 1
    missing = [k.value for k, n in YEARLY_MINIMUM.items() if done[k.value] < n]
    return {
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
        "phone": r.phone,
    }


def registrations(
    session: Session, *, year: int, community_id: int | None = None, short: bool | None = None
) -> dict[str, Any]:
    """Active registrations with ``year``'s duties; ``short``: only those (not) yet short of a duty."""
    query = select(PartyRegistration).options(selectinload(PartyRegistration.duties)).order_by(PartyRegistration.id)
    query = query.where(PartyRegistration.active.is_(True))
    if community_id is not None:
        query = query.where(PartyRegistration.community_id == community_id)
    items = [registration_dict(r, year) for r in session.scalars(query)]
    if short is not None:
        items = [i for i in items if i["short"] == short]
    return {
        "year": year,
        "rule": {k.value: n for k, n in YEARLY_MINIMUM.items()},
        "total": len(items),
        "short": sum(i["short"] for i in items),
        "items": items,
    }


def register(session: Session, *, data: dict[str, Any], user: User, now: datetime) -> PartyRegistration:
    """Register an in-service party member with a community the caller keeps."""
    community = _community(session, data["community_id"])
    if not may_act_in_community(session, user, community.id):
        raise Forbidden("grid workers register party members only in their own community", field="community_id")
    volunteer_id = data.get("volunteer_id")
    if volunteer_id is not None and session.get(Volunteer, volunteer_id) is None:
        raise Invalid(f"no volunteer with id {volunteer_id}", field="volunteer_id")
    r = PartyRegistration(**(data | {"registered_on": data.get("registered_on") or local_date(now)}))
    session.add(r)
    session.flush()
    audit(session, actor=user, action="registration:create", entity="party_registration", entity_id=r.id)
    return r


def record_duty(
    session: Session,
    *,
    registration_id: int,
    kind: DutyKind,
    done_on: date,
    note: str | None,
    user: User,
    now: datetime,
) -> PartyRegistration:
    """Record a duty done: not in the future, not before the registration."""
    r = session.get(PartyRegistration, registration_id)
    if r is None:
        raise NotFound(f"no registration with id {registration_id}", field="registration_id")
    if not may_act_in_community(session, user, r.community_id):
        raise Forbidden("grid workers record duties only in their own community")
    if done_on > local_date(now):
        raise Invalid("done_on must not lie in the future", field="done_on")
    if done_on < r.registered_on:
        raise Invalid("done_on must not precede the registration", field="done_on")
    r.duties.append(RegistrationDuty(kind=kind, done_on=done_on, note=note, recorded_by=user.username, recorded_at=now))
    session.flush()
    audit(
        session,
        actor=user,
        action="registration:duty",
        entity="party_registration",
        entity_id=r.id,
        after={"kind": kind.value, "done_on": done_on.isoformat()},
    )
    return r
