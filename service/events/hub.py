"""Wakes SSE subscribers when events are committed, in this process or (PostgreSQL) any other.

Subscribers never trust the wake-up for content: they always read ``outbox_events`` after the
last id they sent, so a missed wake-up only delays an event until the next poll, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import func, select

from service.db import Database
from service.events import outbox
from service.events.models import OutboxEvent

log = logging.getLogger("neighborgrid.events")


class EventHub:
    def __init__(self, db: Database, *, poll_seconds: float = 2.0) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self._url = db.engine.url.render_as_string(hide_password=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._listener: asyncio.Task | None = None
        self.clients = 0

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        outbox.add_local_listener(self._on_local_commit)
        if self.db.engine.dialect.name == "postgresql":
            self._listener = asyncio.create_task(self._listen_postgres(), name="neighborgrid-listen")

    async def stop(self) -> None:
        outbox.remove_local_listener(self._on_local_commit)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener

    # -- wake-ups ------------------------------------------------------------------------

    def _on_local_commit(self, url: str) -> None:
        if url == self._url and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.wake)

    def wake(self) -> None:
        if self._event is not None:
            current, self._event = self._event, asyncio.Event()
            current.set()

    def waiter(self) -> asyncio.Event:
        """Take this before reading the outbox; it is set by the next wake-up."""
        assert self._event is not None, "hub not started"
        return self._event

    async def _listen_postgres(self) -> None:
        import psycopg

        url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {outbox.CHANNEL}")
                    delay = 0.5
                    self.wake()  # catch up on anything committed while we were away
                    async for _ in conn.notifies():
                        self.wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: retry with backoff, keep polling meanwhile
                log.warning("event listener lost its connection (%s); retrying in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    # -- reading -------------------------------------------------------------------------

    def read_after(self, last_id: int, limit: int = 500) -> list[OutboxEvent]:
        with self.db.reader() as session:
            rows = session.scalars(
                select(OutboxEvent).where(OutboxEvent.id > last_id).order_by(OutboxEvent.id).limit(limit)
            ).all()
            session.expunge_all()
            return list(rows)

    def latest_id(self) -> int:
        with self.db.reader() as session:
            return int(session.scalar(select(func.max(OutboxEvent.id))) or 0)
