"""``GET /api/v1/events``: the authenticated Server-Sent Events stream of the changes a role may see.

A client that reconnects with ``Last-Event-ID`` (browsers send it automatically) or ``?since=``
gets every event after that id from the outbox, so it misses nothing. ``EventSource`` cannot send
an Authorization header, so browsers first get a ticket from ``POST /api/v1/events/ticket``: valid
60 seconds, for one stream only (its id is recorded as used in ``revoked_tokens``, so the rule holds
across worker processes), and signed for its own audience, so no other endpoint accepts it.

The stream holds no database session: the account is checked in a short session when it opens and
every ``events_recheck_seconds`` after (disabled, signed out everywhere, role changed, token signed
out, signing key rotated: the stream ends), and events are read and filtered per watcher in short sessions
(service/live/watchers.py). Streams are capped per account and per process (429 + Retry-After).
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from service.auth.deps import oauth2_scheme, optional_user, require_roles
from service.auth.keys import key_id
from service.auth.models import RevokedToken, User
from service.auth.security import issue_token, read_token
from service.auth.service import get_user
from service.common.problems import Problem
from service.config import Settings
from service.db import Database
from service.deps import DatabaseDep, SettingsDep
from service.events.hub import EventHub
from service.events.models import OutboxEvent
from service.live.schemas import Ticket
from service.live.watchers import STREAM_ROLES, StreamEnded, Watcher, recheck, visible_events, watcher_for

router = APIRouter(prefix="/api/v1/events", tags=["events"])

TICKET_TTL = timedelta(seconds=60)
#: The audience of stream tickets: the bearer-token check (audience "neighborgrid") refuses them.
TICKET_AUDIENCE = "neighborgrid:events"
#: Largest event id a client may name: ids are 64-bit integers in the database.
MAX_EVENT_ID = 2**63 - 1
Streamer = Annotated[User, Depends(require_roles(*STREAM_ROLES))]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@router.post(
    "/ticket",
    response_model=Ticket,
    summary="A 60-second, single-use ticket to open the event stream from a browser",
)
def ticket(user: Streamer, settings: SettingsDep) -> Ticket:
    token = issue_token(
        username=user.username,
        role=f"events:{user.role.value}",
        key=settings.signing_key,
        ttl=TICKET_TTL,
        audience=TICKET_AUDIENCE,
    )
    return Ticket(ticket=token, expires_in=int(TICKET_TTL.total_seconds()))


def _position(
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    since: Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID, description="replay events after this id")] = None,
) -> int | None:
    """Where the stream starts: after ``Last-Event-ID`` or ``since``; None for "from now".

    A dependency of the authentication below, so a bad value is refused before a ticket is used up."""
    if last_event_id is not None:
        if not last_event_id.isdigit() or int(last_event_id) > MAX_EVENT_ID:
            raise Problem(422, f"Last-Event-ID must be an event id (0 to {MAX_EVENT_ID})", field="Last-Event-ID")
        return int(last_event_id)
    return since


def _bearer_watcher(db: Database, settings: Settings, token: str) -> Watcher:
    with db.reader() as session:
        user = optional_user(token, session, settings)  # 401 for a bad, expired or signed-out token
        if user is None:  # not reached: a token was sent, so optional_user answers or refuses
            raise Problem(401, "the event stream needs a bearer token or a ticket", headers=_CHALLENGE)
        if user.role not in STREAM_ROLES:
            raise Problem(403, f"role {user.role.value!r} may not watch the event stream")
        claims = user.token_claims  # type: ignore[attr-defined]
        try:
            return watcher_for(
                session, user, issued_at=claims.issued_at, token_id=claims.token_id, key_id=claims.key_id
            )
        except StreamEnded as exc:
            raise Problem(401, str(exc), headers=_CHALLENGE) from None


def _ticket_watcher(db: Database, ticket: str, claims) -> Watcher:
    """Check the ticket's account as for a token, then record the ticket as used (once, in any worker)."""
    now = datetime.now(UTC)
    with db.writer() as session:
        user = get_user(session, username=claims.username)
        if user is not None and user.is_active and user.role not in STREAM_ROLES:
            raise Problem(403, f"role {user.role.value!r} may not watch the event stream")
        try:
            watcher = watcher_for(session, user, issued_at=claims.issued_at, token_id=None, key_id=claims.key_id)
        except StreamEnded as exc:
            raise Problem(401, f"ticket refused: {exc}", field="ticket") from None
        # Signed-out tokens and used tickets share the table; expired rows of either are no longer needed.
        session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
        session.add(RevokedToken(jti=claims.token_id, expires_at=claims.expires_at))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise Problem(401, "ticket was already used; get a new one for each connection", field="ticket") from None
        return watcher


