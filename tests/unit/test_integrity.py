"""Tests of trailbeam.integrity: each way of tampering with a trail's bucket is detected and named.

Every case builds a fresh two-region bucket (tests/digestchain.py), tampers with us-east-1 and checks
that the expected (kind, subject) findings are there, that nothing else is invalid, and that eu-west-1
stays clean.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from unittest import mock

import pytest

import digestchain as dc
from trailbeam import digests, integrity
from trailbeam.integrity import (
    CHAIN_RESTART, COVERAGE_GAP, DIGEST_CHAIN_BROKEN, DIGEST_FORGED, DIGEST_MISSING, DIGEST_MOVED,
    DIGEST_UNKNOWN_KEY, DIGEST_UNREADABLE, DIGEST_UNSIGNED, DIGEST_VALID, INVALID, LOG_MISSING, LOG_MODIFIED,
    LOG_NOT_COVERED, LOG_TRAILING_DATA, LOG_UNREADABLE, LOG_UNVERIFIED, LOG_VALID, NEWEST_DIGEST_MISSING, WARNING,
    DigestObject, LogHash, Report,
)

EAST, WEST = "us-east-1", "eu-west-1"
HOURS = 6


@dataclass
class Expect:
    """Findings a tampering must produce: (kind, subject URI), plus the kinds it may add besides."""

    invalid: list[tuple[str, str]]
    also: frozenset[str] = frozenset()
    warnings: list[tuple[str, str]] = field(default_factory=list)


def digest(bucket: dc.TrailBucket, hour: int) -> str:
    return bucket.uri(bucket.digest_key(EAST, hour))


def log(bucket: dc.TrailBucket, hour: int, index: int = 0) -> str:
    return bucket.uri(bucket.log_key(EAST, hour, index))


def hour_logs(bucket: dc.TrailBucket, hour: int) -> list[tuple[str, str]]:
    return [(LOG_NOT_COVERED, bucket.uri(key)) for key in bucket.logs[EAST][hour]]


def gap_folder(bucket: dc.TrailBucket) -> str:
    return bucket.uri(f"AWSLogs/{dc.ACCOUNT}/CloudTrail-Digest/{EAST}/")


def change_a_log_byte(b: dc.TrailBucket) -> Expect:
    dc.change_log_byte(b, b.log_key(EAST, 2, 1))
    return Expect([(LOG_MODIFIED, log(b, 2, 1))])


def flip_a_gzip_byte(b: dc.TrailBucket) -> Expect:
    dc.flip_gzip_byte(b, b.log_key(EAST, 2))
    return Expect([(LOG_UNREADABLE, log(b, 2))])


def delete_a_log(b: dc.TrailBucket) -> Expect:
    dc.delete(b, b.log_key(EAST, 1))
    return Expect([(LOG_MISSING, log(b, 1))])


def add_a_log(b: dc.TrailBucket) -> Expect:
    key = dc.add_log(b, EAST, 3)
    return Expect([(LOG_NOT_COVERED, b.uri(key))])


def append_gzip_data(b: dc.TrailBucket) -> Expect:
    dc.append_gzip_member(b, b.log_key(EAST, 4))
    return Expect([(LOG_TRAILING_DATA, log(b, 4))])


def edit_a_digest(b: dc.TrailBucket) -> Expect:
    dc.edit_digest(b, b.digest_key(EAST, 3), dc.alter_log_hash)
    return Expect([(DIGEST_FORGED, digest(b, 3)), (DIGEST_CHAIN_BROKEN, digest(b, 4))],
                  warnings=[(LOG_UNVERIFIED, log(b, 3))])


def resign_with_another_key(b: dc.TrailBucket) -> Expect:
    """The attacker hides a log file, names their own key and signs: the key is unknown."""
    dc.edit_digest(b, b.digest_key(EAST, 2), dc.use_attacker_fingerprint, signer="attacker")
    return Expect([(DIGEST_UNKNOWN_KEY, digest(b, 2)), (DIGEST_CHAIN_BROKEN, digest(b, 3)),
                   (LOG_NOT_COVERED, log(b, 2, 0))])


def resign_keeping_the_fingerprint(b: dc.TrailBucket) -> Expect:
    dc.edit_digest(b, b.digest_key(EAST, 2), dc.drop_log_entry, signer="attacker")
    return Expect([(DIGEST_FORGED, digest(b, 2)), (DIGEST_CHAIN_BROKEN, digest(b, 3)),
                   (LOG_NOT_COVERED, log(b, 2, 0))])


def replace_a_signature(b: dc.TrailBucket) -> Expect:
    dc.replace_signature(b, b.digest_key(EAST, 1))
    return Expect([(DIGEST_FORGED, digest(b, 1)), (DIGEST_CHAIN_BROKEN, digest(b, 2))])


def delete_two_consecutive_digests(b: dc.TrailBucket) -> Expect:
    expected = [(DIGEST_MISSING, digest(b, 2)), (DIGEST_MISSING, digest(b, 3)), (COVERAGE_GAP, gap_folder(b))]
    expected += hour_logs(b, 2) + hour_logs(b, 3)   # the log files they listed are reported, not skipped
    dc.delete(b, b.digest_key(EAST, 2))
    dc.delete(b, b.digest_key(EAST, 3))
    return Expect(expected)


def delete_the_newest_digest(b: dc.TrailBucket) -> Expect:
    expected = [(NEWEST_DIGEST_MISSING, digest(b, 5)), (COVERAGE_GAP, gap_folder(b))] + hour_logs(b, 5)
    dc.delete(b, b.digest_key(EAST, 5))
    return Expect(expected)


def delete_the_oldest_digest(b: dc.TrailBucket) -> Expect:
    expected = [(DIGEST_MISSING, digest(b, 0)), (COVERAGE_GAP, gap_folder(b))] + hour_logs(b, 0)
    dc.delete(b, b.digest_key(EAST, 0))
    return Expect(expected)


def copy_a_digest(b: dc.TrailBucket) -> Expect:
    elsewhere = b.digest_key(EAST, 2).replace("main_trail", "other_trail")
    dc.copy(b, b.digest_key(EAST, 2), elsewhere)
    return Expect([(DIGEST_MOVED, b.uri(elsewhere))])


def move_a_digest(b: dc.TrailBucket) -> Expect:
    elsewhere = "archive/" + b.digest_key(EAST, 2)
    expected = [(DIGEST_MOVED, b.uri(elsewhere)), (DIGEST_MISSING, digest(b, 2)), (COVERAGE_GAP, gap_folder(b))]
    dc.move(b, b.digest_key(EAST, 2), elsewhere)
    return Expect(expected + hour_logs(b, 2))


def remove_the_newest_signature(b: dc.TrailBucket) -> Expect:
    dc.remove_signature(b, b.digest_key(EAST, 5))
    return Expect([(DIGEST_UNSIGNED, digest(b, 5))], warnings=[(LOG_UNVERIFIED, log(b, 5))])


def corrupt_a_digest(b: dc.TrailBucket) -> Expect:
    dc.flip_gzip_byte(b, b.digest_key(EAST, 3))
    expected = [(DIGEST_UNREADABLE, digest(b, 3)), (COVERAGE_GAP, gap_folder(b))] + hour_logs(b, 3)
    return Expect(expected)


TAMPERING: list[Callable[[dc.TrailBucket], Expect]] = [
    change_a_log_byte, flip_a_gzip_byte, delete_a_log, add_a_log, append_gzip_data, edit_a_digest,
    resign_with_another_key, resign_keeping_the_fingerprint, replace_a_signature, delete_two_consecutive_digests,
    delete_the_newest_digest, delete_the_oldest_digest, copy_a_digest, move_a_digest, remove_the_newest_signature,
    corrupt_a_digest,
]


def pairs(report: Report, severity: str) -> set[tuple[str, str]]:
    return {(f.kind, f.subject) for f in report.findings if f.severity == severity}


@pytest.fixture
def bucket() -> dc.TrailBucket:
    return dc.build_bucket(regions=(EAST, WEST), hours=HOURS)


def test_untouched_bucket_is_valid(bucket: dc.TrailBucket) -> None:
    log_count = sum(len(keys) for region in bucket.logs.values() for keys in region.values())
    for bounds in ({}, {"start": bucket.start, "end": bucket.end}):
        report = bucket.verify(**bounds)
        assert report.ok
        assert Counter(f.kind for f in report.findings) == {DIGEST_VALID: 2 * HOURS, LOG_VALID: log_count}


@pytest.mark.parametrize("tamper", TAMPERING, ids=[t.__name__ for t in TAMPERING])
def test_tampering_is_detected_and_named(bucket: dc.TrailBucket, tamper: Callable[[dc.TrailBucket], Expect]) -> None:
    expect = tamper(bucket)
    report = bucket.verify(start=bucket.start, end=bucket.end)
    invalid = pairs(report, INVALID)
    assert not report.ok
    assert set(expect.invalid) <= invalid
    assert {kind for kind, _ in invalid} <= {kind for kind, _ in expect.invalid} | expect.also
    assert set(expect.warnings) <= pairs(report, WARNING)
    assert [f for f in report.findings if f.region == WEST and f.severity != "ok"] == []


def test_deleted_digests_are_named_exactly_and_their_logs_attributed(bucket: dc.TrailBucket) -> None:
    named = bucket.digest_key(EAST, 3)
    inferred = bucket.digest_key(EAST, 2)
    delete_two_consecutive_digests(bucket)
    report = bucket.verify(start=bucket.start, end=bucket.end)
    by_subject = {f.subject: f for f in report.of_kind(DIGEST_MISSING)}
    assert "named as previous digest by" in by_subject[bucket.uri(named)].detail
    assert "inferred from the hourly cadence" in by_subject[bucket.uri(inferred)].detail
    (first_log, *_) = bucket.logs[EAST][2]
    (finding,) = [f for f in report.of_kind(LOG_NOT_COVERED) if f.subject == bucket.uri(first_log)]
    assert finding.detail.endswith(bucket.uri(inferred)) and finding.trail == dc.TRAIL
    (gap,) = report.of_kind(COVERAGE_GAP)
    assert "2024-05-01T02:01:31Z to 2024-05-01T04:01:31Z (2h00m)" in gap.detail


def test_newest_digest_deletion_needs_an_end_bound_or_later_evidence(bucket: dc.TrailBucket) -> None:
    dc.delete(bucket, bucket.digest_key(EAST, 5))
    without_end = bucket.verify()
    # Its log files may simply await the next digest: they are reported, as warnings.
    assert without_end.ok and set(hour_logs(bucket, 5)) <= pairs(without_end, WARNING)
    # A log file delivered well after that digest was due proves it was due.
    late = dc.add_log(bucket, EAST, 6)
    report = bucket.verify()
    assert (NEWEST_DIGEST_MISSING, digest(bucket, 5)) in pairs(report, INVALID)
    assert (LOG_NOT_COVERED, bucket.uri(late)) in pairs(report, WARNING)


def test_a_digest_whose_signature_metadata_was_lost_is_verified_through_the_next_digest(
        bucket: dc.TrailBucket) -> None:
    dc.remove_signature(bucket, bucket.digest_key(EAST, 2))
    report = bucket.verify()
    assert report.ok
    (finding,) = [f for f in report.of_kind(DIGEST_VALID) if f.subject == digest(bucket, 2)]
    assert "previousDigestSignature" in finding.detail


def test_chain_restart_is_a_warning_with_its_gap() -> None:
    bucket = dc.build_bucket(regions=(EAST,), hours=7, restart_at=5, off_hours=2)
    report = bucket.verify(start=bucket.start, end=bucket.end)
    assert report.ok
    (restart,) = report.of_kind(CHAIN_RESTART)
    assert (restart.subject, restart.severity) == (digest(bucket, 5), WARNING)
    assert "2h00m after" in restart.detail and digest(bucket, 2) in restart.detail
    (gap,) = report.of_kind(COVERAGE_GAP)
    assert gap.severity == WARNING and "logging or validation was off" in gap.detail
    assert Counter(f.kind for f in report.findings)[DIGEST_VALID] == 5


def test_restart_gap_hides_no_deletion_but_logs_in_it_are_reported() -> None:
    bucket = dc.build_bucket(regions=(EAST,), hours=7, restart_at=5, off_hours=2)
    planted = dc.add_log(bucket, EAST, 3)   # in the gap: delivered while validation was off
    report = bucket.verify(start=bucket.start, end=bucket.end)
    (finding,) = report.of_kind(LOG_NOT_COVERED)
    assert (finding.subject, finding.severity) == (bucket.uri(planted), WARNING)
    assert "validation was off" in finding.detail


def test_backfill_digests_cover_late_logs_outside_the_cadence(bucket: dc.TrailBucket) -> None:
    backfill, late = dc.add_backfill(bucket, EAST, 2)
    report = bucket.verify(start=bucket.start, end=bucket.end)
    assert report.ok
    assert (DIGEST_VALID, bucket.uri(backfill)) in pairs(report, "ok")
    assert (LOG_VALID, bucket.uri(late)) in pairs(report, "ok")
    assert report.of_kind(CHAIN_RESTART, COVERAGE_GAP, DIGEST_MISSING) == []


def test_keys_not_valid_at_the_digest_time_are_unknown(bucket: dc.TrailBucket) -> None:
    bucket.keys_document = dc.public_keys_document("aws", valid_from=dc.FIRST + dc.HOUR * 100)
    report = bucket.verify()
    assert {f.kind for f in report.findings if f.severity == INVALID} == {DIGEST_UNKNOWN_KEY}
    assert {f.kind for f in report.findings if f.severity == WARNING} == {LOG_UNVERIFIED}


def test_out_of_range_findings_are_left_out(bucket: dc.TrailBucket) -> None:
    dc.change_log_byte(bucket, bucket.log_key(EAST, 0))
    start = bucket.start + 2 * digests.HOUR
    report = bucket.verify(start=start, end=bucket.end)
    assert report.ok and all(f.hour is None or f.hour >= start - digests.HOUR for f in report.findings)
    assert Counter(f.kind for f in report.findings)[DIGEST_VALID] == 2 * (HOURS - 2)


def test_logs_may_come_from_a_function(bucket: dc.TrailBucket) -> None:
    hashes = bucket.log_hashes()
    asked: list[tuple[str, str]] = []

    def lookup(name: str, key: str) -> LogHash | None:
        asked.append((name, key))
        return hashes.get((name, key))

    keys = digests.parse_public_keys(bucket.keys_document)
    report = integrity.verify(bucket.digest_objects(), lookup, list(hashes), keys)
    assert report.ok and sorted(asked) == sorted(hashes)


def test_log_listed_as_present_without_a_hash_is_unreadable(bucket: dc.TrailBucket) -> None:
    hashes = bucket.log_hashes()
    missing = (dc.BUCKET, bucket.log_key(EAST, 1))
    keys = digests.parse_public_keys(bucket.keys_document)
    report = integrity.verify(bucket.digest_objects(), {k: v for k, v in hashes.items() if k != missing},
                              list(hashes), keys)
    assert pairs(report, INVALID) == {(LOG_UNREADABLE, bucket.uri(missing[1]))}


def test_log_hash_reports_problems() -> None:
    content = json.dumps({"Records": []}).encode()
    assert integrity.log_hash("b", "k", gzip.compress(content)).problem is None
    trailing = integrity.log_hash("b", "k", gzip.compress(content) + b"\n")
    assert (trailing.problem, trailing.detail) == ("gzip_trailing_data", "1 bytes after the end of the gzip stream")
    assert trailing.sha256 is not None
    broken = integrity.log_hash("b", "k", gzip.compress(content)[:-3])
    assert (broken.sha256, broken.problem) == (None, "corrupt_gzip")


def test_report_json_is_deterministic_and_summarised(bucket: dc.TrailBucket) -> None:
    dc.delete(bucket, bucket.log_key(EAST, 1))
    objects = bucket.digest_objects()
    keys = digests.parse_public_keys(bucket.keys_document)
    forward = integrity.verify(objects, bucket.log_hashes(), None, keys)
    backward = integrity.verify(list(reversed(objects)), dict(reversed(bucket.log_hashes().items())), None, keys)
    assert forward.to_json() == backward.to_json()
    document = json.loads(forward.to_json())
    assert document["ok"] is False
    hour_one = [s for s in document["summaries"] if s["region"] == EAST and s["hour"] == "2024-05-01T01:00:00Z"]
    assert hour_one == [{"account": dc.ACCOUNT, "region": EAST, "trail": dc.TRAIL, "hour": "2024-05-01T01:00:00Z",
                         "status": INVALID, "counts": {DIGEST_VALID: 1, LOG_MISSING: 1, LOG_VALID: 1}}]


def test_duplicate_and_unparseable_inputs_do_not_raise() -> None:
    odd = [DigestObject(bucket="b", key="not/a/digest.json.gz", data=b"\x1f\x8b junk", signature=None,
                        algorithm=None)] * 2
    report = integrity.verify(odd, {}, [("b", "AWSLogs/1/CloudTrail/us-east-1/2024/05/01/no-time.json.gz")])
    assert {(f.kind, f.severity) for f in report.findings} == {(LOG_NOT_COVERED, WARNING), (DIGEST_UNREADABLE, INVALID)}


# ---- Verifying per chain scope and merging: the same report as one call -------------------------------

OTHER_ACCOUNT = "444455556666"
ORG = "o-abcdefghij"


@dataclass
class Evidence:
    """What ``verify`` is given: digest objects, log hashes, the log files present (None: the hashed ones)."""

    objects: list[DigestObject]
    hashes: dict[integrity.Location, LogHash]
    keys: list[digests.PublicKey]
    present: list[integrity.Location] | None = None
    window: tuple[int, int] = (0, 0)   # the bucket's (start, end)


def evidence_of(bucket: dc.TrailBucket) -> Evidence:
    return Evidence(bucket.digest_objects(), bucket.log_hashes(), digests.parse_public_keys(bucket.keys_document),
                    window=(bucket.start, bucket.end))


def verify_at_once(evidence: Evidence, **bounds: int | None) -> Report:
    return integrity.verify(evidence.objects, evidence.hashes, evidence.present, evidence.keys, **bounds)


def scope_groups(evidence: Evidence, *, join: bool = True) -> dict[integrity.Scope, Evidence]:
    """The evidence split as the verify pipeline splits it: by the (joined) chain scope of each object's key."""
    links = [link for obj in evidence.objects for link in integrity.scope_links(obj)]
    joined = integrity.join_scopes(links) if join else {}
    present = list(evidence.hashes) if evidence.present is None else evidence.present
    groups: dict[integrity.Scope, Evidence] = {}

    def group(key: str) -> Evidence:
        return groups.setdefault(integrity.group_of(key, joined), Evidence([], {}, evidence.keys, []))

    for obj in evidence.objects:
        group(obj.key).objects.append(obj)
    for location, found in evidence.hashes.items():
        group(location[1]).hashes[location] = found
    for location in present:
        part = group(location[1])
        assert part.present is not None
        part.present.append(location)
    return groups


