"""The report every import answers, dry run or not: counts, and every problem and warning.

A problem refuses the whole import (422, nothing saved); a warning is saved with it. Each issue names
the feature (its index in the file, and its code once known), the field, a machine-readable ``code``,
a message a person can act on, and ``at``: where it is, in the file's own coordinates and in WGS84.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from service.common.errors import Invalid

COUNTS = ("created", "updated", "unchanged", "retired")


@dataclass
class Issue:
    """One problem or warning."""

    feature: int | None
    field: str | None
    code: str
    message: str
    at: dict[str, Any] | None = None
    feature_code: str | None = None
    #: For an invalid polygon: what ``make_valid`` makes of it (GeoJSON, WGS84); send ``repair`` to accept.
    repair: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["repair"] is None:
            del out["repair"]
        return out


@dataclass
class Report:
    """What an import found and did."""

    kind: str
    dry_run: bool
    source: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    problems: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    run_id: int | None = None

    @property
    def refused(self) -> bool:
        return bool(self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "saved": not self.dry_run and not self.problems,
            "run_id": self.run_id,
            "source": self.source,
            "counts": dict(self.counts),
            "problems": [p.as_dict() for p in self.problems],
            "warnings": [w.as_dict() for w in self.warnings],
        }


class ImportRefused(Invalid):
    """The file breaks at least one rule: 422, nothing saved; the problem body carries the whole report."""

    def __init__(self, report: Report) -> None:
        n = len(report.problems)
        first = report.problems[0]
        where = f"feature {first.feature}" if first.feature is not None else "the file"
        super().__init__(
            f"{n} problem(s) refuse this import; nothing was saved. First: {where}: {first.field}: {first.message}",
            field=first.field or "file",
            report=report.as_dict(),
        )
