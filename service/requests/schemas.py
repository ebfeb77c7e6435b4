"""Request bodies for the requests API. Numbers must be JSON numbers (no strings, NaN or Infinity)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from geo.coords import CoordType
from service.common.fields import Id, Number
from service.requests.models import Channel, HandlingLevel, Scope


class RequestIn(BaseModel):
    """A new request. Give ``lon``/``lat`` (in ``coord_type``) or a ``building_id``."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(max_length=40, description="a category code from GET /api/v1/categories")
    description: str = Field(max_length=20000, description="what is wrong (length limit is a setting)")
    lon: Number | None = Field(default=None, description="longitude in coord_type")
    lat: Number | None = Field(default=None, description="latitude in coord_type")
    coord_type: CoordType = CoordType.WGS84
    channel: Channel = Channel.WEB
    building_id: Id | None = None
    scope: Scope | None = Field(default=None, description="how far it reaches; default from the category")
    reporter_name: str | None = Field(default=None, max_length=100)
    reporter_phone: str | None = Field(default=None, max_length=32)
    attributes: dict[str, str | int | float | bool] | None = Field(
        default=None, max_length=20, description="category-specific answers, e.g. floor for a lift failure"
    )
    public: Annotated[bool, Strict()] = Field(
        default=False,
        description="the reporter agrees to show it on the public map and feeds (category, rounded place, "
        "masked text where the category allows); ignored when staff enter a request for someone",
    )


class TransitionIn(BaseModel):
    """One step of the closed loop. ``version`` (or an If-Match header) guards against stale edits."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(max_length=40, description="accept, dispatch, arrive, resolve, verify, evaluate, …")
    version: Id | None = None
    note: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(default=None, max_length=2000)
    volunteer_id: Id | None = None
    department_id: Id | None = None
    to_department: bool = False
    duplicate_of: Id | None = None
    level: HandlingLevel | None = None
    satisfaction: Annotated[int, Strict()] | None = None
    comment: str | None = Field(default=None, max_length=2000)
    tracking_code: str | None = Field(default=None, max_length=16, description="lets a reporter act without login")