def verify_by_scope(evidence: Evidence, *, join: bool = True, **bounds: int | None) -> Report:
    # Each group in reverse order: within a Beam group the order is arbitrary.
    return integrity.merge_reports(
        integrity.verify(list(reversed(part.objects)), dict(reversed(part.hashes.items())), part.present,
                         part.keys, **bounds)
        for part in reversed(scope_groups(evidence, join=join).values()))


def with_account(account: str, build: Callable[[], dc.TrailBucket]) -> dc.TrailBucket:
    with mock.patch.object(dc, "ACCOUNT", account):
        return build()


def combined(*parts: dc.TrailBucket) -> dc.TrailBucket:
    """One bucket holding the objects of several trails' buckets (the parts keep the key indexes)."""
    whole = dc.TrailBucket(bucket=dc.BUCKET, regions=parts[0].regions, first_hour=parts[0].first_hour,
                           last_hour=max(part.last_hour for part in parts))
    for part in parts:
        whole.objects.update(part.objects)
        whole.metadata.update(part.metadata)
    return whole


def two_accounts(hours: int = HOURS) -> tuple[dc.TrailBucket, dc.TrailBucket, dc.TrailBucket]:
    """(the bucket, account 1's part, account 2's part): two accounts x two regions, one trail each."""
    first = dc.build_bucket(regions=(EAST, WEST), hours=hours)
    second = with_account(OTHER_ACCOUNT, lambda: dc.build_bucket(regions=(EAST, WEST), hours=hours))
    return combined(first, second), first, second


