"""Tests of trailbeam.eventids: finding eventIDs that occur in several partition-hours."""

from __future__ import annotations

import pytest

from trailbeam import eventids

A, B = "account=1/region=us-east-1/date=2024-05-01#10", "account=1/region=us-east-1/date=2024-05-01#11"


def blobs_of(*batches: dict[str, list[str]], shards: int = 4) -> list[bytes]:
    return [blob for batch in batches for _, blob in eventids.spread(batch, shards)]


@pytest.mark.parametrize(("batches", "expected"), [
    ([{A: ["e1", "e2"]}], {}),
    ([{A: ["e1"]}, {A: ["e1"]}], {}),                        # duplicates in one partition: dedupe's job
    ([{A: ["e1"], B: ["e1"]}], {"e1": 2}),
    ([{A: ["e1", "e2"]}, {B: ["e1"]}, {A: ["e1"]}], {"e1": 3}),  # copies counted run-wide
    ([{A: ["\ud800x"]}, {B: ["\ud800x"]}], {"\ud800x": 2}),      # a lone surrogate survives
    ([], {}),
], ids=["unique", "same-partition", "two-partitions", "counted-run-wide", "lone-surrogate", "nothing"])
def test_split_ids(batches, expected):
    assert eventids.split_ids(blobs_of(*batches)) == expected


def test_each_id_goes_to_one_stable_shard():
    spread = eventids.spread({A: [f"e{i}" for i in range(200)], B: ["e7"]}, 8)
    assert [shard for shard, _ in spread] == sorted({eventids.shard_of(f"e{i}", 8) for i in range(200)})
    shard_of_e7 = eventids.shard_of("e7", 8)
    assert eventids.split_ids([blob for shard, blob in spread if shard == shard_of_e7]) == {"e7": 2}
    assert eventids.shard_of("e7", 8) == eventids.shard_of("e7", 8) == __import__("zlib").crc32(b"e7") % 8


GIB = 1 << 30


@pytest.mark.parametrize(("total_bytes", "minimum", "per_shard", "expected"), [
    (0, 64, 256 << 20, 64),                        # nothing to read: the minimum
    (10 * GIB, 64, 256 << 20, 64),                 # below minimum * per_shard
    (16 * GIB, 64, 256 << 20, 64),                 # exactly the minimum's worth
    (16 * GIB + 1, 64, 256 << 20, 65),             # one byte more: one shard more
    (1800 * GIB, 64, 256 << 20, 7200),             # ~10 billion gzipped events at ~180 B each
    (100, 1, 64, 2),                               # tiny shards, as the pipeline tests use them
], ids=["empty", "small", "at-minimum", "one-byte-more", "ten-billion-events", "tiny"])
def test_shard_count(total_bytes, minimum, per_shard, expected):
    assert eventids.shard_count(total_bytes, minimum=minimum, bytes_per_shard=per_shard) == expected


def test_shard_count_bounds_the_ids_per_shard():
    ten_billion_gzipped = 10_000_000_000 * 180
    shards = eventids.shard_count(ten_billion_gzipped)
    assert 10_000_000_000 / shards < 2_000_000
    assert eventids.shard_count(0) == eventids.DEFAULT_SHARDS
    with pytest.raises(ValueError):
        eventids.shard_count(1, bytes_per_shard=0)


@pytest.mark.parametrize("shards", [1, 3, 64, 7200])
def test_split_ids_do_not_depend_on_the_shard_count(shards):
    batches = [{A: [f"e{i}" for i in range(300)]}, {B: ["e7", "e250", "x"]}, {A: ["e7", "x"]}]
    blobs = [(shard, blob) for batch in batches for shard, blob in eventids.spread(batch, shards)]
    found: dict[str, int] = {}
    held = 0
    for shard in sorted({shard for shard, _ in blobs}):
        scan = eventids.scan_shard([blob for s, blob in blobs if s == shard])
        found.update(scan.split)
        held += scan.ids
    assert found == {"e7": 3, "e250": 2, "x": 2} and held == 301
