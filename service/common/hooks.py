"""Hooks: how a lower domain lets a higher one act inside its transaction without importing it.

A domain that must tell others about a change (a request closed, grids redrawn) declares a
``Hook`` in its own package and fires it; the domain that reacts connects its handler in
``service.wiring.connect_domains`` (called by ``create_app`` and the CLI). Imports then point one
way only: the reacting domain knows the firing one, never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")


class Hook(Generic[P]):
    """A named point where connected handlers run, in connection order, with the firer's arguments."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: list[Callable[P, None]] = []

    def connect(self, handler: Callable[P, None]) -> Callable[P, None]:
        """Add a handler (once: connecting the same one again changes nothing)."""
        if handler not in self._handlers:
            self._handlers.append(handler)
        return handler

    def fire(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for handler in list(self._handlers):
            handler(*args, **kwargs)

    @property
    def handlers(self) -> tuple[Callable[P, None], ...]:
        return tuple(self._handlers)

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, {len(self._handlers)} handlers)"
