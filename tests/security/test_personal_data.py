"""Personal data: never on a public endpoint, never in the logs.

(Who among signed-in users sees a reporter's name and phone is tested in
tests/service/requests/test_privacy.py.)

* Every public GET endpoint (every route whose rule in ``endpoints.py`` admits anonymous callers,
  each OGC API collection's items, Open311 request lists) is read anonymously, and nothing of a
  person is in it: no field that holds a person's name or phone, no name or phone of any person in
  the database (reporters, volunteers, grid workers, building chairs, key households, party
  members), and no mainland mobile number at all.
* The service's own log output (a ``uvicorn`` subprocess, as deployed) while requests carry phone
  numbers in bodies, paths and query strings, and bearer tokens, tickets and passwords in headers,
  query strings and forms: none of them appears, and every line is JSON with a request id.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
from sqlalchemy import select

from bench import load_intake as tool
from service.buildings.models import Building
from service.grids.models import GridWorker
from service.households.models import KeyHousehold
from service.requests.models import ServiceRequest
from service.teams.models import PartyRegistration
from service.volunteers.models import Volunteer
from tests.security.endpoints import CALLS, RULES, Ctx
from tests.support.backends import DEMO_PASSWORD

#: A mainland mobile number, alone or with +86, spaces or dashes (not digits inside a longer number
#: or a hex id such as a request id; Chinese text around it still counts).
MOBILE = re.compile(r"(?<![0-9A-Za-z.])(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?![0-9A-Za-z])")
#: Keys that hold a person's name or phone. (A station's ``contact_phone`` is the station's desk line.)
PERSONAL_KEYS = {"phone", "reporter_name", "reporter_phone", "chair_name", "chair_phone", "head_name",
                 "grid_workers", "first_name", "last_name", "email", "on_behalf_of", "caretaker"}  # fmt: skip

REPORTER = {"name": "欧阳春花", "phone": "13922223333"}


def people(db) -> tuple[set[str], set[str]]:
    """Every person's name and every phone number stored (digits only)."""
    names: set[str] = set()
    phones: set[str] = set()
    with db.reader() as s:
        for v in s.scalars(select(Volunteer)):
            names |= {v.name_zh, v.name_en}
            phones.add(v.phone)
        for w in s.scalars(select(GridWorker)):
            names |= {w.name_zh, w.name_en}
            phones.add(w.phone)
        for b in s.scalars(select(Building).where(Building.chair_name.is_not(None))):
            names.add(b.chair_name)
            phones.add(b.chair_phone)
        for h in s.scalars(select(KeyHousehold)):
            names.add(h.head_name)
            phones.add(h.phone)
        for p in s.scalars(select(PartyRegistration)):
            names |= {p.name_zh, p.name_en}
            phones.add(p.phone)
        for r in s.scalars(select(ServiceRequest).where(ServiceRequest.reporter_phone.is_not(None))):
            names.add(r.reporter_name)
            phones.add(r.reporter_phone)
    return {n for n in names if n and len(n) >= 2}, {re.sub(r"\D", "", p) for p in phones if p}


def _walk(value: Any, path: str = ""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield f"{path}.{k}", k, v
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


#: API descriptions name the fields of request bodies; they hold no data.
SCHEMA_DOCUMENTS = ("/openapi.json", "/ogc/api")


def personal_data_in(url: str, text: str, content_type: str, names: set[str], phones: set[str]) -> list[str]:
    found = [f"mobile number {m.group(0)!r}" for m in MOBILE.finditer(text)]
    digits = re.sub(r"[ -]", "", text)
    found += [f"phone {p}" for p in phones if len(p) >= 7 and p in digits]
    if "json" in content_type:
        for path, key, value in _walk(json.loads(text)):
            name = str(key).lower()
            personal = name in PERSONAL_KEYS or (name.endswith("_phone") and name != "contact_phone")
            if personal and value not in (None, [], {}) and not url.startswith(SCHEMA_DOCUMENTS):
                found.append(f"field {path} = {value!r}")
            if isinstance(value, str) and value in names:
                found.append(f"a person's name at {path}: {value!r}")
    else:
        found += [f"a person's name {n!r}" for n in names if len(n) >= 3 and n in text]
    return found


def test_public_endpoints_carry_no_personal_data(secured):
    ctx = Ctx(secured)
    try:
        # People's data that must stay behind the sign-in: a reporter on the subject case and one
        # through Open311, a key household, a party member (all created by the context).
        assert ctx.subject["id"] and ctx.household and ctx.registration
        ctx.new_case(by=None, reporter_name=REPORTER["name"], reporter_phone=REPORTER["phone"])
        form = ctx.open311_form() | {"first_name": "春花", "last_name": "欧阳", "phone": "+86 139 2222 4444"}
        assert ctx.http.post("/open311/v2/requests.json", data=form).status_code == 200
        names, phones = people(secured.db)
        assert REPORTER["name"] in names and "13922223333" in phones and "8613922224444" in phones

        reads = [k for k, rule in RULES.items() if rule.anonymous and k.split()[0] in ("GET", "HEAD")]
        assert len(reads) > 40
        urls = [CALLS[k](ctx, None) for k in reads]
        collections = ctx.http.get("/ogc/collections").json()["collections"]
        extra = [f"/ogc/collections/{c['id']}/items?limit=1000" for c in collections]
        extra += [
            "/open311/v2/requests.json",
            "/open311/v2/requests.xml",
            f"/api/v1/track/{ctx.subject['tracking_code']}",
        ]
        problems = {}
        for call in urls:
            if call.stream or call.method == "HEAD":
                continue
            r = ctx.send(None, call)
            assert r.status_code < 400, (call.url, r.status_code)
            found = personal_data_in(call.url, r.text, r.headers.get("content-type", ""), names, phones)
            if found:
                problems[call.url] = found[:5]
        for url in extra:
            r = ctx.http.get(url)
            assert r.status_code == 200, (url, r.text[:300])
            found = personal_data_in(url, r.text, r.headers.get("content-type", ""), names, phones)
            if found:
                problems[url] = found[:5]
    finally:
        ctx.close()
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)


