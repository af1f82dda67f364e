"""Tests of trailbeam.changelog: per store file, which write events reach which resources' logs (and the
read aggregates); per resource, the replayed log. Store files are built in-process from the Stratus Red Team
records, encoded by the ingest path, as the store holds them."""

from __future__ import annotations

import copy
import io
import random
from collections import Counter
from typing import Any

import fastavro
import pytest

from builders import store_file

import fixturedata
from trailbeam import avro, avrofile, cloudtrail, errors, jsonvalue, timestamps
from trailbeam.attributed import attribute_file, issued_in
from trailbeam.attribution import Attributor, build_indexes
from trailbeam.changelog import (
    HOUR, ReadAccess, Tally, Touch, changelog_file, merge_reads, merge_tallies, minimal_event,
    principal_of, read_accesses, resource_log, written_resources,
)
from trailbeam.eventcodec import source_head, source_tail
from trailbeam.history import build_history, replay
from trailbeam.projections import to_json
from trailbeam.resources import ResourceRef, coverage, is_write, resources_of

STRATUS = [r for path in sorted(fixturedata.STRATUS.glob("*.json")) for r in fixturedata.records_in(path)]
BACKDOOR_USER = "arn:aws:iam::229654561268:user/malicious-iam-user"


def stored(events: list[Any]) -> list[Any]:
    """The events a store file keeps (the ingest path rejects some fixture records), in its order."""
    return [jsonvalue.loads(jsonvalue.dumps(e)) for e in sorted(
        (e for e in events if _storable(e)), key=lambda e: (timestamps.parse_micros(e["eventTime"]), e["eventID"]))]


def _storable(event: Any) -> bool:
    try:
        cloudtrail.encode_event(event, jsonvalue.dumps(event), source_head("u", "a" * 64, "b" * 64), 0,
                                source_tail("records", None, "r"))
    except errors.Rejected:
        return False
    return True


def records(stem: str) -> list[Any]:
    return copy.deepcopy(fixturedata.records_in(fixturedata.STRATUS / f"{stem}.json"))


@pytest.fixture(scope="module")
def stratus_file() -> bytes:
    return store_file(STRATUS)


# ---- which events reach which logs -----------------------------------------------------------------------

@pytest.mark.parametrize("stem", [
    "aws.persistence.iam-create-admin-user", "aws.persistence.iam-backdoor-user",
    "aws.defense-evasion.cloudtrail-stop", "aws.exfiltration.ec2-share-ebs-snapshot",
    "aws.persistence.iam-create-user-login-profile", "aws.execution.ec2-launch-unusual-instances",
])
def test_one_touch_per_write_event_and_resource(stem: str) -> None:
    events = stored(records(stem))
    result = changelog_file(store_file(events))
    expected = sorted((ref.arn, ref.type, e["eventID"]) for e in events if is_write(e) for ref in written_resources(e))
    assert sorted((t.ref.arn, t.ref.type, t.event_id) for t in result.touches) == expected
    assert result.reads == ()
    by_id = {e["eventID"]: e for e in events}
    for touch in result.touches:
        assert touch.event_time == timestamps.parse_micros(by_id[touch.event_id]["eventTime"])
        assert jsonvalue.loads(touch.event) == minimal_event(by_id[touch.event_id])
        assert (touch.origin_principal, touch.origin_kind) == (None, None)


def test_failed_writes_are_touches_too(stratus_file: bytes) -> None:
    result = changelog_file(stratus_file)
    failed = {t.event_id for t in result.touches if "errorCode" in jsonvalue.loads(t.event)}
    assert failed and result.tally.counts["write_attempts"] >= 1


def test_counts_agree_with_resources_coverage(fixture_records: list[Any]) -> None:
    events = stored([record for _, _, record in fixture_records])
    tally = changelog_file(store_file(events)).tally
    expected = coverage(events, top=1000)
    assert (tally.counts["write_events"], tally.counts["write_unresolved"]) == (expected.write_events,
                                                                                expected.unresolved)
    assert {(s, n): c for s, n, c in expected.top_unresolved} == dict(tally.unresolved)
    assert tally.counts["events"] == len(events)


