"""API keys for Open311 client applications: issued by an admin, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.open311.models import ApiClient


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(session: Session, *, name: str, contact: str | None, by: str, now: datetime) -> tuple[ApiClient, str]:
    """A new client and its key (the key is returned once and never stored)."""
    key = "ng311_" + secrets.token_urlsafe(24)
    client = ApiClient(
        name=name,
        contact=contact,
        key_prefix=key[:12],
        key_hash=_digest(key),
        active=True,
        created_at=now,
        created_by=by,
    )
    session.add(client)
    session.flush()
    return client, key


def client_for(session: Session, key: str | None) -> ApiClient | None:
    """The active client holding ``key``, else None."""
    if not key or len(key) > 200:
        return None
    client = session.scalar(select(ApiClient).where(ApiClient.key_hash == _digest(key)))
    return client if client is not None and client.active else None
