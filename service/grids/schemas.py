"""What the grid endpoints accept (edits, splits, merges) and answer (GeoJSON grids, locate,
previews and applied edits, department-layer imports, comparisons and proposals)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from geo.coords import CoordType
from service.areas.schemas import AreaSummary
from service.buildings.schemas import BuildingSummary
from service.common.fields import Id
from service.common.geojson import Feature, FeatureCollection
from service.grids.models import GridLayer

# -- what the endpoints accept ----------------------------------------------------------------


class GridEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(default=None, description="absent: a new grid")
    version: Annotated[int, Field(ge=1)] | None = Field(default=None, description="the version you edited")
    geometry: dict[str, Any] | None = Field(default=None, description="GeoJSON (Multi)Polygon; null retires")
    community_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    layer: GridLayer = GridLayer.ONE_NETWORK
    name_zh: str | None = Field(default=None, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)


class GridEdits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grids: list[GridEdit] = Field(min_length=1, max_length=200)
    coord_type: CoordType = CoordType.WGS84
    comment: str | None = Field(default=None, max_length=1000, description="why (required to apply)")


class GeometryEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    geometry: dict[str, Any]
    coord_type: CoordType = CoordType.WGS84
    comment: str = Field(min_length=1, max_length=1000)


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grid_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    version: Annotated[int, Field(ge=1)]
    line: dict[str, Any] = Field(description="GeoJSON LineString crossing the grid from edge to edge")
    coord_type: CoordType = CoordType.WGS84
    comment: str | None = Field(default=None, min_length=1, max_length=1000, description="required unless dry_run")
    dry_run: bool = Field(default=False, description="validate and show the impact (as /grids/preview); save nothing")


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grid_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=2, max_length=10)
    versions: list[Annotated[int, Field(ge=1)]] = Field(min_length=2, max_length=10)
    comment: str | None = Field(default=None, min_length=1, max_length=1000, description="required unless dry_run")
    dry_run: bool = Field(default=False, description="validate and show the impact (as /grids/preview); save nothing")


class RevertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_version: Annotated[int, Field(ge=1)]
    comment: str = Field(min_length=1, max_length=1000)


# -- grids as GeoJSON -------------------------------------------------------------------------


class GridWorkerOut(BaseModel):
    """A grid worker as staff see them on a grid."""

    id: int
    name_zh: str
    name_en: str | None
    phone: str | None
    role: str


class GridProperties(BaseModel):
    """A current grid; ``workers`` only for staff (absent otherwise)."""

    code: str
    name: str | None
    name_zh: str | None
    name_en: str | None
    layer: GridLayer
    community: str | None
    community_en: str | None
    community_id: int
    community_code: str
    party_org: str | None
    party_org_en: str | None
    households: int
    buildings: int
    workers_count: int
    version: int
    workers: list[GridWorkerOut] | None = Field(default=None, description="staff only")


class GridAsOfProperties(BaseModel):
    """A grid as it stood at a past moment (``GET /grids?at=``)."""

    code: str
    name: str | None
    name_zh: str | None
    name_en: str | None
    layer: GridLayer
    community: str | None
    community_id: int
    version: int
    valid_from: str
    valid_to: str | None


class GridCollection(BaseModel):
    """The grids of a layer; with ``at``, each as it stood then (and ``at`` repeated)."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature[GridProperties]] | list[Feature[GridAsOfProperties]]
    at: str | None = Field(default=None, description="only when asked with at")


GridFeature = Feature[GridProperties]


class GridVersionProperties(BaseModel):
    """One accepted boundary of a grid (its history)."""

    grid_id: int
    version: int
    change: str
    changed_by: str
    comment: str | None
    valid_from: str
    valid_to: str | None


GridHistory = FeatureCollection[GridVersionProperties]


# -- locate -----------------------------------------------------------------------------------


class LocatedPoint(BaseModel):
    lon: float
    lat: float
    coord_type: Literal["wgs84"]


class GridAtProperties(BaseModel):
    """The grid that held a point at a past moment."""

    model_config = ConfigDict(extra="forbid")

    code: str
    name_zh: str | None
    version: int
    layer: GridLayer


