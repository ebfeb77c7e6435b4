"""In-process sliding-window rate limits (per worker process), for IPs hitting public endpoints.

Login failures per account name and IP live in the database (``login_failures``, service/auth/service.py)
so they hold across workers; per-IP limits here are per process, so with N workers an IP gets up to N times the
limit — set the limits with that in mind. (Quotas that must hold exactly across workers, such as
photo storage per IP, count rows in the database instead: service/requests/photos.py.)

Secret-code lookups (a request's tracking code on ``/api/v1/track/{code}``, Open311
``/tokens/{code}``, and the code given to act on or add photos to a request) go through
:func:`guard_code_lookup` before the lookup and :func:`record_code_miss` after a miss: lookups are
limited per minute, and misses, which is what guessing produces, much more tightly per hour.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from service.common.errors import TooManyRequests

if TYPE_CHECKING:
    from starlette.requests import Request

    from service.config import Settings


class SlidingWindow:
    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> float:
        """Count one hit; returns 0 when allowed, else the seconds to wait (Retry-After)."""
        return self._take(key, now, count=True)

    def peek(self, key: str, now: float | None = None) -> float:
        """Like :meth:`hit` without counting: 0 while the window has room, else the seconds to wait."""
        return self._take(key, now, count=False)

    def _take(self, key: str, now: float | None, *, count: bool) -> float:
        if self.limit <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(hits[0] + self.window_s - now, 0.001)
            if count:
                hits.append(now)
            if len(self._hits) > 100_000:  # forget idle keys rather than grow without bound
                for k in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s][:50_000]:
                    del self._hits[k]
            return 0.0


def client_ip(request: Request) -> str:
    """The caller's address as the server sees it (uvicorn applies trusted proxies' headers)."""
    return request.client.host if request.client else "unknown"


def window(request: Request, name: str, limit: int, window_s: float) -> SlidingWindow:
    """The app's (this worker's) limiter called ``name``, made on first use."""
    limiters = request.app.state.limiters
    if name not in limiters:
        limiters[name] = SlidingWindow(limit, window_s)
    return limiters[name]


def retry_seconds(wait: float) -> int:
    """A wait as the whole seconds of a ``Retry-After`` (rounded up, at least 1)."""
    return max(int(wait + 0.999), 1)


def too_many(wait: float, detail: str = "too many requests from this address") -> TooManyRequests:
    """429 with Retry-After in whole seconds (at least 1)."""
    return TooManyRequests(detail, retry_after=retry_seconds(wait))


def guard_code_lookup(request: Request, settings: Settings) -> None:
    """Before looking a request up by its secret code: 429 once this IP made too many lookups this
    minute, or too many failed ones this hour (guessing). Call :func:`record_code_miss` on a miss."""
    ip = client_ip(request)
    misses = window(request, "code-misses", settings.code_misses_per_ip_hour, 3600.0).peek(ip)
    if misses:
        raise too_many(misses, "too many unknown tracking codes from this address")
    wait = window(request, "code-lookups", settings.code_lookups_per_ip_minute, 60.0).hit(ip)
    if wait:
        raise too_many(wait, "too many tracking-code lookups from this address")


def record_code_miss(request: Request, settings: Settings) -> None:
    """Count one unknown or wrong code from this IP (see :func:`guard_code_lookup`)."""
    window(request, "code-misses", settings.code_misses_per_ip_hour, 3600.0).hit(client_ip(request))


def guard_intake(request: Request, settings: Settings) -> None:
    """Public intake (``POST /api/v1/requests`` by residents and anonymous callers, Open311 POSTs)
    is limited per client IP: 429 with Retry-After past ``intake_rate_per_ip`` a minute."""
    wait = window(request, "intake", settings.intake_rate_per_ip, 60.0).hit(client_ip(request))
    if wait:
        raise too_many(wait)
