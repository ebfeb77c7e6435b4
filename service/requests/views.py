"""How requests are shown: full for those who handle them, masked for everyone else.

The reporter's name and phone are shown only to dispatchers, admins and the grid worker assigned
to the case; elsewhere the phone is masked (138****5678) and the name hidden.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from geoalchemy2.shape import to_shape

from service.auth.models import Role, User
from service.requests import sla
from service.requests.models import ServiceRequest


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` -> ``138****5678``; short numbers keep only their last two digits."""
    if not phone:
        return None
    digits = [c for c in phone if c.isdigit()]
    if len(digits) >= 7:
        return "".join(digits[:3]) + "****" + "".join(digits[-4:])
    return "*" * max(len(digits) - 2, 1) + "".join(digits[-2:])


#: Chinese resident ID numbers: 18 characters (17 digits and a digit or X) or the old 15 digits.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
#: Phone-like numbers: 7 to 20 digits, possibly with a leading + and single spaces or dashes.
_PHONE_LIKE = re.compile(r"(?<![\d+])\+?\d(?:[ -]?\d){6,19}(?!\d)")
_ISO_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_EMAIL = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")


def mask_text(text: str | None, *, names: Iterable[str | None] = ()) -> str | None:
    """Free text as the public may read it: ID numbers keep their first and last character, phone
    numbers (and any other run of 7+ digits) are masked as ``mask_phone`` does, e-mail addresses keep
    their domain, and each of ``names`` (the reporter's, when known) keeps its first character."""
    if not text:
        return text

    def phone(m: re.Match[str]) -> str:
        return m.group(0) if _ISO_DATE.match(m.group(0)) else mask_phone(m.group(0)) or ""

    text = _ID_NUMBER.sub(lambda m: m.group(0)[0] + "*" * (len(m.group(0)) - 2) + m.group(0)[-1], text)
    text = _PHONE_LIKE.sub(phone, text)
    text = _EMAIL.sub(lambda m: "***@" + m.group(1), text)
    for name in names:
        name = (name or "").strip()
        if len(name) >= 2:
            text = text.replace(name, name[0] + "*" * (len(name) - 1))
    return text


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def lonlat(req: ServiceRequest) -> tuple[float, float]:
    p = to_shape(req.location)
    return round(p.x, 7), round(p.y, 7)


def event_payload(req: ServiceRequest, *, action: str) -> dict[str, Any]:
    """What the live map needs to draw and recolour a marker; no personal data. Its keys and types
    are ``schemas.RequestChange`` (the ``request.created``/``request.updated`` events' payload)."""
    lon, lat = lonlat(req)
    return {
        "id": req.id,
        "action": action,
        "status": req.status.value,
        "warning_level": req.warning_level.value,
        "level": req.level.value,
        "category": req.category.code if req.category else None,
        "channel": req.channel.value,
        "lon": lon,
        "lat": lat,
        "grid_id": req.grid_id,
        "volunteer_id": req.volunteer_id,
        "version": req.version,
        "due_response_at": _iso(req.due_response_at),
        "due_onsite_at": _iso(req.due_onsite_at),
        "due_resolve_at": _iso(req.due_resolve_at),
        "breached": breached_names(req),
        "running_deadlines": sla.running_now(req),
    }


def breached_names(req: ServiceRequest) -> list[str]:
    """The deadlines this case has missed (the service's verdict, on its own clock)."""
    return [
        name
        for name, flag in (
            ("response", req.response_breached),
            ("onsite", req.onsite_breached),
            ("resolve", req.resolve_breached),
        )
        if flag
    ]


def sees_reporter(user: User | None, req: ServiceRequest, *, worker_user_id: int | None) -> bool:
    """Dispatchers, admins and the assigned grid worker see who reported the case."""
    if user is None:
        return False
    if user.role in (Role.DISPATCHER, Role.ADMIN):
        return True
    return user.role is Role.GRID_WORKER and worker_user_id is not None and worker_user_id == user.id


