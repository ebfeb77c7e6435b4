"""What the street endpoint answers: street edges as GeoJSON."""

from __future__ import annotations

from pydantic import BaseModel

from service.common.geojson import FeatureCollection


class StreetProperties(BaseModel):
    """One undirected edge of the walking network, between nodes ``u`` and ``v``."""

    u: int
    v: int
    length_m: float
    kind: str
    name_zh: str | None
    name_en: str | None


StreetCollection = FeatureCollection[StreetProperties]
