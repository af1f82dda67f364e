"""Tests of trailbeam.store's sharded run files: shard counts, the file list in parts, and its readers."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from trailbeam import store


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