def request_dict(
    req: ServiceRequest, *, full_reporter: bool, allowed_actions: list[str] | None = None
) -> dict[str, Any]:
    """The case payload. ``allowed_actions`` (``policy.allowed_actions`` for the caller) is
    included when given. Its keys and types are ``schemas.CaseOut``, which the routes declare."""
    lon, lat = lonlat(req)
    out = {
        "id": req.id,
        "tracking_code": req.tracking_code,
        "version": req.version,
        "status": req.status.value,
        "category": req.category.code,
        "category_name_zh": req.category.name_zh,
        "category_name_en": req.category.name_en,
        "description": req.description,
        "channel": req.channel.value,
        "attributes": req.attributes or {},
        "warning_level": req.warning_level.value,
        "level": req.level.value,
        "scope": req.scope.value,
        "households_affected": req.households_affected,
        "lon": lon,
        "lat": lat,
        "raw": {"lon": req.raw_lon, "lat": req.raw_lat, "coord_type": req.raw_coord_type},
        "grid_id": req.grid_id,
        "outside_coverage": req.outside_coverage,
        "grid_distance_m": req.grid_distance_m,
        "community_id": req.community_id,
        "compound_id": req.compound_id,
        "building_id": req.building_id,
        "grid_worker_id": req.grid_worker_id,
        "volunteer_id": req.volunteer_id,
        "volunteer_walk_m": req.volunteer_walk_m,
        "assignment_method": req.assignment_method,
        "department_id": req.department_id,
        "department_status": req.department_status.value if req.department_status else None,
        "duplicate_of": req.duplicate_of_id,
        "reporter_name": req.reporter_name if full_reporter else None,
        "reporter_phone": req.reporter_phone if full_reporter else mask_phone(req.reporter_phone),
        "reported_at": _iso(req.reported_at),
        "due_response_at": _iso(req.due_response_at),
        "due_onsite_at": _iso(req.due_onsite_at),
        "due_resolve_at": _iso(req.due_resolve_at),
        "accepted_at": _iso(req.accepted_at),
        "dispatched_at": _iso(req.dispatched_at),
        "on_site_at": _iso(req.on_site_at),
        "resolved_at": _iso(req.resolved_at),
        "verified_at": _iso(req.verified_at),
        "evaluated_at": _iso(req.evaluated_at),
        "closed_at": _iso(req.closed_at),
        "breached": breached_names(req),
        "running_deadlines": sla.running_now(req),
        "reopen_count": req.reopen_count,
        "satisfaction": req.satisfaction,
        "evaluation_comment": req.evaluation_comment,
    }
    if allowed_actions is not None:
        out["allowed_actions"] = allowed_actions
    return out


def public_status(req: ServiceRequest) -> dict[str, Any]:
    """The resident's tracking page: progress and deadlines, nothing about other people."""
    d = request_dict(req, full_reporter=False)
    keep = (
        "tracking_code",
        "version",
        "status",
        "category",
        "category_name_zh",
        "category_name_en",
        "description",
        "warning_level",
        "level",
        "lon",
        "lat",
        "reported_at",
        "due_response_at",
        "due_onsite_at",
        "due_resolve_at",
        "accepted_at",
        "dispatched_at",
        "on_site_at",
        "resolved_at",
        "verified_at",
        "evaluated_at",
        "closed_at",
        "satisfaction",
        "evaluation_comment",
        "reopen_count",
    )
    return {k: d[k] for k in keep}


def public_lonlat(req: ServiceRequest, *, building_point=None, grid_m: float = 50.0) -> tuple[float, float]:
    """Where a request may be shown to the public: its building's centre when it has one, else its
    point snapped to a ``grid_m`` metre grid, so a home cannot be pinned from a public map."""
    if building_point is not None:
        return round(building_point.x, 7), round(building_point.y, 7)
    from geo.crs import LocalProjection

    p = to_shape(req.location)
    projection = LocalProjection.for_lonlat(p.x, p.y)
    x, y = projection.forward(p.x, p.y)
    sx, sy = (round(float(x) / grid_m) * grid_m, round(float(y) / grid_m) * grid_m)
    lon, lat = projection.inverse(sx, sy)
    return round(float(lon), 7), round(float(lat), 7)
