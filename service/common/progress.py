"""A tiny progress contract so long service work can report progress without knowing about rich."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    def task(self, description: str, total: int) -> Callable[[int], None]:
        """Start a task of ``total`` steps; returns ``advance(n)``."""
        ...


class NoProgress:
    """The default: report nothing."""

    def task(self, description: str, total: int) -> Callable[[int], None]:
        def advance(n: int = 1) -> None:
            """Nothing to report."""

        return advance
