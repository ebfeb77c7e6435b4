"""What the key-household API takes and answers: the register's and visit's bodies, and the read
models of a household, a visit, the list and the map layer (one point per building, with counts,
never a flat, a name or a phone number).

Times are ISO 8601 strings as the service writes them. Keys that are only sometimes present (a
household's ``visits``, a need's ``tracking_code``) are absent, not null, when they do not apply, so
the routes answer with ``response_model_exclude_unset``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from service.common.fields import Id
from service.common.geojson import Feature
from service.households.models import HouseholdKind

Members = Annotated[int, Strict(), Field(ge=1, le=30)]
VisitEvery = Annotated[int, Strict(), Field(ge=1, le=90)]


class HouseholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    building_id: Id
    unit_label: str | None = Field(default=None, max_length=40, description="the flat, e.g. 2单元301 (never mapped)")
    head_name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    kinds: list[HouseholdKind] = Field(min_length=1, max_length=6)
    members: Members = 1
    notes: str | None = Field(default=None, max_length=2000)
    caretaker_worker_id: Id | None = None
    caretaker_volunteer_id: Id | None = None
    visit_every_days: VisitEvery | None = Field(
        default=None, description="default NEIGHBORGRID_KEY_HOUSEHOLD_VISIT_DAYS (7: weekly)"
    )


class HouseholdPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Id | None = None
    unit_label: str | None = Field(default=None, max_length=40)
    head_name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    kinds: list[HouseholdKind] | None = Field(default=None, min_length=1, max_length=6)
    members: Members | None = None
    notes: str | None = Field(default=None, max_length=2000)
    caretaker_worker_id: Id | None = None
    caretaker_volunteer_id: Id | None = None
    visit_every_days: VisitEvery | None = None
    active: bool | None = None


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


class NeedOut(BaseModel):
    description: str
    category: str | None
    request_id: int | None = Field(description="the request the need was raised as, if it was")
    tracking_code: str | None = Field(default=None, description="present when the need was raised as a request")


class VisitOut(BaseModel):
    id: int
    at: str
    visitor: str
    notes: str
    needs: list[NeedOut]


class HouseholdOut(BaseModel):
    """The full record, for those who may see it (never for a map layer)."""

    id: int
    version: int
    building_id: int
    building_name_zh: str | None
    grid_id: int | None
    unit_label: str | None
    head_name: str
    phone: str | None
    kinds: list[str]
    members: int
    notes: str | None
    caretaker_worker_id: int | None
    caretaker_volunteer_id: int | None
    visit_every_days: int
    last_visit_at: str | None
    due_at: str
    overdue: bool
    overdue_days: int | float = Field(description="days past due (0 when not overdue)")
    active: bool
    lon: float
    lat: float
    visits: list[VisitOut] | None = Field(default=None, description="one household's answer only, newest first")


class HouseholdPage(BaseModel):
    items: list[HouseholdOut]
    total: int
    overdue: int
    now: str


class BuildingHouseholds(BaseModel):
    """One building on the map layer: counts only."""

    building_id: int
    building_name_zh: str | None
    building_name_en: str | None
    grid_id: int | None
    households: int
    overdue: int
    kinds: list[str]
    oldest_due_at: str
    household_ids: list[int]


class HouseholdLayer(BaseModel):
    """The map layer: a FeatureCollection of buildings, with the instant it was computed for."""

    type: Literal["FeatureCollection"]
    now: str
    features: list[Feature[BuildingHouseholds]]


class VisitRecorded(VisitOut):
    household: HouseholdOut
