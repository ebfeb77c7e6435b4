"""What lies in grids and moves with them when their boundaries are redrawn.

Grid editing must know the open items inside the grids it redraws (to show the impact) and move
them to the grid that holds them afterwards, but grids sit below the domains that own those items.
So a domain registers an ``Occupant`` here (in ``service.wiring``) and grid editing asks the
registry: grids never import the domains above them. ``OPEN_REQUESTS`` is the slot whose items the
impact report (``geo.topology.impact``) lists as ``requests_reassigned``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

#: An item as the impact report takes it: (id, lon, lat).
Item = tuple[int, float, float]

#: The open requests of the one-network layer (registered by ``service.requests``).
OPEN_REQUESTS = "requests"


@dataclass(frozen=True)
class Move:
    """One item moving from a grid to another (either None: outside every grid)."""

    item: int
    from_grid: int | None
    to_grid: int | None


class Occupant(Protocol):
    def locate(self, session: Session, *, community_id: int, grid_ids: list[int]) -> list[Item]:
        """The open items of the community or of the given grids."""
        ...

    def move(self, session: Session, moves: list[Move], *, by: str, now: datetime) -> None:
        """Move the items (those still open) to their new grids, each step in their own trail."""
        ...


_occupants: dict[str, Occupant] = {}


def register(slot: str, occupant: Occupant) -> None:
    """Register ``occupant`` for ``slot`` (again: replaces it, so connecting twice changes nothing)."""
    _occupants[slot] = occupant


def locate(session: Session, slot: str, *, community_id: int, grid_ids: list[int]) -> list[Item]:
    """The open items of ``slot`` in the community or the grids; none when nothing is registered."""
    occupant = _occupants.get(slot)
    return occupant.locate(session, community_id=community_id, grid_ids=grid_ids) if occupant else []


def move(session: Session, slot: str, moves: list[Move], *, by: str, now: datetime) -> None:
    occupant = _occupants.get(slot)
    if occupant is not None and moves:
        occupant.move(session, moves, by=by, now=now)