async def _watcher(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    _start: Annotated[int | None, Depends(_position)],
    token: Annotated[str | None, Depends(oauth2_scheme)],
    ticket: Annotated[
        str | None, Query(max_length=2000, description="from POST /api/v1/events/ticket; valid for one stream")
    ] = None,
) -> tuple[Watcher, Callable[[], None]]:
    """Admit the stream (429 above the caps), then authenticate it in a short session."""
    claims = None
    if token is not None:
        try:
            username = read_token(token, key=settings.signing_key).username
        except jwt.PyJWTError:
            username = ""  # optional_user below answers with the precise 401
    elif ticket is not None:
        try:
            claims = read_token(ticket, key=settings.signing_key, audience=TICKET_AUDIENCE)
        except jwt.PyJWTError:
            raise Problem(401, "ticket is invalid or expired", field="ticket") from None
        if not claims.token_id:
            raise Problem(401, "ticket has no id", field="ticket")
        username = claims.username
    else:
        raise Problem(401, "the event stream needs a bearer token or a ticket", headers=_CHALLENGE)
    hub: EventHub = request.app.state.events
    total = settings.events_max_streams or 10 * settings.db_pool_size
    release = hub.admit(username, per_user=settings.events_max_streams_per_user, total=total)  # or 429
    try:
        if claims is not None:
            assert ticket is not None
            watcher = await asyncio.to_thread(_ticket_watcher, db, ticket, claims)
        else:
            assert token is not None
            watcher = await asyncio.to_thread(_bearer_watcher, db, settings, token)
    except BaseException:
        release()
        raise
    return watcher, release


def _format(event: OutboxEvent) -> str:
    data = json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.topic}\ndata: {data}\n\n"


def _read(db: Database, hub: EventHub, watcher: Watcher, last: int) -> tuple[list[OutboxEvent], int]:
    """The events after ``last`` this watcher may see, and the last id read (sent or not)."""
    with db.reader() as session:
        batch = hub.read_after(last, session=session)
        if not batch:
            return [], last
        return visible_events(session, watcher, batch), batch[-1].id


def _recheck(db: Database, settings: Settings, watcher: Watcher) -> Watcher:
    current = key_id(settings.signing_key)  # re-reads the key file when it changed
    with db.reader() as session:
        return recheck(session, watcher, current_key_id=current)


@router.get(
    "",
    summary="Live events you may see (Server-Sent Events); reconnect with Last-Event-ID to catch up",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    request: Request,
    admitted: Annotated[tuple[Watcher, Callable[[], None]], Depends(_watcher)],
    position: Annotated[int | None, Depends(_position)],
    db: DatabaseDep,
    settings: SettingsDep,
) -> StreamingResponse:
    hub: EventHub = request.app.state.events
    watcher, release = admitted
    try:
        start = position if position is not None else await hub.run(hub.latest_id)
    except BaseException:
        release()
        raise
    every = settings.events_recheck_seconds

    async def stream():
        nonlocal watcher
        last = start
        next_check = time.monotonic() + every
        try:
            yield f"retry: 2000\n: connected at event {last}\n\n"
            while True:
                if time.monotonic() >= next_check:
                    try:
                        watcher = await hub.run(_recheck, db, settings, watcher)
                    except StreamEnded as exc:
                        yield f"event: stream.closed\ndata: {json.dumps({'reason': str(exc)})}\n\n"
                        return
                    next_check = time.monotonic() + every
                waiter = hub.waiter()
                batch, read_to = await hub.run(_read, db, hub, watcher, last)
                for event in batch:
                    yield _format(event)
                if read_to != last:
                    last = read_to
                    continue
                if await request.is_disconnected():
                    return
                timeout = max(0.0, min(hub.poll_seconds, next_check - time.monotonic()))
                try:
                    await asyncio.wait_for(waiter.wait(), timeout=timeout)
                except TimeoutError:
                    yield ": keepalive\n\n"
        finally:
            release()

    body = stream()
    weakref.finalize(body, release)  # a stream never started (client gone at once) frees its slot too
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)
