"""In-process caches of polygon layers (grids, areas, buildings) for point location.

Locating a point against the database costs a spatial query and the parsing of every candidate
polygon, several times per request. The layers change rarely, so each process keeps a
``geo.locate.PolygonIndex`` per layer and rebuilds it when the layer's data revision (bumped in the
same transaction as any change, see ``service.common.revisions``) differs from the one it was built
from. The revision's ``changed_at`` is part of the check, so a rolled-back change cannot leave a
stale index behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.common.revisions import DataRevision

T = TypeVar("T")

GRIDS = "grids"
AREAS = "areas"
BUILDINGS = "buildings"

_lock = threading.Lock()
_cache: dict[tuple[str, str], tuple[tuple, object]] = {}


Revisions = dict[str, tuple[int, object]]


def revisions(session: Session, names: tuple[str, ...]) -> Revisions:
    """The current revisions of ``names`` in one query (a caller that checks several caches at once
    reads them here and passes them to each ``cached`` call)."""
    return {
        r.name: (r.revision, r.changed_at)
        for r in session.scalars(select(DataRevision).where(DataRevision.name.in_(names)))
    }


def cached(
    session: Session,
    key: str,
    depends: tuple[str, ...],
    build: Callable[[Session], T],
    *,
    known: Revisions | None = None,
) -> T:
    """The value for ``key`` in this database, rebuilt when a revision in ``depends`` has moved.

    ``known``: revisions just read by ``revisions`` in this transaction (it must cover ``depends``)."""
    url = session.get_bind().engine.url.render_as_string(hide_password=True)
    current = known if known is not None else revisions(session, depends)
    token = tuple(current.get(name, (0, None)) for name in depends)
    hit = _cache.get((url, key))
    if hit is not None and hit[0] == token:
        return hit[1]  # type: ignore[return-value]
    value = build(session)
    with _lock:
        _cache[(url, key)] = (token, value)
    return value
