"""What a store holds: counts by account, region, day, category, identity type and event source.

Input: TrailEvent records (as read from the store) and the store's run summaries. Output: a
``StoreStats`` that renders as a table, JSON or CSV rows (dimension, value, count). Counting is per
file and the counts merge, so files can be counted in parallel (``count_file`` + ``merged``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import fastavro

from trailbeam import timestamps

_VOUCHED = ("log_valid", "log_modified", "log_missing", "log_trailing_data", "log_unreadable")
DIMENSIONS = ("account", "region", "day", "category", "identity_type", "event_source")


@dataclass(slots=True, kw_only=True)
class StoreStats:
    events: int = 0
    conflicting_records: int = 0
    first: int | None = None
    last: int | None = None
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {d: Counter() for d in DIMENSIONS})
    runs: list[dict[str, Any]] = field(default_factory=list)
    by_content: Counter[str] = field(default_factory=Counter)   # events per source content SHA-256
    verified_hashes: frozenset[str] | None = None   # content SHA-256s digests vouched for; None: never verified

    def add(self, record: dict[str, Any]) -> None:
        micros = timestamps.datetime_micros(record["eventTime"])
        self.events += 1
        self.conflicting_records += record["conflict"]
        self.first = micros if self.first is None else min(self.first, micros)
        self.last = micros if self.last is None else max(self.last, micros)
        self.by_content[record["source"]["contentSha256"]] += 1
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
            # -1: the store holds no verification results (trailbeam verify --store)
            "events_from_verified_files": -1 if self.verified_hashes is None else sum(
                n for content, n in self.by_content.items() if content in self.verified_hashes),
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
        rows = [("total", name, value) for name, value in self.totals().items() if value >= 0]
        for dimension, counter in self.counts.items():
            rows += [(dimension, value, n) for value, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]
        return rows


    def merge(self, other: StoreStats) -> None:
        self.events += other.events
        self.conflicting_records += other.conflicting_records
        if other.first is not None:
            self.first = other.first if self.first is None else min(self.first, other.first)
        if other.last is not None:
            self.last = other.last if self.last is None else max(self.last, other.last)
        for dimension, counter in other.counts.items():
            self.counts[dimension].update(counter)
        self.by_content.update(other.by_content)


def count_file(path: str) -> StoreStats:
    """The counts of one store file (a module-level function, so a process pool can run it)."""
    stats = StoreStats()
    with open(path, "rb") as handle:
        for record in fastavro.reader(handle):
            stats.add(record)
    return stats


def merged(parts: Iterable[StoreStats], runs: list[dict[str, Any]],
           findings: Iterable[dict[str, Any]] = ()) -> StoreStats:
    """Per-file counts merged, with the runs and what stored verification results vouch for."""
    total = StoreStats(runs=runs, verified_hashes=_vouched(findings))
    for part in parts:
        total.merge(part)
    return total


def _vouched(findings: Iterable[dict[str, Any]]) -> frozenset[str] | None:
    findings = list(findings)
    if not findings:
        return None
    # A trusted digest vouches for a content hash whatever happened to the file since: events ingested
    # from a copy with that content are authentic even if the bucket's copy was later altered or deleted.
    return frozenset(f["sha256"] for f in findings if f["sha256"] and f["kind"] in _VOUCHED)


def collect(records: Iterable[dict[str, Any]], runs: list[dict[str, Any]],
            findings: Iterable[dict[str, Any]] = ()) -> StoreStats:
    """Counts ``records``; ``findings`` (stored verification results) mark events from verified files."""
    stats = StoreStats(runs=runs, verified_hashes=_vouched(findings))
    for record in records:
        stats.add(record)
    return stats
