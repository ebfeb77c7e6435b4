"""Open311 GeoReport v2 at ``/open311/v2``, and the admin API for its client keys.

A request posted here goes through exactly the same intake as ``POST /api/v1/requests`` (the same
assignment, idempotency and events); our finer loop states map onto open/closed, with the state
in ``status_notes``. ``lat``/``long`` are WGS84; ``coord_type=gcj02|bd09`` is our extension for
clients in China, as is ``public=true`` on a POST (the reporter agrees to publish the request).

Reads follow service/requests/access.py ``readable``: without a token, only requests the reporter
published, within ``public_feed_days``, located at the building or a 50 m grid, the description
only where the category allows it and masked; never the reporter. A signed-in caller also gets the
requests of its REST list, in full. Anything else answers exactly as an id that never existed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from geoalchemy2.shape import to_shape
from pydantic import BaseModel, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from geo.coords import CoordType
from service.audit.service import audit
from service.auth.deps import AdminUser
from service.auth.models import User
from service.buildings.models import Building
from service.common.links import HostNotAllowed, public_base
from service.common.problems import Problem
from service.common.ratelimit import guard_code_lookup, record_code_miss
from service.config import Settings
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.grids.models import Grid
from service.open311.formats import Open311Error, render
from service.open311.keys import client_for, issue_key
from service.open311.models import ApiClient
from service.requests import access
from service.requests.intake import IntakeError, NewRequest, submit_request
from service.requests.models import CLOSED_STATUSES, OPEN_STATUSES, Channel, RequestCategory, ServiceRequest, Status
from service.requests.routes import check_intake_rate
from service.requests.taxonomy import GROUP_LABELS
from service.requests.views import lonlat, public_lonlat

router = APIRouter(prefix="/open311/v2", tags=["open311"])
admin_router = APIRouter(prefix="/api/v1/api-clients", tags=["open311"])

FORMATS = ("json", "xml")
MAX_RESULTS = 1000


def _fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"unknown format {fmt!r}; use .json or .xml")
    return fmt


def _categories(session: Session) -> list[RequestCategory]:
    return list(
        session.scalars(select(RequestCategory).where(RequestCategory.active.is_(True)).order_by(RequestCategory.id))
    )


@router.get("/discovery.{fmt}", summary="Open311 discovery document")
def discovery(fmt: str, request: Request, settings: SettingsDep) -> Response:
    fmt = _fmt(fmt)
    try:
        base = public_base(request, settings) + "/open311/v2/"
    except HostNotAllowed as exc:
        raise Open311Error(400, str(exc), fmt) from None
    body = {
        "changeset": "2026-11-27T00:00:00Z",
        "contact": "neighborgrid service desk",
        "key_service": "Ask an administrator for an api_key (POST /api/v1/api-clients)",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": base,
                "changeset": "2026-11-27T00:00:00Z",
                "type": "production",
                "formats": ["application/json", "text/xml"],
            }
        ],
    }
    return render(fmt, "discovery", body)


def _service(c: RequestCategory) -> dict[str, Any]:
    group_zh, group_en = GROUP_LABELS[c.group]
    return {
        "service_code": c.code,
        "service_name": c.name_zh,
        "description": c.name_en,
        "metadata": bool(c.attributes),
        "type": "realtime",
        "keywords": ",".join(c.keywords or []),
        "group": f"{group_zh} {group_en}",
    }


@router.get("/services.{fmt}", summary="Open311 service list: our request categories")
def services(fmt: str, session: ReadSession) -> Response:
    fmt = _fmt(fmt)
    return render(fmt, "services", [_service(c) for c in _categories(session)])


@router.get("/services/{service_code}.{fmt}", summary="Open311 service definition (attributes)")
def service_definition(service_code: str, fmt: str, session: ReadSession) -> Response:
    fmt = _fmt(fmt)
    c = next((c for c in _categories(session) if c.code == service_code), None)
    if c is None:
        raise Open311Error(404, f"unknown service_code {service_code!r}", fmt)
    attributes = [
        {
            "variable": True,
            "code": a["code"],
            "datatype": a["datatype"],
            "required": bool(a.get("required")),
            "datatype_description": a.get("description_zh"),
            "order": i + 1,
            "description": a.get("description"),
            "values": [{"key": v["key"], "name": v["name"]} for v in a.get("values", [])],
        }
        for i, a in enumerate(c.attributes or [])
    ]
    return render(fmt, "service_definition", {"service_code": c.code, "attributes": attributes})


def _status_notes(req: ServiceRequest) -> str:
    return f"{req.status.value} (level: {req.level.value}, warning: {req.warning_level.value})"


def _agency(session: Session, req: ServiceRequest) -> str | None:
    if req.department_id is not None:
        from service.organisations.models import Department

        dept = session.get(Department, req.department_id)
        return dept.name_zh if dept else None
    grid = session.get(Grid, req.grid_id) if req.grid_id else None
    return f"{grid.name_zh} ({req.level.value})" if grid else f"unassigned ({req.level.value})"


def _readable(session: Session, caller: User | None, settings: Settings, now: datetime) -> Select:
    """Every read of requests starts here: what the caller may read (access.readable)."""
    return select(ServiceRequest).where(access.readable(session, caller, settings, now))


def _record(session: Session, req: ServiceRequest, grid_m: float, *, full: bool) -> dict[str, Any]:
    """A request in GeoReport's shape: in full (exact point, description) for a caller whose REST
    list holds it, else in its public form (building or rounded point, masked description or none)."""
    if full:
        lon, lat = lonlat(req)
    else:
        building = session.get(Building, req.building_id) if req.building_id else None
        centre = to_shape(building.geom).centroid if building else None
        lon, lat = public_lonlat(req, building_point=centre, grid_m=grid_m)
    closed = req.status in CLOSED_STATUSES or req.status in (Status.REJECTED, Status.MERGED)
    return {
        "service_request_id": str(req.id),
        "status": "closed" if closed else "open",
        "status_notes": _status_notes(req),
        "service_name": req.category.name_zh,
        "service_code": req.category.code,
        "description": req.description if full else access.public_description(req),
        "agency_responsible": _agency(session, req),
        "service_notice": None,
        "requested_datetime": req.reported_at.isoformat(),
        "updated_datetime": req.updated_at.isoformat() if req.updated_at else None,
        "expected_datetime": None if closed else req.due_resolve_at.isoformat(),
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": None,
    }


def _parse_date(value: str | None, name: str, fmt: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C (ISO 8601) date-time", fmt) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.get("/requests.{fmt}", summary="Open311: query service requests (default: 90 days, 1000 at most)")
def get_requests(
    fmt: str,
    request: Request,
    session: ReadSession,
    settings: SettingsDep,
    clock: ClockDep,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
    jurisdiction_id: str | None = None,
) -> Response:
    fmt = _fmt(fmt)
    caller = access.signed_in_caller(request, session, settings)
    now = clock()
    query = _readable(session, caller, settings, now)
    if service_request_id:
        try:
            ids = [int(x) for x in service_request_id.split(",") if x.strip()]
        except ValueError:
            raise Open311Error(400, "service_request_id must be comma-separated ids", fmt) from None
        if any(not 1 <= i <= 2**31 - 1 for i in ids):
            raise Open311Error(400, "service_request_id out of range", fmt)
        query = query.where(ServiceRequest.id.in_(ids))
    else:
        end = _parse_date(end_date, "end_date", fmt) or now
        start = _parse_date(start_date, "start_date", fmt) or (end - timedelta(days=settings.public_feed_days))
        if start > end:
            raise Open311Error(400, "start_date must not be after end_date", fmt)
        query = query.where(ServiceRequest.reported_at >= start, ServiceRequest.reported_at <= end)
        if service_code:
            codes = [c.strip() for c in service_code.split(",") if c.strip()]
            query = query.join(RequestCategory).where(RequestCategory.code.in_(codes))
        if status:
            wanted = {s.strip() for s in status.split(",")}
            if not wanted <= {"open", "closed"}:
                raise Open311Error(400, "status must be open or closed", fmt)
            if wanted == {"open"}:
                query = query.where(ServiceRequest.status.in_(OPEN_STATUSES))
            elif wanted == {"closed"}:
                query = query.where(ServiceRequest.status.not_in(OPEN_STATUSES))
    rows = list(session.scalars(query.order_by(ServiceRequest.reported_at.desc()).limit(MAX_RESULTS)))
    return render(fmt, "service_requests", _records(session, rows, caller, settings))


def _records(session: Session, rows: list[ServiceRequest], caller: User | None, settings: Settings) -> list[dict]:
    full = access.visible_ids(session, caller, [r.id for r in rows])
    return [_record(session, r, settings.public_location_grid_m, full=r.id in full) for r in rows]


@router.get("/requests/{service_request_id}.{fmt}", summary="Open311: one service request (as an array)")
def get_request(
    service_request_id: str, fmt: str, request: Request, session: ReadSession, settings: SettingsDep, clock: ClockDep
) -> Response:
    """One request the caller may read; any other id (private, too old, never made) gets the same 404."""
    fmt = _fmt(fmt)
    if not service_request_id.isdigit() or not 1 <= int(service_request_id) <= 2**31 - 1:
        raise Open311Error(404, f"no service request {service_request_id!r}", fmt)
    caller = access.signed_in_caller(request, session, settings)
    query = _readable(session, caller, settings, clock())
    req = session.scalar(query.where(ServiceRequest.id == int(service_request_id)))
    if req is None:
        raise Open311Error(404, f"no service request {service_request_id!r}", fmt)
    return render(fmt, "service_requests", _records(session, [req], caller, settings))


@router.get("/tokens/{token}.{fmt}", summary="Open311: the service request id behind a token")
def get_token(
    token: str, fmt: str, request: Request, session: ReadSession, settings: SettingsDep, clock: ClockDep
) -> Response:
    """The id behind a token, for a request the caller may read (else the same 404 as an unknown one)."""
    fmt = _fmt(fmt)
    guard_code_lookup(request, settings)  # tokens are tracking codes: guessing is limited per IP (429)
    query = _readable(session, access.signed_in_caller(request, session, settings), settings, clock())
    req = session.scalar(query.where(ServiceRequest.tracking_code == token.upper()[:16]))
    if req is None:
        record_code_miss(request, settings)
        raise Open311Error(404, f"no service request for token {token!r}", fmt)
    return render(fmt, "service_requests", [{"service_request_id": str(req.id), "token": req.tracking_code}])


def _float(form, name: str, fmt: str) -> float | None:
    raw = form.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number", fmt) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise Open311Error(400, f"{name} must be a finite number", fmt)
    return value


@router.post("/requests.{fmt}", summary="Open311: create a service request (needs api_key)")
async def post_request(
    fmt: str,
    request: Request,
    session: WriteSession,
    settings: SettingsDep,
    clock: ClockDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Form fields per GeoReport v2: ``api_key``, ``service_code``, ``lat``, ``long``, ``description``,
    ``first_name``, ``last_name``, ``phone``, ``attribute[code]``… plus our ``coord_type`` and
    ``public`` (``true`` when the reporter agreed to publish it; default private)."""
    fmt = _fmt(fmt)
    form = await request.form()
    client = client_for(session, form.get("api_key"))
    if client is None:
        raise Open311Error(403, "a valid api_key is required to post requests", fmt)
    check_intake_rate(request, settings)
    code = form.get("service_code")
    category = next((c for c in _categories(session) if c.code == code), None)
    if category is None:
        raise Open311Error(400, f"service_code: unknown service {code!r}", fmt)
    lat, lon = _float(form, "lat", fmt), _float(form, "long", fmt)
    if lat is None or lon is None:
        raise Open311Error(400, "lat and long are required (address lookup is not offered)", fmt)
    try:
        coord_type = CoordType(form.get("coord_type") or "wgs84")
    except ValueError:
        raise Open311Error(400, "coord_type must be wgs84, gcj02 or bd09", fmt) from None
    attributes = {
        k[len("attribute[") : -1]: v for k, v in form.items() if k.startswith("attribute[") and k.endswith("]")
    }
    for spec in category.attributes or []:
        value = attributes.get(spec["code"])
        if spec.get("required") and not value:
            raise Open311Error(400, f"attribute[{spec['code']}] is required for {category.code}", fmt)
        keys = {v["key"] for v in spec.get("values", [])}
        if value and keys and value not in keys:
            raise Open311Error(400, f"attribute[{spec['code']}] must be one of {', '.join(sorted(keys))}", fmt)
    name = " ".join(x for x in (form.get("first_name"), form.get("last_name")) if x) or None
    public = str(form.get("public") or "false").lower()
    if public not in ("true", "false"):
        raise Open311Error(400, "public must be true or false", fmt)
    data = NewRequest(
        category=category.code,
        description=str(form.get("description") or category.name_zh),
        channel=Channel.OPEN311,
        lon=lon,
        lat=lat,
        coord_type=coord_type,
        reporter_name=name,
        reporter_phone=form.get("phone") or None,
        attributes=dict(attributes),
        public=public == "true",
    )
    try:
        req, _replayed = submit_request(
            session, data=data, settings=settings, now=clock(), idempotency_key=idempotency_key, api_client_id=client.id
        )
        session.commit()
    except IntakeError as exc:
        session.rollback()
        raise Open311Error(400, f"{exc.field}: {exc}", fmt) from None
    notice = f"受理时限 response within {settings.response_minutes:g} min; tracking code {req.tracking_code}"
    return render(
        fmt,
        "service_requests",
        [{"service_request_id": str(req.id), "token": req.tracking_code, "service_notice": notice, "account_id": None}],
    )


