"""The role x endpoint matrix, generated from the app's own routes.

Every route the app serves (``app.routes``, mounts included) must have a rule in
``tests/security/endpoints.py``: a new endpoint without one fails here. Each route is then called
anonymously and as every demo role with a request that would succeed, and each answer must be the
rule's class: the success class (2xx, or 3xx for a redirect) for those allowed, 401 for anonymous
callers where a sign-in is needed, 403 for the other roles. Refusals are problem+json, and a 401
carries the `WWW-Authenticate: Bearer` challenge.
"""

from __future__ import annotations

import time

import pytest

from tests.security.endpoints import (
    CALLS,
    IDENTITIES,
    RULES,
    Ctx,
    app_routes,
    status_class,
)


def test_every_route_has_a_rule(secured):
    routes = app_routes(secured.app)
    assert len(routes) == len(set(routes))
    missing = sorted(set(routes) - set(RULES))
    stale = sorted(set(RULES) - set(routes))
    assert not missing, f"routes without a rule in tests/security/endpoints.py: {missing}"
    assert not stale, f"rules for routes the app no longer has: {stale}"


@pytest.mark.slow
def test_role_endpoint_matrix(secured):
    ctx = Ctx(secured)
    timings: dict[str, float] = {}
    failures = []
    calls = 0
    routes = app_routes(secured.app)
    assert not set(routes) - set(RULES), f"routes without a rule: {sorted(set(routes) - set(RULES))}"
    try:
        for key in routes:
            rule = RULES[key]
            started = time.perf_counter()
            for who in IDENTITIES:
                expected = rule.expect(who)
                call = CALLS[key](ctx, who)
                r = ctx.send(who, call)
                calls += 1
                got = status_class(r.status_code)
                if got != expected:
                    failures.append(f"{key} as {who or 'anonymous'}: expected {expected}, got {r.status_code} "
                                    f"{r.text[:200]!r}")  # fmt: skip
                elif expected in ("401", "403") and not key.startswith("POST /open311"):
                    if not r.headers.get("content-type", "").startswith("application/problem+json"):
                        failures.append(f"{key} as {who or 'anonymous'}: {expected} is not problem+json")
                    if expected == "401" and r.headers.get("www-authenticate") != "Bearer":
                        failures.append(f"{key}: a 401 without WWW-Authenticate: Bearer (RFC 9110, 11.6.1)")
            timings[key] = time.perf_counter() - started
    finally:
        ctx.close()
    slowest = sorted(timings.items(), key=lambda kv: -kv[1])[:8]
    print("\nslowest routes (all identities):", ", ".join(f"{k} {v:.1f}s" for k, v in slowest))
    assert calls == len(RULES) * len(IDENTITIES)
    assert not failures, f"{len(failures)} of {calls} answers differ:\n" + "\n".join(failures)
