"""Intake: validate a new request, assign it, set its deadlines, all in the caller's transaction."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.coords import CoordType, check_lonlat, checked_to_wgs84
from geo.errors import GeoInputError
from service.areas.models import Area
from service.auth.models import Role, User
from service.buildings.models import Building
from service.config import Settings
from service.events.outbox import publish
from service.grids.service import locate_point
from service.requests import sla
from service.requests.assignment import find_duplicates, nearest_volunteers, on_duty_worker
from service.requests.models import (
    RESIDENT_CHANNELS,
    STAFF_CHANNELS,
    Channel,
    DuplicateSuggestion,
    RequestCategory,
    RequestEvent,
    Scope,
    ServiceRequest,
    Status,
)
from service.requests.views import event_payload

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


class IntakeError(ValueError):
    """Bad input at intake; ``field`` names the offending field, ``status`` the HTTP status."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


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
        raise IntakeError("channel", "the open311 channel is for requests posted to /open311/v2", status=403)
    raise IntakeError(
        "channel", f"the {channel.value} channel is for staff entering a case; report through web or wechat", 403
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
        raise IntakeError("category", f"unknown category {code!r}; see GET /api/v1/categories")
    return category


def _households(
    session: Session, scope: Scope, building: Building | None, compound: Area | None, community: Area | None
) -> int:
    """Impact: how many households the problem reaches."""
    if scope is Scope.BUILDING and building is not None:
        return max(building.households, 1)
    if scope is Scope.COMPOUND and compound is not None:
        return int(
            session.scalar(select(func.sum(Building.households)).where(Building.compound_id == compound.id)) or 1
        )
    if scope is Scope.COMMUNITY and community is not None:
        return int(
            session.scalar(
                select(func.sum(Building.households))
                .join(Area, Building.compound_id == Area.id)
                .where(Area.parent_id == community.id)
            )
            or 1
        )
    return 1


def _validate(data: NewRequest, settings: Settings) -> None:
    text = (data.description or "").strip()
    if not text:
        raise IntakeError("description", "description must not be empty")
    if len(data.description) > settings.description_max_length:
        raise IntakeError("description", f"description must be at most {settings.description_max_length} characters")
    if data.reporter_phone is not None and not PHONE_RE.match(data.reporter_phone):
        raise IntakeError("reporter_phone", "reporter_phone must be a phone number (digits, spaces, '-', '+')")
    if (data.lon is None) != (data.lat is None):
        missing = "lat" if data.lat is None else "lon"
        raise IntakeError(missing, f"{missing} is required when the other coordinate is given")
    if data.lon is None and data.building_id is None:
        raise IntakeError("lon", "a location is required: lon and lat, or building_id")
    if data.lon is not None:
        try:
            check_lonlat(data.lon, data.lat)
        except GeoInputError as exc:
            raise IntakeError(exc.field, str(exc)) from None


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

    building = None
    if data.building_id is not None:
        building = session.get(Building, data.building_id)
        if building is None:
            raise IntakeError("building_id", f"no building with id {data.building_id}")
    if data.lon is not None:
        try:
            lon, lat = checked_to_wgs84(data.lon, data.lat, data.coord_type)
        except GeoInputError as exc:
            raise IntakeError(exc.field, str(exc)) from None
    else:
        anchor = (
            to_shape(building.entrance)
            if building.entrance is not None
            else to_shape(building.geom).representative_point()
        )
        lon, lat = anchor.x, anchor.y

    where = locate_point(session, lon=lon, lat=lat, max_distance_m=settings.locate_max_distance_m)
    building = building or where.building
    community = where.community or (where.grid.community if where.grid else None)
    scope = data.scope or category.default_scope
    households = _households(session, scope, building, where.compound, community)
    due = sla.deadlines(
        now,
        response_minutes=settings.response_minutes,
        onsite_minutes=settings.onsite_minutes,
        resolve_hours=category.resolve_hours,
    )
    ranked = nearest_volunteers(
        session,
        lon=lon,
        lat=lat,
        skill=category.skill,
        now=now,
        max_open_cases=settings.volunteer_max_open_cases,
        max_age_minutes=settings.volunteer_position_max_age_minutes,
        max_snap_m=settings.max_snap_distance_m,
    )
    chosen = ranked[0] if ranked else None
    worker = on_duty_worker(where.grid)

    req = ServiceRequest(
        tracking_code=new_tracking_code(),
        idempotency_key=idempotency_key,
        idempotency_fingerprint=data.fingerprint() if idempotency_key else None,
        category_id=category.id,
        category=category,
        description=data.description.strip(),
        channel=Channel(data.channel),
        attributes=dict(data.attributes or {}),
        public=bool(data.public),
        status=Status.REPORTED,
        level=category.default_level,
        scope=scope,
        households_affected=households,
        location=from_shape(Point(lon, lat), srid=4326),
        raw_lon=data.lon,
        raw_lat=data.lat,
        raw_coord_type=CoordType(data.coord_type).value if data.lon is not None else "building",
        grid_id=where.grid.id if where.grid else None,
        outside_coverage=where.located.outside_coverage,
        grid_distance_m=where.located.distance_m if where.grid else None,
        community_id=community.id if community else None,
        compound_id=where.compound.id if where.compound else None,
        building_id=building.id if building else None,
        grid_worker_id=worker.id if worker else None,
        volunteer_id=chosen.volunteer.id if chosen else None,
        volunteer_walk_m=round(chosen.walk_m, 1) if chosen else None,
        assignment_method=chosen.method if chosen else None,
        reporter_user_id=reporter.id if reporter else None,
        api_client_id=api_client_id,
        reporter_name=(data.reporter_name or None),
        reporter_phone=(data.reporter_phone or None),
        reported_at=now,
        due_response_at=due.response,
        due_onsite_at=due.onsite,
        due_resolve_at=due.resolve,
        updated_at=now,
    )
    req.warning_level = sla.warning_level(
        severity=category.severity, households=households, clock=sla.clock_of(req), now=now, status=req.status
    )
    session.add(req)
    session.flush()

    for other, metres, hours in find_duplicates(
        session,
        category_id=category.id,
        lon=lon,
        lat=lat,
        now=now,
        radius_m=settings.duplicate_radius_m,
        window_hours=settings.duplicate_window_hours,
        exclude_id=req.id,
    ):
        session.add(DuplicateSuggestion(request_id=req.id, candidate_id=other.id, distance_m=metres, hours_apart=hours))
    session.add(
        RequestEvent(
            request_id=req.id,
            action="report",
            from_status=None,
            to_status=req.status.value,
            actor_user_id=reporter.id if reporter else None,
            actor=reporter.username if reporter else "reporter",
            at=now,
            note=None,
            data={
                "channel": req.channel.value,
                "grid_id": req.grid_id,
                "volunteer_id": req.volunteer_id,
                "walk_m": req.volunteer_walk_m,
                "assignment": req.assignment_method,
            },
        )
    )
    session.flush()
    publish(session, "request.created", event_payload(req, action="report"))
    return req


class IdempotencyMismatch(IntakeError):
    def __init__(self) -> None:
        super().__init__("Idempotency-Key", "this Idempotency-Key was already used with a different request body")


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
