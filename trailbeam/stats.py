"""What a store holds: counts by account, region, day, category, identity type and event source.

Input: TrailEvent records (as read from the store) and the store's run summaries. Output: a
``StoreStats`` that renders as a table, JSON or CSV rows (dimension, value, count).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from trailbeam import timestamps

DIMENSIONS = ("account", "region", "day", "category", "identity_type", "event_source")


@dataclass(slots=True, kw_only=True)
class StoreStats:
    events: int = 0
    conflicting_records: int = 0
    first: int | None = None
    last: int | None = None
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {d: Counter() for d in DIMENSIONS})
    runs: list[dict[str, Any]] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        micros = timestamps.datetime_micros(record["eventTime"])
        self.events += 1
        self.conflicting_records += record["conflict"]
        self.first = micros if self.first is None else min(self.first, micros)
        self.last = micros if self.last is None else max(self.last, micros)
        counts = self.counts
        counts["account"][record["recipientAccountId"] or "(none)"] += 1
        counts["region"][record["awsRegion"] or "(none)"] += 1
        counts["day"][record["eventTime"].date().isoformat()] += 1
        counts["category"][record["eventCategory"] or "(none)"] += 1
        counts["identity_type"][record["userIdentity"]["type"] or "(none)"] += 1
        counts["event_source"][record["eventSource"] or "(none)"] += 1

    def totals(self) -> dict[str, int]:
        records = [run["records"] for run in self.runs]
        return {
            "events": self.events,
            "conflicting_records": self.conflicting_records,
            "runs": len(self.runs),
            "records_read": sum(r["read"] for r in records),
            "duplicates_dropped": sum(r["duplicates"] for r in records),
            "quarantined_records": sum(r["quarantined"] for r in records),
            "quarantined_files": sum(run["files"].get("quarantined", 0) for run in self.runs),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.totals(),
            "first_event": timestamps.format_micros(self.first) if self.first is not None else None,
            "last_event": timestamps.format_micros(self.last) if self.last is not None else None,
            "by": {d: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for d, c in self.counts.items()},
        }

    def rows(self) -> list[tuple[str, str, int]]:
        """(dimension, value, count) rows: totals first, then each dimension by count."""
        rows = [("total", name, value) for name, value in self.totals().items()]
        for dimension, counter in self.counts.items():
            rows += [(dimension, value, n) for value, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]
        return rows


def collect(records: Iterable[dict[str, Any]], runs: list[dict[str, Any]]) -> StoreStats:
    stats = StoreStats(runs=runs)
    for record in records:
        stats.add(record)
    return stats
