"""The walking graph of the stored street network, built once per network revision and cached."""

from __future__ import annotations

import threading

import numpy as np
from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.network import WalkGraph
from service.common.revisions import get_revision
from service.network.models import StreetEdge, StreetNode

NETWORK_REVISION = "network"

_lock = threading.Lock()
_cache: dict[str, tuple[int, WalkGraph | None]] = {}


def load_walk_graph(session: Session) -> WalkGraph | None:
    """Build the graph from the street tables; None when there is no network."""
    nodes = session.execute(select(StreetNode.id, StreetNode.geom).order_by(StreetNode.id)).all()
    if not nodes:
        return None
    ids = [n.id for n in nodes]
    coords = np.array([to_shape(n.geom).coords[0] for n in nodes])
    edges = [
        (e.u, e.v, e.length_m, to_shape(e.geom))
        for e in session.execute(select(StreetEdge.u, StreetEdge.v, StreetEdge.length_m, StreetEdge.geom))
    ]
    if not edges:
        return None
    return WalkGraph(ids, coords, edges)


def walk_graph(session: Session) -> WalkGraph | None:
    """The cached graph for this database, rebuilt when the network revision has changed."""
    key = session.get_bind().url.render_as_string(hide_password=True)
    revision = get_revision(session, NETWORK_REVISION)
    cached = _cache.get(key)
    if cached is not None and cached[0] == revision:
        return cached[1]
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == revision:
            return cached[1]
        graph = load_walk_graph(session)
        _cache[key] = (revision, graph)
        return graph
