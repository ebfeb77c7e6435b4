"""What the building endpoints answer: footprints as GeoJSON, and a building named elsewhere."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.common.geojson import Feature


class BuildingSummary(BaseModel):
    """A building named in another answer (a located point)."""

    id: int
    number: str | None
    name_zh: str | None
    name_en: str | None
    households: int


class BuildingProperties(BaseModel):
    """A footprint's facts; the building chair only for staff (absent otherwise)."""

    number: str | None
    name_zh: str | None
    name_en: str | None
    compound_id: int | None
    grid_id: int | None
    floors: int | None
    households: int
    residents: int
    chair_name: str | None = Field(default=None, description="staff only")
    chair_phone: str | None = Field(default=None, description="staff only")


BuildingFeature = Feature[BuildingProperties]


class BuildingCollection(BaseModel):
    """A page of buildings (``limit``/``offset``) and how many it holds."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[BuildingFeature]
    numberReturned: int