def test_reads_are_aggregated_per_resource_principal_and_hour(stratus_file: bytes) -> None:
    events = stored(STRATUS)
    result = changelog_file(stratus_file, reads=True)
    assert result.touches == changelog_file(stratus_file).touches
    expected: Counter[tuple[str, str | None, int]] = Counter()
    for event in events:
        if not is_write(event):
            at = timestamps.parse_micros(event["eventTime"])
            for ref in resources_of(event):
                expected[(ref.arn, principal_of(event), at - at % HOUR)] += 1
    assert {(r.resource_arn, r.principal, r.hour): r.count for r in result.reads} == dict(expected)
    assert result.tally.counts["read_events"] == sum(not is_write(e) for e in events)
    for access in result.reads:
        assert access.hour <= access.first_seen <= access.last_seen < access.hour + HOUR
        assert list(access.evidence) == sorted(access.evidence) and 1 <= len(access.evidence) <= min(5, access.count)
    assert [r.key for r in result.reads] == sorted(r.key for r in result.reads)


GET = {"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "eu-west-1",
       "recipientAccountId": "111122223333", "readOnly": True, "eventType": "AwsApiCall", "eventVersion": "1.08",
       "userIdentity": {"type": "AWSAccount", "accountId": "999988887777", "principalId": "AIDAOUTSIDER"},
       "requestParameters": {"bucketName": "exports", "key": "a.csv"}}


def get_object(n: int, minute: int, *, failed: bool = False) -> dict[str, Any]:
    return {**GET, "eventID": f"get-{n:03d}", "eventTime": f"2026-03-03T10:{minute:02d}:00Z",
            **({"errorCode": "AccessDenied"} if failed else {})}


def test_a_hot_object_reads_as_few_rows_with_the_earliest_evidence() -> None:
    events = [get_object(n, 59 - n % 60, failed=n % 10 == 0) for n in range(120)]
    result = changelog_file(store_file(events), reads=True)
    by_arn = {r.resource_arn: r for r in result.reads}
    assert sorted(by_arn) == ["arn:aws:s3:::exports", "arn:aws:s3:::exports/a.csv"]
    bucket = by_arn["arn:aws:s3:::exports"]
    assert (bucket.count, bucket.errors, bucket.principal) == (120, 12, "999988887777:AIDAOUTSIDER")
    assert bucket.hour == timestamps.parse_micros("2026-03-03T10:00:00Z")
    assert bucket.first_seen == timestamps.parse_micros("2026-03-03T10:00:00Z")
    assert bucket.last_seen == timestamps.parse_micros("2026-03-03T10:59:00Z")
    assert [event_id for _, event_id in bucket.evidence] == ["get-059", "get-119", "get-058", "get-118", "get-057"]


def access(count: int, first: int, ids: tuple[int, ...], kind: str = "AWS::S3::Bucket") -> ReadAccess:
    return ReadAccess(resource_arn="arn:aws:s3:::b", resource_type=kind, principal="p", origin_principal=None,
                      hour=0, count=count, errors=count // 2, first_seen=first, last_seen=first + 9,
                      evidence=tuple((i, f"e{i}") for i in ids))


@pytest.mark.parametrize("parts", [
    [access(1, 5, (5,)), access(3, 1, (1, 2, 3)), access(4, 0, (0, 6, 7, 8))],
    [access(2, 9, (9, 10), "AWS::S3::Object"), access(2, 1, (1, 4))],
    [access(1, 3, (3,))],
])
def test_merge_reads_is_associative_and_commutative(parts: list[ReadAccess]) -> None:
    results = set()
    for seed in range(6):
        shuffled = parts[:]
        random.Random(seed).shuffle(shuffled)
        merged = shuffled[0]
        for part in shuffled[1:]:
            merged = merge_reads(merged, part) if seed % 2 else merge_reads(part, merged)
        results.add(merged)
    [merged] = results
    assert merged.count == sum(p.count for p in parts) and merged.errors == sum(p.errors for p in parts)
    assert merged.evidence == tuple(sorted({e for p in parts for e in p.evidence}))[:5]
    assert merged.resource_type == min(p.resource_type for p in parts)