# -- admin: client keys --------------------------------------------------------------------


class ClientIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    contact: str | None = Field(default=None, max_length=200)


@admin_router.post("", status_code=201, summary="Register an Open311 client application; its api_key is shown once")
def create_client(body: ClientIn, session: WriteSession, clock: ClockDep, admin: AdminUser) -> dict[str, Any]:
    client, key = issue_key(session, name=body.name, contact=body.contact, by=admin.username, now=clock())
    audit(
        session,
        actor=admin,
        action="create",
        entity="api_client",
        entity_id=client.id,
        after={"name": client.name, "key_prefix": client.key_prefix},
    )
    session.commit()
    return {"id": client.id, "name": client.name, "api_key": key, "key_prefix": client.key_prefix}


@admin_router.get("", summary="Open311 client applications")
def list_clients(session: ReadSession, _admin: AdminUser) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "name": c.name,
            "contact": c.contact,
            "key_prefix": c.key_prefix,
            "active": c.active,
            "created_at": c.created_at.isoformat(),
            "created_by": c.created_by,
        }
        for c in session.scalars(select(ApiClient).order_by(ApiClient.id))
    ]


@admin_router.delete("/{client_id}", status_code=204, summary="Revoke a client's api_key")
def revoke_client(client_id: int, session: WriteSession, admin: AdminUser) -> Response:
    client = session.get(ApiClient, client_id) if 1 <= client_id <= 2**31 - 1 else None
    if client is None:
        raise Problem(404, f"no client with id {client_id}", field="client_id")
    client.active = False
    audit(session, actor=admin, action="revoke", entity="api_client", entity_id=client.id)
    session.commit()
    return Response(status_code=204)


def install(app) -> None:
    """Routers plus the handler that answers Open311 errors in Open311's own shape."""
    app.include_router(router)
    app.include_router(admin_router)

    async def handle(_request: Request, exc: Open311Error):
        return exc.response()

    app.add_exception_handler(Open311Error, handle)
