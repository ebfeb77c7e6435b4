"""The walking graph of the stored street network, built once per network revision and cached."""

from __future__ import annotations

import numpy as np
from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.network import WalkGraph
from service.common.layer_cache import cached
from service.network.models import StreetEdge, StreetNode

NETWORK_REVISION = "network"


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
    """The cached graph for this database, rebuilt when the network revision has moved (the
    revision's ``changed_at`` is part of the check, so a rolled-back change leaves no stale graph:
    see ``service.common.layer_cache``)."""
    return cached(session, "walk-graph", (NETWORK_REVISION,), load_walk_graph)