@pytest.mark.parametrize(("identity", "expected"), [
    ({"type": "IAMUser", "arn": "arn:aws:iam::1:user/a", "accountId": "1", "principalId": "AIDA"},
     "arn:aws:iam::1:user/a"),
    ({"type": "AWSAccount", "accountId": "999988887777", "principalId": "AIDAX"}, "999988887777:AIDAX"),
    ({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}, "cloudtrail.amazonaws.com"),
    ({"type": "AWSAccount", "accountId": "999988887777"}, None),
    (None, None),
    ("not an object", None),
])
def test_principal_of(identity: Any, expected: str | None) -> None:
    assert principal_of({"userIdentity": identity}) == expected


def test_read_accesses_of_one_event() -> None:
    event = get_object(1, 30, failed=True)
    at = timestamps.parse_micros(event["eventTime"])
    found = read_accesses(event, at, event["eventID"], failed=True, origin_principal="origin")
    assert [(a.resource_arn, a.count, a.errors, a.hour, a.origin_principal) for a in found] == [
        ("arn:aws:s3:::exports", 1, 1, at - 30 * 60_000_000, "origin"),
        ("arn:aws:s3:::exports/a.csv", 1, 1, at - 30 * 60_000_000, "origin")]


def test_merge_tallies_sums() -> None:
    a = Tally(counts={"events": 2, "write_events": 1}, unresolved={("x", "A"): 1})
    b = Tally(counts={"events": 3}, unresolved={("x", "A"): 2, ("y", "B"): 1})
    assert merge_tallies([a, b]) == Tally(counts={"events": 5, "write_events": 1},
                                          unresolved={("x", "A"): 3, ("y", "B"): 1})
    assert merge_tallies([]) == Tally(counts={}, unresolved={})


# ---- the attribution join ----------------------------------------------------------------------------------

def attributed_file(data: bytes) -> bytes:
    """The AttributedEvent file trailbeam attribute writes for one event file."""
    found = issued_in(data)
    result = attribute_file(data, Attributor(build_indexes(found.sessions, found.grants)))
    out = io.BytesIO()
    avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.ATTRIBUTED), records=result.records,
                             seed="tests/changelog/attributed")
    return out.getvalue()


def test_origins_join_the_attributed_file_record_by_record(stratus_file: bytes) -> None:
    attributed = attributed_file(stratus_file)
    origins = {r["eventID"]: (r["originPrincipal"], r["originKind"]) for r in fastavro.reader(io.BytesIO(attributed))}
    result = changelog_file(stratus_file, attributed, reads=True)
    assert result.touches and all((t.origin_principal, t.origin_kind) == origins[t.event_id] for t in result.touches)
    assert all(t.origin_principal for t in result.touches)
    assert any(r.origin_principal for r in result.reads)
    counts = result.tally.counts
    assert (counts["joined_files"], counts["joined_events"], counts["mismatched_files"]) == (1, counts["events"], 0)


def test_an_attributed_file_of_other_events_is_not_joined(stratus_file: bytes) -> None:
    other = attributed_file(store_file(records("aws.persistence.iam-create-admin-user")))
    result = changelog_file(stratus_file, other)
    assert all(t.origin_principal is None and t.origin_kind is None for t in result.touches)
    assert (result.tally.counts["joined_files"], result.tally.counts["mismatched_files"]) == (0, 1)


# ---- one resource ------------------------------------------------------------------------------------------

def by_resource(touches: tuple[Touch, ...]) -> dict[str, list[Touch]]:
    grouped: dict[str, list[Touch]] = {}
    for touch in touches:
        grouped.setdefault(touch.ref.arn, []).append(touch)
    return grouped


def test_minimal_events_replay_exactly_as_the_whole_events(stratus_file: bytes) -> None:
    """Every resource of every fixture: the log from minimal events equals build_history on the originals."""
    originals = {e["eventID"]: e for e in stored(STRATUS)}
    for arn, touches in by_resource(changelog_file(stratus_file).touches).items():
        ref, entries = resource_log(arn, touches)
        full = [originals[t.event_id] for t in touches]
        expected = build_history(ref, full)
        assert [e.change.event_id for e in entries] == [c.event_id for c in expected]
        assert [e.change.changes for e in entries] == [c.changes for c in expected], arn
        assert [e.sequence for e in entries] == list(range(len(entries)))
        assert jsonvalue.loads(entries[-1].state_after) == to_json(replay(ref, full))


