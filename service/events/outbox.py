"""Publishing events in the same transaction as the change they describe.

``publish()`` only queues the event on the session. Just before the transaction commits, the queued
events are written to ``outbox_events``; on PostgreSQL the writer first takes a transaction-scoped
advisory lock, so events become visible in id order (no reader can see id 11 before id 10 commits),
and ``pg_notify`` wakes every process's listeners when the commit lands. SQLite serialises writers
anyway; after its commit the in-process subscribers of that database are woken directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.orm import Session

from service.events.models import OutboxEvent

CHANNEL = "neighborgrid_events"
_ADVISORY_LOCK_KEY = 0x6E67_0001  # "ng" + 1: serialises outbox writers on PostgreSQL

_QUEUE = "outbox_queue"
_WRITTEN = "outbox_written"

#: In-process wake-ups after a commit that wrote events: callbacks receive the database URL.
_local_listeners: list[Callable[[str], None]] = []


def publish(session: Session, topic: str, payload: dict[str, Any]) -> None:
    """Queue an event; it is stored (and announced) only if the transaction commits."""
    session.info.setdefault(_QUEUE, []).append((topic, payload))


def add_local_listener(callback: Callable[[str], None]) -> None:
    _local_listeners.append(callback)


def remove_local_listener(callback: Callable[[str], None]) -> None:
    if callback in _local_listeners:
        _local_listeners.remove(callback)


def _url(session: Session) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


@event.listens_for(Session, "before_commit")
def _write_outbox(session: Session) -> None:
    queued = session.info.pop(_QUEUE, None)
    if not queued:
        return
    session.flush()
    now = datetime.now(UTC)
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
    session.execute(
        insert(OutboxEvent), [{"topic": topic, "payload": payload, "created_at": now} for topic, payload in queued]
    )
    if postgres:
        session.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})
    session.info[_WRITTEN] = True


@event.listens_for(Session, "after_commit")
def _wake_local(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released; the events become visible when the outer transaction commits
    if session.info.pop(_WRITTEN, False):
        url = _url(session)
        for callback in list(_local_listeners):
            callback(url)


@event.listens_for(Session, "after_rollback")
def _drop_queue(session: Session) -> None:
    session.info.pop(_QUEUE, None)
    session.info.pop(_WRITTEN, None)
