"""Independent geometry and bookkeeping for the grid-editing tests.

Everything the tests expect is computed here from what the API publishes (GeoJSON of grids,
communities and buildings), with shapely in a metric projection, never by calling the service's
own ``geo.topology``: buildings belong to the grid holding their representative point, households
are plain sums, shared boundaries are intersections of boundaries, and so on.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select

from service.buildings.models import Building
from service.events.models import OutboxEvent
from service.grids.models import Grid, GridVersion
from service.requests.models import RequestEvent, ServiceRequest
from tests.service.helpers import PROJ

#: Demo accounts allowed to edit grids, and the others.
EDITORS = ("planner", "admin")
NON_EDITORS = ("dispatcher", "resident1", "gridworker1", "volunteer1", "dept_zjj")


# -- geometry ----------------------------------------------------------------------------------


def metric(geom: BaseGeometry) -> BaseGeometry:
    return PROJ.to_metric(geom)


def lonlat(geom: BaseGeometry) -> BaseGeometry:
    return PROJ.to_wgs84(geom)


def m2(geom: BaseGeometry) -> float:
    return metric(geom).area if not geom.is_empty else 0.0


def gj(geom: BaseGeometry) -> dict[str, Any]:
    """A shapely geometry as a JSON-ready GeoJSON dict (full precision)."""
    m = mapping(geom)
    return {"type": m["type"], "coordinates": _lists(m["coordinates"])}


def _lists(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_lists(v) for v in value]
    return float(value)


def polygons(geom: BaseGeometry) -> list[Polygon]:
    return [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]


def as_multi(geom: BaseGeometry) -> MultiPolygon:
    return MultiPolygon(polygons(geom))


def shared_line(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    """The boundary two grids share, merged into as few lines as possible."""
    common = a.boundary.intersection(b.boundary)
    lines = [g for g in shapely.get_parts(common) if isinstance(g, LineString)]
    return shapely.line_merge(shapely.union_all(lines)) if lines else LineString()


def shared_m(a: BaseGeometry, b: BaseGeometry) -> float:
    line = shared_line(a, b)
    return metric(line).length if not line.is_empty else 0.0


def strip(into: BaseGeometry, beside: BaseGeometry, depth_m: float) -> BaseGeometry:
    """The part of ``into`` within ``depth_m`` metres of the boundary it shares with ``beside``."""
    near = metric(shared_line(into, beside)).buffer(depth_m)
    return lonlat(metric(into).intersection(near))


def move_boundary(a: BaseGeometry, b: BaseGeometry, depth_m: float) -> tuple[BaseGeometry, BaseGeometry, BaseGeometry]:
    """Move the boundary ``a`` and ``b`` share ``depth_m`` metres into ``b`` (for both grids, so the
    layer stays a tiling): (new a, new b, the strip that changed hands)."""
    s = strip(b, a, depth_m)
    return as_multi(a.union(s)), as_multi(b.difference(s)), s


def same_shape(a: BaseGeometry, b: BaseGeometry, tol_m: float = 0.02) -> bool:
    """Equal up to the API's rounding (7 decimals, about 1 cm): Hausdorff distance in metres."""
    return metric(a).hausdorff_distance(metric(b)) <= tol_m


def covers_point(geom: BaseGeometry, point: Point) -> bool:
    return geom.covers(point)


def holder(layer: dict[Any, BaseGeometry], point: Point) -> Any:
    """The one key whose geometry covers ``point`` (None: none); a point on a boundary fails the test."""
    found = [k for k, g in layer.items() if g.covers(point)]
    assert len(found) <= 1, f"{point} lies on the boundary of {found}: pick another one"
    return found[0] if found else None


def tiling_defects_m2(region: BaseGeometry, parts: list[BaseGeometry]) -> tuple[float, float]:
    """(area of the region no part covers plus area of parts outside it, total pairwise overlap)."""
    union = shapely.union_all(parts)
    overlap = sum(m2(a.intersection(b)) for a, b in itertools.combinations(parts, 2))
    return m2(region.symmetric_difference(union)), overlap


def inner_points(geom: BaseGeometry, n: int, *, margin_m: float = 3.0, seed: int = 0) -> list[tuple[float, float]]:
    """``n`` random points at least ``margin_m`` inside ``geom``."""
    core = metric(geom).buffer(-margin_m)
    assert not core.is_empty, "the shape is too thin for inner points"
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = core.bounds
    out: list[tuple[float, float]] = []
    while len(out) < n:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if core.contains(Point(x, y)):
            lon, lat = PROJ.inverse(x, y)
            out.append((float(lon), float(lat)))
    return out


def with_extra_vertex(geom: BaseGeometry, edge: int = 0) -> MultiPolygon:
    """The same shape with one more vertex: the midpoint of exterior edge ``edge`` of the first part."""
    parts = polygons(geom)
    ring = list(parts[0].exterior.coords)
    i = edge % (len(ring) - 1)
    (x1, y1), (x2, y2) = ring[i], ring[i + 1]
    ring.insert(i + 1, ((x1 + x2) / 2, (y1 + y2) / 2))
    first = Polygon(ring, [list(r.coords) for r in parts[0].interiors])
    return MultiPolygon([first, *parts[1:]])


# -- what the API says -------------------------------------------------------------------------


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text[:2000]}"
    return response.json()


def etag(client: httpx.Client, grid_id: int) -> str:
    r = client.get(f"/api/v1/grids/{grid_id}")
    assert r.status_code == 200, r.text
    return r.headers["etag"]


def version_of(client: httpx.Client, grid_id: int) -> int:
    return int(etag(client, grid_id).strip('"'))


def grids_of(client: httpx.Client, **params: Any) -> dict[int, dict]:
    return {f["id"]: f for f in ok(client.get("/api/v1/grids", params=params))["features"]}


def building_ids_of(client: httpx.Client, grid_id: int) -> set[int]:
    fc = ok(client.get("/api/v1/buildings", params={"grid_id": grid_id, "limit": 20000}))
    return {f["id"] for f in fc["features"]}


def history_of(client: httpx.Client, grid_id: int) -> list[dict]:
    return ok(client.get(f"/api/v1/grids/{grid_id}/history"))["features"]


# -- what is stored ----------------------------------------------------------------------------


def db_state(backend) -> dict[str, Any]:
    """Everything an edit could touch, read straight from the database."""
    with backend.db.reader() as s:
        return {
            "grids": {
                g.id: (g.layer.value, g.code, g.version, g.retired_at, to_shape(g.geom).wkb_hex)
                for g in s.scalars(select(Grid))
            },
            "versions": sorted(
                (v.grid_id, v.version, v.valid_from, v.valid_to, to_shape(v.geom).wkb_hex)
                for v in s.scalars(select(GridVersion))
            ),
            "buildings": {bid: gid for bid, gid in s.execute(select(Building.id, Building.grid_id))},
            "requests": {r.id: (r.grid_id, r.status.value, r.version) for r in s.scalars(select(ServiceRequest))},
            "request_events": s.scalar(select(func.count()).select_from(RequestEvent)),
            "events": s.scalar(select(func.count()).select_from(OutboxEvent)),
        }


def history_rows(backend, grid_id: int | None = None) -> int:
    with backend.db.reader() as s:
        query = select(func.count()).select_from(GridVersion)
        if grid_id is not None:
            query = query.where(GridVersion.grid_id == grid_id)
        return s.scalar(query)
