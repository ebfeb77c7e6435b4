"""The audit log: staff writes are in it with actor, time and before/after, the API serves it to
admins, and the database itself refuses to change or delete an entry (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from service.audit.models import AuditEntry
from tests.reliability.harness import ROLE_USERS
from tests.security.endpoints import CALLS, RULES, Ctx, app_routes

WRITES = ("POST", "PUT", "PATCH", "DELETE")
#: Staff roles, in the order a write is tried as (the first the route allows).
STAFF_ORDER = ("admin", "dispatcher", "planner", "grid_worker", "department")
#: Writes that change nothing worth an entry, or are not staff acting on the community's data.
NOT_AUDITED = {
    "POST /api/v1/auth/token": "signing in (failed logins are counted on the account)",
    "POST /api/v1/auth/logout": "signing one's own token out",
    "POST /api/v1/grids/preview": "nothing is saved",
    "POST /api/v1/events/ticket": "a 60-second stream ticket; nothing is saved",
    "POST /open311/v2/requests.{fmt}": "an Open311 client application, not a staff account",
    "POST /api/v1/grids/locate": "bulk locate is a read: nothing is saved",
    "POST /api/v1/imports/{kind}": "the matrix sends a dry run (nothing saved); a saved import is audited "
    "(tests/service/imports/test_areas_kind.py)",
}


def _audit(c: httpx.Client, token: str, **params) -> list[dict]:
    r = c.get("/api/v1/audit", params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def _recent(entry: dict) -> bool:
    return abs(datetime.fromisoformat(entry["at"]) - datetime.now(UTC)) < timedelta(minutes=5)


def test_transitions_grid_station_and_user_changes_are_audited(secured):
    ctx = Ctx(secured)
    try:
        admin = ctx.token("admin")
        c = ctx.http
        # A transition by the dispatcher.
        case = ctx.new_case()
        ctx.act(case["id"], "accept")
        [entry] = _audit(c, admin, entity="request", entity_id=str(case["id"]), action="transition:accept")
        assert entry["actor"] == "dispatcher" and entry["role"] == "dispatcher" and _recent(entry)
        assert entry["before"]["status"] == "reported" and entry["after"]["status"] == "accepted"
        assert entry["after"]["version"] == entry["before"]["version"] + 1
        assert entry["request_id"], "the HTTP request id is kept with the entry"
        # A grid edit by the planner.
        gid = ctx.edited_grid
        _, version = ctx.grid_now(gid)
        ctx.put_as_is(gid, "planner")
        entries = _audit(c, admin, entity="grid", entity_id=str(gid), actor="planner")
        assert (
            entries and entries[0]["before"] == {"version": version} and entries[0]["after"]["version"] == version + 1
        )
        # A station added, changed and removed by the planner.
        made = ctx.ok("planner", "POST", "/api/v1/stations", json=ctx.station_body())
        ctx.ok("planner", "PATCH", f"/api/v1/stations/{made['id']}", json={"capacity": 12})
        ctx.ok("planner", "DELETE", f"/api/v1/stations/{made['id']}")
        trail = {e["action"]: e for e in _audit(c, admin, entity="station", entity_id=str(made["id"]))}
        assert set(trail) == {"create", "update", "delete"}
        assert trail["create"]["after"]["name_zh"] == made["properties"]["name_zh"]
        assert trail["update"]["before"]["capacity"] != 12 and trail["update"]["after"]["capacity"] == 12
        assert trail["delete"]["before"]["capacity"] == 12 and trail["delete"]["after"] is None
        assert all(e["actor"] == "planner" and _recent(e) for e in trail.values())
        # Accounts: created, changed, revoked by the admin.
        uid = ctx.throwaway_user
        ctx.ok("admin", "PATCH", f"/api/v1/users/{uid}", json={"role": "volunteer"})
        ctx.ok("admin", "POST", f"/api/v1/users/{uid}/revoke-tokens")
        trail = {e["action"]: e for e in _audit(c, admin, entity="user", entity_id=str(uid))}
        assert {"create", "update", "revoke_tokens"} <= set(trail)
        assert trail["update"]["before"]["role"] == "resident" and trail["update"]["after"]["role"] == "volunteer"
        assert all(e["actor"] == "admin" for e in trail.values())
        # Only admins read the log.
        for role in ("dispatcher", "planner"):
            r = c.get("/api/v1/audit", headers={"Authorization": f"Bearer {ctx.token(role)}"})
            assert r.status_code == 403
    finally:
        ctx.close()


@pytest.mark.slow
def test_every_staff_write_leaves_an_audit_entry(secured):
    """Each write route a staff role may call is called as the first such role, with a request that
    succeeds; the audit log must then hold a new entry by that account."""
    ctx = Ctx(secured)
    unaudited = {}
    checked: set[str] = set()
    try:
        routes = app_routes(secured.app)
        assert not set(routes) - set(RULES), "every route needs a rule (see test_every_route_has_a_rule)"
        for key in routes:
            method = key.split()[0]
            rule = RULES[key]
            who = next((r for r in STAFF_ORDER if r in rule.allowed), None)
            if method not in WRITES or who is None or key in NOT_AUDITED:
                continue
            call = CALLS[key](ctx, who)  # arranges what the call needs first (as admin)
            with secured.db.reader() as s:
                mark = s.scalar(select(func.max(AuditEntry.id))) or 0
            r = ctx.send(who, call)
            assert 200 <= r.status_code < 300, (key, who, r.status_code, r.text[:300])
            with secured.db.reader() as s:
                new = s.scalars(select(AuditEntry).where(AuditEntry.id > mark)).all()
            if not [e for e in new if e.actor == ROLE_USERS[who]]:
                unaudited[key] = who
            checked.add(key)
    finally:
        ctx.close()
    assert {  # the writes the issue names: transitions, edits, user changes
        "POST /api/v1/requests/{request_id}/transitions",
        "PUT /api/v1/grids/{grid_id}/geometry",
        "POST /api/v1/grids/split",
        "PATCH /api/v1/stations/{station_id}",
        "POST /api/v1/users",
        "PATCH /api/v1/users/{user_id}",
        "POST /api/v1/users/{user_id}/revoke-tokens",
    } <= checked
    assert not unaudited, f"staff writes without an audit entry by their actor: {unaudited}"


def test_the_database_refuses_to_change_or_delete_audit_entries(secured):
    with secured.db.reader() as s:
        first = s.scalar(select(func.min(AuditEntry.id)))
        count = s.scalar(select(func.count()).select_from(AuditEntry))
    assert first is not None
    for statement in (
        "UPDATE audit_log SET actor = 'someone else' WHERE id = :id",
        "UPDATE audit_log SET after = NULL",
        "DELETE FROM audit_log WHERE id = :id",
        "DELETE FROM audit_log",
    ):
        with secured.db.engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(statement), {"id": first})
            conn.commit()
    with secured.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == count
        assert s.get(AuditEntry, first).actor != "someone else"
