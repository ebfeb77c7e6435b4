"""Intake: validate a new request, assign it, set its deadlines, all in the caller's transaction."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.coords import CoordType, check_lonlat, checked_to_wgs84
from geo.errors import GeoInputError
from service.areas.models import Area
from service.auth.models import Role, User
from service.buildings.models import Building
from service.buildings.service import anchor_point
from service.common.errors import Forbidden, Invalid
from service.config import Settings
from service.grids.service import Location, locate_point
from service.requests import sla
from service.requests.assignment import find_duplicates, nearest_volunteers, on_duty_worker
from service.requests.models import (
    RESIDENT_CHANNELS,
    STAFF_CHANNELS,
    Channel,
    DuplicateSuggestion,
    RequestCategory,
    Scope,
    ServiceRequest,
    Status,
)
from service.requests.policy import Actor
from service.requests.workflow import record

_TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
#: 12 of 31 symbols: 31**12 ≈ 7.9e17 codes (59 bits). Codes issued before were 8 long and still work
#: (lookups compare the whole code). The column holds 16.
TRACKING_CODE_LENGTH = 12
PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{4,19}$")

#: Channels anyone may report through; the others (phone, walk-in, patrol) are staff entering a
#: case, and ``open311`` is set by the Open311 endpoint only.
#: Who may enter a case for a staff channel: those who take calls, visits and patrol.
CHANNEL_STAFF = frozenset({Role.DISPATCHER, Role.GRID_WORKER, Role.ADMIN})

#: Characters XML 1.0 cannot carry (C0 controls but tab, LF and CR; surrogates; U+FFFE/U+FFFF).
#: PostgreSQL also refuses NUL in text. Vertical tab and form feed are line breaks in word
#: processors (Word's manual line break is U+000B), so they become newlines; the rest are dropped.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(value: str | None) -> str | None:
    """Free text as stored: without the characters XML (Open311's format) and the databases cannot
    carry. Stripped rather than refused: they are invisible, come from pasting on phones and in
    word processors, and a resident could neither see nor remove them."""
    if value is None:
        return None
    return _XML_ILLEGAL.sub(lambda m: "\n" if m.group() in "\x0b\x0c" else "", value)


class IntakeError(Invalid):
    """Bad input at intake, naming the field at fault (422 unless a rule says otherwise)."""


@dataclass
class NewRequest:
    category: str
    description: str
    channel: Channel
    lon: float | None = None
    lat: float | None = None
    coord_type: CoordType = CoordType.WGS84
    building_id: int | None = None
    scope: Scope | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    attributes: dict = field(default_factory=dict)
    #: The reporter agrees to show it on the public feeds (service/requests/access.py decides what
    #: of it is shown); intake on behalf of someone (staff, patrol, key-household visits) leaves it off.
    public: bool = False

    def fingerprint(self) -> str:
        """What an idempotent retry must repeat exactly."""
        data = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(data.encode(errors="surrogatepass")).hexdigest()

    def cleaned(self) -> NewRequest:
        """The same request with every free-text field through :func:`clean_text`."""
        attributes = {k: clean_text(v) if isinstance(v, str) else v for k, v in (self.attributes or {}).items()}
        return replace(
            self,
            description=clean_text(self.description) or "",
            reporter_name=clean_text(self.reporter_name),
            reporter_phone=clean_text(self.reporter_phone),
            attributes={clean_text(k): v for k, v in attributes.items()},
        )


def new_tracking_code() -> str:
    return "".join(secrets.choice(_TRACKING_ALPHABET) for _ in range(TRACKING_CODE_LENGTH))


def check_channel(channel: Channel, user: User | None) -> None:
    """Anyone reports through the public channels; phone, walk-in and patrol need a dispatcher,
    grid worker or admin (403 naming ``channel``); ``open311`` is the Open311 endpoint's own."""
    channel = Channel(channel)
    if channel in RESIDENT_CHANNELS and channel is not Channel.OPEN311:
        return
    if channel in STAFF_CHANNELS and user is not None and user.role in CHANNEL_STAFF:
        return
    if channel is Channel.OPEN311:
        raise Forbidden("the open311 channel is for requests posted to /open311/v2", field="channel")
    raise Forbidden(
        f"the {channel.value} channel is for staff entering a case; report through web or wechat", field="channel"
    )


def scoped_idempotency_key(scope: str, key: str) -> str:
    """What the database stores for a caller's Idempotency-Key: the key is the caller's own
    (``user:<id>``, ``client:<id>``, ``ip:<address>``), so the same key from another caller is
    another key and finds nothing of anyone else's."""
    return "v2:" + hashlib.sha256(f"{scope}\n{key}".encode(errors="surrogatepass")).hexdigest()


def find_by_idempotency_key(session: Session, key: str) -> ServiceRequest | None:
    """``key`` as stored (:func:`scoped_idempotency_key`)."""
    return session.scalar(select(ServiceRequest).where(ServiceRequest.idempotency_key == key))


def _category(session: Session, code: str) -> RequestCategory:
    category = session.scalar(select(RequestCategory).where(RequestCategory.code == code))
    if category is None or not category.active:
        raise IntakeError(f"unknown category {code!r}; see GET /api/v1/categories", field="category")
    return category


def _households(
    session: Session, scope: Scope, building: Building | None, compound: Area | None, community: Area | None
) -> int:
    """Impact: how many households the problem reaches."""
    if scope is Scope.BUILDING and building is not None:
        return max(building.households, 1)
    if scope is Scope.COMPOUND and compound is not None:
        return int(
            session.scalar(
                select(func.sum(Building.households)).where(
                    Building.compound_id == compound.id, Building.retired_at.is_(None)
                )
            )
            or 1
        )
    if scope is Scope.COMMUNITY and community is not None:
        return int(
            session.scalar(
                select(func.sum(Building.households))
                .join(Area, Building.compound_id == Area.id)
                .where(Area.parent_id == community.id, Building.retired_at.is_(None))
            )
            or 1
        )
    return 1


def _validate(data: NewRequest, settings: Settings) -> None:
    text = (data.description or "").strip()
    if not text:
        raise IntakeError("description must not be empty", field="description")
    if len(data.description) > settings.description_max_length:
        raise IntakeError(
            f"description must be at most {settings.description_max_length} characters", field="description"
        )
    if data.reporter_phone is not None and not PHONE_RE.match(data.reporter_phone):
        raise IntakeError("reporter_phone must be a phone number (digits, spaces, '-', '+')", field="reporter_phone")
    if (data.lon is None) != (data.lat is None):
        missing = "lat" if data.lat is None else "lon"
        raise IntakeError(f"{missing} is required when the other coordinate is given", field=missing)
    if data.lon is None and data.building_id is None:
        raise IntakeError("a location is required: lon and lat, or building_id", field="lon")
    if data.lon is not None and data.lat is not None:
        try:
            check_lonlat(data.lon, data.lat)
        except GeoInputError as exc:
            raise IntakeError(str(exc), field=exc.field) from None


def create_request(
    session: Session,
    *,
    data: NewRequest,
    settings: Settings,
    now: datetime,
    reporter: User | None = None,
    idempotency_key: str | None = None,
    api_client_id: int | None = None,
) -> ServiceRequest:
    """Validate, assign and insert a request with its audit entry and event. Does not commit.
    ``idempotency_key`` is stored as given (:func:`submit_request` scopes it to the caller)."""
    data = data.cleaned()
    _validate(data, settings)
    category = _category(session, data.category)
    building = _building(session, data.building_id)
    lon, lat = _position(data, building)
    place = _place(session, data, category, building, lon=lon, lat=lat, settings=settings)
    req = _new_request(data, category, place, settings=settings, now=now)
    _assign(session, req, place, category, settings=settings, now=now)
    req.idempotency_key = idempotency_key
    req.idempotency_fingerprint = data.fingerprint() if idempotency_key else None
    req.reporter_user_id = reporter.id if reporter else None
    req.api_client_id = api_client_id
    req.warning_level = sla.warning_level(
        severity=category.severity,
        households=req.households_affected,
        clock=sla.clock_of(req),
        now=now,
        status=req.status,
    )
    session.add(req)
    session.flush()
    _suggest_duplicates(session, req, lon=lon, lat=lat, settings=settings, now=now)
    record(
        session,
        req,
        action="report",
        before=None,
        actor=Actor(reporter, is_reporter=True),
        now=now,
        data=_report_data(req),
        event="request.created",
    )
    return req


def _building(session: Session, building_id: int | None) -> Building | None:
    if building_id is None:
        return None
    building = session.get(Building, building_id)
    if building is None:
        raise IntakeError(f"no building with id {building_id}", field="building_id")
    return building


def _position(data: NewRequest, building: Building | None) -> tuple[float, float]:
    """WGS 84 lon/lat: the given coordinates, else the building's entrance (or a point inside it)."""
    if data.lon is not None and data.lat is not None:
        try:
            return checked_to_wgs84(data.lon, data.lat, data.coord_type)
        except GeoInputError as exc:
            raise IntakeError(str(exc), field=exc.field) from None
    assert building is not None  # _validate: a location is lon/lat or a building
    anchor = anchor_point(building)
    return anchor.x, anchor.y


@dataclass(frozen=True)
class _Place:
    """Where the case is: its point, grid, building, compound and community, and whom it reaches."""

    lon: float
    lat: float
    where: Location
    building: Building | None
    community: Area | None
    scope: Scope
    households: int


def _place(
    session: Session,
    data: NewRequest,
    category: RequestCategory,
    building: Building | None,
    *,
    lon: float,
    lat: float,
    settings: Settings,
) -> _Place:
    where = locate_point(session, lon=lon, lat=lat, max_distance_m=settings.locate_max_distance_m)
    building = building or where.building
    community = where.community or (where.grid.community if where.grid else None)
    scope = data.scope or category.default_scope
    households = _households(session, scope, building, where.compound, community)
    return _Place(lon, lat, where, building, community, scope, households)


def _new_request(
    data: NewRequest, category: RequestCategory, place: _Place, *, settings: Settings, now: datetime
) -> ServiceRequest:
    """The row as reported: what, where, whom it reaches and its deadlines (not yet assigned)."""
    where = place.where
    due = sla.deadlines(
        now,
        response_minutes=settings.response_minutes,
        onsite_minutes=settings.onsite_minutes,
        resolve_hours=category.resolve_hours,
    )
    return ServiceRequest(
        tracking_code=new_tracking_code(),
        category_id=category.id,
        category=category,
        description=data.description.strip(),
        channel=Channel(data.channel),
        attributes=dict(data.attributes or {}),
        public=bool(data.public),
        status=Status.REPORTED,
        level=category.default_level,
        scope=place.scope,
        households_affected=place.households,
        location=from_shape(Point(place.lon, place.lat), srid=4326),
        raw_lon=data.lon,
        raw_lat=data.lat,
        raw_coord_type=CoordType(data.coord_type).value if data.lon is not None else "building",
        grid_id=where.grid.id if where.grid else None,
        outside_coverage=where.located.outside_coverage,
        grid_distance_m=where.located.distance_m if where.grid else None,
        community_id=place.community.id if place.community else None,
        compound_id=where.compound.id if where.compound else None,
        building_id=place.building.id if place.building else None,
        reporter_name=(data.reporter_name or None),
        reporter_phone=(data.reporter_phone or None),
        reported_at=now,
        due_response_at=due.response,
        due_onsite_at=due.onsite,
        due_resolve_at=due.resolve,
        updated_at=now,
    )


def _assign(
    session: Session,
    req: ServiceRequest,
    place: _Place,
    category: RequestCategory,
    *,
    settings: Settings,
    now: datetime,
) -> None:
    """The grid worker on duty and the nearest available volunteer with the skill, by walking."""
    ranked = nearest_volunteers(
        session,
        lon=place.lon,
        lat=place.lat,
        skill=category.skill,
        now=now,
        max_open_cases=settings.volunteer_max_open_cases,
        max_age_minutes=settings.volunteer_position_max_age_minutes,
        max_snap_m=settings.max_snap_distance_m,
    )
    chosen = ranked[0] if ranked else None
    worker = on_duty_worker(place.where.grid)
    req.grid_worker_id = worker.id if worker else None
    req.volunteer_id = chosen.volunteer.id if chosen else None
    req.volunteer_walk_m = round(chosen.walk_m, 1) if chosen else None
    req.assignment_method = chosen.method if chosen else None


def _suggest_duplicates(
    session: Session, req: ServiceRequest, *, lon: float, lat: float, settings: Settings, now: datetime
) -> None:
    """Same category, close in space and time: shown to the dispatcher as possible duplicates."""
    for other, metres, hours in find_duplicates(
        session,
        category_id=req.category_id,
        lon=lon,
        lat=lat,
        now=now,
        radius_m=settings.duplicate_radius_m,
        window_hours=settings.duplicate_window_hours,
        exclude_id=req.id,
    ):
        session.add(DuplicateSuggestion(request_id=req.id, candidate_id=other.id, distance_m=metres, hours_apart=hours))


def _report_data(req: ServiceRequest) -> dict[str, Any]:
    """What the ``report`` step records: how it came in and whom it was assigned to."""
    return {
        "channel": req.channel.value,
        "grid_id": req.grid_id,
        "volunteer_id": req.volunteer_id,
        "walk_m": req.volunteer_walk_m,
        "assignment": req.assignment_method,
    }


class IdempotencyMismatch(IntakeError):
    """The caller's Idempotency-Key came back with another body (422, naming the header)."""

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was already used with a different request body", field="Idempotency-Key")


def submit_request(
    session: Session,
    *,
    data: NewRequest,
    settings: Settings,
    now: datetime,
    reporter: User | None = None,
    idempotency_key: str | None = None,
    api_client_id: int | None = None,
    idempotency_scope: str | None = None,
) -> tuple[ServiceRequest, bool]:
    """Intake with idempotency: (request, replayed). A retry with the same key from the same caller
    returns the stored request (never a second row, even when two retries race); the same key with
    another body raises IdempotencyMismatch. The key is scoped to the caller: ``idempotency_scope``,
    else the API client, else the signed-in reporter; the same key from another caller is another
    key. The insert runs in a savepoint so a lost race leaves the transaction usable."""
    data = data.cleaned()
    if idempotency_key:
        if idempotency_scope is None:
            idempotency_scope = (
                f"client:{api_client_id}"
                if api_client_id is not None
                else f"user:{reporter.id}"
                if reporter is not None
                else "anonymous"
            )
        idempotency_key = scoped_idempotency_key(idempotency_scope, idempotency_key)
        existing = find_by_idempotency_key(session, idempotency_key)
        if existing is not None:
            return _replayed(existing, data)
    try:
        with session.begin_nested():
            req = create_request(
                session,
                data=data,
                settings=settings,
                now=now,
                reporter=reporter,
                idempotency_key=idempotency_key,
                api_client_id=api_client_id,
            )
    except IntegrityError:
        existing = find_by_idempotency_key(session, idempotency_key) if idempotency_key else None
        if existing is None:
            raise
        return _replayed(existing, data)
    return req, False


def _replayed(existing: ServiceRequest, data: NewRequest) -> tuple[ServiceRequest, bool]:
    if existing.idempotency_fingerprint != data.fingerprint():
        raise IdempotencyMismatch()
    return existing, True
