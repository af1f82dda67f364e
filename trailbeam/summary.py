"""A run's summary: every input record accounted for, plus what the store now holds from the run.

``read = stored + duplicates + quarantined`` must hold for records; objects that could not be read
at all are counted apart (they have no records to count). A summary that does not balance is a bug,
and says so instead of hiding it.

Input: the per-file reports, per-partition counts and quarantine counts of a run (plain dicts), either
all at once (``summarize``) or as mergeable partial ``Totals`` (``summarize_totals``: what a pipeline
uses, so that no single worker holds every report).
Output: a JSON-ready dict (written to ``_runs/<run>/summary.json``) and its text rendering.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from trailbeam import __version__, avro, timestamps


@dataclass(slots=True)
class Totals:
    """A mergeable part of a run's summary: what some of its file reports and partitions add up to.

    Ingest builds one per shard of file reports and per partition-hour, and merges them with a combine,
    so the run's manifest never holds every report. ``merge`` is associative and commutative, and
    merging the parts of any split of the reports and partitions gives the totals of all of them.
    """

    files: dict[str, int] = field(default_factory=dict)      # keys as in the summary's "files"
    records: dict[str, int] = field(default_factory=dict)    # read, quarantined, filtered (from reports)
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    partition_files: int = 0
    accounts: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    first: int | None = None
    last: int | None = None

    def add_report(self, report: dict[str, Any]) -> Totals:
        files = self.files
        for name, value in (("read", 1), (f"kind_{report['kind']}", 1), ("quarantined", int(report["rejected"])),
                            ("empty", int(report["shape"] == "empty")),
                            ("already_ingested", int(report["shape"] == "already-ingested")),
                            ("modified", int(report["shape"] == "modified")), ("bytes", report["size"])):
            files[name] = files.get(name, 0) + value
        for name, value in (("read", report["records"]), ("quarantined", report["quarantined"]),
                            ("filtered", report.get("filtered", 0))):
            self.records[name] = self.records.get(name, 0) + value
        return self

    def add_partition(self, partition: dict[str, Any]) -> Totals:
        self.stored += partition["stored"]
        self.duplicates += partition["duplicates"]
        self.conflicts += partition["conflicts"]
        self.partition_files += 1
        self.accounts.add(partition.get("account") or "")
        self.regions.add(partition.get("region") or "")
        self.first = _least(self.first, partition["first"])
        self.last = _most(self.last, partition["last"])
        return self

    def merge(self, other: Totals) -> Totals:
        for mine, theirs in ((self.files, other.files), (self.records, other.records)):
            for name, value in theirs.items():
                mine[name] = mine.get(name, 0) + value
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.conflicts += other.conflicts
        self.partition_files += other.partition_files
        self.accounts |= other.accounts
        self.regions |= other.regions
        self.first = _least(self.first, other.first)
        self.last = _most(self.last, other.last)
        return self


def _least(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _most(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def totals_of(*, reports: Iterable[dict[str, Any]] = (), partitions: Iterable[dict[str, Any]] = ()) -> Totals:
    """The totals of some file reports and partition counts."""
    totals = Totals()
    for report in reports:
        totals.add_report(report)
    for partition in partitions:
        totals.add_partition(partition)
    return totals


def merge_totals(parts: Iterable[Totals]) -> Totals:
    """Merges partial totals into new totals (the parts are left unchanged)."""
    merged = Totals()
    for part in parts:
        merged.merge(part)
    return merged


def partition_of(key: str) -> str:
    """The partition (account/region/date) of a partition-hour key ``<partition>#<hour>``."""
    return key.rpartition("#")[0]


def summarize(*, run_id: str, sources: list[str], reports: list[dict[str, Any]],
              partitions: list[dict[str, Any]], quarantine: list[dict[str, int]],
              split: dict[str, int] | None = None) -> dict[str, Any]:
    """``split``: eventIDs found in several partition-hours (each a conflict, counted once here)."""
    return summarize_totals(run_id=run_id, sources=sources, totals=totals_of(reports=reports, partitions=partitions),
                            partitions=len({partition_of(p["key"]) for p in partitions}),
                            quarantine=quarantine, split=split)


def summarize_totals(*, run_id: str, sources: list[str], totals: Totals, partitions: int,
                     quarantine: list[dict[str, int]], split: dict[str, int] | None = None) -> dict[str, Any]:
    """The run summary from merged ``totals``; ``partitions``: how many distinct partitions were written."""
    by_reason: Counter[str] = Counter()
    for counts in quarantine:
        by_reason.update(counts)
    records = {
        "read": totals.records.get("read", 0),
        "stored": totals.stored,
        "duplicates": totals.duplicates,
        "conflicts": totals.conflicts + len(split or {}),
        "quarantined": totals.records.get("quarantined", 0),
        "filtered": totals.records.get("filtered", 0),
    }
    return {
        "run_id": run_id,
        "trailbeam_version": __version__,
        "schema_version": avro.SCHEMA_VERSION,
        "sources": sorted(sources),
        "files": dict(sorted(totals.files.items())),
        "records": records,
        "balanced": records["read"] == (records["stored"] + records["duplicates"] + records["quarantined"]
                                        + records["filtered"]),
        "quarantine_reasons": dict(sorted(by_reason.items())),
        "partitions": partitions,
        "partition_files": totals.partition_files,
        "accounts": sorted(totals.accounts),
        "regions": sorted(totals.regions),
        "first_event": timestamps.format_micros(totals.first) if totals.first is not None else None,
        "last_event": timestamps.format_micros(totals.last) if totals.last is not None else None,
    }


def _some(names: list[str], shown: int = 8) -> str:
    if not names:
        return "-"
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def render(summary: dict[str, Any]) -> str:
    """The summary as the table the CLI prints after an ingest."""
    records, files = summary["records"], summary["files"]
    rows = [
        ("run", summary["run_id"]),
        ("files read", f"{files.get('read', 0):,} ({files.get('bytes', 0) / 1e6:,.1f} MB)"),
        ("  log / insight / other", f"{files.get('kind_log', 0):,} / {files.get('kind_insight', 0):,} / "
                                    f"{files.get('kind_other', 0):,}"),
        ("  digest files (left to verify)", f"{files.get('kind_digest', 0):,}"),
        ("  quarantined whole", f"{files.get('quarantined', 0):,}"),
        ("  already ingested (skipped)", f"{files.get('already_ingested', 0):,}"),
        ("  MODIFIED since ingested", f"{files.get('modified', 0):,}"),
        ("records read", f"{records['read']:,}"),
        ("  stored", f"{records['stored']:,}"),
        ("  duplicates dropped", f"{records['duplicates']:,}"),
        ("  quarantined", f"{records['quarantined']:,}"),
        ("  filtered out", f"{records['filtered']:,}"),
        ("  conflicting eventIDs", f"{records['conflicts']:,}"),
        ("accounted for", "yes: read = stored + duplicates + quarantined + filtered" if summary["balanced"]
         else "NO: read != stored + duplicates + quarantined + filtered (please report this bug)"),
        ("accounts", _some(summary["accounts"])),
        ("regions", _some(summary["regions"])),
        ("events from", summary["first_event"] or "-"),
        ("events to", summary["last_event"] or "-"),
    ]
    rows += [(f"  quarantine: {reason}", f"{count:,}") for reason, count in summary["quarantine_reasons"].items()]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
