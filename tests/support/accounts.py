"""Signing in and fresh accounts, for the tests of accounts, lockouts and streams: a fresh account
can be signed out, locked or slowed without touching the demo accounts other tests use."""

from __future__ import annotations

import uuid
from typing import NamedTuple

import httpx

from tests.support.backends import DEMO_PASSWORD


def login(c: httpx.Client, username: str, password: str = DEMO_PASSWORD) -> httpx.Response:
    """The answer to a password login (the test decides what it should be)."""
    return c.post("/api/v1/auth/token", data={"username": username, "password": password})


def token_for(c: httpx.Client, username: str, password: str = DEMO_PASSWORD) -> str:
    """A bearer token for ``username``; the login must succeed."""
    r = login(c, username, password)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


class Account(NamedTuple):
    id: int
    name: str
    password: str


def new_account(c: httpx.Client, role: str = "resident", *, admin: str | None = None, prefix: str = "acct") -> Account:
    """A fresh account with ``role``, created by the admin (``admin``: a token already held, so a
    test counting logins is not charged one more)."""
    name, password = f"{prefix}_{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex
    r = c.post(
        "/api/v1/users",
        json={"username": name, "password": password, "role": role},
        headers=bearer(admin or token_for(c, "admin")),
    )
    assert r.status_code == 201, r.text
    return Account(r.json()["id"], name, password)
