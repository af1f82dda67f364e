"""Tests of trailbeam.dedupe: one copy per content, conflicts kept and marked, deterministic store order."""

from __future__ import annotations

import hashlib
import itertools
import random
from typing import Any

import pytest

import fixturedata
from trailbeam import avro, cloudtrail, jsonvalue, timestamps
from trailbeam.dedupe import deduplicate
from trailbeam.eventcodec import source_head, source_tail
from trailbeam.spill import Entry

T0 = "2024-05-01T12:00:00Z"


def event(event_id: str, event_time: str = T0, **members: Any) -> dict[str, Any]:
    return {"eventVersion": "1.09", "eventID": event_id, "eventTime": event_time, "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject", "recipientAccountId": "111122223333", "awsRegion": "us-east-1", **members}


def entry(value: dict[str, Any], uri: str = "s3://b/f.json.gz", position: int = 0) -> Entry:
    """One event as ingest hands it to deduplication."""
    sha = hashlib.sha256(uri.encode()).hexdigest()
    encoded = cloudtrail.encode_event(value, jsonvalue.dumps(value), source_head(uri, sha, sha), position,
                                      source_tail("records", None, "run-1"))
    return encoded.time, encoded.event_id, encoded.data


def decoded(records: list[bytes]) -> list[dict[str, Any]]:
    return [avro.decode(avro.EVENT, data) for data in records]


def counts(result: Any) -> tuple[int, int, int, int]:
    return result.read, result.stored, result.duplicates, result.conflicts


# ---- identical copies ---------------------------------------------------------------------------------------

SMALLEST_CASES = [
    ("uri-decides", [("s3://b/2.json.gz", 0), ("s3://b/1.json.gz", 9), ("s3://b/1.json.gz", 10)],
     ("s3://b/1.json.gz", 9)),
    ("uri-before-position", [("s3://b/b", 0), ("s3://b/a", 100)], ("s3://b/a", 100)),
    ("position-is-numeric", [("s3://b/x", 10), ("s3://b/x", 9), ("s3://b/x", 100)], ("s3://b/x", 9)),
    ("two-copies", [("/local/export.json", 3), ("/local/export.json", 2)], ("/local/export.json", 2)),
]


@pytest.mark.parametrize("places, kept", [c[1:] for c in SMALLEST_CASES], ids=[c[0] for c in SMALLEST_CASES])
def test_identical_copies_are_stored_once_from_the_smallest_place(places, kept):
    value = event("dup", requestParameters={"bucketName": "b"})
    entries = [entry(value, uri, position) for uri, position in places]
    results = [deduplicate(list(order)) for order in itertools.permutations(entries)]
    assert all(result.records == results[0].records for result in results), "depends on input order"
    result = results[0]
    assert counts(result) == (len(places), 1, len(places) - 1, 0)
    [record] = decoded(result.records)
    assert (record["source"]["uri"], record["source"]["position"]) == kept
    assert (record["copies"], record["conflict"]) == (len(places), False)
    assert cloudtrail.original_event(record) == value


def test_events_without_copies_pass_through_unchanged():
    entries = [entry(event("a")), entry(event("b", "2024-05-01T12:00:01Z"))]
    result = deduplicate(entries)
    assert result.records == [data for _, _, data in entries]
    assert counts(result) == (2, 2, 0, 0)
    assert [r["copies"] for r in decoded(result.records)] == [1, 1]


# ---- copies whose content differs ------------------------------------------------------------------------------


def test_differing_copies_are_all_kept_and_marked():
    first = event("x", requestParameters={"v": 1})
    second = event("x", requestParameters={"v": 2})
    entries = [entry(first, "s3://b/3", 0), entry(second, "s3://b/2", 4), entry(first, "s3://b/1", 7),
               entry(event("other")), entry(second, "s3://b/2", 1)]
    results = [deduplicate(random.Random(seed).sample(entries, len(entries))) for seed in range(6)]
    assert all(result.records == results[0].records for result in results), "depends on input order"
    result = results[0]
    assert counts(result) == (5, 3, 2, 1)
    records = {r["cloudTrailEvent"]: r for r in decoded(result.records) if r["eventID"] == "x"}
    kept_first, kept_second = records[jsonvalue.dumps(first).decode()], records[jsonvalue.dumps(second).decode()]
    assert (kept_first["source"]["uri"], kept_first["source"]["position"]) == ("s3://b/1", 7)
    assert (kept_second["source"]["uri"], kept_second["source"]["position"]) == ("s3://b/2", 1)
    for record in (kept_first, kept_second):
        assert (record["copies"], record["conflict"]) == (4, True)