class Location(BaseModel):
    """Which grid, areas, community, compound and building hold a point. With ``at``, the grid of
    that moment only (no areas, community, compound or building). With ``fields``, only the members
    named there (``outside_coverage``, ``distance_m``, ``point`` and ``at`` always)."""

    grid: Feature[GridAtProperties] | Feature[GridProperties] | None = Field(
        default=None, description="its geometry null when fields= is given without geometry"
    )
    areas: list[AreaSummary] | None = Field(
        default=None, description="every area holding the point, top level first (city, district, ... compound)"
    )
    community: AreaSummary | None = None
    compound: AreaSummary | None = None
    building: BuildingSummary | None = None
    outside_coverage: bool
    distance_m: float | None
    at: str | None = Field(default=None, description="only when asked with at")
    point: LocatedPoint


class BulkLocated(BaseModel):
    """One point of a bulk locate, in the request's order."""

    index: int = Field(description="the point's position in the request, from 0")
    id: str | int | None = Field(description="the feature's id or the CSV's id column, if sent")
    lon: float = Field(description="WGS84, 8 decimals")
    lat: float = Field(description="WGS84, 8 decimals")
    grid_code: str | None
    grid_id: int | None
    outside_coverage: bool
    distance_m: float | None = Field(description="0 inside a grid; to the nearest grid when outside; null: no grid")
    areas: dict[str, str] = Field(description="level -> code of each area holding the point, e.g. district: 350625")


class BulkLocation(BaseModel):
    """Every point of a bulk locate, in the request's order."""

    layer: GridLayer
    count: int
    points: list[BulkLocated]


# -- previews and edits -----------------------------------------------------------------------

Key = int | str


class EditIssue(BaseModel):
    """One broken rule, where it is, and for an invalid polygon what ``make_valid`` makes of it."""

    rule: str
    message: str
    grid: Key | None
    other: Key | None
    community_id: int
    area_m2: float | None
    location: list[float] | None
    geometry: dict[str, Any] | None
    make_valid: dict[str, Any] | None


class BuildingMove(BaseModel):
    item: int
    before: Key | None
    after: Key | None
    weight: int


class RequestMove(BaseModel):
    item: int
    before: Key | None
    after: Key | None


class GridHouseholds(BaseModel):
    grid: Key
    households_before: int | None
    households_after: int | None
    warning: str | None


class EditImpact(BaseModel):
    """What the edit changes in one community and layer."""

    community_id: int
    layer: GridLayer
    buildings_moved: list[BuildingMove]
    households_moved: int
    requests_reassigned: list[RequestMove]
    households: list[GridHouseholds]
    homeless_buildings: list[int]


class ChangedGrid(BaseModel):
    id: int
    code: str
    version: int
    retired: bool


class EditResult(BaseModel):
    """A preview (``grids`` absent) or an applied edit (``grids``: what changed)."""

    valid: bool
    validation: list[EditIssue]
    impact: list[EditImpact]
    grids: list[ChangedGrid] | None = Field(default=None, description="only once applied")


# -- department layers ----------------------------------------------------------------------


class LayerImport(BaseModel):
    layer: GridLayer
    created: int
    updated: int
    unchanged: int
    retired: int


class OneToOne(BaseModel):
    grid: int
    code: str
    merged_grid: int
    merged_code: str
    iou: float


class SliverProperties(BaseModel):
    grid: int
    code: str
    merged_grid: int
    merged_code: str
    area_m2: float


class SplitBuilding(BaseModel):
    building_id: int
    name_zh: str | None
    households: int
    grids: list[str]


class LayerComparison(BaseModel):
    layer: GridLayer
    against: GridLayer
    grids: int
    merged_grids: int
    one_to_one: list[OneToOne]
    slivers: FeatureCollection[SliverProperties]
    split_buildings: list[SplitBuilding]


class PieceProperties(BaseModel):
    households: int
    area_m2: float


class LayerProposal(FeatureCollection[PieceProperties]):
    """A merged layer proposed for a community from department layers."""

    community_id: Id
    layers: list[GridLayer]