def under_org(bucket: dc.TrailBucket, org: str = ORG) -> dc.TrailBucket:
    """The trail delivered as an organization trail: keys under AWSLogs/<org>/, digests re-chained and re-signed."""
    def rename(key: str) -> str:
        return key.replace("AWSLogs/", f"AWSLogs/{org}/", 1)

    moved = dc.TrailBucket(bucket=bucket.bucket, regions=bucket.regions, first_hour=bucket.first_hour,
                           last_hour=bucket.last_hour)
    moved.objects = {rename(key): data for key, data in bucket.objects.items() if "/CloudTrail/" in key}
    for region in bucket.regions:
        moved.logs[region] = {hour: [rename(key) for key in keys] for hour, keys in bucket.logs[region].items()}
        moved.digests[region] = {}
        previous: tuple[str, str, str] | None = None
        for hour, key in sorted(bucket.digests[region].items()):
            document = bucket.digest_document(key)
            document["digestS3Object"] = rename(key)
            for entry in document["logFiles"]:
                entry["s3Object"] = rename(entry["s3Object"])
            if document["previousDigestS3Object"] is not None and previous is not None:
                (document["previousDigestS3Object"], document["previousDigestHashValue"],
                 document["previousDigestSignature"]) = previous
            signature = moved.put_digest(rename(key), document)
            moved.digests[region][hour] = rename(key)
            previous = (rename(key), hashlib.sha256(json.dumps(document).encode()).hexdigest(), signature)
    return moved


