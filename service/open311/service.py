"""Open311's data work: services from the categories, requests in GeoReport's shape, intake through
the native one, and the client keys. Keyword-only functions of a session; none commits.

Reads follow service/requests/access.py ``readable`` (see the routes' module docstring).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from service.audit.service import audit
from service.auth.models import User
from service.buildings.models import Building
from service.buildings.service import anchor_point
from service.common.errors import NotFound
from service.config import Settings
from service.grids.models import Grid
from service.open311.formats import Open311Error
from service.open311.keys import issue_key
from service.open311.models import ApiClient
from service.open311.schemas import (
    AttributeValue,
    ClientCreated,
    ClientOut,
    GeoReportRequest,
    Service,
    ServiceAttribute,
    ServiceDefinition,
)
from service.organisations.models import Department
from service.requests import access
from service.requests.intake import IntakeError, NewRequest, submit_request
from service.requests.models import CLOSED_STATUSES, OPEN_STATUSES, RequestCategory, ServiceRequest, Status
from service.requests.service import active_categories
from service.requests.taxonomy import GROUP_LABELS
from service.requests.views import lonlat, public_lonlat

#: A query answers at most this many requests, newest first.
MAX_RESULTS = 1000


# -- services ----------------------------------------------------------------------------------


def category(session: Session, *, code: object) -> RequestCategory | None:
    """The active category ``code`` names, else None."""
    return next((c for c in active_categories(session) if c.code == code), None)


def _service(c: RequestCategory) -> Service:
    group_zh, group_en = GROUP_LABELS[c.group]
    return Service(
        service_code=c.code,
        service_name=c.name_zh,
        description=c.name_en,
        metadata=bool(c.attributes),
        type="realtime",
        keywords=",".join(c.keywords or []),
        group=f"{group_zh} {group_en}",
    )


def services(session: Session) -> list[Service]:
    return [_service(c) for c in active_categories(session)]


def definition(c: RequestCategory) -> ServiceDefinition:
    """The attributes a client may (or must) send for category ``c``."""
    attributes = [
        ServiceAttribute(
            variable=True,
            code=a["code"],
            datatype=a["datatype"],
            required=bool(a.get("required")),
            datatype_description=a.get("description_zh"),
            order=i + 1,
            description=a.get("description"),
            values=[AttributeValue(key=v["key"], name=v["name"]) for v in a.get("values", [])],
        )
        for i, a in enumerate(c.attributes or [])
    ]
    return ServiceDefinition(service_code=c.code, attributes=attributes)


# -- requests ----------------------------------------------------------------------------------


def readable(session: Session, *, caller: User | None, settings: Settings, now: datetime) -> Select[ServiceRequest]:
    """Every read of requests starts here: what the caller may read (access.readable)."""
    return select(ServiceRequest).where(access.readable(session, caller, settings, now))


def _status_notes(req: ServiceRequest) -> str:
    return f"{req.status.value} (level: {req.level.value}, warning: {req.warning_level.value})"


def _agency(session: Session, req: ServiceRequest) -> str | None:
    if req.department_id is not None:
        dept = session.get(Department, req.department_id)
        return dept.name_zh if dept else None
    grid = session.get(Grid, req.grid_id) if req.grid_id else None
    return f"{grid.name_zh} ({req.level.value})" if grid else f"unassigned ({req.level.value})"


def _record(session: Session, req: ServiceRequest, grid_m: float, *, full: bool) -> GeoReportRequest:
    """A request in GeoReport's shape: in full (exact point, description) for a caller whose REST
    list holds it, else in its public form (its building's anchor or a rounded point, masked
    description or none)."""
    if full:
        lon, lat = lonlat(req)
    else:
        building = session.get(Building, req.building_id) if req.building_id else None
        lon, lat = public_lonlat(req, building_point=anchor_point(building) if building else None, grid_m=grid_m)
    closed = req.status in CLOSED_STATUSES or req.status in (Status.REJECTED, Status.MERGED)
    return GeoReportRequest(
        service_request_id=str(req.id),
        status="closed" if closed else "open",
        status_notes=_status_notes(req),
        service_name=req.category.name_zh,
        service_code=req.category.code,
        description=req.description if full else access.public_description(req),
        agency_responsible=_agency(session, req),
        service_notice=None,
        requested_datetime=req.reported_at.isoformat(),
        updated_datetime=req.updated_at.isoformat() if req.updated_at else None,
        expected_datetime=None if closed else req.due_resolve_at.isoformat(),
        address=None,
        address_id=None,
        zipcode=None,
        lat=lat,
        long=lon,
        media_url=None,
    )


def records(
    session: Session, *, rows: list[ServiceRequest], caller: User | None, settings: Settings
) -> list[GeoReportRequest]:
    """``rows`` as the caller may read them: in full where its REST list holds them."""
    full = access.visible_ids(session, caller, [r.id for r in rows])
    return [_record(session, r, settings.public_location_grid_m, full=r.id in full) for r in rows]


def query_requests(
    session: Session,
    *,
    caller: User | None,
    settings: Settings,
    now: datetime,
    ids: list[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    codes: list[str] | None = None,
    status: set[str] | None = None,
) -> list[GeoReportRequest]:
    """GET requests: ``ids`` alone, else those reported from ``start`` to ``end`` (both given),
    of the ``codes`` and with the GeoReport ``status`` (open, closed) given."""
    query = readable(session, caller=caller, settings=settings, now=now)
    if ids is not None:
        query = query.where(ServiceRequest.id.in_(ids))
    else:
        if start is not None and end is not None:
            query = query.where(ServiceRequest.reported_at >= start, ServiceRequest.reported_at <= end)
        if codes:
            query = query.join(RequestCategory).where(RequestCategory.code.in_(codes))
        if status == {"open"}:
            query = query.where(ServiceRequest.status.in_(OPEN_STATUSES))
        elif status == {"closed"}:
            query = query.where(ServiceRequest.status.not_in(OPEN_STATUSES))
    rows = list(session.scalars(query.order_by(ServiceRequest.reported_at.desc()).limit(MAX_RESULTS)))
    return records(session, rows=rows, caller=caller, settings=settings)


def readable_request(
    session: Session, *, request_id: int, caller: User | None, settings: Settings, now: datetime
) -> list[GeoReportRequest]:
    """The one request ``request_id`` names, as a list, if the caller may read it (else empty)."""
    query = readable(session, caller=caller, settings=settings, now=now)
    req = session.scalar(query.where(ServiceRequest.id == request_id))
    return records(session, rows=[req], caller=caller, settings=settings) if req is not None else []


def by_token(
    session: Session, *, token: str, caller: User | None, settings: Settings, now: datetime
) -> ServiceRequest | None:
    """The readable request whose tracking code is ``token``."""
    query = readable(session, caller=caller, settings=settings, now=now)
    return session.scalar(query.where(ServiceRequest.tracking_code == token.upper()[:16]))


def submit(
    session: Session,
    *,
    data: NewRequest,
    client: ApiClient,
    settings: Settings,
    now: datetime,
    idempotency_key: str | None,
    fmt: str,
) -> ServiceRequest:
    """The native intake (same assignment, idempotency and events) for a client's POST; an intake
    refusal is an Open311 400 naming its field."""
    try:
        req, _replayed = submit_request(
            session, data=data, settings=settings, now=now, idempotency_key=idempotency_key, api_client_id=client.id
        )
    except IntakeError as exc:
        raise Open311Error(400, f"{exc.field}: {exc}", fmt) from None
    return req


# -- admin: client keys ------------------------------------------------------------------------


def create_client(session: Session, *, name: str, contact: str | None, admin: User, now: datetime) -> ClientCreated:
    client, key = issue_key(session, name=name, contact=contact, by=admin.username, now=now)
    audit(
        session,
        actor=admin,
        action="create",
        entity="api_client",
        entity_id=client.id,
        after={"name": client.name, "key_prefix": client.key_prefix},
    )
    return ClientCreated(id=client.id, name=client.name, api_key=key, key_prefix=client.key_prefix)


def clients(session: Session) -> list[ClientOut]:
    return [
        ClientOut(
            id=c.id,
            name=c.name,
            contact=c.contact,
            key_prefix=c.key_prefix,
            active=c.active,
            created_at=c.created_at.isoformat(),
            created_by=c.created_by,
        )
        for c in session.scalars(select(ApiClient).order_by(ApiClient.id))
    ]


def revoke_client(session: Session, *, client_id: int, admin: User) -> None:
    client = session.get(ApiClient, client_id) if 1 <= client_id <= 2**31 - 1 else None
    if client is None:
        raise NotFound(f"no client with id {client_id}", field="client_id")
    client.active = False
    audit(session, actor=admin, action="revoke", entity="api_client", entity_id=client.id)
