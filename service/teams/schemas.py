"""What the team and double-registration endpoints accept and answer."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from service.common.fields import Id
from service.teams.models import DutyKind, TeamRole


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    kind: str = Field(min_length=1, max_length=40, description="mediation, legal, poverty_relief, tutoring…")
    community_id: Id
    grid_id: Id | None = None
    description: str | None = Field(default=None, max_length=2000)


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    volunteer_id: Id
    role: TeamRole = TeamRole.MEMBER


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


class DutyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DutyKind
    done_on: date
    note: str | None = Field(default=None, max_length=1000)


class TeamOut(BaseModel):
    id: int
    name_zh: str
    name_en: str | None
    kind: str
    community_id: int
    grid_id: int | None
    description: str | None
    active: bool
    leader_volunteer_id: int | None
    member_count: int


class TeamMemberOut(BaseModel):
    volunteer_id: int
    role: str
    name_zh: str | None
    name_en: str | None
    skills: list[str] | None
    joined_at: str


class TeamDetail(TeamOut):
    """A team with its members."""

    members: list[TeamMemberOut]


class RegistrationOut(BaseModel):
    """A double registration with the duties done in ``year`` and the "4+1" duties still ``missing``."""

    id: int
    name_zh: str
    name_en: str | None
    work_unit_zh: str | None
    community_id: int
    party_org_id: int | None
    volunteer_id: int | None
    registered_on: str
    active: bool
    year: int
    duties: dict[str, int]
    missing: list[str]
    short: bool
    phone: str | None


class Registrations(BaseModel):
    year: int
    rule: dict[str, int]
    total: int
    short: int
    items: list[RegistrationOut]
