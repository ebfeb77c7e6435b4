"""Wakes SSE subscribers when events are committed, in this process or (PostgreSQL) any other.

Subscribers never trust the wake-up for content: they always read ``outbox_events`` after the
last id they sent, so a missed wake-up only delays an event until the next poll, never loses it.

A subscriber holds no database connection while it waits. Each read takes a pooled connection for
a moment, and at most half the pool serves stream reads at once (``read_slots``), so a wake-up of
many streams queues here rather than in the pool, where ordinary requests wait. The hub also
counts open streams, per account and in total, for the caps (``admit``): counts of this process,
which is what they protect (its own pool and loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.common.errors import DomainError
from service.db import Database
from service.events import outbox
from service.events.models import OutboxEvent

log = logging.getLogger("neighborgrid.events")

T = TypeVar("T")


#: What a refused stream is told to wait: a slot frees as soon as any stream closes.
RETRY_AFTER_SECONDS = 15


class StreamsFull(DomainError):
    """No room for another stream (of this account, or at all) in this process (429 + Retry-After).

    A cap, not a rate: its message says what is full and no wait is added to it."""

    status = 429

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class EventHub:
    def __init__(self, db: Database, *, poll_seconds: float = 2.0) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self._url = db.engine.url.render_as_string(hide_password=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._listener: asyncio.Task | None = None
        self._read_slots: asyncio.Semaphore | None = None
        #: Open streams in this process, in total and per username.
        self.clients = 0
        self._per_user: Counter[str] = Counter()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        pool_size = getattr(self.db.engine.pool, "size", lambda: 2)()
        self._read_slots = asyncio.Semaphore(max(1, pool_size // 2))
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

    # -- admission -----------------------------------------------------------------------

    def admit(self, username: str, *, per_user: int, total: int) -> Callable[[], None]:
        """Count a new stream of ``username``, or raise StreamsFull; returns its (idempotent) release."""
        if self.clients >= total:
            raise StreamsFull(f"this server has its {total} event streams open; try again later")
        if self._per_user[username] >= per_user:
            raise StreamsFull(f"this account has {per_user} event streams open; close one or try again later")
        self.clients += 1
        self._per_user[username] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.clients -= 1
                self._per_user[username] -= 1
                if self._per_user[username] <= 0:
                    del self._per_user[username]

        return release

    # -- reading -------------------------------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run a short database read for a stream in a thread, within the streams' share of the pool."""
        assert self._read_slots is not None, "hub not started"
        async with self._read_slots:
            return await asyncio.to_thread(fn, *args)

    def read_after(self, last_id: int, limit: int = 500, *, session: Session | None = None) -> list[OutboxEvent]:
        """Up to ``limit`` events after ``last_id``, in ``session`` or a short session of its own."""
        if session is not None:
            return list(
                session.scalars(
                    select(OutboxEvent).where(OutboxEvent.id > last_id).order_by(OutboxEvent.id).limit(limit)
                )
            )
        with self.db.reader() as own:
            rows = self.read_after(last_id, limit, session=own)
            own.expunge_all()
            return rows

    def latest_id(self) -> int:
        with self.db.reader() as session:
            return int(session.scalar(select(func.max(OutboxEvent.id))) or 0)
