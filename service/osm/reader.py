"""Read an OpenStreetMap ``.osm.pbf`` extract with pyrosm into plain data (no database here).

* **Walking network:** ``OSM(path).get_network("walking", nodes=True)``: one edge per segment
  between two consecutive OSM nodes (not simplified), undirected, with pyrosm's haversine
  ``length`` in metres. Self-loops (a node repeated in a way) are dropped: they never shorten a
  walk. Parallel edges are kept; the walking graph keeps the shortest. Nodes no edge uses are
  dropped.
* **Buildings:** footprints as MultiPolygons (invalid rings are repaired with ``make_valid``),
  with name, ``building:levels`` and ``addr:housenumber`` when present.
* **Stations:** features with a primary key of the mapping table (:mod:`service.osm.mapping`)
  that map to a station type, reduced to a point (ways and relations to a representative point
  inside them), with name, ``opening_hours``, phone, capacity and address.

Any failure to read the file (missing, empty, not a PBF, corrupt or truncated) raises
:class:`OsmImportError` with a message meant for people, never a pyrosm or protobuf traceback.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from service.common.errors import Invalid
from service.common.progress import NoProgress, Progress
from service.osm.mapping import PRIMARY_KEYS, STATION_TAG_RULES, rule_for
from service.stations.models import StationType

_NAME_KEYS = frozenset({"name", "name:zh", "name:zh-Hans", "name:en"})
_ADDRESS_KEYS = frozenset({"addr:street", "addr:housenumber", "addr:postcode", "addr:city"})
#: The tags read from buildings and from station candidates (keys outside these are ignored).
_BUILDING_KEYS = _NAME_KEYS | {"building:levels", "addr:housenumber"}
_STATION_KEYS = (
    _NAME_KEYS
    | _ADDRESS_KEYS
    | {"opening_hours", "phone", "contact:phone", "capacity"}
    | {key for rule in STATION_TAG_RULES for key in rule.match}
)


class OsmImportError(Invalid):
    """The file cannot be imported; the message says why, in words meant for the operator (the
    CLI prints it; anything serving an import over HTTP answers it as a 422 problem)."""


@dataclass(frozen=True, slots=True)
class OsmNode:
    osm_id: int
    lon: float
    lat: float

    @property
    def ref(self) -> str:
        return f"osm:node/{self.osm_id}"


@dataclass(frozen=True, slots=True)
class OsmEdge:
    """One walkable segment of way ``way_id`` (its ``seq``-th in the file), from ``u`` to ``v``."""

    way_id: int
    seq: int
    u: int
    v: int
    length_m: float
    highway: str | None
    name: str | None
    name_zh: str | None
    name_en: str | None
    geometry: LineString

    @property
    def ref(self) -> str:
        return f"osm:way/{self.way_id}/{self.seq}"


@dataclass(frozen=True, slots=True)
class OsmBuilding:
    osm_type: str  # way | relation
    osm_id: int
    geometry: MultiPolygon
    name_zh: str | None
    name_en: str | None
    levels: int | None
    housenumber: str | None

    @property
    def ref(self) -> str:
        return f"osm:{self.osm_type}/{self.osm_id}"


@dataclass(frozen=True, slots=True)
class OsmStation:
    osm_type: str  # node | way | relation
    osm_id: int
    station_type: StationType
    point: Point
    name_zh: str | None
    name_en: str | None
    opening_hours: str | None
    phone: str | None
    capacity: int | None
    address: str | None
    #: The tags the mapping and the import look at (the mapping keys, names, address, hours…).
    tags: dict[str, str]

    @property
    def ref(self) -> str:
        return f"osm:{self.osm_type}/{self.osm_id}"


@dataclass
class OsmData:
    """Everything read from one extract."""

    path: Path
    nodes: list[OsmNode] = field(default_factory=list)
    edges: list[OsmEdge] = field(default_factory=list)
    buildings: list[OsmBuilding] = field(default_factory=list)
    stations: list[OsmStation] = field(default_factory=list)
    #: Features with a primary key (amenity, shop…) that map to no station type.
    unmapped_features: int = 0
    self_loops_dropped: int = 0
    buildings_repaired: int = 0
    buildings_dropped: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.edges or self.buildings or self.stations)


# --------------------------------------------------------------------------- reading


def _check_path(path: Path) -> None:
    if not path.exists():
        raise OsmImportError(f"{path}: no such file")
    if path.is_dir():
        raise OsmImportError(f"{path} is a directory, not an OSM extract")
    if path.stat().st_size == 0:
        raise OsmImportError(f"{path} is empty (0 bytes); expected an OpenStreetMap .osm.pbf extract")
    if path.suffix.lower() != ".pbf":
        raise OsmImportError(
            f"{path} is not a .osm.pbf file; convert OSM XML first (e.g. `osmium cat FILE.osm -o FILE.osm.pbf`)"
        )


def _pyrosm_call(path: Path, what: str, call):
    """Run a pyrosm read; any failure becomes an :class:`OsmImportError` naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyrosm warns "Could not find any …" for empty layers
            return call()
    except OsmImportError:
        raise
    except MemoryError:
        raise OsmImportError(f"{path} is too large to read into memory ({what})") from None
    except Exception as exc:
        raise OsmImportError(
            f"cannot read {path} as an OpenStreetMap PBF extract ({what}): the file is corrupt, "
            f"truncated or not a PBF ({_reason(exc)})"
        ) from exc


