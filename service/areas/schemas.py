"""What the area endpoints answer: the hierarchy as a tree, one area as GeoJSON."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.areas.models import AreaLevel
from service.common.geojson import Feature, Geometry


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
    parent_id: int | None


AreaFeature = Feature[AreaProperties]
