"""Prometheus metrics: requests and latencies by route, open cases by level, breaches, SSE clients."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from service.db import Database


class Metrics:
    """One registry per app (tests run several apps in one process)."""

    def __init__(self, db: Database, hub) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "neighborgrid_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "neighborgrid_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.registry.register(_CaseCollector(db, hub))


class _CaseCollector:
    """Read at scrape time from the database, so every worker reports the same truth."""

    def __init__(self, db: Database, hub) -> None:
        self.db = db
        self.hub = hub

    def describe(self):
        return []

    def collect(self):
        from service.requests.models import OPEN_STATUSES, ServiceRequest

        open_cases = GaugeMetricFamily(
            "neighborgrid_open_requests", "Open requests by warning level", labels=["warning_level"]
        )
        breaches = GaugeMetricFamily(
            "neighborgrid_sla_breaches", "Requests with a breached deadline", labels=["deadline"]
        )
        clients = GaugeMetricFamily("neighborgrid_event_stream_clients", "Connected SSE clients (this worker)")
        try:
            with self.db.reader() as s:
                rows = s.execute(
                    select(ServiceRequest.warning_level, func.count())
                    .where(ServiceRequest.status.in_(OPEN_STATUSES))
                    .group_by(ServiceRequest.warning_level)
                ).all()
                counts = {level.value: n for level, n in rows}
                for level in ("blue", "yellow", "orange", "red"):
                    open_cases.add_metric([level], counts.get(level, 0))
                for name, column in (
                    ("response", ServiceRequest.response_breached),
                    ("onsite", ServiceRequest.onsite_breached),
                    ("resolve", ServiceRequest.resolve_breached),
                ):
                    breaches.add_metric([name], s.scalar(select(func.count()).where(column.is_(True))) or 0)
        except Exception:  # the database is down: report what we can
            pass
        clients.add_metric([], self.hub.clients)
        yield open_cases
        yield breaches
        yield clients