def _convert(path: Path, what: str, call) -> None:
    """Turn pyrosm's frames into our records; data we cannot use becomes an :class:`OsmImportError`."""
    try:
        call()
    except OsmImportError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise OsmImportError(f"cannot import the {what} of {path}: unexpected data ({_reason(exc)})") from exc


def _reason(exc: Exception) -> str:
    """A short reason: pyrosm's own diagnosis in brackets at the end of its message, else the message."""
    text = " ".join(str(exc).split())
    found = re.search(r"\(([^()]+)\)\.?$", text)
    if found and type(exc).__name__ == "InvalidOSMFileError":
        return found.group(1)
    text = text or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def read_osm(path: str | Path, *, progress: Progress | None = None) -> OsmData:
    """Read the walking network, buildings and stations of ``path``; raises :class:`OsmImportError`."""
    path = Path(path)
    progress = progress or NoProgress()
    _check_path(path)
    advance = progress.task("read OSM file", 3)
    try:
        from pyrosm import OSM  # imported here: the service runs without pyrosm until an import is asked for
    except ImportError as exc:
        raise OsmImportError(f"reading OSM extracts needs pyrosm ({exc}): `pip install pyrosm`") from exc

    osm = _pyrosm_call(path, "opening", lambda: OSM(str(path)))
    data = OsmData(path=path)
    network = _pyrosm_call(path, "walking network", lambda: osm.get_network("walking", nodes=True))
    _convert(path, "walking network", lambda: _read_network(data, network))
    advance(1)
    buildings = _pyrosm_call(path, "buildings", lambda: osm.get_buildings())
    _convert(path, "buildings", lambda: _read_buildings(data, buildings))
    advance(1)
    pois = _pyrosm_call(path, "amenities", lambda: osm.get_pois(custom_filter={k: True for k in PRIMARY_KEYS}))
    _convert(path, "amenities", lambda: _read_stations(data, pois))
    advance(1)
    if data.is_empty:
        raise OsmImportError(f"{path} holds no walking network, buildings or amenities we can import")
    return data


# --------------------------------------------------------------------------- helpers


