"""Racing: calls released together from threads of their own, for the tests that several
workers or clients doing the same thing at once change the data once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def all_at_once(fn: Callable[[T], R], items: Sequence[T], *, timeout: float = 60) -> list[R | None]:
    """``fn(item)`` for every item, each in a thread of its own and released together (a barrier),
    so they race; their answers in item order (None where a call raised or did not end in time)."""
    barrier = threading.Barrier(len(items))
    results: list[R | None] = [None] * len(items)

    def run(i: int, item: T) -> None:
        barrier.wait()
        results[i] = fn(item)

    threads = [threading.Thread(target=run, args=(i, item)) for i, item in enumerate(items)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results