def tampered(tamper: Callable[[dc.TrailBucket], Expect]) -> Callable[[], Evidence]:
    def scenario() -> Evidence:
        bucket = dc.build_bucket(regions=(EAST, WEST), hours=HOURS)
        tamper(bucket)
        return evidence_of(bucket)
    scenario.__name__ = tamper.__name__
    return scenario


def untouched() -> Evidence:
    return evidence_of(dc.build_bucket(regions=(EAST, WEST), hours=HOURS))


def restarted_with_a_log_in_the_gap() -> Evidence:
    bucket = dc.build_bucket(regions=(EAST,), hours=7, restart_at=5, off_hours=2)
    dc.add_log(bucket, EAST, 3)
    return evidence_of(bucket)


def backfilled() -> Evidence:
    bucket = dc.build_bucket(regions=(EAST, WEST), hours=HOURS)
    dc.add_backfill(bucket, EAST, 2)
    return evidence_of(bucket)


def keys_not_yet_valid() -> Evidence:
    bucket = dc.build_bucket(regions=(EAST, WEST), hours=HOURS)
    bucket.keys_document = dc.public_keys_document("aws", valid_from=dc.FIRST + dc.HOUR * 100)
    return evidence_of(bucket)


def signature_from_the_next_digest() -> Evidence:
    bucket = dc.build_bucket(regions=(EAST, WEST), hours=HOURS)
    dc.remove_signature(bucket, bucket.digest_key(EAST, 2))
    return evidence_of(bucket)


