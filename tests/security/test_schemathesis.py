"""Schemathesis against the served OpenAPI document (``/openapi.json``, OpenAPI 3.1): every operation,
anonymously and signed in, with a bounded number of generated examples each.

Each answer must not be a 5xx, and its status code, Content-Type, headers and body must be ones the
document declares for the operation (errors: RFC 9457 problem+json for any 4xx; Open311's and OGC
API's own error formats on theirs).
The signed-in calls use a role the authorization matrix (``endpoints.py``) allows, so they get past
the role check into the handlers. The run has a database of its own (a copy of the demo): it posts,
patches and deletes whatever the generated data says. Account routes act on a throwaway account
(``user_id`` is pinned to it) so that the fuzzer cannot disable the accounts it signs in with; a token
signed out by ``/auth/logout*`` is replaced by a fresh sign-in.

``NEIGHBORGRID_FUZZ_EXAMPLES`` (default 4) sets the examples per operation and identity; the examples
are derandomised, so a CI failure reproduces locally.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.reliability.harness import BACKENDS, ROLE_USERS, served_clone
from tests.security.endpoints import RULES
from tests.support.backends import DEMO_PASSWORD, Backend

EXAMPLES = int(os.environ.get("NEIGHBORGRID_FUZZ_EXAMPLES", "4"))
PREFERENCE = ("admin", "dispatcher", "planner", "grid_worker", "volunteer", "resident", "department")
STREAMS = {"/api/v1/events"}
#: No 5xx; the status code, Content-Type, headers and body each as the document declares them.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module", params=BACKENDS)
def fuzzed(request, templates, tmp_path_factory) -> Iterator[Backend]:
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with served_clone(request.param, tmp) as b:
        yield b


class Accounts:
    """Bearer tokens per role, renewed when the fuzzer has signed one out."""

    def __init__(self, base_url: str, session: requests.Session) -> None:
        self.base_url = base_url
        self.session = session
        self.tokens: dict[str, str] = {}

    def headers(self, role: str | None) -> dict[str, str]:
        if role is None:
            return {}
        if role not in self.tokens:
            r = self.session.post(
                f"{self.base_url}/api/v1/auth/token", data={"username": ROLE_USERS[role], "password": DEMO_PASSWORD}
            )
            assert r.status_code == 200, f"{role} can no longer sign in: {r.text}"
            self.tokens[role] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def forget(self, role: str) -> None:
        self.tokens.pop(role, None)


def _throwaway_user(b: Backend, accounts: Accounts) -> int:
    r = accounts.session.post(
        f"{b.base_url}/api/v1/users",
        json={"username": "fuzz_target", "password": "fuzz-target-pw", "role": "resident"},
        headers=accounts.headers("admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _role_for(key: str) -> str | None:
    rule = RULES[key]
    return next((r for r in PREFERENCE if r in rule.allowed), None)


def _fuzzer(op, who: str | None, target_user, base_url: str, session, accounts: Accounts, calls: dict, label: str):
    """A Hypothesis test over ``op``'s generated cases, called as ``who``."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy())
    def run(case):
        if case.path_parameters and "user_id" in case.path_parameters:
            case.path_parameters["user_id"] = target_user()
        headers = accounts.headers(who)
        if op.path in STREAMS:  # an endless event stream: the answer's status and type, then hang up
            kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
            with session.request(**{**kwargs, "stream": True, "timeout": 30}) as response:
                calls[label] += 1
                assert response.status_code < 500, f"{label}: {response.status_code}"
                if response.status_code == 200:
                    assert response.headers["content-type"].startswith("text/event-stream")
            return
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=120)
        calls[label] += 1
        if who and (response.status_code == 401 or op.path.startswith("/api/v1/auth/logout")):
            accounts.forget(who)
        case.validate_response(response, checks=CHECKS)

    return run


@pytest.mark.slow
def test_no_server_errors_and_no_schema_violations(fuzzed):
    session = requests.Session()
    accounts = Accounts(fuzzed.base_url, session)
    target_user = _throwaway_user(fuzzed, accounts)
    document = session.get(f"{fuzzed.base_url}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    unknown = [op.label for op in operations if op.label not in RULES]
    assert not unknown, f"operations without a rule in endpoints.py: {unknown}"

    failures: dict[str, str] = {}
    calls: dict[str, int] = {}
    timings: dict[str, float] = {}
    for op in operations:
        for who in dict.fromkeys((None, _role_for(op.label))):
            label = f"{op.label} as {who or 'anonymous'}"
            calls[label] = 0

            run = _fuzzer(op, who, lambda: target_user, fuzzed.base_url, session, accounts, calls, label)
            started = time.perf_counter()
            try:
                run()
            except (AssertionError, Exception, BaseExceptionGroup) as exc:
                failures[label] = str(exc)[:3000]
            timings[label] = time.perf_counter() - started

    slowest = sorted(timings.items(), key=lambda kv: -kv[1])[:8]
    print(f"\n{sum(calls.values())} calls over {len(operations)} operations in {sum(timings.values()):.0f} s; slowest:",
          ", ".join(f"{k} {v:.1f}s" for k, v in slowest))  # fmt: skip
    assert len(operations) > 100
    assert not [label for label, n in calls.items() if n == 0 and label not in failures], "operations never called"
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(
        f"== {k}\n{v}" for k, v in failures.items()
    )
