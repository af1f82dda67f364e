"""Tests of trailbeam.attributed: the fast per-file attribution gives, record for record, what a plain
fastavro encoding of ``attribution.attribute``'s answer gives, on the sample trail and on real records."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from builders import store_file

from trailbeam import avro, cloudtrail, identitystore, storescan, usage
from trailbeam.attributed import attribute_file, issued_in
from trailbeam.attribution import Attribution, Attributor, attribute, build_indexes, grants_from
from trailbeam.sample import write_sample
from trailbeam.sessions import sessions_from


def expected_record(row: dict[str, Any], found: Attribution) -> dict[str, Any]:
    """The AttributedEvent written for a stored event: its columns, then the attribution, field by field."""
    identity = row["userIdentity"]
    return {
        **{name: row[name] for name in ("eventTime", "eventID", "eventName", "eventSource", "awsRegion",
                                        "recipientAccountId", "errorCode", "sourceIPAddress", "userAgent")},
        "identityType": identity["type"], "identityArn": identity["arn"], "identityAccountId": identity["accountId"],
        "accessKeyId": identity["accessKeyId"], "principalId": identity["principalId"],
        "userName": identity["userName"],
        "basis": found.basis, "confidence": found.confidence, "reason": found.reason, "flags": list(found.flags),
        "originKind": found.origin.kind, "originPrincipal": found.origin.principal,
        "originAccessKey": found.origin.access_key, "originResource": found.origin.resource,
        "session": None if found.session is None else identitystore.session_record(found.session),
        "chain": [identitystore.session_record(s) for s in found.chain], "createdBy": list(found.created_by),
    }


def sample_records(tmp: Path, events: int, seed: int) -> list[Any]:
    write_sample(tmp, events=events, seed=seed)
    return [record for path in sorted(tmp.glob("AWSLogs/**/*.json.gz"))
            for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    records = sample_records(tmp_path_factory.mktemp("attributed-sample"), 1500, 11)
    unique = {r["eventID"]: r for r in records}              # the store keeps one copy per eventID
    return sorted(unique.values(), key=lambda r: r["eventID"])


def split_files(records: list[Any], parts: int, seed: int) -> list[bytes]:
    shuffled = records[:]
    random.Random(seed).shuffle(shuffled)
    return [store_file(shuffled[i::parts]) for i in range(parts)]


def check_file(data: bytes, events_by_id: dict[str, Any], attributor: Attributor, indexes: Any) -> Counter[str]:
    result = attribute_file(data, attributor)
    scanned = list(storescan.scan(data))
    assert len(result.records) == len(scanned)
    bases: Counter[str] = Counter()
    for one, record in zip(scanned, result.records):
        event = events_by_id[one.event_id]
        found = attribute(event, indexes)
        assert record == avro.encode(avro.ATTRIBUTED, expected_record(storescan.decode(one), found)), one.event_id
        bases[found.basis] += 1
    return bases


def test_every_record_equals_the_plain_encoding_of_attribute(sample: list[Any]) -> None:
    files = split_files(sample, 3, seed=1)
    issued = [issued_in(data) for data in files]
    sessions = [s for part in issued for s in part.sessions]
    grants = [g for part in issued for g in part.grants]
    assert sorted(sessions, key=repr) == sorted([s for r in sample for s in sessions_from(r)], key=repr)
    assert sorted(grants, key=repr) == sorted([g for r in sample for g in grants_from(r)], key=repr)
    indexes = build_indexes(sessions, grants)
    attributor = Attributor(indexes)
    events_by_id = {r["eventID"]: r for r in sample}
    bases: Counter[str] = Counter()
    for data in files:
        bases += check_file(data, events_by_id, attributor, indexes)
    assert sum(bases.values()) == len(sample)
    assert {"access-key", "long-term", "service"} <= set(bases)


def test_real_records_of_every_fixture_file(fixture_records: list[Any]) -> None:
    events = [record for _, _, record in fixture_records if isinstance(record, dict)]
    unique = list({(e.get("eventID"), json.dumps(e, sort_keys=True, default=str)): e for e in events}.values())
    by_id: dict[str, Any] = {}
    for event in unique:
        by_id.setdefault(event.get("eventID"), event)      # the fixtures repeat a few ids across files
    data = store_file(list(by_id.values()))
    found = issued_in(data)
    indexes = build_indexes(found.sessions, found.grants)
    check_file(data, by_id, Attributor(indexes), indexes)


def test_uses_and_counts_agree_with_per_event_attribution(sample: list[Any]) -> None:
    files = split_files(sample, 2, seed=2)
    issued = [issued_in(data) for data in files]
    indexes = build_indexes([s for p in issued for s in p.sessions], [g for p in issued for g in p.grants])
    attributor = Attributor(indexes)
    results = [attribute_file(data, attributor) for data in files]
    expected: list[usage.CredentialUse] = []
    counts: Counter[str] = Counter()
    for event in sample:
        found = attribute(event, indexes)
        identity = event.get("userIdentity") or {}
        expected.append(usage.use_of(
            credential=identity.get("accessKeyId") or identity.get("arn") or found.origin.principal,
            principal_arn=identity.get("arn"), account=event.get("recipientAccountId"),
            source_ip=event.get("sourceIPAddress"), user_agent=event.get("userAgent"), origin_kind=found.origin.kind,
            origin_principal=found.origin.principal, event_time=cloudtrail.event_time_micros(event),
            event_id=event["eventID"], failed=event.get("errorCode") is not None))
        counts[f"basis:{found.basis}"] += 1
    merged = usage.merge_all([u for r in results for u in r.uses])
    assert merged == usage.merge_all(expected)
    total: Counter[str] = Counter()
    for result in results:
        total.update(result.counts)
    assert total["events"] == len(sample)
    assert {k: v for k, v in total.items() if k.startswith("basis:")} == dict(counts)


def test_issuers_are_the_calls_that_issued_or_granted(sample: list[Any]) -> None:
    data = store_file(sample)
    found = issued_in(data)
    indexes = build_indexes(found.sessions, found.grants)
    result = attribute_file(data, Attributor(indexes))
    issuing = {s.issued_by_event for s in found.sessions} | {g.event_id for g in found.grants}
    assert [event_id for _, event_id, _ in result.issuers] == sorted(
        issuing, key=lambda e: (next(s for s in storescan.scan(data) if s.event_id == e).event_time, e))
    records = {event_id: record for _, event_id, record in result.issuers}
    assert all(record in result.records for record in records.values())


def test_output_does_not_depend_on_cache_state(sample: list[Any]) -> None:
    data = store_file(sample)
    found = issued_in(data)
    indexes = build_indexes(found.sessions, found.grants)
    warm = Attributor(indexes)
    first = attribute_file(data, warm)
    again = attribute_file(data, warm)                      # every identity cached now
    tiny = attribute_file(data, Attributor(indexes, max_cached=1))   # the cache cleared constantly
    assert first.records == again.records == tiny.records
    assert hashlib.sha256(b"".join(first.records)).digest() == hashlib.sha256(b"".join(tiny.records)).digest()