def test_a_real_story_log() -> None:
    data = store_file(records("aws.persistence.iam-create-admin-user"))
    ref, entries = resource_log(BACKDOOR_USER, by_resource(changelog_file(data).touches)[BACKDOOR_USER])
    assert ref == ResourceRef(arn=BACKDOOR_USER, type="AWS::IAM::User", account="229654561268", region=None)
    assert [e.change.event_name for e in entries] == ["CreateUser", "AttachUserPolicy", "CreateAccessKey"]
    state = jsonvalue.loads(entries[-1].state_after)
    assert state["attached_policies"] == {"arn:aws:iam::aws:policy/AdministratorAccess": True}
    assert state["exists"] is True and len(state["access_keys"]) == 1
    assert all(e.change.principal and e.change.applied for e in entries)


def test_a_failed_call_is_an_attempt_that_changes_nothing() -> None:
    events = records("aws.persistence.iam-create-user-login-profile")
    arn = "arn:aws:iam::070411556318:user/stratus-red-team-login-profile-user"
    _, entries = resource_log(arn, by_resource(changelog_file(store_file(events)).touches)[arn])
    [failed] = [e for e in entries if not e.change.applied]
    assert failed.change.error_code and failed.change.changes == ()
    assert failed.state_after == entries[failed.sequence - 1].state_after


def test_a_log_does_not_depend_on_touch_order_or_copies(stratus_file: bytes) -> None:
    grouped = by_resource(changelog_file(stratus_file).touches)
    for arn, touches in grouped.items():
        expected = resource_log(arn, touches)
        for seed in range(3):
            shuffled = touches + touches[:1]             # a copy delivered twice
            random.Random(seed).shuffle(shuffled)
            assert resource_log(arn, shuffled) == expected


def test_the_type_most_events_gave_wins() -> None:
    [touch] = [t for t in changelog_file(store_file(records("aws.defense-evasion.cloudtrail-stop"))).touches]
    other = Touch(ref=ResourceRef(arn=touch.ref.arn, type="AWS::Zzz::Other", account=None, region=None),
                  event_time=touch.event_time, event_id="x" + touch.event_id,
                  event=touch.event.replace(b'"eventID":"', b'"eventID":"x'),
                  origin_principal=None, origin_kind=None)
    assert resource_log(touch.ref.arn, [touch, other])[0].type == "AWS::CloudTrail::Trail"      # tie: smallest
    assert resource_log(touch.ref.arn, [other, other, touch])[0].type == "AWS::Zzz::Other"


def test_a_copy_keeps_the_origin_of_the_copy_replayed() -> None:
    [touch] = changelog_file(store_file(records("aws.defense-evasion.cloudtrail-stop"))).touches
    copies = [Touch(ref=touch.ref, event_time=touch.event_time, event_id=touch.event_id, event=touch.event,
                    origin_principal=origin, origin_kind="iam-user") for origin in ("b", "a", "c")]
    _, [entry] = resource_log(touch.ref.arn, copies)
    assert entry.change.origin == "a" and entry.origin_kind == "iam-user"


def test_a_data_event_belongs_to_the_object_not_its_bucket() -> None:
    put = {"eventID": "p", "eventTime": "2024-01-01T00:00:00Z", "eventSource": "s3.amazonaws.com",
           "eventName": "PutObject", "managementEvent": False, "eventCategory": "Data", "readOnly": False,
           "recipientAccountId": "111122223333", "awsRegion": "us-east-1",
           "requestParameters": {"bucketName": "b", "key": "k/1"},
           "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/k/1"},
                         {"accountId": "111122223333", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::b"}]}
    assert {r.type for r in resources_of(put)} == {"AWS::S3::Object", "AWS::S3::Bucket"}
    assert [(r.type, r.arn) for r in written_resources(put)] == [("AWS::S3::Object", "arn:aws:s3:::b/k/1")]
    policy = {**put, "eventName": "PutBucketPolicy", "managementEvent": True, "eventCategory": "Management",
              "resources": [], "requestParameters": {"bucketName": "b", "bucketPolicy": {}}}
    assert [r.type for r in written_resources(policy)] == [r.type for r in resources_of(policy)]