def test_logs_carry_no_phone_numbers_tokens_or_passwords(templates, tmp_path):
    phone, spaced, plus = "13955556666", "139 5555 7777", "+8613955558888"
    all_phones = ("13955556666", "13955557777", "13955558888")
    env = {"NEIGHBORGRID_DEMO_PASSWORD": DEMO_PASSWORD, "NEIGHBORGRID_LOG_LEVEL": "DEBUG"}
    with templates.clone("spatialite", tmp_path) as url, tool.serve(url, workers=1, tmp=tmp_path, env=env) as server:
        with httpx.Client(base_url=server.base_url, timeout=60) as c:
            login = c.post("/api/v1/auth/token", data={"username": "dispatcher", "password": DEMO_PASSWORD})
            token = login.json()["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            assert (
                c.post("/api/v1/auth/token", data={"username": "dispatcher", "password": "wrong-Pa55"}).status_code
                == 401
            )
            body = {"category": "noise", "description": f"请回电 {spaced} 或 {plus}", "lon": 117.7552, "lat": 24.6221,
                    "reporter_name": "王秀英", "reporter_phone": phone}  # fmt: skip
            created = c.post("/api/v1/requests", json=body, headers={"X-Request-ID": "trace-7f3a"})
            assert created.status_code == 201 and created.headers["x-request-id"] == "trace-7f3a"
            assert c.get(f"/api/v1/requests?category={phone}", headers=bearer).status_code == 200
            for path in (phone, plus, "139-5555-7777"):
                assert c.get(f"/api/v1/track/{path}").status_code == 404
            assert c.get(f"/api/v1/requests/{created.json()['id']}", headers=bearer).status_code == 200
            ticket = c.post("/api/v1/events/ticket", headers=bearer).json()["ticket"]
            with c.stream("GET", f"/api/v1/events?ticket={ticket}") as r:
                assert r.status_code == 200
            assert c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
            odd = c.get("/healthz", headers={"X-Request-ID": "not a sane id; DROP"})
            assert odd.headers["x-request-id"] != "not a sane id; DROP" and re.fullmatch(
                r"[0-9a-f]{32}", odd.headers["x-request-id"]
            )
        time.sleep(0.5)
        server.stop()
        log = server.log_text()

    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) >= 12, log[-2000:]
    # ``neighborgrid serve`` prints one banner line to the console; every other line is a log entry.
    banner = [line for line in lines if line.startswith("neighborgrid on http://")]
    assert len(banner) <= 1
    entries = []
    for line in lines:
        if line in banner:
            continue
        entry = json.loads(line)  # every line is one JSON object
        assert {"ts", "level", "logger", "msg"} <= set(entry), line
        entries.append(entry)
    access = [e for e in entries if e["logger"] == "neighborgrid.access"]
    assert len(access) >= 10 and all(e["request_id"] for e in access)
    assert any(e["request_id"] == "trace-7f3a" and e["route"] == "/api/v1/requests" for e in access)
    digits = re.sub(r"[ +\-]", "", log)
    for p in all_phones:
        assert p not in digits, f"phone {p} in the log:\n" + "\n".join(x for x in lines if p[-4:] in x)
    for secret in (token, token.split(".")[-1], ticket, ticket.split(".")[-1], DEMO_PASSWORD, "wrong-Pa55"):
        assert secret not in log, f"a secret is in the log: {secret[:12]}…"
    assert not MOBILE.search(log)
