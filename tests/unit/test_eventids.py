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
