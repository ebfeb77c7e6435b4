"""What the station and coverage operations read and answer: the planners' edits, the GeoJSON
properties of a station, its walking area and the finder's hits, and the coverage reports."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from geo.coords import CoordType
from service.common.fields import Id, Number
from service.common.geojson import Feature, FeatureCollection, Geometry
from service.stations.models import StationType

Capacity = Annotated[int, Strict(), Field(ge=0, le=100000)]


class StationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: StationType
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    lon: Number
    lat: Number
    coord_type: CoordType = CoordType.WGS84
    opening_hours: str | None = Field(default=None, max_length=200)
    contact_phone: str | None = Field(default=None, max_length=40)
    capacity: Capacity | None = None
    address_zh: str | None = Field(default=None, max_length=300)
    community_id: Id | None = None


class StationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: StationType | None = None
    name_zh: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    lon: Number | None = None
    lat: Number | None = None
    coord_type: CoordType = CoordType.WGS84
    opening_hours: str | None = Field(default=None, max_length=200)
    contact_phone: str | None = Field(default=None, max_length=40)
    capacity: Capacity | None = None
    address_zh: str | None = Field(default=None, max_length=300)


class StationProperties(BaseModel):
    """A station's public fields (stations are public facilities: anyone may see all of them)."""

    name: str
    name_zh: str
    name_en: str | None
    type: StationType
    type_zh: str
    type_en: str
    opening_hours: str | None
    contact_phone: str | None
    capacity: int | None
    address_zh: str | None
    community_id: int | None


class NearbyStationProperties(StationProperties):
    """A finder hit: the whole walk there, and the route when asked for (``route=true``)."""

    walk_m: float
    walk_minutes: float
    route: Geometry | None = None


class Origin(BaseModel):
    lon: float
    lat: float


class NearbyStations(FeatureCollection[NearbyStationProperties]):
    origin: Origin
    minutes: int


class StationTypeLabel(BaseModel):
    type: StationType
    name_zh: str
    name_en: str


class ServiceAreaProperties(BaseModel):
    station_id: int
    name_zh: str
    type: StationType
    minutes: int
    walk_m: float
    reached_street_m: float
    area_m2: float
    network_revision: int
    computed_at: str


class UncoveredBuildingProperties(BaseModel):
    number: str | None
    name_zh: str | None
    name_en: str | None
    compound_id: int | None
    grid_id: int | None
    floors: int | None
    households: int
    residents: int | None


class Shares(BaseModel):
    buildings: int
    buildings_covered: int
    buildings_share: float | None
    households: int
    households_covered: int
    households_share: float | None


class CommunityShares(Shares):
    community_id: int | None


class GridShares(Shares):
    grid_id: int | None


class CoverageReport(BaseModel):
    type: StationType
    minutes: int
    walk_m: float
    stations: int
    overall: Shares
    communities: list[CommunityShares]
    grids: list[GridShares]
    #: only with ``uncovered=true``
    uncovered_buildings: FeatureCollection[UncoveredBuildingProperties] | None = None


class Site(BaseModel):
    node_id: int | str
    lon: float
    lat: float
    newly_covered_households: int
    reachable_uncovered_buildings: list[int]


class SitingAnswer(BaseModel):
    type: StationType
    minutes: int
    k: int
    method: str
    optimal: bool
    candidates: int
    sites: list[Site]
    households_covered_before: int
    households_covered_after: int
    households_total: int
    share_before: float | None
    share_after: float | None
    greedy_newly_covered: int
    greedy_gap: float


StationFeature = Feature[StationProperties]
StationCollection = FeatureCollection[StationProperties]
ServiceArea = Feature[ServiceAreaProperties]