def test_copies_with_different_event_times_in_one_partition_are_a_conflict():
    early, late = event("x", "2024-05-01T12:00:00Z"), event("x", "2024-05-01T12:59:59Z")
    result = deduplicate([entry(late, "s3://b/1"), entry(early, "s3://b/2")])
    assert counts(result) == (2, 2, 0, 1)
    records = decoded(result.records)
    assert [cloudtrail.original_event(r) for r in records] == [early, late]
    assert all(r["conflict"] and r["copies"] == 2 for r in records)
    assert (result.first, result.last) == (timestamps.parse_micros(early["eventTime"]),
                                           timestamps.parse_micros(late["eventTime"]))


def test_documented_examples_sharing_an_event_id_are_a_conflict():
    # The AWS docs show two CheckMfa events with one eventID and different additionalEventData.
    check_mfa = [fixturedata.fixture_record(fixturedata.AWSDOCS_EXAMPLES.name, i) for i in (3, 4)]
    result = deduplicate([entry(value, "s3://docs", i) for i, value in enumerate(check_mfa)])
    assert counts(result) == (2, 2, 0, 1)
    assert sorted(jsonvalue.dumps(cloudtrail.original_event(r)) for r in decoded(result.records)) == sorted(
        jsonvalue.dumps(value) for value in check_mfa)


# ---- store order and counts -------------------------------------------------------------------------------------


def test_records_are_ordered_by_time_then_event_id():
    later = "2024-05-01T12:00:01Z"
    values = [event("b", later), event("a", later), event("B", later), event("z", "2024-05-01T12:00:00.5Z"),
              event("a", "2024-05-01T12:00:00Z", n=1), event("0", "1969-12-31T23:59:59Z")]
    for seed in range(5):
        shuffled = random.Random(seed).sample(values, len(values))
        records = decoded(deduplicate([entry(value) for value in shuffled]).records)
        # Same time: by eventID in code point order ("B" < "a"); "a" twice is a conflict, kept twice.
        assert [r["eventID"] for r in records] == ["0", "a", "z", "B", "a", "b"]


COUNT_CASES = [
    ("empty", [], (0, 0, 0, 0), (None, None)),
    ("one", [("a", 0)], (1, 1, 0, 0), (T0, T0)),
    ("all-distinct", [("a", 0), ("b", 0), ("c", 0)], (3, 3, 0, 0), (T0, T0)),
    ("duplicates", [("a", 0), ("a", 0), ("b", 0), ("b", 0), ("b", 0)], (5, 2, 3, 0), (T0, T0)),
    ("one-conflict", [("a", 0), ("a", 1), ("b", 0)], (3, 3, 0, 1), (T0, T0)),
    ("conflict-and-duplicates", [("a", 0), ("a", 1), ("a", 1), ("a", 2), ("b", 0), ("b", 0)], (6, 4, 2, 1),
     (T0, T0)),
    ("two-conflicts", [("a", 0), ("a", 1), ("b", 0), ("b", 1)], (4, 4, 0, 2), (T0, T0)),
]


@pytest.mark.parametrize("copies, expected, span", [c[1:] for c in COUNT_CASES], ids=[c[0] for c in COUNT_CASES])
def test_counts(copies, expected, span):
    entries = [entry(event(event_id, requestParameters={"variant": variant}), f"s3://b/{i}")
               for i, (event_id, variant) in enumerate(copies)]
    result = deduplicate(entries)
    assert counts(result) == expected
    assert result.read == result.stored + result.duplicates
    assert len(result.records) == result.stored
    micros = [None if s is None else timestamps.parse_micros(s) for s in span]
    assert (result.first, result.last) == tuple(micros)


def test_first_and_last_span_the_kept_records():
    times = ["2024-05-01T12:30:00Z", "2024-05-01T12:00:00.000001Z", "2024-05-01T12:59:59.999999Z"]
    result = deduplicate([entry(event(f"e{i}", t)) for i, t in enumerate(times)])
    assert (result.first, result.last) == (timestamps.parse_micros(times[1]), timestamps.parse_micros(times[2]))


def test_ids_split_across_partitions_are_conflicts_with_run_wide_copies():
    lone = entry(event("split-1"), uri="s3://b/a.json.gz")
    local = [entry(event("split-2"), uri="s3://b/a.json.gz"), entry(event("split-2"), uri="s3://b/b.json.gz")]
    plain = entry(event("plain"), uri="s3://b/a.json.gz")
    result = deduplicate([lone, *local, plain], {"split-1": 2, "split-2": 3})
    records = {r["eventID"]: r for r in decoded(result.records)}
    assert (records["split-1"]["conflict"], records["split-1"]["copies"]) == (True, 2)
    assert (records["split-2"]["conflict"], records["split-2"]["copies"]) == (True, 3)
    assert (records["plain"]["conflict"], records["plain"]["copies"]) == (False, 1)
    # identical local copies of a split id are still stored once; the split is counted elsewhere
    assert (result.stored, result.duplicates, result.conflicts) == (3, 1, 0)
