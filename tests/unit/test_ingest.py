"""Tests of trailbeam.ingest: one object in, its encoded events per partition-hour, quarantine and report out."""

from __future__ import annotations

import gzip
import hashlib
import re
from datetime import datetime, timezone
from typing import Any

import pytest
from fastavro.validation import validate

import fixturedata
from trailbeam import avro, cloudtrail, errors, ingest, jsonvalue

UTC = timezone.utc
RUN = "20240501T120000Z-test"
DEFAULT = "__HIVE_DEFAULT_PARTITION__"
PATH_ACCOUNT, PATH_REGION = "999988887777", "eu-west-3"
S3_URI = (f"s3://trail/AWSLogs/{PATH_ACCOUNT}/CloudTrail/{PATH_REGION}/2024/05/01/"
          f"{PATH_ACCOUNT}_CloudTrail_{PATH_REGION}_20240501T1200Z_x.json.gz")
LOCAL_URI = "/cases/42/export.json"
QUARANTINE_SCHEMA = avro.parsed_schemas()[avro.QUARANTINE]


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def event(event_id: str = "e-1", **members: Any) -> dict[str, Any]:
    return {"eventVersion": "1.09", "eventID": event_id, "eventTime": "2024-05-01T12:00:00Z",
            "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "us-east-1",
            "recipientAccountId": "111122223333", **members}


def records_file(*values: Any) -> bytes:
    return jsonvalue.dumps({"Records": list(values)})


def stored(result: ingest.FileResult) -> list[tuple[str, tuple[int, str], dict[str, Any]]]:
    """(group key, (micros, eventID) of the entry, decoded record) of every event, in file order."""
    found = [(key, (micros, event_id), avro.decode(avro.EVENT, data))
             for key, entries in result.events.items() for micros, event_id, data in entries]
    return sorted(found, key=lambda item: item[2]["source"]["position"])


def expected_key(record: dict[str, Any], account: str | None, region: str | None) -> str:
    """Independent reference for the partition-hour of a record (values here need no escaping)."""
    moment = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")).astimezone(UTC)
    # Only the event decides: identical copies read from different places must share a partition.
    account = record.get("recipientAccountId") or DEFAULT
    region = record.get("awsRegion") or DEFAULT
    assert re.fullmatch(r"[A-Za-z0-9_-]+", account + region)
    return f"account={account}/region={region}/date={moment:%Y-%m-%d}#{moment:%H}"


# ---- every fixture file, as an array and as a gzipped S3 log file ----------------------------------------------

FILES = fixturedata.fixture_files()
AWSDOCS = fixturedata.AWSDOCS_EXAMPLES.name


def _as_array(path: Any) -> bytes:
    data = path.read_bytes()  # the Stratus files are arrays already: ingest them byte for byte
    return data if data.lstrip().startswith(b"[") else jsonvalue.dumps(fixturedata.records_in(path))


