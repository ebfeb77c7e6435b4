"""In-process sliding-window rate limits (per worker process), for IPs hitting public endpoints.

Per-account login limits live in the database (``users.failed_logins``/``locked_until``) so they hold
across workers; per-IP limits here are per process, so with N workers an IP gets up to N times the
limit — set the limits with that in mind.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class SlidingWindow:
    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> float:
        """Count one hit; returns 0 when allowed, else the seconds to wait (Retry-After)."""
        if self.limit <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(hits[0] + self.window_s - now, 0.001)
            hits.append(now)
            if len(self._hits) > 100_000:  # forget idle keys rather than grow without bound
                for k in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s][:50_000]:
                    del self._hits[k]
            return 0.0
