"""Import an OpenStreetMap extract: walking network, buildings and stations, in one transaction.

Everything runs in the caller's transaction and nothing commits here, so a failure at any point
leaves the database as it was. The file is read completely (:func:`read_osm`) before the first
write, so a corrupt or empty file never touches the database.

* **Street network:** with ``replace_network=True`` (the default) the current network, whatever its
  origin, is deleted first (edges, then nodes). Otherwise it is kept and the extract's network is
  added to it. Either way, nodes are ``osm:node/<id>`` and edges ``osm:way/<way id>/<n>`` (the n-th
  segment of the way): a node or edge whose ref already exists is updated in place, never
  duplicated. The network revision is bumped, so the cached walking graph is rebuilt.
* **Buildings** (``osm:way/<id>``, ``osm:relation/<id>``) and **stations** (``osm:node/<id>``…)
  are upserted by ref: a re-import updates what OSM knows (geometry, name, levels, type, hours,
  phone…) and keeps what only we know (households, residents, grid, compound, building chair,
  entrance; a station's community). Households of a new building are unknown: 0.
* Stations need a ``name_zh``: OSM ``name:zh`` if present, else ``name``, else the type's label.
* Afterwards every station's service circles are rebuilt on the new network, in the same
  transaction, so the stored circles always match the stored network.

OSM data is © OpenStreetMap contributors, under the ODbL 1.0: show :data:`OSM_ATTRIBUTION` wherever
imported data is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.orm import Session

from service.buildings.models import Building
from service.common.layer_cache import BUILDINGS
from service.common.progress import NoProgress, Progress
from service.common.revisions import bump_revision
from service.config import Settings, get_settings
from service.network.graph import NETWORK_REVISION
from service.network.models import StreetEdge, StreetNode
from service.orm import utcnow
from service.osm.reader import OsmData, OsmImportError, read_osm
from service.stations.models import STATION_TYPE_LABELS, Station

OSM_ATTRIBUTION = "Data © OpenStreetMap contributors (ODbL)"
_CHUNK = 2000

__all__ = ["OSM_ATTRIBUTION", "OsmImportError", "import_osm", "load_osm"]


def import_osm(
    session: Session,
    *,
    path: str | Path,
    progress: Progress | None = None,
    replace_network: bool = True,
    settings: Settings | None = None,
) -> dict[str, int]:
    """Read ``path`` and load it (:func:`load_osm`); returns counts. Does not commit."""
    data = read_osm(path, progress=progress)
    return load_osm(session, data, progress=progress, replace_network=replace_network, settings=settings)


def load_osm(
    session: Session,
    data: OsmData,
    *,
    progress: Progress | None = None,
    replace_network: bool = True,
    settings: Settings | None = None,
) -> dict[str, int]:
    """Write what :func:`read_osm` read; returns counts per layer. Does not commit."""
    progress = progress or NoProgress()
    if replace_network and not data.edges:
        raise OsmImportError(
            f"{data.path} holds no walking network; importing it would delete the current one "
            "(use --keep-network to import its buildings and stations only)"
        )
    counts: dict[str, int] = {}
    if replace_network:
        counts["street_edges_removed"] = _count(session, StreetEdge)
        counts["street_nodes_removed"] = _count(session, StreetNode)
        session.execute(delete(StreetEdge))  # edges first: they reference the nodes
        session.execute(delete(StreetNode))
    node_ids, counts["street_nodes"] = _load_nodes(session, data, progress)
    counts["street_edges"] = _load_edges(session, data, node_ids, progress)
    if data.edges:
        bump_revision(session, NETWORK_REVISION)
    bump_revision(session, BUILDINGS)
    counts["buildings"], counts["buildings_updated"] = _load_buildings(session, data, progress)
    counts["buildings_skipped"] = data.buildings_dropped
    counts["stations"], counts["stations_updated"] = _load_stations(session, data, progress)
    for station_type in sorted({s.station_type for s in data.stations}):
        counts[f"stations.{station_type.value}"] = sum(s.station_type is station_type for s in data.stations)
    counts["amenities_unmapped"] = data.unmapped_features
    session.flush()
    session.expire_all()  # the rows were written with Core statements: reload any object already loaded
    counts["service_circles"] = _rebuild_circles(session, settings or get_settings(), progress)
    return counts


# --------------------------------------------------------------------------- helpers


def _count(session: Session, model) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _fit(value: str | None, column: ColumnElement[Any]) -> str | None:
    """Cut text to the column's length (PostgreSQL refuses longer values; SQLite would keep them)."""
    limit = getattr(column.type, "length", None)
    if value is None or limit is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


def _ewkt(geoms: Sequence[BaseGeometry]) -> list[str]:
    """Geometries as EWKT text at full precision, converted in one vectorised call.

    GeoAlchemy2 binds text through ``ST_GeomFromEWKT`` on both backends; handing it shapely
    objects or WKB costs a WKB -> shape -> WKT round trip per row on SpatiaLite."""
    if not geoms:
        return []
    return [f"SRID=4326;{wkt}" for wkt in shapely.to_wkt(list(geoms), rounding_precision=-1)]


