"""What the volunteer endpoints accept and answer."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from geo.coords import CoordType
from service.common.fields import Number
from service.common.geojson import FeatureCollection


class PositionAge(BaseModel):
    """How old the last reported position is, and whether it still counts for the nearest-volunteer
    choice (``NEIGHBORGRID_VOLUNTEER_POSITION_MAX_AGE_MINUTES``)."""

    position_age_minutes: float | None
    position_fresh: bool


class VolunteerProperties(PositionAge):
    name_zh: str
    name_en: str | None
    phone: str | None
    skills: list[str] | None
    team_zh: str | None
    team_en: str | None
    on_duty: bool
    position_at: str | None
    community_id: int | None
    home_building_id: int | None


VolunteerCollection = FeatureCollection[VolunteerProperties]


class GridWorkerOut(BaseModel):
    id: int
    name_zh: str
    name_en: str | None
    phone: str | None
    role: str
    party_member: bool
    on_duty: bool
    grid_ids: list[int]


class MyVolunteer(PositionAge):
    """A volunteer's own record: duty, last position (WGS84) and its age."""

    id: int
    name_zh: str
    name_en: str | None
    skills: list[str] | None
    team_zh: str | None
    community_id: int | None
    home_building_id: int | None
    on_duty: bool
    lon: float | None
    lat: float | None
    position_at: str | None


class DutyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_duty: bool


class PositionIn(BaseModel):
    """Where the volunteer is, from the phone: ``wgs84`` (GPS, ``wx.getLocation``), ``gcj02`` (Amap,
    Tencent, WeChat maps) or ``bd09`` (Baidu)."""

    model_config = ConfigDict(extra="forbid")

    lon: Number
    lat: Number
    coord_type: CoordType = CoordType.WGS84
    on_duty: bool | None = Field(default=None, description="also go on or off duty")
    accuracy_m: Annotated[float, Strict(), Field(ge=0, le=100_000, allow_inf_nan=False)] | None = None
