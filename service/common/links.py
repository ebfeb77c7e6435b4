"""The base of absolute links in answers (OGC API, Open311), never taken from a forged Host.

With ``public_url`` set, every link starts with it and the Host header is not read. Without it,
the request's own base URL is used only when its Host names one of ``allowed_hosts`` (the
default allows loopback, for a service run on one machine and for the tests); any other Host gets
a 400 from the caller, since a link built from it could point a client at an attacker's server.
"""

from __future__ import annotations

from fastapi import Request

from service.common.errors import DomainError
from service.config import Settings


class HostNotAllowed(DomainError):
    """The request's Host is not one the service answers links for (400; OGC and Open311 answer it
    in their own error formats)."""

    status = 400


def _hostname(request: Request) -> str:
    host = request.url.hostname or ""
    return host.strip("[]").lower()


def public_base(request: Request, settings: Settings) -> str:
    """``scheme://host[:port][/root]`` without a trailing slash, for absolute links."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    allowed = {h.strip("[]").lower() for h in settings.allowed_hosts}
    if _hostname(request) not in allowed:
        raise HostNotAllowed(
            f"Host {_hostname(request)!r} is not served here; set NEIGHBORGRID_PUBLIC_URL or NEIGHBORGRID_ALLOWED_HOSTS"
        )
    return str(request.base_url).rstrip("/")
