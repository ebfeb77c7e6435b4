"""Secrets at rest and the signing key.

* The generated secret file is 0600 whatever the umask; one left readable by others is made 0600
  (same key). Two workers starting together agree on one key.
* Tokens name their key (JWT header ``kid``). ``neighborgrid rotate-secret``, run as its own process
  like an admin would, ends every session of a served app without restarting it: old tokens get 401
  with ``WWW-Authenticate: Bearer``, a token forged with the old key too, a new login works. With the
  key in ``NEIGHBORGRID_SECRET_KEY`` the command refuses and says how to rotate it.
* The SpatiaLite file with its ``-wal`` and ``-shm`` and the backups of ``neighborgrid backup`` are
  0600 whatever the umask.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
from sqlalchemy import select, text
from typer.testing import CliRunner

from service.audit.models import AuditEntry
from service.auth.keys import key_id, secret_file
from service.auth.security import issue_token
from service.cli import app as cli
from service.config import Settings
from service.db import Database
from tests.reliability.harness import another_app
from tests.security.test_operations import CLI, ROOT
from tests.service.helpers import assert_problem
from tests.support.backends import DEMO_PASSWORD, make_settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _login(c: httpx.Client, username: str = "dispatcher", password: str = DEMO_PASSWORD) -> httpx.Response:
    return c.post("/api/v1/auth/token", data={"username": username, "password": password})


def _me(c: httpx.Client, token: str) -> httpx.Response:
    return c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


# -- the secret file ------------------------------------------------------------------------------------


def test_a_generated_secret_file_is_0600_even_with_umask_000(tmp_path):
    path = tmp_path / "secret"
    with umask(0):
        key = Settings(secret_key=None, secret_file=path).signing_key
    assert _mode(path) == 0o600
    assert path.read_text().strip() == key and len(key) >= 48
    assert not [p.name for p in tmp_path.iterdir() if p.name != "secret"], "no temporary file is left"
    # Another worker (another settings object, same file) uses the same key.
    assert Settings(secret_key=None, secret_file=path).signing_key == key


def test_a_secret_file_readable_by_others_is_made_0600(tmp_path):
    path = tmp_path / "secret"
    path.write_text("an-old-key-written-by-hand-0123456789abcdef0123456789\n")
    path.chmod(0o644)
    assert (
        Settings(secret_key=None, secret_file=path).signing_key
        == "an-old-key-written-by-hand-0123456789abcdef0123456789"
    )
    assert _mode(path) == 0o600


def test_workers_starting_together_agree_on_one_key(tmp_path):
    """Several processes create the missing file at the same instant: one key wins, all use it."""
    path = tmp_path / "secret"
    code = (
        "import sys; from service.config import Settings; "
        "print(Settings(secret_key=None, secret_file=sys.argv[1]).signing_key)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    keys = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert keys == {path.read_text().strip()}
    assert _mode(path) == 0o600


# -- key ids and rotation -------------------------------------------------------------------------------


def test_tokens_carry_the_key_id(backend, anon):
    token = _login(anon).json()["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == key_id(backend.settings.signing_key)


def _rotate(env: dict[str, str]) -> subprocess.CompletedProcess:
    """``neighborgrid rotate-secret`` as an admin runs it: its own process, beside the serving one."""
    env = {k: v for k, v in os.environ.items() if k != "NEIGHBORGRID_SECRET_KEY"} | env | {"COLUMNS": "200"}
    return subprocess.run([*CLI, "rotate-secret"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_rotate_secret_ends_every_session_without_a_restart(secured, tmp_path):
    path = tmp_path / "secret"
    with ExitStack() as stack:
        served = another_app(stack, secured, secret_key=None, secret_file=path)
        with httpx.Client(base_url=served.base_url, timeout=30) as c:
            old = {name: _login(c, name).json()["access_token"] for name in ("dispatcher", "admin")}
            assert all(_me(c, t).status_code == 200 for t in old.values())
            old_key = path.read_text().strip()
            assert jwt.get_unverified_header(old["admin"])["kid"] == key_id(old_key)
            assert _mode(path) == 0o600

            done = _rotate(
                {"NEIGHBORGRID_DATABASE_URL": secured.settings.database_url, "NEIGHBORGRID_SECRET_FILE": str(path)}
            )
            assert done.returncode == 0, done.stdout + done.stderr
            new_key = path.read_text().strip()
            assert new_key != old_key and _mode(path) == 0o600
            assert key_id(new_key) in done.stdout + done.stderr

            # The same app, not restarted: every old token is refused as a bearer would expect.
            for token in old.values():
                r = _me(c, token)
                assert_problem(r, 401)
                assert r.headers["www-authenticate"] == "Bearer"
            # Whoever read the old key cannot forge a token with it, under either key id.
            for kid in (key_id(old_key), key_id(new_key)):
                forged = jwt.encode(
                    jwt.decode(old["admin"], old_key, algorithms=["HS256"], audience="neighborgrid"),
                    old_key,
                    algorithm="HS256",
                    headers={"kid": kid},
                )
                assert_problem(_me(c, forged), 401)
                assert_problem(c.get("/api/v1/users", headers={"Authorization": f"Bearer {forged}"}), 401)
            fresh = issue_token(username="admin", role="admin", key=old_key, ttl=timedelta(hours=1))
            assert_problem(_me(c, fresh), 401)
            # A new login works and its token names the new key.
            r = _login(c, "dispatcher")
            assert r.status_code == 200, r.text
            new = r.json()["access_token"]
            assert jwt.get_unverified_header(new)["kid"] == key_id(new_key)
            assert _me(c, new).json()["username"] == "dispatcher"
    with secured.db.reader() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "rotate_secret").order_by(AuditEntry.id.desc()))
        assert entry is not None and entry.entity_id == key_id(new_key)
    assert secret_file(path).key() == new_key


def test_rotate_secret_with_the_key_in_the_environment_refuses_and_says_how(tmp_path):
    path = tmp_path / "secret"
    env = {"NEIGHBORGRID_SECRET_KEY": "k" * 64, "NEIGHBORGRID_SECRET_FILE": str(path), "COLUMNS": "200"}
    result = CliRunner().invoke(cli, ["rotate-secret"], env=env)
    assert result.exit_code == 2, result.output
    assert "NEIGHBORGRID_SECRET_KEY" in result.output and "restart" in result.output
    assert not path.exists()


# -- files with personal data ---------------------------------------------------------------------------


def test_the_spatialite_file_and_its_wal_and_shm_are_0600(tmp_path):
    path = tmp_path / "neighborgrid.db"
    with umask(0):
        db = Database.from_settings(make_settings(f"sqlite:///{path}"))
        try:
            with db.transaction() as session:
                session.execute(text("CREATE TABLE t (x INTEGER)"))
                session.execute(text("INSERT INTO t VALUES (1)"))
            with db.reader() as session:  # a connection is open: -wal and -shm exist
                session.execute(text("SELECT x FROM t")).all()
                files = [path, tmp_path / "neighborgrid.db-wal", tmp_path / "neighborgrid.db-shm"]
                assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
        finally:
            db.dispose()
    # A file an older version left readable by others is made 0600 when it is next opened.
    for f in files:
        if f.exists():
            f.chmod(0o644)
    db = Database.from_settings(make_settings(f"sqlite:///{path}"))
    db.dispose()
    assert {f.name: _mode(f) for f in files if f.exists()} == {f.name: 0o600 for f in files if f.exists()}


def test_backups_are_0600(secured, tmp_path):
    target = tmp_path / "backup.zip"
    target.write_bytes(b"an older backup")
    target.chmod(0o644)
    env = {"NEIGHBORGRID_DATABASE_URL": secured.settings.database_url, "NEIGHBORGRID_SECRET_KEY": "x" * 64}
    with umask(0):
        result = CliRunner().invoke(cli, ["backup", str(target)], env=env)
    assert result.exit_code == 0, result.output
    assert _mode(target) == 0o600
    assert target.stat().st_size > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["backup.zip"]
