"""Collections for OGC API Features, each a small provider over the domain's own queries.

The contract, after pygeoapi's: a provider names its table's id and geometry columns and its
queryable properties, builds the base ``select`` and turns rows into GeoJSON features with the same
domain functions the native API uses (so there is one query per layer, not a second copy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from service.areas.models import Area, AreaLevel
from service.auth.models import User
from service.buildings.models import Building
from service.buildings.service import anchor_point, building_features
from service.common.geojson import feature
from service.config import Settings
from service.grids.models import Grid, GridVersion
from service.grids.service import grid_features
from service.requests import access
from service.requests.models import OPEN_STATUSES, RequestCategory, ServiceRequest
from service.requests.views import public_lonlat
from service.stations.models import Station, StationCircle
from service.stations.service import station_features


@dataclass
class Provider:
    id: str
    title: str
    description: str
    model: type
    geometry: InstrumentedAttribute
    #: property name -> (column, JSON schema type); usable as ``?name=value`` filters
    queryables: dict[str, tuple[Any, str]]
    base: Callable[[Session], Select]
    #: features for the rows, given the caller (None: anonymous)
    to_features: Callable[[Session, list[Any], User | None, Settings], list[dict]]
    temporal: InstrumentedAttribute | None = None
    keywords: list[str] = field(default_factory=list)
    #: which rows the caller may read at all (None: every row of ``base``)
    scope: Callable[[Session, User | None, Settings, datetime], ColumnElement[bool]] | None = None

    def query(self, session: Session, viewer: User | None, settings: Settings, now: datetime) -> Select:
        """``base`` narrowed to what ``viewer`` may read; every read of a collection starts here."""
        query = self.base(session)
        return query if self.scope is None else query.where(self.scope(session, viewer, settings, now))

    def id_column(self):
        return next(iter(self.model.__table__.primary_key.columns))


def _areas(level: AreaLevel) -> Callable[[Session], Select]:
    return lambda _s: select(Area).where(Area.level == level, Area.retired_at.is_(None))


def _area_features(session: Session, rows: list[Area], _viewer: User | None, _settings: Settings) -> list[dict]:
    return [
        feature(
            a.id,
            a.geom,
            {
                "code": a.code,
                "name_zh": a.name_zh,
                "name_en": a.name_en,
                "level": a.level.value,
                "parent_id": a.parent_id,
            },
        )
        for a in rows
    ]


def _grids_base(_session: Session) -> Select:
    return (
        select(Grid)
        .where(Grid.retired_at.is_(None))
        .options(selectinload(Grid.community), selectinload(Grid.party_org), selectinload(Grid.workers))
    )


def _grid_features(session: Session, rows: list[Grid], _viewer: User | None, _settings: Settings) -> list[dict]:
    return grid_features(session, rows, with_people=False)


def _building_features(session: Session, rows: list[Building], _viewer: User | None, _settings: Settings) -> list[dict]:
    return building_features(rows, with_people=False)


def _station_features(session: Session, rows: list[Station], _viewer: User | None, _settings: Settings) -> list[dict]:
    return station_features(rows)


def _circle_features(
    session: Session, rows: list[StationCircle], _viewer: User | None, _settings: Settings
) -> list[dict]:
    stations = {s.id: s for s in session.scalars(select(Station).where(Station.id.in_([r.station_id for r in rows])))}
    return [
        feature(
            c.id,
            c.geom,
            {
                "station_id": c.station_id,
                "station": stations[c.station_id].name_zh,
                "type": stations[c.station_id].type.value,
                "minutes": c.minutes,
                "walk_m": c.walk_m,
                "area_m2": c.area_m2,
            },
        )
        for c in rows
    ]


def _requests_base(_session: Session) -> Select:
    return select(ServiceRequest).join(RequestCategory).where(ServiceRequest.status.in_(OPEN_STATUSES))


def _request_features(
    session: Session, rows: list[ServiceRequest], viewer: User | None, settings: Settings
) -> list[dict]:
    """Open requests: no reporter fields ever; the exact point only for requests in the caller's
    REST list (service/requests/access.py ``visible``), else the building's centre or a point
    rounded to ``public_location_grid_m``."""
    full = access.visible_ids(session, viewer, [r.id for r in rows])
    buildings = {
        b.id: b
        for b in session.scalars(
            select(Building).where(Building.id.in_([r.building_id for r in rows if r.building_id]))
        )
    }
    out = []
    for r in rows:
        props = {
            "category": r.category.code,
            "category_name_zh": r.category.name_zh,
            "status": r.status.value,
            "warning_level": r.warning_level.value,
            "level": r.level.value,
            "grid_id": r.grid_id,
            "reported_at": r.reported_at.isoformat(),
        }
        if r.id in full:
            geom = to_shape(r.location)
        else:
            b = buildings.get(r.building_id) if r.building_id else None
            lon, lat = public_lonlat(
                r, building_point=anchor_point(b) if b else None, grid_m=settings.public_location_grid_m
            )
            geom = Point(lon, lat)
        out.append(feature(r.id, geom, props))
    return out


PROVIDERS: dict[str, Provider] = {
    p.id: p
    for p in (
        Provider(
            "communities",
            "Communities 社区",
            "Community boundaries",
            Area,
            Area.geom,
            {"code": (Area.code, "string"), "parent_id": (Area.parent_id, "integer")},
            _areas(AreaLevel.COMMUNITY),
            _area_features,
            keywords=["community", "社区"],
        ),
        Provider(
            "compounds",
            "Residential compounds 小区",
            "Compound boundaries",
            Area,
            Area.geom,
            {"code": (Area.code, "string"), "parent_id": (Area.parent_id, "integer")},
            _areas(AreaLevel.COMPOUND),
            _area_features,
            keywords=["compound", "小区"],
        ),
        Provider(
            "grids",
            "Grids 网格",
            "Grid boundaries; datetime selects the version valid then",
            Grid,
            Grid.geom,
            {
                "code": (Grid.code, "string"),
                "layer": (Grid.layer, "string"),
                "community_id": (Grid.community_id, "integer"),
            },
            _grids_base,
            _grid_features,
            temporal=GridVersion.valid_from,
            keywords=["grid", "网格"],
        ),
        Provider(
            "buildings",
            "Buildings 楼栋",
            "Building footprints with households",
            Building,
            Building.geom,
            {"grid_id": (Building.grid_id, "integer"), "compound_id": (Building.compound_id, "integer")},
            lambda _s: select(Building).where(Building.retired_at.is_(None)),
            _building_features,
            keywords=["building", "楼栋"],
        ),
        Provider(
            "stations",
            "Service stations 服务站点",
            "Elderly care, childcare, convenience, parcel, volunteer and party-mass stations",
            Station,
            Station.geom,
            {"type": (Station.type, "string"), "community_id": (Station.community_id, "integer")},
            lambda _s: select(Station).where(Station.retired_at.is_(None)),
            _station_features,
            keywords=["station", "服务站"],
        ),
        Provider(
            "service_areas",
            "Service circles 服务圈",
            "5/10/15-minute walking areas of the stations",
            StationCircle,
            StationCircle.geom,
            {"station_id": (StationCircle.station_id, "integer"), "minutes": (StationCircle.minutes, "integer")},
            lambda _s: select(StationCircle),
            _circle_features,
            keywords=["life circle", "生活圈"],
        ),
        Provider(
            "requests",
            "Open requests 诉求",
            "Open residents' requests: without a token, those the reporter published (public_feed_days), "
            "located at the building or a 50 m grid; with one, also the caller's own cases, exactly",
            ServiceRequest,
            ServiceRequest.location,
            {
                "category": (RequestCategory.code, "string"),
                "status": (ServiceRequest.status, "string"),
                "warning_level": (ServiceRequest.warning_level, "string"),
            },
            _requests_base,
            _request_features,
            temporal=ServiceRequest.reported_at,
            keywords=["request", "诉求"],
            scope=access.readable,
        ),
    )
}
