"""Open requests as occupants of grids: found in the grids a planner redraws, and moved to the grid
that holds them afterwards, each move a step in the case's trail (registered in
``service.wiring`` with ``service.grids.occupants``)."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.grids.occupants import Item, Move
from service.requests.models import OPEN_STATUSES, ServiceRequest
from service.requests.policy import Actor
from service.requests.workflow import record


class OpenRequests:
    """The ``service.grids.occupants.Occupant`` of the open requests."""

    def locate(self, session: Session, *, community_id: int, grid_ids: list[int]) -> list[Item]:
        rows = session.scalars(
            select(ServiceRequest).where(
                ServiceRequest.status.in_(OPEN_STATUSES),
                (ServiceRequest.community_id == community_id) | (ServiceRequest.grid_id.in_(grid_ids)),
            )
        )
        out = []
        for r in rows:
            p = to_shape(r.location)
            out.append((r.id, p.x, p.y))
        return out

    def move(self, session: Session, moves: list[Move], *, by: str, now: datetime) -> None:
        for m in moves:
            req = session.get(ServiceRequest, m.item)
            if req is None or req.status not in OPEN_STATUSES:
                continue
            req.grid_id = m.to_grid
            req.updated_at = now
            record(
                session,
                req,
                action="reassign",
                before=req.status,
                actor=Actor(None, label=by),
                now=now,
                note="grid boundary changed",
                data={"from_grid": m.from_grid, "to_grid": req.grid_id},
            )