def _upsert(
    session: Session,
    model,
    rows: list[dict[str, Any]],
    advance: Callable[[int], None],
    *,
    insert_only: dict[str, Any] | None = None,
    want_ids: bool = False,
) -> tuple[dict[str, int], int, int]:
    """Insert rows whose ``ref`` is new, update the others by primary key.

    Returns (ref -> id of every ``osm:`` row if ``want_ids``, inserted, updated). ``insert_only``
    adds values to new rows only (e.g. households = 0), so a re-import keeps what was recorded
    locally. Plain executemany without RETURNING: row-ordered RETURNING runs row by row on SQLite."""
    osm_rows = select(model.ref, model.id).where(model.ref.like("osm:%"))
    refs = {row["ref"] for row in rows}
    existing = {ref: id_ for ref, id_ in session.execute(osm_rows) if ref in refs}
    inserts = [row | (insert_only or {}) for row in rows if row["ref"] not in existing]
    updates = [row | {"id": existing[row["ref"]]} for row in rows if row["ref"] in existing]
    for chunk in _chunks(inserts):
        session.execute(insert(model.__table__), chunk)
        advance(len(chunk))
    for chunk in _chunks(updates):
        session.execute(update(model), chunk)
        advance(len(chunk))
    ids: dict[str, int] = dict(session.execute(osm_rows).all()) if want_ids else {}
    return ids, len(inserts), len(updates)


def _load_nodes(session: Session, data: OsmData, progress: Progress) -> tuple[dict[int, int], int]:
    advance = progress.task("street nodes", len(data.nodes))
    geoms = _ewkt(list(shapely.points([(n.lon, n.lat) for n in data.nodes]))) if data.nodes else []
    rows = [{"ref": n.ref, "geom": g} for n, g in zip(data.nodes, geoms, strict=True)]
    ids, _, _ = _upsert(session, StreetNode, rows, advance, want_ids=True)
    return {n.osm_id: ids[n.ref] for n in data.nodes}, len(rows)


def _load_edges(session: Session, data: OsmData, node_ids: dict[int, int], progress: Progress) -> int:
    advance = progress.task("street edges", len(data.edges))
    c = StreetEdge.__table__.c
    rows = [
        {
            "ref": e.ref,
            "u": node_ids[e.u],
            "v": node_ids[e.v],
            "length_m": e.length_m,
            "kind": _fit(e.highway or "street", c.kind),
            "name_zh": _fit(e.name_zh, c.name_zh),
            "name_en": _fit(e.name_en, c.name_en),
            "geom": g,
        }
        for e, g in zip(data.edges, _ewkt([e.geometry for e in data.edges]), strict=True)
    ]
    _upsert(session, StreetEdge, rows, advance)
    return len(rows)


def _load_buildings(session: Session, data: OsmData, progress: Progress) -> tuple[int, int]:
    advance = progress.task("buildings", len(data.buildings))
    c = Building.__table__.c
    rows = [
        {
            "ref": b.ref,
            "number": _fit(b.housenumber, c.number),
            "name_zh": _fit(b.name_zh, c.name_zh),
            "name_en": _fit(b.name_en, c.name_en),
            "floors": b.levels,
            "geom": g,
        }
        for b, g in zip(data.buildings, _ewkt([b.geometry for b in data.buildings]), strict=True)
    ]
    _, _, updated = _upsert(session, Building, rows, advance, insert_only={"households": 0, "residents": 0})
    return len(rows), updated


def _load_stations(session: Session, data: OsmData, progress: Progress) -> tuple[int, int]:
    advance = progress.task("stations", len(data.stations))
    c = Station.__table__.c
    now = utcnow()
    rows = [
        {
            "ref": s.ref,
            "type": s.station_type,
            "name_zh": _fit(s.name_zh or STATION_TYPE_LABELS[s.station_type][0], c.name_zh),
            "name_en": _fit(s.name_en, c.name_en),
            "opening_hours": _fit(s.opening_hours, c.opening_hours),
            "contact_phone": _fit(s.phone, c.contact_phone),
            "capacity": s.capacity,
            "address_zh": _fit(s.address, c.address_zh),
            "geom": g,
            "updated_at": now,
        }
        for s, g in zip(data.stations, _ewkt([s.point for s in data.stations]), strict=True)
    ]
    _, _, updated = _upsert(session, Station, rows, advance, insert_only={"created_at": now})
    return len(rows), updated


def _rebuild_circles(session: Session, settings: Settings, progress: Progress) -> int:
    """Rebuild every station's service circles on the new network, in the same transaction."""
    # Imported here, not at the top: the circles module (issue 4, written alongside this importer)
    # pulls in the geometry stack, which reading a file does not need.
    from service.stations.circles import rebuild_all_circles

    return rebuild_all_circles(session, settings=settings, progress=progress)
