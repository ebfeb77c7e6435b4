"""The demo town's boundaries, grids and streets (fixtures/demo/) brought into an empty city the way
a city brings its own: areas and grids through ``POST /api/v1/imports/{kind}``, the street network
(which no import kind loads) straight into its tables. Stations and people tests build on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import shape

from service.common.revisions import bump_revision
from service.network.graph import NETWORK_REVISION
from service.network.models import StreetEdge, StreetNode
from tests.support.cityfiles import EmptyCity

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo"
#: The demo's communities: 龙津, 珪后, 积山.
COMMUNITIES = ("350625100001", "350625100002", "350625100003")


def demo_features(name: str) -> list[dict[str, Any]]:
    return json.loads((DEMO / f"{name}.geojson").read_text(encoding="utf-8"))["features"]


def _collection(features: list[dict[str, Any]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode()


def load_town(city: EmptyCity, *, streets: bool = True) -> None:
    """District, township and communities, the one-network grids, and (``streets``) the network."""
    areas = [f for f in demo_features("areas") if f["properties"]["level"] != "compound"]
    r = city.import_file("areas", "areas.geojson", _collection(areas), coord_type="wgs84")
    assert r.status_code == 200, r.text
    grids = [
        {**f, "properties": {k: v for k, v in f["properties"].items() if k in ("code", "name_zh", "name_en")}}
        for f in demo_features("grids")
        if f["properties"]["layer"] == "one_network"
    ]
    r = city.import_file("grids", "grids.geojson", _collection(grids), coord_type="wgs84")
    assert r.status_code == 200, r.text
    if streets:
        load_streets(city)


def load_streets(city: EmptyCity) -> None:
    with city.db.transaction() as session:
        nodes: dict[str, StreetNode] = {}
        for f in demo_features("street_nodes"):
            node = StreetNode(ref=f["properties"]["key"], geom=from_shape(shape(f["geometry"]), srid=4326))
            session.add(node)
            nodes[f["properties"]["key"]] = node
        session.flush()
        for f in demo_features("street_edges"):
            p = f["properties"]
            session.add(
                StreetEdge(
                    ref=p["key"],
                    u=nodes[p["u"]].id,
                    v=nodes[p["v"]].id,
                    length_m=float(p["length_m"]),
                    kind=p.get("kind", "street"),
                    geom=from_shape(shape(f["geometry"]), srid=4326),
                )
            )
        bump_revision(session, NETWORK_REVISION)
