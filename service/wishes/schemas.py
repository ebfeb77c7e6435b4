"""What the wishes API takes and answers: the posting and step bodies, and the read models of a
wish, its lists (JSON page, GeoJSON layer, walking-distance search), categories and monthly stats.

Times are ISO 8601 strings as the service writes them. The people of a wish (claimant, the resident
it was posted for, the claimant's note) are present only for those who may see them, so the routes
answer with ``response_model_exclude_unset``: a key left unset is absent, not null.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from geo.coords import CoordType
from service.common.fields import Id, Number
from service.common.geojson import FeatureCollection
from service.common.times import Period
from service.wishes.models import WISH_CATEGORIES, WishKind, WishStatus

Hours = Annotated[float, Strict(), Field(gt=0, le=24, allow_inf_nan=False)]


class WishIn(BaseModel):
    """A wish (a need) or a project (a mutual-aid offer). Give ``lon``/``lat`` or a ``building_id``;
    the wish is shown at its building's entrance, never at a flat."""

    model_config = ConfigDict(extra="forbid")

    kind: WishKind = WishKind.WISH
    category: str = Field(max_length=40, description=", ".join(WISH_CATEGORIES))
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    lon: Number | None = None
    lat: Number | None = None
    coord_type: CoordType = CoordType.WGS84
    building_id: Id | None = None
    hours: Hours = Field(default=1.0, description="expected effort; the claimant earns points for it")
    on_behalf_of: str | None = Field(default=None, max_length=100, description="staff: the resident's name")


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Id | None = Field(default=None, description="the wish's version, to refuse a stale step (409)")
    note: str | None = Field(default=None, max_length=2000)


class WishOut(BaseModel):
    """A wish as its viewer may see it, at building level."""

    id: int
    version: int
    kind: WishKind
    category: str
    category_name_zh: str
    category_name_en: str
    title: str
    description: str | None
    status: WishStatus
    lon: float
    lat: float
    building_id: int | None
    grid_id: int | None
    community_id: int | None
    hours: float
    posted_at: str
    claimed_at: str | None
    claim_expires_at: str | None
    fulfilled_at: str | None
    confirmed_at: str | None
    points_awarded: int | None
    mine: bool = Field(description="the viewer posted it")
    claimant_volunteer_id: int | None = Field(default=None, description="only for its poster, claimant and staff")
    on_behalf_of: str | None = Field(default=None, description="only for its poster, claimant and staff")
    fulfil_note: str | None = Field(default=None, description="only for its poster, claimant and staff")


class WishPage(BaseModel):
    items: list[WishOut]
    total: int
    limit: int
    offset: int


class WishCollection(FeatureCollection[WishOut]):
    """The map's wishes layer: one point per wish, at its building's entrance."""

    numberMatched: int = Field(description="how many wishes match, over all pages")


class NearbyWish(WishOut):
    walk_m: float = Field(description="the whole walk on the street network, in metres")
    walk_minutes: float


class Origin(BaseModel):
    lon: float
    lat: float
    coord_type: Literal["wgs84"] = "wgs84"


class NearbyWishes(BaseModel):
    from_: Origin = Field(alias="from")
    minutes: int
    items: list[NearbyWish]


class WishCategory(BaseModel):
    code: str
    name_zh: str
    name_en: str


class WishCounts(BaseModel):
    posted: int
    claimed: int
    fulfilled: int
    confirmed: int


class GridMonthCounts(BaseModel):
    grid_id: int | None
    month: str = Field(description="YYYY-MM on the local calendar (UTC+8)")
    posted: int
    claimed: int
    fulfilled: int
    confirmed: int


class WishStats(BaseModel):
    period: Period
    totals: WishCounts
    items: list[GridMonthCounts]
