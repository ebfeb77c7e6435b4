"""``GET /api/v1/events``: the authenticated Server-Sent Events stream of every change.

A client that reconnects with ``Last-Event-ID`` (browsers send it automatically) gets every event
after that id from the outbox, so it misses nothing. ``EventSource`` cannot send an Authorization
header, so browsers first get a short-lived ticket from ``POST /api/v1/events/ticket``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Annotated

import jwt
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from service.auth.deps import oauth2_scheme, optional_user, require_roles
from service.auth.models import Role, User
from service.auth.security import issue_token, read_token
from service.auth.service import get_user
from service.common.problems import Problem
from service.deps import ReadSession, SettingsDep
from service.events.hub import EventHub

router = APIRouter(prefix="/api/v1/events", tags=["events"])

STREAM_ROLES = (Role.DISPATCHER, Role.GRID_WORKER, Role.PLANNER, Role.ADMIN)
KEEPALIVE_SECONDS = 15.0
TICKET_TTL = timedelta(seconds=60)
Streamer = Annotated[User, Depends(require_roles(*STREAM_ROLES))]


@router.post("/ticket", summary="A 60-second ticket to open the event stream from a browser")
def ticket(user: Streamer, settings: SettingsDep) -> dict[str, str | int]:
    token = issue_token(
        username=user.username, role=f"events:{user.role.value}", key=settings.signing_key, ttl=TICKET_TTL
    )
    return {"ticket": token, "expires_in": int(TICKET_TTL.total_seconds())}


def _stream_user(
    session: ReadSession,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    ticket: Annotated[str | None, Query(max_length=2000, description="from POST /api/v1/events/ticket")] = None,
) -> User:
    if token is not None:
        user = optional_user(token, session, settings)
    elif ticket is not None:
        try:
            claims = read_token(ticket, key=settings.signing_key)
        except jwt.PyJWTError:
            raise Problem(401, "ticket is invalid or expired", field="ticket") from None
        if not claims.role.startswith("events:"):
            raise Problem(401, "not an event-stream ticket", field="ticket")
        user = get_user(session, username=claims.username)
    else:
        user = None
    if user is None or not user.is_active:
        raise Problem(401, "the event stream needs a bearer token or a ticket", headers={"WWW-Authenticate": "Bearer"})
    if user.role not in STREAM_ROLES:
        raise Problem(403, f"role {user.role.value!r} may not watch the event stream")
    return user


def _format(event) -> str:
    data = json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.topic}\ndata: {data}\n\n"


@router.get(
    "",
    summary="Live events (Server-Sent Events); reconnect with Last-Event-ID to catch up",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    request: Request,
    _user: Annotated[User, Depends(_stream_user)],
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    since: Annotated[int | None, Query(ge=0, description="replay events after this id")] = None,
) -> StreamingResponse:
    hub: EventHub = request.app.state.events
    if last_event_id is not None:
        try:
            start = int(last_event_id)
        except ValueError:
            raise Problem(422, "Last-Event-ID must be an event id", field="Last-Event-ID") from None
    elif since is not None:
        start = since
    else:
        start = await asyncio.to_thread(hub.latest_id)

    async def stream():
        last = start
        hub.clients += 1
        try:
            yield f"retry: 2000\n: connected at event {last}\n\n"
            while True:
                waiter = hub.waiter()
                batch = await asyncio.to_thread(hub.read_after, last)
                for event in batch:
                    yield _format(event)
                    last = event.id
                if batch:
                    continue
                if await request.is_disconnected():
                    return
                try:
                    await asyncio.wait_for(waiter.wait(), timeout=hub.poll_seconds)
                except TimeoutError:
                    yield ": keepalive\n\n"
        finally:
            hub.clients -= 1

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
