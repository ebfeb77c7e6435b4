"""What the building-duty endpoints accept and answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from service.common.fields import Id
from service.duty.models import DisputeOutcome


class RotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    members: list[Id] = Field(max_length=60, description="volunteers who live in the building, in duty order")
    chair_volunteer_id: Id | None = Field(default=None, description="the building chair (楼栋主席); default the first")
    starts_on: date | None = Field(default=None, description="first week (moved to its Monday); default this week")


class DisputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str = Field(min_length=1, max_length=2000, description="what the dispute was about (no names needed)")
    outcome: DisputeOutcome
    request_category: str | None = Field(
        default=None, max_length=40, description="refer it as a request of this category (outcome 'referred')"
    )


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: Annotated[int, Strict(), Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")]
    comment: str | None = Field(default=None, max_length=2000)


class Person(BaseModel):
    volunteer_id: int
    name_zh: str
    name_en: str | None


class RotationMemberOut(BaseModel):
    """A member in duty order (name fields absent when the volunteer is gone)."""

    position: int
    volunteer_id: int | None = None
    name_zh: str | None = None
    name_en: str | None = None


class RotationOut(BaseModel):
    id: int
    chair: Person | None
    starts_on: str
    members: list[RotationMemberOut]
    updated_at: str
    updated_by: str


class DutyWeek(BaseModel):
    week_start: str
    holder: Person | None


class BuildingDuty(BaseModel):
    """A building's chair, rotation, this week's duty-holder and the next weeks."""

    building_id: int
    chair_name: str | None
    rotation: RotationOut | None
    this_week: DutyWeek | None
    schedule: list[DutyWeek]


class DisputeOut(BaseModel):
    id: int
    building_id: int
    volunteer_id: int
    week_start: str
    at: str
    summary: str
    outcome: str
    request_id: int | None


class RatingOut(BaseModel):
    id: int
    building_id: int
    compound_id: int | None
    volunteer_id: int
    week_start: str
    at: str
    score: int
    comment: str | None


class DutyLog(BaseModel):
    building_id: int
    disputes: list[DisputeOut]
    ratings: list[RatingOut]


class ScorePoint(BaseModel):
    period: str
    score: float
    ratings: int


class CompoundScore(BaseModel):
    compound_id: int
    name_zh: str
    name_en: str | None
    score: float
    ratings: int
    series: list[ScorePoint]


class PropertyScores(BaseModel):
    period: str
    start: str
    end: str
    items: list[CompoundScore]
