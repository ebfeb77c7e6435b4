"""Who is watching a stream, whether they still may, and which events they may see.

A stream holds no database session: the account is checked in a short session when the stream
opens and again every ``events_recheck_seconds`` (service/config.py), and each batch of events is
filtered in the short session that reads it. The filters are the REST rules themselves, taken
once per check: ``service.requests.access.visible`` for request events (one query per batch that
holds request events, for roles that do not see every request) and
``service.households.access.visible`` for key-household events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import False_, True_

from service.auth.models import Role, User
from service.auth.service import is_revoked
from service.buildings.models import Building
from service.events.models import OutboxEvent
from service.households import access as household_access
from service.households.models import KeyHousehold
from service.requests import access as request_access
from service.requests.models import ServiceRequest

#: Roles that may watch the stream at all.
STREAM_ROLES = frozenset({Role.DISPATCHER, Role.GRID_WORKER, Role.PLANNER, Role.ADMIN})

#: Topics every stream role sees, because every stream role sees the same in REST: stations and
#: grids (public layers), wishes (every staff role lists them all). Request and key-household
#: topics are filtered per watcher; any other topic is sent to nobody until it is listed here.
_OPEN_TOPICS = frozenset({"station.changed", "grid.changed", "wish.updated"})
_REQUEST_TOPICS = frozenset({"request.created", "request.updated"})
_HOUSEHOLD_TOPICS = frozenset({"key_household.visited", "key_household.overdue"})


class StreamEnded(Exception):
    """The account may no longer watch: the stream ends with this reason."""


@dataclass(frozen=True)
class Watcher:
    """One open stream's account, the credential it opened with, and what it may see."""

    user_id: int
    username: str
    role: Role
    #: When the credential (bearer token or ticket) was issued: "sign out everywhere" after it ends the stream.
    issued_at: datetime
    #: The bearer token's id, re-checked against sign-outs; None for a (single-use) ticket.
    token_id: str | None
    #: The id of the key that signed the credential: a rotation (``neighborgrid rotate-secret``) ends the stream.
    key_id: str
    requests: ColumnElement[bool]
    households: ColumnElement[bool]


def watcher_for(
    session: Session, user: User | None, *, issued_at: datetime, token_id: str | None, key_id: str
) -> Watcher:
    """Check that ``user`` may watch now (raises StreamEnded, else) and take their visibility rules."""
    if user is None or not user.is_active:
        raise StreamEnded("account is unknown or disabled")
    if user.tokens_valid_after is not None and issued_at < user.tokens_valid_after:
        raise StreamEnded("the account was signed out everywhere after this credential was issued")
    if token_id and is_revoked(session, token_id):
        raise StreamEnded("token was signed out")
    if user.role not in STREAM_ROLES:
        raise StreamEnded(f"role {user.role.value!r} may not watch the event stream")
    households = household_access.visible(session, user) if user.role in household_access.MAY_SEE else false()
    return Watcher(
        user_id=user.id,
        username=user.username,
        role=user.role,
        issued_at=issued_at,
        token_id=token_id,
        key_id=key_id,
        requests=request_access.visible(session, user),
        households=households,
    )


def recheck(session: Session, watcher: Watcher, *, current_key_id: str) -> Watcher:
    """The same checks as at the start, on the account and signing key as they are now (raises StreamEnded)."""
    if watcher.key_id != current_key_id:
        raise StreamEnded("the signing key was rotated; sign in again")
    return watcher_for(
        session,
        session.get(User, watcher.user_id),
        issued_at=watcher.issued_at,
        token_id=watcher.token_id,
        key_id=watcher.key_id,
    )


def _ids(events: list[OutboxEvent], key: str) -> set[int]:
    return {v for e in events if isinstance(v := e.payload.get(key), int) and not isinstance(v, bool)}


def _matching(session: Session, rule: ColumnElement[bool], query, wanted: set[int]) -> set[int]:
    """The ``wanted`` ids the ``rule`` lets through; no query when it lets all or none through."""
    if not wanted or isinstance(rule, False_):
        return set()
    if isinstance(rule, True_):
        return wanted
    return set(session.scalars(query.where(rule)))


def visible_events(session: Session, watcher: Watcher, events: list[OutboxEvent]) -> list[OutboxEvent]:
    """The events of ``events`` this watcher may see, in order, judged on the cases as they are now."""
    requests = [e for e in events if e.topic in _REQUEST_TOPICS]
    request_ids = _ids(requests, "id")
    seen_requests = _matching(
        session,
        watcher.requests,
        select(ServiceRequest.id).where(ServiceRequest.id.in_(request_ids)),
        request_ids,
    )
    households = [e for e in events if e.topic in _HOUSEHOLD_TOPICS]
    grid_ids = _ids(households, "grid_id")
    seen_grids = _matching(
        session,
        watcher.households,
        select(Building.grid_id)
        .distinct()
        .select_from(KeyHousehold)
        .join(Building, Building.id == KeyHousehold.building_id)
        .where(Building.grid_id.in_(grid_ids)),
        grid_ids,
    )
    out = []
    for e in events:
        if e.topic in _OPEN_TOPICS:
            out.append(e)
        elif e.topic in _REQUEST_TOPICS:
            if e.payload.get("id") in seen_requests:
                out.append(e)
        elif e.topic in _HOUSEHOLD_TOPICS and e.payload.get("grid_id") in seen_grids:
            out.append(e)
    return out
