"""Accounts and tokens: expiry, sign-out, sign-out everywhere, admin revocation, hashed passwords,
login limits per account and address (waits) and per IP, and the public intake limit per IP (429 with
Retry-After) that staff do not meet. The limits are on in apps of their own (the shared test apps
turn them off), on the database of the ``secured`` fixture."""

from __future__ import annotations

from contextlib import ExitStack

import httpx
from sqlalchemy import select

from service.auth.models import User
from tests.reliability.harness import ROLE_USERS, another_app
from tests.service.helpers import assert_problem
from tests.support.accounts import login, new_account, token_for
from tests.support.backends import DEMO_PASSWORD

BODY = {"category": "noise", "description": "limit test", "lon": 117.7552, "lat": 24.6221}


def _me(c: httpx.Client, token: str) -> httpx.Response:
    return c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_tokens_expire(secured):
    """A token issued by an app whose tokens live 0 minutes is refused at once as expired."""
    with ExitStack() as stack:
        short = another_app(stack, secured, token_ttl_minutes=0)
        with httpx.Client(base_url=short.base_url) as c:
            r = login(c, "dispatcher")
            assert r.status_code == 200 and r.json()["expires_in"] == 0
            body = assert_problem(_me(c, r.json()["access_token"]), 401)
            assert "expired" in body["detail"]


def test_logout_logout_all_and_admin_revocation(secured):
    with httpx.Client(base_url=secured.base_url) as c:
        admin = token_for(c, "admin")
        uid, name, password = new_account(c, "grid_worker", admin=admin)
        one, two, three = (token_for(c, name, password) for _ in range(3))
        assert all(_me(c, t).status_code == 200 for t in (one, two, three))
        # Sign this token out: it stops at once, the others go on.
        assert c.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {one}"}).status_code == 204
        assert "signed out" in assert_problem(_me(c, one), 401)["detail"]
        assert _me(c, two).status_code == 200
        # Sign out everywhere: every token so far stops; a new login works.
        assert c.post("/api/v1/auth/logout-all", headers={"Authorization": f"Bearer {two}"}).status_code == 204
        for t in (two, three):
            assert_problem(_me(c, t), 401)
        four = token_for(c, name, password)
        assert _me(c, four).status_code == 200
        # The admin revokes the account's tokens.
        r = c.post(f"/api/v1/users/{uid}/revoke-tokens", headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 204
        assert "revoked" in assert_problem(_me(c, four), 401)["detail"]
        # A role change or a disabled account also ends old tokens (they carry the old role).
        five = token_for(c, name, password)
        r = c.patch(f"/api/v1/users/{uid}", json={"role": "planner"}, headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200
        assert_problem(_me(c, five), 401)
        six = token_for(c, name, password)
        assert _me(c, six).json()["role"] == "planner"
        r = c.patch(f"/api/v1/users/{uid}", json={"is_active": False}, headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200
        assert_problem(_me(c, six), 401)
        assert_problem(login(c, name, password), 401)


def test_passwords_are_argon2_hashes(secured):
    with secured.db.reader() as s:
        users = list(s.scalars(select(User)))
    assert {u.username for u in users} >= set(ROLE_USERS.values())
    for u in users:
        assert u.password_hash.startswith("$argon2id$"), (u.username, u.password_hash[:12])
        assert DEMO_PASSWORD not in u.password_hash
    assert len({u.password_hash for u in users}) == len(users), "every hash has its own salt"


def test_login_failures_make_that_address_wait_for_that_account(secured):
    """Failures in a row from one address on one account make that pair wait (429, even with the
    right password); other accounts from that address are not slowed, and no account is locked for
    everyone (other addresses: tests/security/test_lockout.py)."""
    with ExitStack() as stack:
        app = another_app(stack, secured, login_max_failures=3, login_first_wait_seconds=600.0, login_rate_per_ip=0)
        with httpx.Client(base_url=app.base_url) as c:
            admin = token_for(c, "admin")
            _, victim, password = new_account(c, admin=admin)
            _, bystander, other_password = new_account(c, admin=admin)
            for _ in range(3):
                assert_problem(login(c, victim, "wrong-password"), 401)
            for attempt in (password, "wrong-password"):  # this address waits: even the right password
                r = login(c, victim, attempt)
                assert_problem(r, 429)
                assert int(r.headers["retry-after"]) > 500
            assert login(c, bystander, other_password).status_code == 200  # other accounts are not slowed
        with secured.db.reader() as s:
            assert s.scalar(select(User).where(User.username == victim)).locked_until is None


def test_login_is_limited_per_ip(secured):
    with ExitStack() as stack:
        app = another_app(stack, secured, login_rate_per_ip=4, login_max_failures=10_000)
        with httpx.Client(base_url=app.base_url) as c:
            answers = [login(c, "nobody-" + str(i), "wrong-password").status_code for i in range(4)]
            assert answers == [401] * 4
            r = login(c, "dispatcher")  # even the right password, from this address
            assert_problem(r, 429)
            assert 1 <= int(r.headers["retry-after"]) <= 60


def test_public_intake_is_limited_per_ip_and_staff_are_not(secured):
    with ExitStack() as stack:
        app = another_app(stack, secured, intake_rate_per_ip=3)
        with httpx.Client(base_url=app.base_url) as c:
            tokens = {
                role: token_for(c, ROLE_USERS[role]) for role in ("resident", "dispatcher", "grid_worker", "admin")
            }
            for _ in range(3):
                assert c.post("/api/v1/requests", json=BODY).status_code == 201
            r = c.post("/api/v1/requests", json=BODY)
            assert_problem(r, 429)
            assert 1 <= int(r.headers["retry-after"]) <= 60
            # A resident's token does not lift the limit on this address...
            resident = c.post("/api/v1/requests", json=BODY, headers={"Authorization": f"Bearer {tokens['resident']}"})
            assert_problem(resident, 429)
            # ...staff entering calls are not limited.
            for role in ("dispatcher", "grid_worker", "admin"):
                for _ in range(2):
                    r = c.post("/api/v1/requests", json=BODY, headers={"Authorization": f"Bearer {tokens[role]}"})
                    assert r.status_code == 201, (role, r.text)
