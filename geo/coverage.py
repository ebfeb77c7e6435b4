"""Who is within a walk of a station, and where new stations would cover the most households.

Coverage is decided on the network itself (whole walk: home → street → … → street → station),
not by testing homes against circle polygons, so it is exact to the graph.

Siting is the maximal covering location problem (MCLP): choose ``k`` candidate nodes to maximise
the households newly covered. It is solved exactly as a mixed-integer programme with HiGHS
(``highspy``); a greedy heuristic is provided to compare against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix, hstack, vstack
from scipy.sparse.csgraph import dijkstra

from geo.network import Snap, WalkGraph


def _edge_costs(graph: WalkGraph, snaps: Sequence[Snap]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    u = np.array([graph.edge_u[s.edge] for s in snaps], dtype=np.int64)
    v = np.array([graph.edge_v[s.edge] for s in snaps], dtype=np.int64)
    to_u = np.array([s.along_m for s in snaps])
    to_v = np.array([graph.edge_len[s.edge] - s.along_m for s in snaps])
    return u, v, to_u, to_v


def multi_source_node_distances(graph: WalkGraph, sources: Sequence[Snap], *, limit_m: float = np.inf) -> np.ndarray:
    """Metres from the nearest source to every node, including each source's walk to its street.

    One Dijkstra on the graph augmented with a virtual super-source joined to both ends of every
    source's edge at the right partial cost (plus the source's perpendicular).
    """
    n = graph.n_nodes
    if not sources:
        return np.full(n, np.inf)
    u, v, to_u, to_v = _edge_costs(graph, sources)
    offsets = np.array([s.offset_m for s in sources])
    cols = np.concatenate([u, v])
    costs = np.concatenate([to_u + offsets, to_v + offsets])
    costs = np.maximum(costs, 1e-9)  # a zero would vanish from the sparse matrix
    # keep the cheapest link to each node
    order = np.lexsort((costs, cols))
    cols, costs = cols[order], costs[order]
    first = np.ones(len(cols), dtype=bool)
    first[1:] = cols[1:] != cols[:-1]
    source_row = csr_matrix((costs[first], (np.zeros(first.sum(), dtype=np.int64), cols[first])), shape=(1, n + 1))
    base = graph.matrix
    widened = csr_matrix((base.data, base.indices, base.indptr), shape=(n, n + 1))
    augmented = vstack([widened, source_row]).tocsr()
    dist = dijkstra(augmented, directed=True, indices=n, limit=limit_m)
    return dist[:n]


def walk_to_targets(
    graph: WalkGraph, node_dist: np.ndarray, targets: Sequence[Snap], *, sources: Sequence[Snap] = ()
) -> np.ndarray:
    """Whole walk to each target (its perpendicular included), given node distances from the
    sources; a target on a source's own edge may also walk straight along that edge."""
    if not targets:
        return np.zeros(0)
    u, v, to_u, to_v = _edge_costs(graph, targets)
    offsets = np.array([t.offset_m for t in targets])
    walk = np.minimum(node_dist[u] + to_u, node_dist[v] + to_v) + offsets
    by_edge: dict[int, list[Snap]] = {}
    for s in sources:
        by_edge.setdefault(s.edge, []).append(s)
    for i, t in enumerate(targets):
        for s in by_edge.get(t.edge, ()):
            walk[i] = min(walk[i], s.offset_m + abs(s.along_m - t.along_m) + t.offset_m)
    return walk


def covered(graph: WalkGraph, sources: Sequence[Snap], targets: Sequence[Snap], limit_m: float) -> np.ndarray:
    """True for each target within ``limit_m`` of at least one source."""
    node_dist = multi_source_node_distances(graph, sources, limit_m=limit_m)
    return walk_to_targets(graph, node_dist, targets, sources=sources) <= limit_m


def cover_matrix(
    graph: WalkGraph, candidates: Sequence[int], targets: Sequence[Snap], limit_m: float, *, chunk: int = 256
) -> csr_matrix:
    """Boolean (targets × candidates) matrix: a station at candidate node j would cover target i."""
    u, v, to_u, to_v = _edge_costs(graph, targets)
    offsets = np.array([t.offset_m for t in targets])
    blocks = []
    nodes = np.asarray(candidates, dtype=np.int64)
    for start in range(0, len(nodes), chunk):
        idx = nodes[start : start + chunk]
        d = dijkstra(graph.matrix, directed=False, indices=idx, limit=limit_m)  # (chunk × nodes)
        walk = np.minimum(d[:, u] + to_u, d[:, v] + to_v) + offsets  # (chunk × targets)
        blocks.append(csr_matrix(limit_m >= walk.T))
    if not blocks:
        return csr_matrix((len(targets), 0), dtype=bool)
    return hstack(blocks).tocsr()


@dataclass(frozen=True)
class Siting:
    chosen: list[int]  # positions in the candidate list
    covered_weight: float
    optimal: bool
    per_site_weight: list[float]  # weight each chosen site newly covers (assigned in order)


def _per_site(cover: csr_matrix, weights: np.ndarray, chosen: list[int]) -> list[float]:
    taken = np.zeros(cover.shape[0], dtype=bool)
    out = []
    csc = cover.tocsc()
    for j in chosen:
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        new = rows[~taken[rows]]
        out.append(float(weights[new].sum()))
        taken[new] = True
    return out


