"""What the OGC API - Features answers (OGC 17-069r4): the landing page, conformance, collections
and GeoJSON items with their links. A feature's properties depend on its collection (the
providers say which), so they are an object here; ``/ogc/api`` documents them per collection."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.common.geojson import Geometry


class Link(BaseModel):
    href: str
    rel: str
    type: str
    title: str


class LandingPage(BaseModel):
    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    conformsTo: list[str]


class SpatialExtent(BaseModel):
    bbox: list[list[float]]
    crs: str


class TemporalExtent(BaseModel):
    interval: list[list[str | None]]
    trs: str


class Extent(BaseModel):
    spatial: SpatialExtent
    #: only for collections with a time (``datetime`` filters them)
    temporal: TemporalExtent | None = None


class Collection(BaseModel):
    id: str
    title: str
    description: str
    keywords: list[str]
    itemType: Literal["feature"]
    crs: list[str]
    storageCrs: str
    extent: Extent
    links: list[Link]


class Collections(BaseModel):
    links: list[Link]
    collections: list[Collection]


class OgcFeature(BaseModel):
    """One feature; alone (``/items/{id}``) it carries its links."""

    type: Literal["Feature"] = "Feature"
    id: int | str | None
    geometry: Geometry | None
    properties: dict[str, Any]
    links: list[Link] | None = None


class ItemsPage(BaseModel):
    """A page of a collection's features, with the count matched and the paging links."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[OgcFeature]
    numberMatched: int
    numberReturned: int
    timeStamp: str
    links: list[Link]


class OpenApiDocument(BaseModel):
    """The OpenAPI 3.0 definition of the OGC API (generated from the providers)."""

    model_config = ConfigDict(extra="allow")

    openapi: str = Field(description="3.0.3")
    info: dict[str, Any]
    paths: dict[str, Any]
