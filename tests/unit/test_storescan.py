"""Tests of trailbeam.storescan (and avrofile.read_container): every slice the scanner keeps equals what
fastavro decodes from the same bytes, for every fixture event, every codec and every schema version."""

from __future__ import annotations

import hashlib
import io
import random
from array import array
from pathlib import Path
from typing import Any

import fastavro
import pytest

import fixturedata
from trailbeam import avro, avrofile, cloudtrail, errors, jsonvalue, storescan, timestamps
from trailbeam.eventcodec import source_head, source_tail

VERSIONS = Path(__file__).resolve().parents[1] / "fixtures" / "schema_versions"
NATIVE = storescan._native


@pytest.fixture(autouse=True, params=["python", "c"])
def walk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both walks: the Python one and, when built, the C extension."""
    if request.param == "c":
        if NATIVE is None:
            pytest.skip("the C extension trailbeam._storescan is not built")
    else:
        monkeypatch.setattr(storescan, "_native", None)
    return str(request.param)
IDENTITY_FIELDS = ("type", "arn", "accountId", "accessKeyId", "principalId", "userName")


def encoded_fixture_events() -> list[bytes]:
    encoded = []
    for name, position, event in fixturedata.all_records():
        sha = hashlib.sha256(name.encode()).hexdigest()
        head, tail = source_head(f"s3://trail/{name}", sha, sha), source_tail("array", None, "run-1")
        try:
            encoded.append(cloudtrail.encode_event(event, jsonvalue.dumps(event), head, position, tail).data)
        except errors.Rejected:
            continue                  # the store never holds it (quarantined at ingest)
    assert len(encoded) > 250
    return encoded


def hostile_events() -> list[bytes]:
    """Long values (multi-byte lengths), non-ASCII, many resources, absent members, failed calls."""
    events: list[Any] = [
        {"eventID": "h-1", "eventTime": "2024-01-01T00:00:00Z", "eventName": "Put" * 100, "eventSource": "s3.amazonaws.com",
         "userAgent": "ü" * 5000, "sourceIPAddress": "198.51.100.1", "errorCode": "AccessDenied",
         "resources": [{"ARN": f"arn:aws:s3:::b{i}", "type": "AWS::S3::Bucket", "accountId": "1"} for i in range(300)],
         "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/r/" + "s" * 64,
                          "accessKeyId": "ASIAEXAMPLE", "principalId": "AROA:x",
                          "sessionContext": {"attributes": {"creationDate": "2024-01-01T00:00:00Z",
                                                            "mfaAuthenticated": "true"},
                                             "sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::1:role/r"}}}},
        {"eventID": "h-2", "eventTime": "1970-01-01T00:00:00Z", "eventSource": "x", "eventName": "y"},
        {"eventID": "h-3", "eventTime": "2300-05-06T07:08:09.123456Z", "eventSource": "x", "eventName": "y",
         "userIdentity": None, "resources": []},
    ]
    head, tail = source_head("file:///h", "0" * 64, "1" * 64), source_tail("records", "eventbridge", "run-2")
    return [cloudtrail.encode_event(e, jsonvalue.dumps(e), head, i, tail).data for i, e in enumerate(events)]


def container(records: list[bytes], codec: str) -> bytes:
    out = io.BytesIO()
    avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.EVENT), records=records, codec=codec,
                             seed="tests/scan")
    return out.getvalue()


def check_scanned(scanned: storescan.Scanned, row: dict[str, Any]) -> None:
    assert storescan.decode(scanned) == row
    assert (scanned.event_id, scanned.event_time) == (row["eventID"], timestamps.datetime_micros(row["eventTime"]))
    assert storescan.optional_strings(scanned.name_source, 2) == [row["eventName"], row["eventSource"]]
    assert storescan.optional_strings(scanned.place, 3) == [
        row["recipientAccountId"], row["sourceIPAddress"], row["userAgent"]]
    assert scanned.failed == (row["errorCode"] is not None)
    assert scanned.read_only is row["readOnly"]
    assert storescan.original(scanned) == cloudtrail.original_event(row)
    identity = row["userIdentity"]
    assert storescan.optional_strings(scanned.identity, 6) == [identity[f] for f in IDENTITY_FIELDS]


@pytest.mark.parametrize("codec", avrofile.CODECS)
def test_every_fixture_event_scans_like_fastavro_reads_it(codec: str) -> None:
    records = encoded_fixture_events() + hostile_events()
    data = container(records, codec)
    rows = list(fastavro.reader(io.BytesIO(data)))
    scanned = list(storescan.scan(data))
    assert len(scanned) == len(rows) == len(records)
    for one, row, record in zip(scanned, rows, records):
        assert one.record == record
        check_scanned(one, row)


def test_equal_identities_have_equal_bytes_and_different_ones_differ() -> None:
    scanned = list(storescan.scan(container(encoded_fixture_events(), "null")))
    by_bytes: dict[bytes, set[str]] = {}
    for one in scanned:
        row = storescan.decode(one)
        by_bytes.setdefault(one.identity, set()).add(repr(sorted(row["userIdentity"].items())))
    assert all(len(identities) == 1 for identities in by_bytes.values())
    assert len(by_bytes) == len(set().union(*by_bytes.values())) > 20


@pytest.mark.parametrize("version", sorted(int(p.name) for p in VERSIONS.iterdir() if p.name.isdigit()))
def test_files_of_every_frozen_schema_version_scan_in_the_current_layout(version: int) -> None:
    data = (VERSIONS / str(version) / f"events-v{version}.avro").read_bytes()
    rows = list(fastavro.reader(io.BytesIO(data), reader_schema=avro.parsed_schemas()[avro.EVENT]))
    scanned = list(storescan.scan(data))
    assert len(scanned) == len(rows) > 0
    for one, row in zip(scanned, rows):
        check_scanned(one, row)


def test_a_file_of_another_record_type_is_refused() -> None:
    out = io.BytesIO()
    record = avro.encode(avro.SESSION, {"issuedByEvent": "e", "via": "AssumeRole", "issuedAt": 0})
    avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.SESSION), records=[record],
                             codec="null", seed="s")
    with pytest.raises(Exception):
        list(storescan.scan(out.getvalue()))


@pytest.mark.parametrize("codec", avrofile.CODECS)
def test_read_container_returns_the_decompressed_blocks_and_metadata(codec: str) -> None:
    records = hostile_events() * 400                      # several 1 MiB blocks
    out = io.BytesIO()
    avrofile.write_container(out, schema_json='"string"', records=records, codec=codec, seed="s",
                             metadata={"trailbeam.note": "n"})
    found = avrofile.read_container(out.getvalue())
    assert (found.schema_json, found.codec, found.metadata) == ('"string"', codec, {"trailbeam.note": "n"})
    assert len(found.blocks) > 1 and found.count == len(records)
    assert b"".join(block for _, block in found.blocks) == b"".join(records)


@pytest.mark.parametrize("damage", ["magic", "truncated", "sync"])
def test_read_container_rejects_damaged_files(damage: str) -> None:
    out = io.BytesIO()
    avrofile.write_container(out, schema_json='"string"', records=hostile_events(), codec="null", seed="s")
    data = out.getvalue()
    damaged = {"magic": b"Obj\x02" + data[4:], "truncated": data[:-40], "sync": data[:-1] + bytes([data[-1] ^ 1])}
    with pytest.raises(ValueError):
        avrofile.read_container(damaged[damage])


def test_both_walks_find_the_same_offsets_and_refuse_damage_alike() -> None:
    if NATIVE is None:
        pytest.skip("the C extension trailbeam._storescan is not built")
    records = encoded_fixture_events() + hostile_events()
    data = b"".join(records)
    python = array("q")
    storescan._locate(data, len(records), python)
    assert NATIVE.locate(data, len(records)) == python.tobytes()
    # Truncated anywhere, or a count larger than the data holds: both refuse, neither reads past the end.
    for cut in range(0, len(records[0]), 7):
        with pytest.raises(ValueError):
            NATIVE.locate(records[0][:cut], 1)
    with pytest.raises(ValueError):
        NATIVE.locate(data, len(records) + 1)
    rng = random.Random(3)
    for _ in range(300):                                   # random corruption: an answer or ValueError
        damaged = bytearray(records[1])
        damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            offsets = NATIVE.locate(bytes(damaged), 1)
        except ValueError:
            continue
        found = array("q")
        found.frombytes(offsets)
        positions = [v for i, v in enumerate(found) if i % storescan.WIDTH != storescan._TIME]  # not the time
        assert all(0 <= value <= len(damaged) for value in positions)
