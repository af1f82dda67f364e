"""Tests of trailbeam.summary: partial Totals merged in any grouping give the one-pass summary."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from trailbeam import summary


def report(uri: str, *, kind: str = "log", shape: str = "records", records: int = 3, quarantined: int = 0,
           rejected: bool = False, size: int = 100, **extra: Any) -> dict[str, Any]:
    return {"uri": uri, "kind": kind, "shape": shape, "records": records, "quarantined": quarantined,
            "rejected": rejected, "size": size, "events": records - quarantined, **extra}


def partition(key: str, *, stored: int = 2, duplicates: int = 1, conflicts: int = 0, first: int | None = 10,
              last: int | None = 20, account: str | None = "1", region: str | None = "us-east-1") -> dict[str, Any]:
    return {"key": key, "stored": stored, "duplicates": duplicates, "conflicts": conflicts, "first": first,
            "last": last, "account": account, "region": region}


def one_pass(reports: list[dict], partitions: list[dict]) -> dict[str, Any]:
    """The summary's counts as ``summarize`` computed them before partial totals (the oracle)."""
    files: Counter[str] = Counter()
    for r in reports:
        files["read"] += 1
        files[f"kind_{r['kind']}"] += 1
        files["quarantined"] += r["rejected"]
        files["empty"] += r["shape"] == "empty"
        files["already_ingested"] += r["shape"] == "already-ingested"
        files["modified"] += r["shape"] == "modified"
        files["bytes"] += r["size"]
    firsts = [p["first"] for p in partitions if p["first"] is not None]
    lasts = [p["last"] for p in partitions if p["last"] is not None]
    return {"files": dict(sorted(files.items())),
            "read": sum(r["records"] for r in reports), "quarantined": sum(r["quarantined"] for r in reports),
            "filtered": sum(r.get("filtered", 0) for r in reports),
            "stored": sum(p["stored"] for p in partitions), "duplicates": sum(p["duplicates"] for p in partitions),
            "conflicts": sum(p["conflicts"] for p in partitions),
            "partitions": len({p["key"].rpartition("#")[0] for p in partitions}), "partition_files": len(partitions),
            "accounts": sorted({p.get("account") or "" for p in partitions}),
            "regions": sorted({p.get("region") or "" for p in partitions}),
            "first": min(firsts) if firsts else None, "last": max(lasts) if lasts else None}


P = "account=1/region=us-east-1/date=2024-05-01"
CASES = {
    "nothing": ([], []),
    "one-file": ([report("a")], [partition(f"{P}#10")]),
    "kinds-and-shapes": ([report("a"), report("b", kind="digest", records=0), report("c", shape="empty", records=0),
                          report("d", shape="already-ingested", records=0), report("e", shape="modified", records=0),
                          report("f", shape="unreadable", rejected=True, records=0),
                          report("g", quarantined=2, filtered=1, records=5)],
                         [partition(f"{P}#10"), partition(f"{P}#11", conflicts=2, first=5, last=None),
                          partition("account=2/region=eu-west-1/date=2024-05-02#00", first=None, last=99,
                                    account="2", region="eu-west-1"),
                          partition("account=__HIVE_DEFAULT_PARTITION__/region=x/date=2024-05-01#03",
                                    account=None, region=None)]),
    "reports-without-partitions": ([report("a", rejected=True, records=0), report("b", quarantined=3, records=3)], []),
}


def summary_counts(s: dict[str, Any]) -> dict[str, Any]:
    records = s["records"]
    return {"files": s["files"], **{k: records[k] for k in ("read", "quarantined", "filtered", "stored",
                                                              "duplicates", "conflicts")},
            "partitions": s["partitions"], "partition_files": s["partition_files"], "accounts": s["accounts"],
            "regions": s["regions"], "first": s["first_event"], "last": s["last_event"]}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merged_parts_give_the_one_pass_summary(case, seed):
    reports, partitions = case
    whole = summary.summarize(run_id="r", sources=["s"], reports=reports, partitions=partitions,
                              quarantine=[{"invalid_json": 1}, {"invalid_json": 2, "corrupt_gzip": 1}],
                              split={"e1": 2})
    expected = one_pass(reports, partitions)
    fmt = summary.timestamps.format_micros
    assert summary_counts(whole) == {**expected, "conflicts": expected["conflicts"] + 1,
                                     "first": fmt(expected["first"]) if expected["first"] is not None else None,
                                     "last": fmt(expected["last"]) if expected["last"] is not None else None}
    assert whole["quarantine_reasons"] == {"corrupt_gzip": 1, "invalid_json": 3}
    # Any split of the inputs, merged in any order and grouping, gives the same summary.
    rng = random.Random(seed)
    parts = [summary.totals_of(reports=[r]) for r in reports] + [summary.totals_of(partitions=[p]) for p in partitions]
    rng.shuffle(parts)
    cut = rng.randint(0, len(parts))
    merged = summary.merge_totals([summary.merge_totals(parts[:cut]), summary.Totals(), summary.merge_totals(parts[cut:])])
    assert summary.summarize_totals(run_id="r", sources=["s"], totals=merged, partitions=whole["partitions"],
                                    quarantine=[{"invalid_json": 3, "corrupt_gzip": 1}], split={"e1": 2}) == whole


def test_merging_leaves_the_parts_unchanged():
    part = summary.totals_of(reports=[report("a")], partitions=[partition(f"{P}#10")])
    before = repr(part)
    summary.merge_totals([part, part])
    assert repr(part) == before
