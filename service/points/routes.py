"""``/api/v1/points``: the volunteer's balance and history, the catalogue, redeeming, earning,
corrections, leaderboards and totals; ``/api/v1/community-events``: events that earn points."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from service.auth.deps import CurrentUser, require_roles
from service.auth.models import Role, User
from service.common.params import MAX_DB_ID, IdPath
from service.community.times import period
from service.deps import ClockDep, ReadSession, WriteSession
from service.points import service
from service.points.schemas import (
    CatalogueIn,
    CatalogueItemOut,
    CataloguePatch,
    CommunityEventOut,
    CorrectionIn,
    EarnIn,
    EventIn,
    Leaderboard,
    LedgerChange,
    RedeemIn,
    Rules,
    Summary,
    VolunteerPoints,
)
from service.points.sources import Earning

router = APIRouter(prefix="/api/v1", tags=["points"])

Confirmer = Annotated[User, Depends(require_roles(Role.GRID_WORKER, Role.DISPATCHER, Role.ADMIN))]
Manager = Annotated[User, Depends(require_roles(Role.DISPATCHER, Role.ADMIN))]
Redeemer = Annotated[User, Depends(require_roles(Role.VOLUNTEER, Role.DISPATCHER, Role.ADMIN))]
VolunteerUser = Annotated[User, Depends(require_roles(Role.VOLUNTEER))]


# -- the volunteer's own points -------------------------------------------------------------------


@router.get("/points/me", response_model=VolunteerPoints, summary="My points: balance and history (volunteers)")
def my_points(session: ReadSession, user: VolunteerUser) -> dict[str, Any]:
    """The balance is the sum of the ledger, never a stored number; ``history`` is newest first, each
    entry with the balance after it."""
    return service.my_points(session, user=user)


@router.get(
    "/points/volunteers/{volunteer_id}",
    response_model=VolunteerPoints,
    summary="One volunteer's points (staff, or the volunteer)",
)
def volunteer_points(volunteer_id: IdPath, session: ReadSession, user: CurrentUser) -> dict[str, Any]:
    return service.volunteer_points(session, volunteer_id=volunteer_id, user=user)


# -- the catalogue --------------------------------------------------------------------------------


@router.get(
    "/points/catalogue",
    response_model=list[CatalogueItemOut],
    summary="Services to redeem, with their price in points (public)",
)
def catalogue(
    session: ReadSession,
    community_id: Annotated[
        int | None, Query(ge=1, le=MAX_DB_ID, description="items offered in this community")
    ] = None,
    include_inactive: bool = Query(False, description="also items no longer offered"),
) -> list[dict[str, Any]]:
    return service.catalogue(session, community_id=community_id, include_inactive=include_inactive)


@router.post(
    "/points/catalogue",
    status_code=201,
    response_model=CatalogueItemOut,
    summary="Add a catalogue item (dispatchers, admins)",
)
def add_catalogue_item(body: CatalogueIn, session: WriteSession, user: Manager, clock: ClockDep) -> dict[str, Any]:
    item = service.add_catalogue_item(session, data=body.model_dump(), user=user, now=clock())
    session.commit()
    return item


@router.patch(
    "/points/catalogue/{item_id}",
    response_model=CatalogueItemOut,
    summary="Change a catalogue item's price or withdraw it (dispatchers, admins)",
)
def change_catalogue_item(
    item_id: IdPath, body: CataloguePatch, session: WriteSession, user: Manager
) -> dict[str, Any]:
    """Past redemptions keep the price they were paid: the ledger holds the amount, not a reference
    to the current price."""
    item = service.change_catalogue_item(
        session, item_id=item_id, changes=body.model_dump(exclude_unset=True), user=user
    )
    session.commit()
    return item


# -- redeeming, earning, correcting ---------------------------------------------------------------


@router.post(
    "/points/redeem", status_code=201, response_model=LedgerChange, summary="Redeem points for a catalogue item"
)
def redeem(body: RedeemIn, session: WriteSession, user: Redeemer, clock: ClockDep) -> dict[str, Any]:
    """Volunteers redeem their own points; dispatchers and admins may redeem for a volunteer at the
    counter (``volunteer_id``). More than the balance gets 409 naming ``item``; two redemptions racing
    for the same points are serialised, so they cannot both succeed."""
    change = service.redeem(
        session,
        user=user,
        item_id=body.item,
        quantity=body.quantity,
        volunteer_id=body.volunteer_id,
        note=body.note,
        now=clock(),
    )
    session.commit()
    return change


@router.post(
    "/points/earn",
    status_code=201,
    response_model=LedgerChange,
    summary="Confirm service and credit its points (grid workers, dispatchers)",
)
def earn(body: EarnIn, session: WriteSession, user: Confirmer, clock: ClockDep) -> dict[str, Any]:
    """Points by duration and kind (``GET /api/v1/points/rules``). A source earns only once (a
    community event once per attending volunteer): a second confirmation gets 409."""
    change = service.earn(session, data=Earning(**body.model_dump()), user=user, now=clock())
    session.commit()
    return change


@router.post(
    "/points/corrections",
    status_code=201,
    response_model=LedgerChange,
    summary="Correct an entry with a new entry (dispatchers, admins)",
)
def correction(body: CorrectionIn, session: WriteSession, user: Manager, clock: ClockDep) -> dict[str, Any]:
    """The ledger is never edited: a correction is a new entry that names the entry it corrects."""
    change = service.correct(
        session, entry_id=body.entry_id, amount=body.amount, note=body.note, user=user, now=clock()
    )
    session.commit()
    return change


@router.get("/points/rules", response_model=Rules, summary="How service earns points: rate per hour by kind (public)")
def rules() -> dict[str, Any]:
    return service.rules()


# -- leaderboards and totals ----------------------------------------------------------------------


@router.get(
    "/points/leaderboard", response_model=Leaderboard, summary="Points earned per volunteer, team or grid (signed in)"
)
def leaderboard(
    session: ReadSession,
    clock: ClockDep,
    _user: CurrentUser,
    by: Annotated[str, Query(pattern="^(volunteer|team|grid)$")] = "volunteer",
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    grid_id: Annotated[
        int | None, Query(ge=1, le=MAX_DB_ID, description="volunteers ranked by service in this grid")
    ] = None,
    start: Annotated[str | None, Query(max_length=40, description="ISO date; default a year before end")] = None,
    end: Annotated[str | None, Query(max_length=40, description="ISO date; default now")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> dict[str, Any]:
    """Earned points (service confirmed, with its corrections), not balances: spending does not
    lower a rank. Names only; no phone numbers."""
    start_at, end_at = period(start, end, clock())
    return service.leaderboard(
        session, by=by, start=start_at, end=end_at, community_id=community_id, grid_id=grid_id, limit=limit
    )


@router.get(
    "/points/summary",
    response_model=Summary,
    summary="Community totals: earned, redeemed, outstanding, per month (signed in)",
)
def summary(
    session: ReadSession,
    clock: ClockDep,
    _user: CurrentUser,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
    start: Annotated[str | None, Query(max_length=40)] = None,
    end: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    start_at, end_at = period(start, end, clock())
    return service.summary(session, start=start_at, end=end_at, community_id=community_id)


# -- community events -----------------------------------------------------------------------------


@router.get(
    "/community-events",
    tags=["points"],
    response_model=list[CommunityEventOut],
    summary="Community events whose attendance earns points (signed in)",
)
def community_events(
    session: ReadSession,
    _user: CurrentUser,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
) -> list[dict[str, Any]]:
    return service.community_events(session, community_id=community_id)


@router.post(
    "/community-events",
    status_code=201,
    tags=["points"],
    response_model=CommunityEventOut,
    summary="Announce a community event (staff)",
)
def add_community_event(body: EventIn, session: WriteSession, user: Confirmer, clock: ClockDep) -> dict[str, Any]:
    event = service.add_community_event(session, data=body.model_dump(), user=user, now=clock())
    session.commit()
    return event
