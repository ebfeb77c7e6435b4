"""``/api/v1/wishes``: micro-wishes and mutual-aid projects — post, list, near me (by walking),
claim, release, fulfil, confirm, cancel, and monthly stats per grid. The data work is in
``service.wishes.service``; a refusal there is a ``DomainError`` the app answers as problem+json."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from service.auth.deps import require_roles
from service.auth.models import Role, User
from service.common.params import MAX_DB_ID, IdPath, OffsetParam, PointParam
from service.community.times import period
from service.deps import ClockDep, ReadSession, SettingsDep, WriteSession
from service.wishes import service as wishes
from service.wishes.models import WishKind, WishStatus
from service.wishes.schemas import (
    NearbyWishes,
    StepIn,
    WishCategory,
    WishCollection,
    WishIn,
    WishOut,
    WishPage,
    WishStats,
)
from service.wishes.service import NewWish, WishFilter

router = APIRouter(prefix="/api/v1/wishes", tags=["wishes"])

_MEMBERS = (Role.RESIDENT, Role.VOLUNTEER, Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN, Role.PLANNER)
Member = Annotated[User, Depends(require_roles(*_MEMBERS))]
Poster = Annotated[
    User, Depends(require_roles(Role.RESIDENT, Role.VOLUNTEER, Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN))
]
Staff = Annotated[User, Depends(require_roles(Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN, Role.PLANNER))]
#: Routes answering one wish set ``response_model_exclude_unset``: a wish's people (claimant, the
#: resident it is for) are absent, not null, for those who may not see them.


@router.post(
    "",
    status_code=201,
    summary="Post a wish or a mutual-aid project (residents, volunteers, staff)",
    response_model=WishOut,
    response_model_exclude_unset=True,
)
def post(body: WishIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Poster) -> WishOut:
    wish = wishes.post_wish(session, data=NewWish(**body.model_dump()), user=user, settings=settings, now=clock())
    out = wishes.wish_view(session, wish, user)
    session.commit()
    return out


@router.get(
    "",
    summary="Wishes and projects: open ones, and your own (staff see all)",
    response_model=WishPage | WishCollection,
    response_model_exclude_unset=True,
)
def list_wishes(
    session: ReadSession,
    user: Member,
    status: Annotated[list[WishStatus] | None, Query()] = None,
    kind: WishKind | None = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    grid_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    mine: bool = Query(False, description="only wishes I posted or claimed"),
    format: Annotated[str, Query(pattern="^(json|geojson)$")] = "json",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: OffsetParam = 0,
) -> WishPage | WishCollection:
    """``format=geojson`` gives a FeatureCollection at building level for the map's open-wishes layer
    (``status=open``)."""
    where = WishFilter(
        status=status, kind=kind, category=category, grid_id=grid_id, community_id=community_id, mine=mine
    )
    return wishes.list_for(session, user=user, where=where, limit=limit, offset=offset, geojson=format == "geojson")


@router.get(
    "/nearby",
    summary="Open wishes near a point, nearest by walking first (signed in)",
    response_model=NearbyWishes,
    response_model_exclude_unset=True,
)
def nearby(
    session: ReadSession,
    settings: SettingsDep,
    user: Member,
    point: PointParam,
    kind: WishKind | None = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    minutes: Annotated[int, Query(ge=1, le=60, description="walking time limit")] = 15,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NearbyWishes:
    """Sorted by the whole walk on the street network (point → street → streets → street → the
    wish's building), as the station finder walks; ``walk_m`` and ``walk_minutes`` per wish."""
    return wishes.nearby(
        session,
        user=user,
        settings=settings,
        lon=point.lon,
        lat=point.lat,
        minutes=minutes,
        limit=limit,
        kind=kind,
        category=category,
    )


@router.get("/categories", summary="Wish categories with their names (public)", response_model=list[WishCategory])
def categories() -> list[WishCategory]:
    """The codes ``category`` takes when posting, with the names the pages show."""
    return wishes.categories()


@router.get(
    "/stats",
    summary="Wishes posted, claimed, fulfilled and confirmed per grid and month (staff)",
    response_model=WishStats,
)
def stats(
    session: ReadSession,
    clock: ClockDep,
    _user: Staff,
    start: Annotated[str | None, Query(max_length=40, description="ISO date; default a year before end")] = None,
    end: Annotated[str | None, Query(max_length=40, description="ISO date; default now")] = None,
    grid_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    kind: WishKind | None = None,
) -> WishStats:
    """Each wish counts in the month of each of its own steps (local time, UTC+8): ``posted`` by
    when it was posted, ``claimed`` by its standing claim (claims that expired or were released do
    not count), ``fulfilled`` and ``confirmed`` by when they happened."""
    start_at, end_at = period(start, end, clock())
    return wishes.stats(session, start=start_at, end=end_at, grid_id=grid_id, community_id=community_id, kind=kind)


@router.get("/{wish_id}", summary="One wish", response_model=WishOut, response_model_exclude_unset=True)
def get_wish(wish_id: IdPath, session: ReadSession, user: Member) -> WishOut:
    return wishes.read(session, wish_id=wish_id, user=user)


def _step(action: str, wish_id: int, body: StepIn, session, settings, clock, user: User) -> WishOut:
    wish = wishes.take_step(
        session,
        action=action,
        wish_id=wish_id,
        user=user,
        settings=settings,
        now=clock(),
        version=body.version,
        note=body.note,
    )
    out = wishes.wish_view(session, wish, user)
    session.commit()
    return out


@router.post(
    "/{wish_id}/claim",
    summary="Claim an open wish (volunteers)",
    response_model=WishOut,
    response_model_exclude_unset=True,
)
def claim(
    wish_id: IdPath, body: StepIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Member
) -> WishOut:
    """The claim holds for ``NEIGHBORGRID_WISH_CLAIM_HOURS`` (72 h); unfulfilled by then, the wish
    goes back to the open list. Two volunteers racing for one wish: one wins, the other gets 409."""
    return _step("claim", wish_id, body, session, settings, clock, user)


@router.post(
    "/{wish_id}/release",
    summary="Give a claimed wish back to the open list (its claimant)",
    response_model=WishOut,
    response_model_exclude_unset=True,
)
def release(
    wish_id: IdPath, body: StepIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Member
) -> WishOut:
    return _step("release", wish_id, body, session, settings, clock, user)


@router.post(
    "/{wish_id}/fulfil",
    summary="Report a claimed wish fulfilled (its claimant)",
    response_model=WishOut,
    response_model_exclude_unset=True,
)
def fulfil(
    wish_id: IdPath, body: StepIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Member
) -> WishOut:
    return _step("fulfil", wish_id, body, session, settings, clock, user)


@router.post(
    "/{wish_id}/confirm",
    summary="Confirm a fulfilled wish; the claimant earns its points (the poster)",
    response_model=WishOut,
    response_model_exclude_unset=True,
)
def confirm(
    wish_id: IdPath, body: StepIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Member
) -> WishOut:
    """Only the account that posted the wish confirms it (403 for anyone else); a wish entered without
    a poster account is confirmed by its grid's workers or a dispatcher."""
    return _step("confirm", wish_id, body, session, settings, clock, user)


@router.post(
    "/{wish_id}/cancel",
    summary="Withdraw an open or claimed wish (the poster, or the grid's staff)",
    response_model=WishOut,
    response_model_exclude_unset=True,
)
def cancel(
    wish_id: IdPath, body: StepIn, session: WriteSession, settings: SettingsDep, clock: ClockDep, user: Member
) -> WishOut:
    return _step("cancel", wish_id, body, session, settings, clock, user)