def _text(value: Any) -> str | None:
    """A tag value as stripped text; None for missing values (None, NaN, empty)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def _tags(row: dict[str, Any], keys: frozenset[str]) -> dict[str, str]:
    """The OSM tags of a pyrosm row among ``keys``: from its tag columns and its JSON ``tags``."""
    tags = {k: t for k, v in row.items() if k in keys and (t := _text(v)) is not None}
    extra = row.get("tags")
    if isinstance(extra, str) and extra:
        try:
            extra = json.loads(extra)
        except ValueError:
            extra = None
    if isinstance(extra, dict):
        for k, v in extra.items():
            if k in keys and k not in tags and (t := _text(v)) is not None:
                tags[k] = t
    return tags


def _names(tags: dict[str, str]) -> tuple[str | None, str | None]:
    """(name_zh, name_en): ``name:zh`` if present, else the local ``name``; ``name:en``."""
    zh = tags.get("name:zh") or tags.get("name:zh-Hans") or tags.get("name")
    return zh, tags.get("name:en")


def _first_int(value: str | None) -> int | None:
    """``"3"`` → 3, ``"2.5"`` → 2, ``"3;4"`` → 3; None for anything else."""
    if not value:
        return None
    try:
        number = float(value.split(";")[0].replace(",", ".").strip())
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number >= 0 else None


def _records(frame, columns: frozenset[str]) -> list[dict[str, Any]]:
    """The rows of a pyrosm frame as dicts, with only ``columns`` (if present) and the JSON ``tags``."""
    if frame is None or len(frame) == 0:
        return []
    keep = [c for c in frame.columns if c in columns or c in ("id", "osm_type", "geometry", "tags")]
    return frame[keep].to_dict("records")


# --------------------------------------------------------------------------- layers


def _read_network(data: OsmData, network) -> None:
    nodes_frame, edges_frame = network if isinstance(network, tuple) else (None, network)
    if edges_frame is None or len(edges_frame) == 0:
        return
    columns = [c for c in ("u", "v", "length", "id", "highway", "name", "tags", "geometry") if c in edges_frame]
    used: set[int] = set()
    seq: dict[int, int] = {}
    for row in edges_frame[columns].to_dict("records"):
        u, v, way_id = int(row["u"]), int(row["v"]), int(row["id"])
        n = seq.get(way_id, 0)
        seq[way_id] = n + 1
        if u == v:
            data.self_loops_dropped += 1
            continue
        tags = _tags(row, _NAME_KEYS)
        zh, en = _names(tags)
        data.edges.append(
            OsmEdge(
                way_id=way_id,
                seq=n,
                u=u,
                v=v,
                length_m=float(row["length"]),
                highway=_text(row.get("highway")),
                name=tags.get("name"),
                name_zh=zh,
                name_en=en,
                geometry=row["geometry"],
            )
        )
        used.update((u, v))
    for osm_id, lon, lat in zip(nodes_frame["id"], nodes_frame["lon"], nodes_frame["lat"], strict=True):
        if int(osm_id) in used:
            data.nodes.append(OsmNode(int(osm_id), float(lon), float(lat)))
    missing = used - {n.osm_id for n in data.nodes}
    if missing:
        raise OsmImportError(f"{data.path}: {len(missing)} street segments end at nodes missing from the file")


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    return [p for part in getattr(geom, "geoms", ()) for p in _polygons(part)]


def _polygonal(geom: BaseGeometry | None) -> tuple[MultiPolygon | None, bool]:
    """The geometry as a valid MultiPolygon (None if it has no area) and whether it was repaired."""
    if geom is None or geom.is_empty:
        return None, False
    repaired = not geom.is_valid
    if repaired:
        geom = shapely.make_valid(geom)
    parts = _polygons(geom)
    return (MultiPolygon(parts) if parts else None), repaired


def _read_buildings(data: OsmData, frame) -> None:
    for row in _records(frame, _BUILDING_KEYS):
        geom, repaired = _polygonal(row.get("geometry"))
        if geom is None:
            data.buildings_dropped += 1
            continue
        data.buildings_repaired += repaired
        tags = _tags(row, _BUILDING_KEYS)
        zh, en = _names(tags)
        data.buildings.append(
            OsmBuilding(
                osm_type=str(row.get("osm_type") or "way"),
                osm_id=int(row["id"]),
                geometry=geom,
                name_zh=zh,
                name_en=en,
                levels=_first_int(tags.get("building:levels")),
                housenumber=tags.get("addr:housenumber"),
            )
        )


def _point(geom: BaseGeometry | None) -> Point | None:
    if geom is None or geom.is_empty:
        return None
    if isinstance(geom, Point):
        return geom
    return geom.representative_point()  # inside a polygon, on a line


def _address(tags: dict[str, str]) -> str | None:
    street = " ".join(p for p in (tags.get("addr:street"), tags.get("addr:housenumber")) if p)
    town = " ".join(p for p in (tags.get("addr:postcode"), tags.get("addr:city")) if p)
    return ", ".join(p for p in (street, town) if p) or None


def _read_stations(data: OsmData, frame) -> None:
    for row in _records(frame, _STATION_KEYS):
        tags = _tags(row, _STATION_KEYS)
        rule = rule_for(tags)
        point = _point(row.get("geometry"))
        if rule is None or point is None:
            data.unmapped_features += 1
            continue
        zh, en = _names(tags)
        phone = tags.get("phone") or tags.get("contact:phone")
        data.stations.append(
            OsmStation(
                osm_type=str(row.get("osm_type") or "node"),
                osm_id=int(row["id"]),
                station_type=rule.station_type,
                point=point,
                name_zh=zh,
                name_en=en,
                opening_hours=tags.get("opening_hours"),
                phone=phone.split(";")[0].strip() if phone else None,
                capacity=_first_int(tags.get("capacity")),
                address=_address(tags),
                tags=tags,
            )
        )