def newest_digest_deleted_and_a_late_log() -> Evidence:
    bucket = dc.build_bucket(regions=(EAST, WEST), hours=HOURS)
    dc.delete(bucket, bucket.digest_key(EAST, 5))
    dc.add_log(bucket, EAST, 6)   # only in us-east-1: eu-west-1's chain must not take its time as a bound
    return evidence_of(bucket)


def region_without_digests() -> Evidence:
    """eu-west-1's digests are all deleted: its log files form groups with no digest at all."""
    bucket = dc.build_bucket(regions=(EAST, WEST), hours=HOURS)
    for key in bucket.digests[WEST].values():
        dc.delete(bucket, key)
    dc.add_log(bucket, WEST, 6)
    return evidence_of(bucket)


def no_digest_anywhere() -> Evidence:
    bucket = dc.build_bucket(regions=(EAST, WEST), hours=HOURS)
    for key in [key for key in bucket.objects if "/CloudTrail-Digest/" in key]:
        dc.delete(bucket, key)
    return evidence_of(bucket)


def two_accounts_two_regions() -> Evidence:
    return evidence_of(two_accounts()[0])


def two_accounts_tampered_everywhere() -> Evidence:
    """A modified log, a missing digest, a forged signature and an unlisted log, each in another scope,
    and one region of the second account without any digest."""
    bucket, first, second = two_accounts()
    dc.change_log_byte(bucket, first.log_key(EAST, 2))
    dc.delete(bucket, first.digest_key(WEST, 3))
    dc.replace_signature(bucket, second.digest_key(EAST, 1))
    with mock.patch.object(dc, "ACCOUNT", OTHER_ACCOUNT):
        dc.add_log(bucket, EAST, 4)
        dc.add_log(bucket, WEST, 2)
    for key in second.digests[WEST].values():
        dc.delete(bucket, key)
    return evidence_of(bucket)


