"""Login, tokens, roles and account creation, over real HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from service.auth.models import User
from service.auth.security import issue_token
from tests.service.helpers import assert_problem
from tests.support.backends import DEMO_PASSWORD


def test_demo_users_log_in_and_see_their_role(backend, anon):
    for username, role in [
        ("dispatcher", "dispatcher"),
        ("planner", "planner"),
        ("admin", "admin"),
        ("volunteer1", "volunteer"),
    ]:
        r = anon.post("/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD})
        assert r.status_code == 200, r.text
        token = r.json()
        assert token["token_type"] == "bearer" and token["role"] == role
        me = anon.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert me.json()["username"] == username


def test_wrong_password_and_unknown_user_look_the_same(anon):
    a = anon.post("/api/v1/auth/token", data={"username": "dispatcher", "password": "nope-nope"})
    b = anon.post("/api/v1/auth/token", data={"username": "nobody-here", "password": "nope-nope"})
    assert_problem(a, 401)
    assert_problem(b, 401)
    assert a.json()["detail"] == b.json()["detail"]
    assert a.headers["www-authenticate"] == "Bearer"


def test_missing_bad_and_expired_tokens_are_401(backend, anon):
    assert_problem(anon.get("/api/v1/auth/me"), 401)
    assert_problem(anon.get("/api/v1/auth/me", headers={"Authorization": "Bearer not.a.token"}), 401)
    past = datetime.now(UTC) - timedelta(hours=10)
    expired = issue_token(
        username="dispatcher",
        role="dispatcher",
        key=backend.settings.signing_key,
        ttl=timedelta(hours=1),
        now=past,
    )
    body = assert_problem(anon.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {expired}"}), 401)
    assert "expired" in body["detail"]
    forged = issue_token(username="admin", role="admin", key="some-other-key" * 4, ttl=timedelta(hours=1))
    assert_problem(anon.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}), 401)


def test_only_admins_create_users_and_passwords_are_hashed(backend):
    name = f"worker_{uuid.uuid4().hex[:8]}"
    body = {"username": name, "password": "s3cret-passphrase", "role": "grid_worker"}
    with backend.client("dispatcher") as dispatcher:
        assert_problem(dispatcher.post("/api/v1/users", json=body), 403)
    with backend.client("admin") as admin:
        r = admin.post("/api/v1/users", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["role"] == "grid_worker"
        assert_problem(admin.post("/api/v1/users", json=body), 409, "username")
        assert_problem(admin.post("/api/v1/users", json=body | {"username": "x"}), 422, "username")
        assert_problem(admin.post("/api/v1/users", json=body | {"role": "king"}), 422, "role")
    with backend.db.reader() as session:
        stored = session.scalar(select(User).where(User.username == name))
        assert stored.password_hash.startswith("$argon2")
        assert "s3cret-passphrase" not in stored.password_hash
    with httpx.Client(base_url=backend.base_url) as c:
        r = c.post("/api/v1/auth/token", data={"username": name, "password": "s3cret-passphrase"})
        assert r.status_code == 200 and r.json()["role"] == "grid_worker"


def test_disabled_account_cannot_use_its_token(backend, anon):
    name = f"temp_{uuid.uuid4().hex[:8]}"
    with backend.client("admin") as admin:
        admin.post("/api/v1/users", json={"username": name, "password": "another-pass-1", "role": "resident"})
    token = anon.post("/api/v1/auth/token", data={"username": name, "password": "another-pass-1"}).json()
    with backend.db.transaction() as session:
        session.scalar(select(User).where(User.username == name)).is_active = False
    r = anon.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert_problem(r, 401)
