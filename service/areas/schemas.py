"""What the area endpoints answer: lists of areas as GeoJSON, the hierarchy as a tree, one area."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.areas.models import AreaLevel
from service.common.geojson import Feature, FeatureCollection, Geometry


class AreaSummary(BaseModel):
    """An area named in another answer (a located point, a department's communities)."""

    id: int
    level: AreaLevel
    code: str
    name_zh: str
    name_en: str | None


class AreaNode(AreaSummary):
    """One area of the tree with its children; ``geometry`` only when asked for."""

    parent_id: int | None
    children: list[AreaNode]
    geometry: Geometry | None = Field(default=None, description="only with include_geometry")


class AreaProperties(AreaSummary):
    """One area: its parent by id and by code, and its version (grows with each import that changes it)."""

    parent_code: str | None
    parent_id: int | None
    version: int


AreaFeature = Feature[AreaProperties]


class AreaListProperties(BaseModel):
    """An area in a list. With ``fields=``, only the properties named there are present."""

    id: int | None = None
    code: str | None = None
    name_zh: str | None = None
    name_en: str | None = None
    level: AreaLevel | None = None
    parent_code: str | None = Field(default=None, description="the code of the area directly above")
    parent_id: int | None = None
    version: int | None = Field(default=None, description="grows with each import that changes the area")


AreaCollection = FeatureCollection[AreaListProperties]