def digest_lists_another_regions_log() -> Evidence:
    bucket = dc.build_bucket(regions=(EAST, WEST), hours=HOURS)
    foreign = bucket.digest_document(bucket.digest_key(WEST, 2))["logFiles"][0]
    dc.edit_digest(bucket, bucket.digest_key(EAST, 2), lambda document: document["logFiles"].append(foreign),
                   signer="aws")
    dc.delete(bucket, bucket.digest_key(WEST, 2))   # the foreign log file is left unlisted in its own scope
    return evidence_of(bucket)


def digest_names_another_accounts_previous() -> Evidence:
    bucket, first, second = two_accounts()
    missing = second.digest_key(WEST, 3).replace("T04", "T07")

    def relink(key: str, target: str) -> None:
        dc.edit_digest(bucket, key, lambda document: document.update(previousDigestS3Object=target))

    relink(first.digest_key(EAST, 3), second.digest_key(EAST, 2))   # present in the other account
    relink(first.digest_key(WEST, 3), missing)                      # absent: a missing digest of the other chain
    dc.remove_signature(bucket, second.digest_key(EAST, 2))         # its signature now comes from the link
    return evidence_of(bucket)


def org_trail_beside_the_accounts_trail() -> Evidence:
    """The account's own trail and an org trail in one bucket, same account and regions; the org trail's
    us-east-1 digests are all deleted, and a log file is planted under each."""
    own = dc.build_bucket(regions=(EAST, WEST), hours=HOURS)
    org = under_org(dc.build_bucket(regions=(EAST, WEST), hours=HOURS))
    for key in org.digests[EAST].values():
        dc.delete(org, key)
    dc.delete(org, org.digest_key(WEST, 2))
    planted = dc.add_log(own, EAST, 3)
    org.objects[planted.replace("AWSLogs/", f"AWSLogs/{ORG}/", 1)] = own.objects[planted]
    return evidence_of(combined(own, org))


