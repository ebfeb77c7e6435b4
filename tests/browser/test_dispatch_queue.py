"""The dispatcher page's triage queue in a real browser, on both backends: it is the first thing on
the panel, fed by ``GET /api/v1/requests/queue`` (counts per level over every match, a sort, a
search, pages through all), and a red medical emergency raised last comes first among dozens of
cases days overdue."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.browser import wait_until
from tests.browser.test_dispatch_map import open_dispatch
from tests.service.requests.api import body, wait_for

pytestmark = pytest.mark.browser

MINOR = ("policy_inquiry", "service_inquiry", "littering", "noise", "illegal_parking")
AT_OFFSET = "(o) => Number(document.getElementById('ng-queue').dataset.offset) === o"
KEYS = ("red", "orange", "yellow", "blue", "overdue", "unassigned")


def phone() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


def shown_counts(page: Page) -> dict[str, int]:
    return page.evaluate(
        "(keys) => Object.fromEntries(keys.map((k) => [k,"
        " Number(document.getElementById(`ng-qcount-${k}`)?.dataset.n)]))",
        list(KEYS),
    )


def shown_ids(page: Page) -> list[int]:
    items = page.locator("#ng-queue .ng-queue-item")
    return [int(x) for x in items.evaluate_all("(els) => els.map((e) => e.dataset.id)")]


def test_the_queue_comes_first_with_the_red_emergency_on_top_counts_search_and_pages(backend, page, cases, town):
    grids = sorted(town.grids)
    points = [town.grids[g].representative_point() for g in grids]

    def raise_(category: str, i: int) -> dict:
        p = points[i % len(points)]
        return cases.create(body(category, (p.x, p.y), channel="phone", reporter_phone=phone()), user="dispatcher")

    old = [raise_(MINOR[i % len(MINOR)], i) for i in range(44)]
    backend.clock.advance(timedelta(days=2))  # these are days past their deadlines
    emergency = raise_("medical_emergency", 0)
    backend.clock.advance(timedelta(minutes=10))  # the emergency is 5 minutes past its response deadline
    fresh = [raise_(MINOR[i % len(MINOR)], 100 + i) for i in range(12)]  # not yet due
    mine = {c["id"] for c in [*old, emergency, *fresh]}

    def api_queue(**params) -> dict:
        r = cases.as_("dispatcher").get("/api/v1/requests/queue", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    open_dispatch(page, backend.base_url, lang="en")
    # the queue is the first thing on the panel, above the layers and legends
    assert page.evaluate("document.querySelector('#ng-list-view').firstElementChild.id") == "ng-queue-box"
    assert page.evaluate(
        "!!(document.getElementById('ng-queue-box').compareDocumentPosition(document.getElementById('ng-legend'))"
        " & Node.DOCUMENT_POSITION_FOLLOWING)"
    )
    first = page.locator("#ng-queue .ng-queue-item").first
    expect(first).to_have_attribute("data-id", str(emergency["id"]), timeout=10_000)
    expect(first).to_have_attribute("data-warning", "red")
    expect(first).to_contain_text(f"#{emergency['id']}")
    expect(first.locator(".ng-countdown")).to_have_class(re.compile(r"\bng-late\b"))

    # the counts shown are the service's counts over every match (the scheduler may still recolour:
    # the page re-reads its queue on each event, so both settle to the same numbers)
    def agree():
        counts = api_queue(limit=1)["counts"]
        return shown_counts(page) == {k: counts[k] for k in KEYS}

    wait_for(agree, timeout=30, what="the page's counts to equal the API's")
    assert shown_counts(page)["overdue"] >= len(old) + 1

    # paging reaches every match, each once
    total = api_queue(limit=1)["total"]
    assert total > 50, "more than one page"
    seen: list[int] = []
    while True:
        wait_until(page, AT_OFFSET, arg=len(seen))
        seen += shown_ids(page)
        if page.locator("#ng-queue-next").is_disabled():
            break
        page.click("#ng-queue-next")
    assert len(seen) == len(set(seen)) == total
    assert mine <= set(seen)
    page.click("#ng-queue-prev")
    wait_until(page, AT_OFFSET, arg=50 * ((total - 1) // 50 - 1))

    # search by a tracking code: that case, alone
    target = old[17]
    page.fill("#ng-queue-q", target["tracking_code"])
    page.press("#ng-queue-q", "Enter")
    expect(page.locator("#ng-queue .ng-queue-item")).to_have_count(1)
    expect(page.locator("#ng-queue .ng-queue-item")).to_have_attribute("data-id", str(target["id"]))
    page.fill("#ng-queue-q", "")
    page.press("#ng-queue-q", "Enter")
    expect(page.locator("#ng-queue .ng-queue-item").first).to_have_attribute("data-id", str(emergency["id"]))

    # another order: created (newest first), then back
    page.select_option("#ng-queue-sort", "created")
    expect(page.locator("#ng-queue .ng-queue-item").first).to_have_attribute(
        "data-id", str(api_queue(sort="created", limit=1)["items"][0]["id"])
    )
    page.select_option("#ng-queue-sort", "urgency")
    expect(first).to_have_attribute("data-id", str(emergency["id"]))

    # clicking an item opens the case panel as before
    first.click()
    expect(page.locator(".ng-detail-title")).to_contain_text(f"#{emergency['id']}")
    page.click("#ng-back")

    # live: a case raised now is counted once its event arrives (the current page is re-read)
    before = api_queue(limit=1)["total"]
    raise_("noise", 7)
    expect(page.locator("#ng-queue")).to_have_attribute("data-total", str(before + 1), timeout=10_000)
