"""A run's summary: every input record accounted for, plus what the store now holds from the run.

``read = stored + duplicates + quarantined`` must hold for records; objects that could not be read
at all are counted apart (they have no records to count). A summary that does not balance is a bug,
and says so instead of hiding it.

Input: the per-file reports, per-partition counts and quarantine counts of a run (plain dicts).
Output: a JSON-ready dict (written to ``_runs/<run>/summary.json``) and its text rendering.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from trailbeam import __version__, avro, timestamps


def summarize(*, run_id: str, sources: list[str], reports: list[dict[str, Any]],
              partitions: list[dict[str, Any]], quarantine: list[dict[str, int]],
              split: dict[str, int] | None = None) -> dict[str, Any]:
    """``split``: eventIDs found in several partition-hours (each a conflict, counted once here)."""
    by_reason: Counter[str] = Counter()
    for counts in quarantine:
        by_reason.update(counts)
    files = Counter()
    for report in reports:
        files["read"] += 1
        files[f"kind_{report['kind']}"] += 1
        files["quarantined"] += report["rejected"]
        files["empty"] += report["shape"] == "empty"
        files["already_ingested"] += report["shape"] == "already-ingested"
        files["modified"] += report["shape"] == "modified"
        files["bytes"] += report["size"]
    records = {
        "read": sum(r["records"] for r in reports),
        "stored": sum(p["stored"] for p in partitions),
        "duplicates": sum(p["duplicates"] for p in partitions),
        "conflicts": sum(p["conflicts"] for p in partitions) + len(split or {}),
        "quarantined": sum(r["quarantined"] for r in reports),
        "filtered": sum(r.get("filtered", 0) for r in reports),
    }
    firsts = [p["first"] for p in partitions if p["first"] is not None]
    lasts = [p["last"] for p in partitions if p["last"] is not None]
    return {
        "run_id": run_id,
        "trailbeam_version": __version__,
        "schema_version": avro.SCHEMA_VERSION,
        "sources": sorted(sources),
        "files": dict(sorted(files.items())),
        "records": records,
        "balanced": records["read"] == (records["stored"] + records["duplicates"] + records["quarantined"]
                                        + records["filtered"]),
        "quarantine_reasons": dict(sorted(by_reason.items())),
        "partitions": len({p["key"].rpartition("#")[0] for p in partitions}),
        "partition_files": len(partitions),
        "accounts": sorted({p.get("account") or "" for p in partitions}),
        "regions": sorted({p.get("region") or "" for p in partitions}),
        "first_event": timestamps.format_micros(min(firsts)) if firsts else None,
        "last_event": timestamps.format_micros(max(lasts)) if lasts else None,
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