VARIANTS = {
    # name: (bytes of the object, its uri, shape, account and region of the path, content)
    "array": lambda path: (_as_array(path), LOCAL_URI, "array", None, None, _as_array(path)),
    "records-gzip": lambda path: (gz(jsonvalue.dumps({"Records": fixturedata.records_in(path)})), S3_URI,
                                  "records", PATH_ACCOUNT, PATH_REGION,
                                  jsonvalue.dumps({"Records": fixturedata.records_in(path)})),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_fixture_file(path, variant):
    data, uri, shape, account, region, content = VARIANTS[variant](path)
    records = fixturedata.records_in(path)
    result = ingest.ingest_bytes(uri, data, run_id=RUN)

    without_id = [i for i, r in enumerate(records) if "eventID" not in r]
    assert without_id == (list(range(11, 16)) if path.name == AWSDOCS else [])
    report = result.report
    assert (report.records, report.events, report.quarantined, report.rejected) == (
        len(records), len(records) - len(without_id), len(without_id), False)
    assert (report.uri, report.size, report.sha256, report.content_sha256, report.shape, report.kind) == (
        uri, len(data), sha256(data), sha256(content), shape, "log" if uri == S3_URI else "other")
    assert [(q["reason"], q["position"]) for q in result.quarantine] == [
        (errors.MISSING_EVENT_ID, i) for i in without_id]

    events = stored(result)
    assert [record["source"]["position"] for _, _, record in events] == [
        i for i in range(len(records)) if i not in without_id]
    for key, (micros, event_id), record in events:
        position = record["source"]["position"]
        original = records[position]
        assert record["source"] == {"uri": uri, "sha256": sha256(data), "contentSha256": sha256(content),
                                    "position": position, "shape": shape, "wrapper": None, "ingestRun": RUN}
        assert cloudtrail.original_event(record) == original
        assert key == expected_key(original, account, region)
        assert (micros, event_id) == (cloudtrail.event_time_micros(original), original["eventID"])
        assert (record["copies"], record["conflict"]) == (1, False)
    assert result.encoded_bytes == sum(len(data) for entries in result.events.values() for _, _, data in entries)


def test_report_size_is_the_size_of_the_object():
    data = gz((fixturedata.STRATUS / "aws.persistence.sts-federation-token.json").read_bytes())
    assert ingest.ingest_bytes(LOCAL_URI, data, run_id=RUN).report.size == len(data)


# ---- partition-hour keys ------------------------------------------------------------------------------------------

KEY_CASES = [
    ("from-the-event", S3_URI, event(), "account=111122223333/region=us-east-1/date=2024-05-01#12"),
    ("no-account-never-from-the-path", S3_URI, {k: v for k, v in event().items() if k != "recipientAccountId"},
     f"account={DEFAULT}/region=us-east-1/date=2024-05-01#12"),
    ("no-region-never-from-the-path", S3_URI, event(awsRegion=None),
     f"account=111122223333/region={DEFAULT}/date=2024-05-01#12"),
    ("empty-values", S3_URI, event(awsRegion="", recipientAccountId=None),
     f"account={DEFAULT}/region={DEFAULT}/date=2024-05-01#12"),
    ("no-place-anywhere", LOCAL_URI, event(awsRegion=None, recipientAccountId=None),
     f"account={DEFAULT}/region={DEFAULT}/date=2024-05-01#12"),
    ("object-account", S3_URI, event(recipientAccountId={"id": "1"}),
     f"account={DEFAULT}/region=us-east-1/date=2024-05-01#12"),
    ("number-account", S3_URI, event(recipientAccountId=111122223333),
     "account=111122223333/region=us-east-1/date=2024-05-01#12"),
    ("offset-crosses-midnight", S3_URI, event(eventTime="2024-05-01T01:30:00+03:00"),
     "account=111122223333/region=us-east-1/date=2024-04-30#22"),
    ("single-digit-hour", S3_URI, event(eventTime="2024-05-01T05:59:59.999Z"),
     "account=111122223333/region=us-east-1/date=2024-05-01#05"),
    ("before-epoch", S3_URI, event(eventTime="1969-12-31T23:30:00Z"),
     "account=111122223333/region=us-east-1/date=1969-12-31#23"),
    ("hostile-values-escaped", S3_URI, event(recipientAccountId="../x", awsRegion="a/b"),
     "account=..%2Fx/region=a%2Fb/date=2024-05-01#12"),
]


@pytest.mark.parametrize("uri, value, key", [c[1:] for c in KEY_CASES], ids=[c[0] for c in KEY_CASES])
def test_partition_hour_key(uri, value, key):
    result = ingest.ingest_bytes(uri, records_file(value), run_id=RUN)
    assert list(result.events) == [key]
    assert ingest.split_group_key(key) == (key.rpartition("#")[0], int(key[-2:]))


def test_events_of_one_file_are_grouped_per_partition_hour():
    values = [event("a"), event("b", eventTime="2024-05-01T12:59:59Z"), event("c", eventTime="2024-05-01T13:00:00Z"),
              event("d", awsRegion="eu-west-1"), event("e")]
    result = ingest.ingest_bytes(LOCAL_URI, records_file(*values), run_id=RUN)
    assert {key: [event_id for _, event_id, _ in entries] for key, entries in result.events.items()} == {
        "account=111122223333/region=us-east-1/date=2024-05-01#12": ["a", "b", "e"],
        "account=111122223333/region=us-east-1/date=2024-05-01#13": ["c"],
        "account=111122223333/region=eu-west-1/date=2024-05-01#12": ["d"],
    }


@pytest.mark.parametrize("partition, hour, key", [
    ("account=1/region=r/date=2024-05-01", 0, "account=1/region=r/date=2024-05-01#00"),
    ("account=a%23b/region=r/date=2024-05-01", 23, "account=a%23b/region=r/date=2024-05-01#23"),
], ids=["hour-0", "escaped-hash"])
def test_group_key_round_trip(partition, hour, key):
    assert ingest.group_key(partition, hour) == key
    assert ingest.split_group_key(key) == (partition, hour)


# ---- provenance of wrapped events -------------------------------------------------------------------------------


def test_wrapped_events_keep_their_envelope():
    item = {"EventId": "e-1", "EventName": "GetObject", "EventTime": "2024-05-01T14:00:00+02:00",
            "CloudTrailEvent": jsonvalue.dumps(event()).decode()}
    data = jsonvalue.dumps({"Events": [item]})
    [(_, _, record)] = stored(ingest.ingest_bytes(LOCAL_URI, data, run_id=RUN))
    assert record["source"]["shape"] == "lookup-events"
    assert record["source"]["wrapper"] == (
        '{"EventId":"e-1","EventName":"GetObject","EventTime":"2024-05-01T14:00:00+02:00"}')
    assert cloudtrail.original_event(record) == event()


def test_insight_log_files():
    path = fixturedata.AWSDOCS_EXAMPLES
    insights = [r for r in fixturedata.records_in(path) if r.get("eventType") == "AwsCloudTrailInsight"]
    uri = f"s3://trail/AWSLogs/{PATH_ACCOUNT}/CloudTrail-Insight/us-east-1/2024/05/01/i.json.gz"
    result = ingest.ingest_bytes(uri, gz(records_file(*insights)), run_id=RUN)
    assert (result.report.kind, result.report.events, result.quarantine) == ("insight", 5, [])
    assert [r["eventName"] for _, _, r in stored(result)] == [r["insightDetails"]["eventName"] for r in insights]


# ---- quarantine -----------------------------------------------------------------------------------------------------

GOOD = records_file(event())
NO_ID = {k: v for k, v in event().items() if k != "eventID"}
BAD_TIME = event("e-time", eventTime="yesterday")
NO_NAME = {k: v for k, v in event("e-name").items() if k != "eventName"}

WHOLE_OBJECT_CASES = [
    ("corrupt-gzip", b"\x1f\x8b\x08\x00" + b"not deflate data" * 4, errors.CORRUPT_GZIP, False),
    ("truncated-gzip", gz(GOOD)[:-12], errors.CORRUPT_GZIP, False),
    ("gzip-trailing-data", gz(GOOD) + b"appended", errors.GZIP_TRAILING_DATA, False),
    ("invalid-json", b'{"Records": [{"eventID": "e-1",', errors.INVALID_JSON, True),
    ("invalid-json-gzipped", gz(b'{"Records": [{"eventID"'), errors.INVALID_JSON, True),
    ("unknown-shape", b'{"hello": "world"}', errors.UNKNOWN_SHAPE, True),
    ("unknown-shape-number", b"42", errors.UNKNOWN_SHAPE, True),
]


@pytest.mark.parametrize("data, reason, readable", [c[1:] for c in WHOLE_OBJECT_CASES],
                         ids=[c[0] for c in WHOLE_OBJECT_CASES])
def test_whole_object_quarantine(data, reason, readable):
    result = ingest.ingest_bytes(S3_URI, data, run_id=RUN)
    [quarantined] = result.quarantine
    detail = quarantined.pop("detail")
    assert quarantined == {"reason": reason, "uri": S3_URI, "sha256": sha256(data), "position": None,
                           "eventID": None, "payload": data, "ingestRun": RUN}
    assert isinstance(detail, str) and 0 < len(detail) <= 1000
    assert validate({**quarantined, "detail": detail}, QUARANTINE_SCHEMA)
    report = result.report
    assert (report.rejected, report.records, report.events, report.quarantined, report.shape) == (
        True, 0, 0, 0, "unreadable")
    assert (report.content_sha256 is not None) == readable
    assert result.events == {}


ITEM_CASES = [
    ("not-an-object", 42, errors.NOT_AN_OBJECT, None, b"42"),
    ("not-an-object-array", [event()], errors.NOT_AN_OBJECT, None, jsonvalue.dumps([event()])),
    ("missing-event-id", NO_ID, errors.MISSING_EVENT_ID, None, jsonvalue.dumps(NO_ID)),
    ("event-id-not-a-string", event(7), errors.MISSING_EVENT_ID, None, jsonvalue.dumps(event(7))),
    ("bad-event-time", BAD_TIME, errors.BAD_EVENT_TIME, "e-time", jsonvalue.dumps(BAD_TIME)),
    ("missing-event-name", NO_NAME, errors.MISSING_EVENT_SOURCE_OR_NAME, "e-name", jsonvalue.dumps(NO_NAME)),
    ("missing-event-source", event("e-src", eventSource=None), errors.MISSING_EVENT_SOURCE_OR_NAME, "e-src",
     jsonvalue.dumps(event("e-src", eventSource=None))),
]


@pytest.mark.parametrize("value, reason, event_id, payload", [c[1:] for c in ITEM_CASES],
                         ids=[c[0] for c in ITEM_CASES])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_item_quarantine(value, reason, event_id, payload, compress):
    content = records_file(event("good-1"), value, event("good-2"))
    data = gz(content) if compress else content
    result = ingest.ingest_bytes(S3_URI, data, run_id=RUN)
    [quarantined] = result.quarantine
    detail = quarantined.pop("detail")
    assert quarantined == {"reason": reason, "uri": S3_URI, "sha256": sha256(data), "position": 1,
                           "eventID": event_id, "payload": payload, "ingestRun": RUN}
    assert detail and validate({**quarantined, "detail": detail}, QUARANTINE_SCHEMA)
    report = result.report
    assert (report.records, report.events, report.quarantined, report.rejected) == (3, 2, 1, False)
    assert [record["eventID"] for _, _, record in stored(result)] == ["good-1", "good-2"]
    assert [record["source"]["position"] for _, _, record in stored(result)] == [0, 2]


def test_item_rejected_by_the_reader_is_quarantined_with_its_line():
    data = jsonvalue.dumps(event("a")) + b"\n{not json\n" + jsonvalue.dumps(event("b")) + b"\n"
    result = ingest.ingest_bytes(LOCAL_URI, data, run_id=RUN)
    assert [(q["reason"], q["position"], q["payload"]) for q in result.quarantine] == [
        (errors.INVALID_JSON, 1, b"{not json")]
    assert (result.report.shape, result.report.records, result.report.events) == ("jsonl", 3, 2)


def test_unreadable_object():
    result = ingest.unreadable(S3_URI, "AccessDenied", RUN)
    assert result.quarantine == [{"reason": errors.UNREADABLE, "detail": "AccessDenied", "uri": S3_URI,
                                  "sha256": None, "position": None, "eventID": None, "payload": b"",
                                  "ingestRun": RUN}]
    assert (result.report.rejected, result.report.shape, result.report.kind) == (True, "unreadable", "log")


# ---- digests ------------------------------------------------------------------------------------------------------

DIGEST_URI = (f"s3://trail/AWSLogs/{PATH_ACCOUNT}/CloudTrail-Digest/{PATH_REGION}/2024/05/01/"
              f"{PATH_ACCOUNT}_CloudTrail-Digest_{PATH_REGION}_trail_{PATH_REGION}_20240501T120000Z.json.gz")
DIGEST_BODY = jsonvalue.dumps({"awsAccountId": PATH_ACCOUNT, "digestStartTime": "2024-05-01T11:00:00Z",
                               "digestEndTime": "2024-05-01T12:00:00Z", "logFiles": []})


@pytest.mark.parametrize("data", [gz(DIGEST_BODY), DIGEST_BODY, b"\x1f\x8bnot gzip", gz(GOOD)],
                         ids=["digest-gzip", "digest-plain", "garbage", "records-under-a-digest-key"])
def test_digest_objects_give_no_events_and_no_quarantine(data):
    result = ingest.ingest_bytes(DIGEST_URI, data, run_id=RUN)
    assert (result.events, result.quarantine, result.encoded_bytes) == ({}, [], 0)
    assert result.report.to_json() == {
        "uri": DIGEST_URI, "size": len(data), "sha256": sha256(data), "content_sha256": None, "kind": "digest",
        "shape": "digest", "records": 0, "events": 0, "quarantined": 0, "rejected": False, "filtered": 0,
        "etag": None}


def test_digest_body_under_another_key_is_read_as_a_digest():
    result = ingest.ingest_bytes(LOCAL_URI, DIGEST_BODY, run_id=RUN)
    assert (result.report.kind, result.report.shape, result.events, result.quarantine) == ("other", "digest", {}, [])


# ---- inputs that must not crash ingest --------------------------------------------------------------------------

EDGE_CASES = [
    ("lone-surrogate-in-eventID", records_file(event("e-\ud800"))),
    ("lone-surrogate-in-userAgent", records_file(event(userAgent="curl\udc00"))),
    ("nesting-700-deep", b'{"Records":[' + jsonvalue.dumps(event())[:-1] + b',"requestParameters":'
     + b"[" * 700 + b"]" * 700 + b"}]}"),
    ("eventTime-after-year-9999", records_file(event(eventTime="9999-12-31T23:30:00-05:00"))),
]


@pytest.mark.parametrize("data", [data for _, data in EDGE_CASES], ids=[name for name, _ in EDGE_CASES])
def test_every_item_becomes_an_event_or_a_quarantine_record(data):
    result = ingest.ingest_bytes(S3_URI, data, run_id=RUN)
    assert result.report.records == result.report.events + result.report.quarantined == 1


def test_an_integer_python_cannot_convert_quarantines_the_whole_object():
    data = b'{"Records":[' + jsonvalue.dumps(event())[:-1] + b',"requestParameters":{"n":' + b"9" * 5000 + b"}}]}"
    result = ingest.ingest_bytes(S3_URI, data, run_id=RUN)
    assert result.report.rejected and [q["reason"] for q in result.quarantine] == ["invalid_json"]
