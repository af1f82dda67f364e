"""Tests of trailbeam.store's sharded run files: shard counts, the file list in parts, and its readers."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from trailbeam import store
from trailbeam.ingest import MODIFIED, SKIPPED


@pytest.mark.parametrize(("files", "per_shard", "expected"), [
    (0, 50_000, 1), (1, 50_000, 1), (50_000, 50_000, 1), (50_001, 50_000, 2),
    (30_000_000, 50_000, 600), (7, 2, 4),
], ids=["empty", "one", "exactly-one-shard", "one-more", "org-trail", "small-shards"])
def test_report_shards(files, per_shard, expected):
    assert store.report_shards(files, files_per_shard=per_shard) == expected
    assert -(-files // expected) <= per_shard  # no shard is asked to hold more than per_shard on average


@pytest.mark.parametrize(("total_bytes", "expected"), [
    (0, 1), (64 << 20, 1), ((64 << 20) + 1, 2), (1 << 40, 16_384),
], ids=["empty", "one-shard", "one-byte-more", "a-tebibyte"])
def test_quarantine_shards(total_bytes, expected):
    assert store.quarantine_shards(total_bytes) == expected


def test_shard_sizes_must_be_positive():
    with pytest.raises(ValueError):
        store.report_shards(10, files_per_shard=0)


def test_uri_shard_is_stable():
    assert store.uri_shard("s3://b/k", 7) == zlib.crc32(b"s3://b/k") % 7
    assert store.uri_shard("\ud800", 3) == store.uri_shard("\ud800", 3)  # lone surrogates do not fail


def _report(uri: str) -> dict:
    return {"uri": uri, "shape": "records", "size": 1}


def test_commit_writes_a_small_file_list_as_one_sorted_part(tmp_path: Path):
    reports = [_report(f"/trail/{i:02d}.json") for i in range(10)]
    store.commit(str(tmp_path), "r1", {"run_id": "r1"}, reports[::-1])
    lines = (tmp_path / store.RUNS / "r1" / "files-00000.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == reports
    assert sorted(p.name for p in (tmp_path / store.RUNS / "r1").glob("files*")) == ["files-00000.jsonl"]


def test_staged_parts_are_committed_and_read_in_part_order(tmp_path: Path):
    reports = [_report(f"/trail/{i:02d}.json") for i in range(20)]
    by_shard: dict[int, list[dict]] = {}
    for report in reports:
        by_shard.setdefault(store.uri_shard(report["uri"], 4), []).append(report)
    for shard, part in by_shard.items():  # the pipeline writes its shards in any order, staged
        store.write_reports(str(tmp_path), "r1", shard, part[::-1])
    assert not (tmp_path / store.RUNS / "r1" / "files-00000.jsonl").exists()
    store.commit(str(tmp_path), "r1", {"run_id": "r1"})
    parts = sorted(p.name for p in (tmp_path / store.RUNS / "r1").glob("files*.jsonl"))
    assert parts == [f"files-{shard:05d}.jsonl" for shard in sorted(by_shard)] and len(parts) > 1
    found = list(store.run_reports(str(tmp_path), "r1"))
    assert found == [r for shard in sorted(by_shard) for r in sorted(by_shard[shard], key=lambda r: r["uri"])]
    assert set(store.consumed_objects(str(tmp_path))) == {r["uri"] for r in reports}


def test_a_store_written_before_the_split_is_still_read(tmp_path: Path):
    run = tmp_path / store.RUNS / "old"
    run.mkdir(parents=True)
    (run / store.FILES).write_text(json.dumps(_report("/a")) + "\n")
    (run / "summary.json").write_text("{}")
    assert [r["uri"] for r in store.run_reports(str(tmp_path), "old")] == ["/a"]
    assert set(store.consumed_objects(str(tmp_path))) == {"/a"}


def test_an_unfinished_run_is_not_consumed(tmp_path: Path):
    store.write_reports(str(tmp_path), "r0", 0, [_report("/a")])
    assert store.consumed_objects(str(tmp_path)) == {}


def _shaped(uri: str, shape: str, run: str) -> dict:
    return {"uri": uri, "shape": shape, "run": run}


@pytest.mark.parametrize(("reports", "expected"), [
    ([], None),
    ([((0, 0), _shaped("/a", "records", "r1"))], "r1"),
    ([((0, 3), _shaped("/a", "records", "r1")), ((2, 0), _shaped("/a", SKIPPED, "r2"))], "r1"),
    ([((0, 3), _shaped("/a", "records", "r1")), ((2, 0), _shaped("/a", MODIFIED, "r2"))], "r1"),
    ([((0, 0), _shaped("/a", "unreadable", "r1"))], None),
    ([((0, 0), _shaped("/a", "unreadable", "r1")), ((1, 5), _shaped("/a", "records", "r2"))], "r2"),
    ([((4, 0), _shaped("/a", "records", "r3")), ((1, 0), _shaped("/a", "records", "r1"))], "r3"),
    ([((1, 2), _shaped("/a", "records", "late-line")), ((1, 1), _shaped("/a", "records", "early-line"))],
     "late-line"),
    ([((1, 9), _shaped("/a", "records", "r1")), ((2, 0), _shaped("/a", "records", "r2"))], "r2"),
], ids=["none", "one", "skipped-later", "modified-later", "only-unreadable", "read-after-unreadable",
        "newest-run-in-any-order", "later-line-of-one-part", "later-part-beats-later-line"])
def test_latest_consumed(reports, expected):
    latest = store.latest_consumed(reports)
    assert (None if latest is None else latest["run"]) == expected


def test_the_join_parts_give_what_consumed_objects_gives(tmp_path: Path):
    reports = {"r1": [_shaped("/a", "records", "r1"), _shaped("/b", "unreadable", "r1")],
               "r2": [_shaped("/a", SKIPPED, "r2"), _shaped("/b", "records", "r2"), _shaped("/c", "records", "r2")],
               "r3": [_shaped("/a", MODIFIED, "r3"), _shaped("/c", "records", "r3")]}
    for run, part in reports.items():
        store.commit(str(tmp_path), run, {"run_id": run}, part)
    store.write_reports(str(tmp_path), "r4", 0, [_shaped("/a", "records", "r4")])  # never committed
    paths = store.earlier_report_files(str(tmp_path))
    assert [path.rsplit("/", 2)[1] for path in paths] == ["r1", "r2", "r3"]
    joined: dict[str, list] = {}
    for order, path in enumerate(paths):
        for uri, positioned in store.consumed_reports(order, path):
            joined.setdefault(uri, []).append(positioned)
    assert {uri: [r["shape"] for _, r in found] for uri, found in joined.items()} == {
        "/a": ["records"], "/b": ["records"], "/c": ["records", "records"]}  # only consumed reports travel
    latest = {uri: store.latest_consumed(found)["run"] for uri, found in joined.items()}
    assert latest == {"/a": "r1", "/b": "r2", "/c": "r3"}
    assert {uri: r["run"] for uri, r in store.consumed_objects(str(tmp_path)).items()} == latest
