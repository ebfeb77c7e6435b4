"""Coverage analysis and siting for planners, on the walking network.

A building is covered when its entrance is within the walking limit of at least one station of the
type (the whole walk, door to door). Shares are reported per community and per grid, by buildings
and by households. Siting picks ``k`` network nodes that would newly cover the most households
(maximal covering location problem, solved exactly with HiGHS; greedy reported beside it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.circles import minutes_to_metres
from geo.coverage import cover_matrix, covered, greedy_siting, optimal_siting
from geo.network import Snap, WalkGraph
from service.areas.models import Area
from service.buildings.models import Building
from service.buildings.service import anchor_point
from service.common.errors import Conflict
from service.config import Settings
from service.grids.models import Grid
from service.network.graph import walk_graph
from service.stations.models import Station, StationType


class CoverageError(Conflict):
    """A walk cannot be measured: there is no street network yet (409)."""


@dataclass
class Homes:
    buildings: list[Building]
    snaps: list[Snap]
    households: np.ndarray
    community: list[int | None]


def network(session: Session) -> WalkGraph:
    graph = walk_graph(session)
    if graph is None:
        raise CoverageError("there is no street network; load the demo or import OpenStreetMap first")
    return graph


def snap_points(graph: WalkGraph, points: Sequence[Point]) -> list[Snap]:
    """Where each point joins the street network."""
    if not points:
        return []
    return graph.snap_many(np.array([p.x for p in points]), np.array([p.y for p in points]))


def homes(session: Session, graph: WalkGraph) -> Homes:
    buildings = list(session.scalars(select(Building).where(Building.retired_at.is_(None)).order_by(Building.id)))
    parents = dict(session.execute(select(Area.id, Area.parent_id)).all())
    grid_community = dict(session.execute(select(Grid.id, Grid.community_id)).all())
    snaps = snap_points(graph, [anchor_point(b) for b in buildings])
    community = [
        parents.get(b.compound_id) if b.compound_id else grid_community.get(b.grid_id) if b.grid_id else None
        for b in buildings
    ]
    return Homes(buildings, snaps, np.array([b.households for b in buildings], dtype=float), community)


def _station_snaps(session: Session, graph: WalkGraph, type_: StationType) -> list[Snap]:
    live = select(Station).where(Station.type == type_, Station.retired_at.is_(None))
    return snap_points(graph, [to_shape(s.geom) for s in session.scalars(live)])


def _shares(mask: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    n, covered_n = len(mask), int(mask.sum())
    total, covered_w = float(weights.sum()), float(weights[mask].sum())
    return {
        "buildings": n,
        "buildings_covered": covered_n,
        "buildings_share": round(covered_n / n, 4) if n else None,
        "households": int(total),
        "households_covered": int(covered_w),
        "households_share": round(covered_w / total, 4) if total else None,
    }


def coverage_report(session: Session, *, type_: StationType, minutes: int, settings: Settings) -> dict[str, Any]:
    graph = network(session)
    limit = minutes_to_metres(minutes, settings.walking_speed_mps)
    h = homes(session, graph)
    stations = _station_snaps(session, graph, type_)
    mask = covered(graph, stations, h.snaps, limit) if stations else np.zeros(len(h.snaps), dtype=bool)
    by_grid: dict[int | None, list[int]] = defaultdict(list)
    by_community: dict[int | None, list[int]] = defaultdict(list)
    for i, b in enumerate(h.buildings):
        by_grid[b.grid_id].append(i)
        by_community[h.community[i]].append(i)
    return {
        "type": type_.value,
        "minutes": minutes,
        "walk_m": limit,
        "stations": len(stations),
        "overall": _shares(mask, h.households),
        "communities": [
            {"community_id": k} | _shares(mask[idx], h.households[idx])
            for k, idx in sorted(by_community.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        ],
        "grids": [
            {"grid_id": k} | _shares(mask[idx], h.households[idx])
            for k, idx in sorted(by_grid.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
        ],
        "_uncovered": [h.buildings[i] for i in np.flatnonzero(~mask)],
    }


def suggest_sites(session: Session, *, type_: StationType, minutes: int, k: int, settings: Settings) -> dict[str, Any]:
    graph = network(session)
    limit = minutes_to_metres(minutes, settings.walking_speed_mps)
    h = homes(session, graph)
    stations = _station_snaps(session, graph, type_)
    mask = covered(graph, stations, h.snaps, limit) if stations else np.zeros(len(h.snaps), dtype=bool)
    open_idx = np.flatnonzero(~mask & (h.households > 0))
    targets = [h.snaps[i] for i in open_idx]
    weights = h.households[open_idx]
    stride = max(1, int(np.ceil(graph.n_nodes / settings.siting_max_candidates)))
    candidates = list(range(0, graph.n_nodes, stride))
    cover = cover_matrix(graph, candidates, targets, limit)
    exact = optimal_siting(cover, weights, k, time_limit_s=settings.siting_time_limit_s)
    greedy = greedy_siting(cover, weights, k)
    sites = []
    csc = cover.tocsc()
    for j, gain in zip(exact.chosen, exact.per_site_weight, strict=True):
        node = candidates[j]
        lon, lat = graph.projection.inverse(*graph.node_xy[node])
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        sites.append(
            {
                "node_id": graph.node_ids[node],
                "lon": round(float(lon), 7),
                "lat": round(float(lat), 7),
                "newly_covered_households": int(gain),
                "reachable_uncovered_buildings": [h.buildings[open_idx[r]].id for r in rows],
            }
        )
    total = float(h.households.sum())
    before = float(h.households[mask].sum())
    return {
        "type": type_.value,
        "minutes": minutes,
        "k": k,
        "method": "highs-mip",
        "optimal": exact.optimal,
        "candidates": len(candidates),
        "sites": sites,
        "households_covered_before": int(before),
        "households_covered_after": int(before + exact.covered_weight),
        "households_total": int(total),
        "share_before": round(before / total, 4) if total else None,
        "share_after": round((before + exact.covered_weight) / total, 4) if total else None,
        "greedy_newly_covered": int(greedy.covered_weight),
        "greedy_gap": round(1 - greedy.covered_weight / exact.covered_weight, 4) if exact.covered_weight else 0.0,
    }