def present_without_a_hash() -> Evidence:
    bucket = dc.build_bucket(regions=(EAST, WEST), hours=HOURS)
    evidence = evidence_of(bucket)
    evidence.present = list(evidence.hashes)
    del evidence.hashes[dc.BUCKET, bucket.log_key(EAST, 1)]
    return evidence


def unparseable_and_unscoped() -> Evidence:
    bucket = dc.build_bucket(regions=(EAST, WEST), hours=2)
    evidence = evidence_of(bucket)
    evidence.objects += [DigestObject(bucket="b", key="not/a/digest.json.gz", data=b"\x1f\x8b junk", signature=None,
                                      algorithm=None)] * 2
    evidence.hashes["b", "exports/copy.json.gz"] = integrity.log_hash("b", "exports/copy.json.gz", b"")
    evidence.present = [*evidence.hashes, ("b", "AWSLogs/1/CloudTrail/us-east-1/2024/05/01/no-time.json.gz")]
    return evidence


SCENARIOS: list[Callable[[], Evidence]] = [
    untouched, *(tampered(t) for t in TAMPERING), restarted_with_a_log_in_the_gap, backfilled, keys_not_yet_valid,
    signature_from_the_next_digest, newest_digest_deleted_and_a_late_log, region_without_digests, no_digest_anywhere,
    two_accounts_two_regions, two_accounts_tampered_everywhere, digest_lists_another_regions_log,
    digest_names_another_accounts_previous, org_trail_beside_the_accounts_trail, present_without_a_hash,
    unparseable_and_unscoped,
]