def greedy_siting(cover: csr_matrix, weights: np.ndarray, k: int) -> Siting:
    """Repeatedly take the candidate covering the most not-yet-covered weight."""
    weights = np.asarray(weights, dtype=float)
    csc = cover.tocsc().astype(float)
    remaining = weights.copy()
    chosen: list[int] = []
    for _ in range(min(k, cover.shape[1])):
        gains = csc.T @ remaining
        if chosen:
            gains[chosen] = -1
        j = int(np.argmax(gains))
        if gains[j] <= 0:
            break
        chosen.append(j)
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        remaining[rows] = 0
    per_site = _per_site(cover, weights, chosen)
    return Siting(chosen, float(sum(per_site)), False, per_site)


def reduce_cover(cover: csr_matrix, weights: np.ndarray) -> tuple[np.ndarray, csr_matrix, np.ndarray]:
    """Shrink an MCLP without changing its optimum.

    * a candidate whose covered set lies inside another candidate's is dropped (never better);
    * targets covered by exactly the same candidates are merged, their weights added.

    Returns (kept candidate positions, reduced cover, reduced weights).
    """
    csc = cover.tocsc().astype(np.int32)
    sizes = np.diff(csc.indptr)
    m = csc.shape[1]
    inter = (csc.T @ csc).toarray()
    keep = sizes > 0
    position = np.arange(m)
    for j in np.lexsort((position, -sizes)):  # biggest first, then by position
        if not keep[j]:
            continue
        dominating = (inter[j] == sizes[j]) & keep & ((sizes > sizes[j]) | ((sizes == sizes[j]) & (position < j)))
        dominating[j] = False
        if dominating.any():
            keep[j] = False
    kept = np.flatnonzero(keep)
    sub = cover[:, kept].tocsr()
    groups: dict[bytes, int] = {}
    first_rows: list[int] = []
    merged: list[float] = []
    for i in range(sub.shape[0]):
        key = sub.indices[sub.indptr[i] : sub.indptr[i + 1]].tobytes()
        if key not in groups:
            groups[key] = len(first_rows)
            first_rows.append(i)
            merged.append(0.0)
        merged[groups[key]] += float(weights[i])
    return kept, sub[first_rows], np.array(merged)


def optimal_siting(cover: csr_matrix, weights: np.ndarray, k: int, *, time_limit_s: float = 30.0) -> Siting:
    """Exact MCLP with HiGHS: max Σ w_i y_i  s.t.  y_i ≤ Σ_{j covers i} x_j,  Σ x_j = k,  x binary.

    The problem is reduced first (``reduce_cover``) and started from the greedy answer; on the
    demo this takes the solve from over 30 s (time limit) to a few seconds.
    """
    weights = np.asarray(weights, dtype=float)
    if cover.shape[1] == 0 or k == 0 or weights.sum() == 0:
        return Siting([], 0.0, True, [])
    kept, reduced, reduced_weights = reduce_cover(cover, weights)
    chosen, optimal = _solve_mclp(reduced, reduced_weights, min(k, reduced.shape[1]), time_limit_s)
    chosen = [int(kept[j]) for j in chosen]
    # order the sites by what each adds, biggest first
    order: list[int] = []
    pool = list(chosen)
    while pool:
        best = max(pool, key=lambda j: (sum(_per_site(cover, weights, [*order, j])), -j))
        order.append(best)
        pool.remove(best)
    per_site = _per_site(cover, weights, order)
    return Siting(order, float(sum(per_site)), optimal, per_site)


def _solve_mclp(cover: csr_matrix, weights: np.ndarray, k: int, time_limit_s: float) -> tuple[list[int], bool]:
    import highspy

    n_targets, n_cand = cover.shape
    csc = cover.tocsc()
    # columns: x_0..x_{m-1}, then y_0..y_{n-1}; rows: one per target, then the cardinality row
    starts, index, value = [0], [], []
    for j in range(n_cand):
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        index.extend([*rows.tolist(), n_targets])
        value.extend([-1.0] * len(rows) + [1.0])
        starts.append(len(index))
    for i in range(n_targets):
        index.append(i)
        value.append(1.0)
        starts.append(len(index))
    lp = highspy.HighsLp()
    lp.num_col_ = n_cand + n_targets
    lp.num_row_ = n_targets + 1
    lp.col_cost_ = np.concatenate([np.zeros(n_cand), weights])
    lp.col_lower_ = np.zeros(n_cand + n_targets)
    lp.col_upper_ = np.ones(n_cand + n_targets)
    lp.row_lower_ = np.concatenate([np.full(n_targets, -highspy.kHighsInf), [k]])
    lp.row_upper_ = np.concatenate([np.zeros(n_targets), [k]])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_cand + [highspy.HighsVarType.kContinuous] * n_targets
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    start = greedy_siting(cover, weights, k)
    if len(start.chosen) == k:
        x0 = np.zeros(n_cand + n_targets)
        x0[start.chosen] = 1.0
        covered_rows = np.asarray(cover[:, start.chosen].sum(axis=1)).ravel() > 0
        x0[n_cand:] = covered_rows
        warm = highspy.HighsSolution()
        warm.col_value = list(x0)
        warm.value_valid = True
        h.setSolution(warm)
    h.run()
    x = np.asarray(h.getSolution().col_value[:n_cand])
    chosen = [int(j) for j in np.flatnonzero(x > 0.5)]
    if len(chosen) != k:  # no incumbent within the time limit: fall back to the greedy start
        return start.chosen, False
    return chosen, h.getModelStatus() == highspy.HighsModelStatus.kOptimal
