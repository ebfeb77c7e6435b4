"""The demo town as the API reports it, for every test that checks the service against a second,
independent computation: grids, communities and buildings as shapely shapes, and (for the request
tests) the grid workers, volunteers, categories, departments and the street network."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from tests.service.grids.town import holder, ok, shared_m
from tests.service.requests.geodata import PROJ, StreetNet, metres_between, metric, street_net
from tests.support.backends import Backend


@dataclass
class Town:
    """What the API says about the demo town, as shapes and plain dicts."""

    grids: dict[int, BaseGeometry]
    grid_props: dict[int, dict]
    grid_json: dict[int, dict]
    communities: dict[int, BaseGeometry]
    community_codes: dict[int, str]
    buildings: dict[int, BaseGeometry]
    building_props: dict[int, dict]
    workers: list[dict] = field(default_factory=list)
    volunteers: list[dict] = field(default_factory=list)  # {"id", "lonlat", "on_duty", "skills"}
    categories: dict[str, dict] = field(default_factory=dict)
    departments: dict[str, dict] = field(default_factory=dict)
    demo_dir: Path | None = None
    _buildings_union: BaseGeometry | None = None

    @classmethod
    def load(cls, client: httpx.Client, *, demo_dir: Path | None = None) -> Town:
        """The geography as ``client`` sees it; given the demo's directory (for its street network),
        also the people and categories, which the request tests read as the dispatcher."""
        grids = ok(client.get("/api/v1/grids"))["features"]
        communities = [
            f["properties"] | {"geometry": f["geometry"]}
            for f in ok(client.get("/api/v1/areas", params={"level": "community"}))["features"]
        ]
        buildings = ok(client.get("/api/v1/buildings", params={"limit": 20000}))["features"]
        town = cls(
            grids={f["id"]: shape(f["geometry"]) for f in grids},
            grid_props={f["id"]: f["properties"] for f in grids},
            grid_json={f["id"]: f["geometry"] for f in grids},
            communities={c["id"]: shape(c["geometry"]) for c in communities},
            community_codes={c["id"]: c["code"] for c in communities},
            buildings={f["id"]: shape(f["geometry"]) for f in buildings},
            building_props={f["id"]: f["properties"] for f in buildings},
        )
        if demo_dir is not None:
            town._load_people(client, demo_dir)
        return town

    @classmethod
    def of(cls, backend: Backend) -> Town:
        """Everything, as the dispatcher sees it."""
        with backend.client("dispatcher") as c:
            return cls.load(c, demo_dir=Path(backend.settings.demo_dir))

    def _load_people(self, client: httpx.Client, demo_dir: Path) -> None:
        volunteers = ok(client.get("/api/v1/volunteers"))["features"]
        self.workers = ok(client.get("/api/v1/grid-workers"))
        self.volunteers = [
            {
                "id": f["id"],
                "lonlat": tuple(f["geometry"]["coordinates"]) if f["geometry"] else None,
                "on_duty": f["properties"]["on_duty"],
                "skills": f["properties"]["skills"],
            }
            for f in volunteers
        ]
        self.categories = {k["code"]: k for g in ok(client.get("/api/v1/categories")) for k in g["kinds"]}
        self.departments = {d["code"]: d for d in ok(client.get("/api/v1/departments"))}
        self.demo_dir = demo_dir

    @property
    def streets(self) -> StreetNet:
        assert self.demo_dir is not None, "load the town with demo_dir for its street network"
        return street_net(self.demo_dir)

    # -- grids and communities ----------------------------------------------------------------

    def community_of(self, grid_id: int) -> int:
        return self.grid_props[grid_id]["community_id"]

    def siblings(self, community_id: int) -> dict[int, BaseGeometry]:
        return {g: geom for g, geom in self.grids.items() if self.community_of(g) == community_id}

    def neighbours(self, *, min_shared_m: float = 100.0) -> list[tuple[int, int]]:
        """Pairs of grids of one community sharing a boundary, the longest shared boundary first."""
        pairs = []
        for a, b in itertools.combinations(sorted(self.grids), 2):
            if self.community_of(a) != self.community_of(b):
                continue
            length = shared_m(self.grids[a], self.grids[b])
            if length >= min_shared_m:
                pairs.append((length, a, b))
        return [(a, b) for _, a, b in sorted(pairs, reverse=True)]

    def strangers(self) -> tuple[int, int]:
        """Two grids of one community that do not even touch."""
        for a, b in itertools.combinations(sorted(self.grids), 2):
            if self.community_of(a) == self.community_of(b) and self.grids[a].distance(self.grids[b]) > 0.0005:
                return a, b
        raise AssertionError("every two grids of a community touch")

    def grids_holding(self, lon: float, lat: float) -> set[int]:
        p = Point(lon, lat)
        return {gid for gid, g in self.grids.items() if g.covers(p)}

    def coverage(self) -> BaseGeometry:
        return shapely.union_all(list(self.grids.values()))

    def grid_distances_m(self, lon: float, lat: float) -> dict[int, float]:
        p = metric(lon, lat)
        return {gid: PROJ.to_metric(g).distance(p) for gid, g in self.grids.items()}

    def grid_with_code(self, code: str) -> int:
        return next(gid for gid, p in self.grid_props.items() if p["code"] == code)

    def inner_point(self, grid_id: int, *, away_from_buildings: bool = False, seed: int = 0) -> tuple[float, float]:
        """A point well inside a grid (at least 20 m from its boundary), optionally off every building."""
        g = self.grids[grid_id]
        core = PROJ.to_wgs84(PROJ.to_metric(g).buffer(-20))
        rng = np.random.default_rng(seed + grid_id)
        minx, miny, maxx, maxy = core.bounds
        while True:
            p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if not core.contains(p):
                continue
            if away_from_buildings and self._all_buildings().distance(p) < 0.00006:  # about 6 m
                continue
            return p.x, p.y

    # -- buildings ----------------------------------------------------------------------------

    def building_holding(self, lon: float, lat: float) -> set[int]:
        p = Point(lon, lat)
        return {bid for bid, b in self.buildings.items() if b.covers(p)}

    def _all_buildings(self) -> BaseGeometry:
        if self._buildings_union is None:
            self._buildings_union = shapely.union_all(list(self.buildings.values()))
        return self._buildings_union

    def points(self) -> dict[int, Point]:
        """Each building's representative point (the point that decides its grid)."""
        return {bid: geom.representative_point() for bid, geom in self.buildings.items()}

    def households(self, bid: int) -> int:
        return int(self.building_props[bid]["households"])

    def assignment(self, layer: dict[Any, BaseGeometry], building_ids=None) -> dict[int, Any]:
        pts = self.points()
        ids = building_ids if building_ids is not None else pts
        return {bid: holder(layer, pts[bid]) for bid in ids}

    def community_buildings(self, community_id: int) -> list[int]:
        region = self.communities[community_id]
        return sorted(bid for bid, p in self.points().items() if region.covers(p))

    # -- people -------------------------------------------------------------------------------

    def on_duty_worker(self, grid_id: int) -> dict | None:
        """The grid's worker on duty, the lead first (then members by id)."""
        mine = [w for w in self.workers if grid_id in w["grid_ids"] and w["on_duty"]]
        mine.sort(key=lambda w: (w["role"] != "lead", w["id"]))
        return mine[0] if mine else None

    def qualifying(self, skill: str, loads: dict[int, int], max_open: int) -> list[dict]:
        """On-duty volunteers with a position, the skill (anyone for general work) and spare capacity."""
        return [
            v
            for v in self.volunteers
            if v["on_duty"]
            and v["lonlat"] is not None
            and (skill == "general" or skill in v["skills"])
            and loads.get(v["id"], 0) < max_open
        ]

    def walking(self, point: tuple[float, float], volunteers: list[dict]) -> dict[int, float]:
        metres = self.streets.walks_from(point, [v["lonlat"] for v in volunteers])
        return {v["id"]: m for v, m in zip(volunteers, metres, strict=True)}

    def straight(self, point: tuple[float, float], volunteers: list[dict]) -> dict[int, float]:
        return {v["id"]: metres_between(point, v["lonlat"]) for v in volunteers}

    def volunteer(self, volunteer_id: int) -> dict:
        return next(v for v in self.volunteers if v["id"] == volunteer_id)