@pytest.mark.parametrize("bounded", [False, True], ids=["unbounded", "start-end"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_verifying_per_scope_and_merging_is_one_verify_call(scenario: Callable[[], Evidence], bounded: bool) -> None:
    evidence = scenario()
    bounds = dict(zip(("start", "end"), evidence.window)) if bounded else {}
    assert verify_by_scope(evidence, **bounds).to_json() == verify_at_once(evidence, **bounds).to_json()


def test_each_group_holds_one_scope() -> None:
    bucket, _, _ = two_accounts()
    groups = scope_groups(evidence_of(bucket))
    assert sorted(groups) == sorted(("", account, region) for account in (dc.ACCOUNT, OTHER_ACCOUNT)
                                    for region in (EAST, WEST))
    for scope, part in groups.items():
        keys = [obj.key for obj in part.objects] + [key for _, key in part.hashes]
        assert len(part.objects) == HOURS and {integrity.scope_of(key) for key in keys} == {scope}


@pytest.mark.parametrize("scenario", [digest_lists_another_regions_log, digest_names_another_accounts_previous],
                         ids=lambda s: s.__name__)
def test_digests_naming_another_scope_join_the_scopes(scenario: Callable[[], Evidence]) -> None:
    evidence = scenario()
    at_once = verify_at_once(evidence).to_json()
    assert len(scope_groups(evidence)) < len(scope_groups(evidence, join=False))
    assert verify_by_scope(evidence, join=False).to_json() != at_once   # why scopes are joined
    assert verify_by_scope(evidence).to_json() == at_once


def test_scope_of_keeps_org_ids_apart() -> None:
    log_key = dc.build_bucket(hours=1).log_key(EAST, 0)
    digest_key = dc.build_bucket(hours=1).digest_key(EAST, 0)
    assert integrity.scope_of(log_key) == integrity.scope_of(digest_key) == ("", dc.ACCOUNT, EAST)
    for key in (log_key, digest_key):
        assert integrity.scope_of(key.replace("AWSLogs/", f"AWSLogs/{ORG}/")) == (ORG, dc.ACCOUNT, EAST)
    assert integrity.scope_of("AWSLogs/1/CloudTrail-Insight/x/2024/05/01/f.json.gz") == ("", "1", "x")
    assert integrity.scope_of("archive/export.json.gz") == integrity.UNSCOPED


def test_an_org_trails_log_files_are_not_judged_by_the_accounts_own_trail() -> None:
    """The org trail's us-east-1 digests are gone: its log files are listed by no digest of their scope, even
    though the account's own trail has digests for the same account, region and hours."""
    report = verify_at_once(org_trail_beside_the_accounts_trail())
    org_logs = [f for f in report.of_kind(LOG_NOT_COVERED) if f"AWSLogs/{ORG}/" in f.subject and f.region == EAST]
    assert org_logs and {(f.severity, f.detail) for f in org_logs} == {
        (WARNING, "listed by no digest: no digest of its account and region is present")}
    (own,) = [f for f in report.of_kind(LOG_NOT_COVERED) if f"AWSLogs/{ORG}/" not in f.subject]
    assert own.severity == INVALID and "added or replaced after delivery" in own.detail


def test_merged_reports_are_sorted_and_summarised_as_one() -> None:
    report = verify_at_once(two_accounts_tampered_everywhere())
    halves = [Report(report.findings[1::2]), Report(report.findings[::2]), Report(report.findings[:3])]
    merged = integrity.merge_reports(halves)
    assert merged == report and merged.summaries == report.summaries
    assert integrity.merge_reports([]).to_json() == integrity.verify([], {}).to_json()
