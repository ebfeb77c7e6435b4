"""Open311 GeoReport v2 at ``/open311/v2``, and the admin API for its client keys.

A request posted here goes through exactly the same intake as ``POST /api/v1/requests`` (the same
assignment, idempotency and events); our finer loop states map onto open/closed, with the state
in ``status_notes``. ``lat``/``long`` are WGS84; ``coord_type=gcj02|bd09`` is our extension for
clients in China, as is ``public=true`` on a POST (the reporter agrees to publish the request).

Reads follow service/requests/access.py ``readable``: without a token, only requests the reporter
published, within ``public_feed_days``, located at the building or a 50 m grid, the description
only where the category allows it and masked; never the reporter. A signed-in caller also gets the
requests of its REST list, in full. Anything else answers exactly as an id that never existed.

Every answer is GeoReport's JSON or XML (``.json``/``.xml``): the routes declare the JSON form's
model (``schemas``) for the OpenAPI document and render the answer themselves (``formats``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.datastructures import FormData

from geo.coords import CoordType
from service.auth.deps import AdminUser
from service.common.links import HostNotAllowed, public_base
from service.common.ratelimit import guard_code_lookup, guard_intake, record_code_miss
from service.common.times import parse_iso
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.open311 import service
from service.open311.formats import MEDIA_TYPES, Open311Error, encode
from service.open311.keys import client_for
from service.open311.schemas import (
    ClientCreated,
    ClientIn,
    ClientOut,
    Discovery,
    GeoReportRequest,
    Posted,
    Service,
    ServiceDefinition,
    Token,
)
from service.requests import access
from service.requests.intake import NewRequest
from service.requests.models import Channel

router = APIRouter(prefix="/open311/v2", tags=["open311"])
admin_router = APIRouter(prefix="/api/v1/api-clients", tags=["open311"])

FORMATS = ("json", "xml")
#: Declared beside each operation's JSON model: the same answer in GeoReport's XML.
_XML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/xml": {"schema": {"type": "string"}}}}}


def _fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"unknown format {fmt!r}; use .json or .xml")
    return fmt


def render(fmt: str, root: str, body: Any, status: int = 200) -> Response:
    """An answer in ``fmt``; models become GeoReport's records, in their keys' order."""
    if isinstance(body, BaseModel):
        body = body.model_dump()
    elif isinstance(body, list):
        body = [b.model_dump() if isinstance(b, BaseModel) else b for b in body]
    return Response(encode(fmt, root, body), status_code=status, media_type=MEDIA_TYPES[fmt])


@router.get("/discovery.{fmt}", summary="Open311 discovery document", response_model=Discovery, responses=_XML)
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


@router.get(
    "/services.{fmt}",
    summary="Open311 service list: our request categories",
    response_model=list[Service],
    responses=_XML,
)
def services(fmt: str, session: ReadSession) -> Response:
    fmt = _fmt(fmt)
    return render(fmt, "services", service.services(session))


@router.get(
    "/services/{service_code}.{fmt}",
    summary="Open311 service definition (attributes)",
    response_model=ServiceDefinition,
    responses=_XML,
)
def service_definition(service_code: str, fmt: str, session: ReadSession) -> Response:
    fmt = _fmt(fmt)
    c = service.category(session, code=service_code)
    if c is None:
        raise Open311Error(404, f"unknown service_code {service_code!r}", fmt)
    return render(fmt, "service_definition", service.definition(c))


def _parse_date(value: str | None, name: str, fmt: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C (ISO 8601) date-time", fmt) from None


@router.get(
    "/requests.{fmt}",
    summary="Open311: query service requests (default: 90 days, 1000 at most)",
    response_model=list[GeoReportRequest],
    responses=_XML,
)
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
    if service_request_id:
        try:
            ids = [int(x) for x in service_request_id.split(",") if x.strip()]
        except ValueError:
            raise Open311Error(400, "service_request_id must be comma-separated ids", fmt) from None
        if any(not 1 <= i <= 2**31 - 1 for i in ids):
            raise Open311Error(400, "service_request_id out of range", fmt)
        found = service.query_requests(session, caller=caller, settings=settings, now=now, ids=ids)
        return render(fmt, "service_requests", found)
    end = _parse_date(end_date, "end_date", fmt) or now
    start = _parse_date(start_date, "start_date", fmt) or (end - timedelta(days=settings.public_feed_days))
    if start > end:
        raise Open311Error(400, "start_date must not be after end_date", fmt)
    codes = [c.strip() for c in service_code.split(",") if c.strip()] if service_code else None
    wanted = {s.strip() for s in status.split(",")} if status else None
    if wanted is not None and not wanted <= {"open", "closed"}:
        raise Open311Error(400, "status must be open or closed", fmt)
    found = service.query_requests(
        session, caller=caller, settings=settings, now=now, start=start, end=end, codes=codes, status=wanted
    )
    return render(fmt, "service_requests", found)


@router.get(
    "/requests/{service_request_id}.{fmt}",
    summary="Open311: one service request (as an array)",
    response_model=list[GeoReportRequest],
    responses=_XML,
)
def get_request(
    service_request_id: str, fmt: str, request: Request, session: ReadSession, settings: SettingsDep, clock: ClockDep
) -> Response:
    """One request the caller may read; any other id (private, too old, never made) gets the same 404."""
    fmt = _fmt(fmt)
    if not service_request_id.isdigit() or not 1 <= int(service_request_id) <= 2**31 - 1:
        raise Open311Error(404, f"no service request {service_request_id!r}", fmt)
    caller = access.signed_in_caller(request, session, settings)
    found = service.readable_request(
        session, request_id=int(service_request_id), caller=caller, settings=settings, now=clock()
    )
    if not found:
        raise Open311Error(404, f"no service request {service_request_id!r}", fmt)
    return render(fmt, "service_requests", found)


@router.get(
    "/tokens/{token}.{fmt}",
    summary="Open311: the service request id behind a token",
    response_model=list[Token],
    responses=_XML,
)
def get_token(
    token: str, fmt: str, request: Request, session: ReadSession, settings: SettingsDep, clock: ClockDep
) -> Response:
    """The id behind a token, for a request the caller may read (else the same 404 as an unknown one)."""
    fmt = _fmt(fmt)
    guard_code_lookup(request, settings)  # tokens are tracking codes: guessing is limited per IP (429)
    caller = access.signed_in_caller(request, session, settings)
    req = service.by_token(session, token=token, caller=caller, settings=settings, now=clock())
    if req is None:
        record_code_miss(request, settings)
        raise Open311Error(404, f"no service request for token {token!r}", fmt)
    return render(fmt, "service_requests", [Token(service_request_id=str(req.id), token=req.tracking_code)])


def _float(form: FormData, name: str, fmt: str) -> float | None:
    raw = form.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(str(raw))
    except ValueError:
        raise Open311Error(400, f"{name} must be a number", fmt) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise Open311Error(400, f"{name} must be a finite number", fmt)
    return value


def _text(form: FormData, name: str) -> str | None:
    """A form field as text (a file sent in its place counts as its name)."""
    value = form.get(name)
    return None if value is None else value if isinstance(value, str) else str(value)


@router.post(
    "/requests.{fmt}",
    summary="Open311: create a service request (needs api_key)",
    response_model=list[Posted],
    responses=_XML,
)
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
    client = client_for(session, _text(form, "api_key"))
    if client is None:
        raise Open311Error(403, "a valid api_key is required to post requests", fmt)
    guard_intake(request, settings)
    code = form.get("service_code")
    category = service.category(session, code=code)
    if category is None:
        raise Open311Error(400, f"service_code: unknown service {code!r}", fmt)
    lat, lon = _float(form, "lat", fmt), _float(form, "long", fmt)
    if lat is None or lon is None:
        raise Open311Error(400, "lat and long are required (address lookup is not offered)", fmt)
    try:
        coord_type = CoordType(_text(form, "coord_type") or "wgs84")
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
    name = " ".join(x for x in (_text(form, "first_name"), _text(form, "last_name")) if x) or None
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
        reporter_phone=_text(form, "phone") or None,
        attributes=dict(attributes),
        public=public == "true",
    )
    req = service.submit(
        session, data=data, client=client, settings=settings, now=clock(), idempotency_key=idempotency_key, fmt=fmt
    )
    session.commit()
    notice = f"受理时限 response within {settings.response_minutes:g} min; tracking code {req.tracking_code}"
    posted = Posted(service_request_id=str(req.id), token=req.tracking_code, service_notice=notice, account_id=None)
    return render(fmt, "service_requests", [posted])


# -- admin: client keys --------------------------------------------------------------------


@admin_router.post(
    "",
    status_code=201,
    summary="Register an Open311 client application; its api_key is shown once",
    response_model=ClientCreated,
)
def create_client(body: ClientIn, session: WriteSession, clock: ClockDep, admin: AdminUser) -> ClientCreated:
    created = service.create_client(session, name=body.name, contact=body.contact, admin=admin, now=clock())
    session.commit()
    return created


@admin_router.get("", summary="Open311 client applications", response_model=list[ClientOut])
def list_clients(session: ReadSession, _admin: AdminUser) -> list[ClientOut]:
    return service.clients(session)


@admin_router.delete("/{client_id}", status_code=204, summary="Revoke a client's api_key")
def revoke_client(client_id: int, session: WriteSession, admin: AdminUser) -> Response:
    service.revoke_client(session, client_id=client_id, admin=admin)
    session.commit()
    return Response(status_code=204)


def install(app: FastAPI) -> None:
    """Routers plus the handler that answers Open311 errors in Open311's own shape."""
    app.include_router(router)
    app.include_router(admin_router)

    async def handle(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Open311Error)
        return render(exc.fmt, "errors", exc.body(), exc.status)

    app.add_exception_handler(Open311Error, handle)
