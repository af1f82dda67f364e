"""Tests of trailbeam.readers: every input shape, every override and every reject reason."""

from __future__ import annotations

import doctest
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailbeam import errors, jsonvalue, readers
from trailbeam.readers import Decoded, decode

SHAPES_DIR = Path(__file__).parents[1] / "fixtures" / "shapes"
DIGEST = (SHAPES_DIR / "awsdocs_digest_example_0.json").read_bytes()
BIG = 123456789012345678901234


# ---- builders ---------------------------------------------------------------------------------------


def event(n: int, **overrides: Any) -> dict[str, Any]:
    """A small CloudTrail event; ``n`` makes its eventID unique."""
    return {"eventVersion": "1.08", "eventID": f"e{n}", "eventTime": "2024-05-01T12:00:0%dZ" % n,
            "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
            "recipientAccountId": "111122223333", **overrides}


def js(value: Any, **kwargs: Any) -> bytes:
    return json.dumps(value, **kwargs).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def lines(*rows: bytes, end: bytes = b"\n") -> bytes:
    return b"".join(row + end for row in rows)


def records(*events: Any) -> bytes:
    return js({"Records": list(events)})


def lookup_item(ev: Any, event_time: str = "2024-05-01T12:00:00Z") -> dict[str, Any]:
    """One element of `aws cloudtrail lookup-events` output (CloudTrailEvent is JSON text)."""
    inner = ev if isinstance(ev, str) else json.dumps(ev)
    return {"EventId": "e", "EventName": "GetObject", "EventTime": event_time,
            "Username": "alice", "Resources": [], "CloudTrailEvent": inner}


def lookup_wrapper(item: dict[str, Any]) -> bytes:
    return jsonvalue.dumps({k: v for k, v in item.items() if k != "CloudTrailEvent"})


def eventbridge(ev: dict[str, Any]) -> dict[str, Any]:
    return {"version": "0", "id": "6a7e8feb", "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.s3", "account": "111122223333", "time": "2024-05-01T12:00:00Z",
            "region": "us-east-1", "resources": [], "detail": ev}


def eventbridge_wrapper(envelope: dict[str, Any]) -> bytes:
    return jsonvalue.dumps({k: v for k, v in envelope.items() if k != "detail"})


SUBSCRIPTION_ENVELOPE = {"messageType": "DATA_MESSAGE", "owner": "111122223333",
                         "logGroup": "aws-cloudtrail-logs", "logStream": "111122223333_CloudTrail_us-east-1",
                         "subscriptionFilters": ["to-firehose"]}


def log_event(i: int, message: str) -> dict[str, Any]:
    return {"id": f"3800{i}", "timestamp": 1714564800000 + i, "message": message}


def subscription(*messages: str, message_type: str = "DATA_MESSAGE") -> bytes:
    payload = {**SUBSCRIPTION_ENVELOPE, "messageType": message_type,
               "logEvents": [log_event(i, m) for i, m in enumerate(messages)]}
    return js(payload)


def subscription_wrapper(i: int) -> bytes:
    return jsonvalue.dumps({**SUBSCRIPTION_ENVELOPE,
                            "logEvent": {"id": f"3800{i}", "timestamp": 1714564800000 + i}})


def filter_output(*messages: str) -> bytes:
    events = [{**log_event(i, m), "logStreamName": "s", "ingestionTime": 1} for i, m in enumerate(messages)]
    return js({"events": events, "searchedLogStreams": []})


def filter_wrapper(i: int) -> bytes:
    return jsonvalue.dumps({"id": f"3800{i}", "timestamp": 1714564800000 + i,
                            "logStreamName": "s", "ingestionTime": 1})


def export_line(i: int, message: str) -> bytes:
    return f"2024-05-01T12:00:0{i}.123Z {message}".encode()


def export_wrapper(i: int) -> bytes:
    return jsonvalue.dumps({"timestamp": f"2024-05-01T12:00:0{i}.123Z"})


def pretty(*values: Any) -> bytes:
    return b"\n".join(js(v, indent=2) for v in values) + b"\n"


def items_of(decoded: Decoded) -> list[tuple[int, Any, bytes | None]]:
    return [(item.position, item.value, item.wrapper) for item in decoded.items]


def rejects_of(decoded: Decoded) -> list[tuple[str, int | None, bytes]]:
    return [(reject.reason, reject.position, reject.payload) for reject in decoded.rejects]


def plain(data: bytes) -> bytes:
    return data


# ---- every shape, plain and gzipped -------------------------------------------------------------------

E0, E1, E2 = event(0), event(1), event(2)
LOOKUP_0, LOOKUP_1 = lookup_item(E0), lookup_item(E1, event_time="2024-05-01T14:00:01+02:00")
BRIDGE_0 = eventbridge(E0)

SHAPE_CASES = [
    # (id, data, shape, [(position, value, wrapper)])
    ("records", records(E0, E1), "records", [(0, E0, None), (1, E1, None)]),
    ("records-empty", b'{"Records": []}', "records", []),
    ("records-non-objects-pass-through", records(E0, 7, None), "records",
     [(0, E0, None), (1, 7, None), (2, None, None)]),
    ("records-bom", b"\xef\xbb\xbf" + records(E0), "records", [(0, E0, None)]),
    ("records-big-int", records(event(0, size=BIG)), "records", [(0, event(0, size=BIG), None)]),
    ("array", js([E0, E1]), "array", [(0, E0, None), (1, E1, None)]),
    ("array-empty", b"[]", "array", []),
    ("array-unwraps-envelopes", js([LOOKUP_0, BRIDGE_0, E2]), "array",
     [(0, E0, lookup_wrapper(LOOKUP_0)), (1, E0, eventbridge_wrapper(BRIDGE_0)), (2, E2, None)]),
    ("single", js(E0), "single", [(0, E0, None)]),
    ("single-pretty", js(E0, indent=2), "single", [(0, E0, None)]),
    ("single-event-time-only", b'{"eventTime": "2024-05-01T12:00:00Z"}', "single",
     [(0, {"eventTime": "2024-05-01T12:00:00Z"}, None)]),
    ("jsonl", lines(js(E0), js(E1)), "jsonl", [(0, E0, None), (1, E1, None)]),
    ("jsonl-no-final-newline", js(E0) + b"\n" + js(E1), "jsonl", [(0, E0, None), (1, E1, None)]),
    ("jsonl-blank-lines-count", lines(b"", js(E0), b"   ", js(E1)), "jsonl", [(1, E0, None), (3, E1, None)]),
    ("jsonl-crlf", lines(js(E0), js(E1), end=b"\r\n"), "jsonl", [(0, E0, None), (1, E1, None)]),
    ("jsonl-bom-does-not-shift", b"\xef\xbb\xbf" + lines(js(E0), js(E1)), "jsonl",
     [(0, E0, None), (1, E1, None)]),
    ("jsonl-big-int", lines(js(event(0, size=BIG)), js(E1)), "jsonl",
     [(0, event(0, size=BIG), None), (1, E1, None)]),
    ("jsonl-lookup-lines", lines(js(LOOKUP_0), js(LOOKUP_1)), "jsonl",
     [(0, E0, lookup_wrapper(LOOKUP_0)), (1, E1, lookup_wrapper(LOOKUP_1))]),
    ("jsonl-eventbridge-lines", lines(js(BRIDGE_0), js(eventbridge(E1))), "jsonl",
     [(0, E0, eventbridge_wrapper(BRIDGE_0)), (1, E1, eventbridge_wrapper(eventbridge(E1)))]),
    ("concatenated-pretty", pretty(E0, E1, E2), "concatenated",
     [(0, E0, None), (1, E1, None), (2, E2, None)]),
    ("concatenated-back-to-back", js(E0) + js(E1), "concatenated", [(0, E0, None), (1, E1, None)]),
    ("concatenated-big-int-and-envelopes", pretty(event(0, size=BIG), LOOKUP_1), "concatenated",
     [(0, event(0, size=BIG), None), (1, E1, lookup_wrapper(LOOKUP_1))]),
    ("lookup-events", js({"Events": [LOOKUP_0, LOOKUP_1], "NextToken": "t"}), "lookup-events",
     [(0, E0, lookup_wrapper(LOOKUP_0)), (1, E1, lookup_wrapper(LOOKUP_1))]),
    ("lookup-events-one-object", js(LOOKUP_0), "lookup-events", [(0, E0, lookup_wrapper(LOOKUP_0))]),
    ("lookup-events-big-int-inside", js({"Events": [lookup_item(event(0, size=BIG))]}), "lookup-events",
     [(0, event(0, size=BIG), lookup_wrapper(lookup_item(event(0, size=BIG))))]),
    ("eventbridge", js(BRIDGE_0), "eventbridge", [(0, E0, eventbridge_wrapper(BRIDGE_0))]),
    ("cloudwatch-subscription", subscription(json.dumps(E0), json.dumps(E1)), "cloudwatch-subscription",
     [(0, E0, subscription_wrapper(0)), (1, E1, subscription_wrapper(1))]),
    ("cloudwatch-control-message",
     subscription("CWL CONTROL MESSAGE: Checking health of destination", message_type="CONTROL_MESSAGE"),
     "cloudwatch-subscription", []),
    ("cloudwatch-filter", filter_output(json.dumps(E0), json.dumps(E1)), "cloudwatch-filter",
     [(0, E0, filter_wrapper(0)), (1, E1, filter_wrapper(1))]),
    ("cloudwatch-filter-no-results", b'{"events": [], "searchedLogStreams": []}', "cloudwatch-filter", []),
    ("cloudwatch-export", lines(export_line(0, json.dumps(E0)), export_line(1, json.dumps(E1))),
     "cloudwatch-export", [(0, E0, export_wrapper(0)), (1, E1, export_wrapper(1))]),
    ("digest", DIGEST, "digest", []),
    ("empty", b"", "empty", []),
    ("empty-white-space", b" \n\r\n\t", "empty", []),
    ("empty-bom", b"\xef\xbb\xbf\n", "empty", []),
]


@pytest.mark.parametrize("compress", [plain, gz], ids=["plain", "gzip"])
@pytest.mark.parametrize("data, shape, expected", [case[1:] for case in SHAPE_CASES],
                         ids=[case[0] for case in SHAPE_CASES])
def test_finds_the_items_of_each_shape(compress, data, shape, expected):
    decoded = decode(compress(data))

    assert (decoded.shape, items_of(decoded), decoded.rejects) == (shape, expected, [])
    assert decoded.content_sha256 == hashlib.sha256(data).hexdigest()


def test_big_integers_come_back_exact():
    decoded = decode(gz(b'{"Records": [{"eventID": "e", "n": 123456789012345678901234}]}'))

    value = decoded.items[0].value["n"]
    assert type(value) is int and value == 123456789012345678901234


def test_lookup_event_time_offset_stays_in_the_wrapper():
    item = lookup_item(event(0, eventTime="2024-05-01T12:00:00Z"), event_time="2024-05-01T14:00:00+02:00")

    decoded = decode(js({"Events": [item]}))

    assert decoded.items[0].value["eventTime"] == "2024-05-01T12:00:00Z"
    assert json.loads(decoded.items[0].wrapper)["EventTime"] == "2024-05-01T14:00:00+02:00"


def test_wrappers_are_canonical_json():
    decoded = decode(js(eventbridge(E0)))

    assert decoded.items[0].wrapper == (
        b'{"account":"111122223333","detail-type":"AWS API Call via CloudTrail","id":"6a7e8feb",'
        b'"region":"us-east-1","resources":[],"source":"aws.s3","time":"2024-05-01T12:00:00Z","version":"0"}')


# ---- overrides ------------------------------------------------------------------------------------------

FORCEABLE = [case for case in SHAPE_CASES if case[2] in readers.SHAPES]


@pytest.mark.parametrize("data, shape, expected", [case[1:] for case in FORCEABLE],
                         ids=[case[0] for case in FORCEABLE])
def test_forcing_the_detected_shape_gives_the_same_items(data, shape, expected):
    decoded = decode(gz(data), shape=shape)

    assert (decoded.shape, items_of(decoded), decoded.rejects) == (shape, expected, [])


def test_every_override_is_covered():
    assert {case[2] for case in FORCEABLE} == set(readers.SHAPES)


OVERRIDE_CASES = [
    # (id, data, forced shape, [(position, value, wrapper)])
    ("jsonl-on-one-record-line", js(E0) + b"\n", "jsonl", [(0, E0, None)]),
    ("jsonl-on-one-lookup-line", js(LOOKUP_0), "jsonl", [(0, E0, lookup_wrapper(LOOKUP_0))]),
    ("concatenated-on-one-object", js(E0), "concatenated", [(0, E0, None)]),
    ("concatenated-on-jsonl", lines(js(E0), js(E1)), "concatenated", [(0, E0, None), (1, E1, None)]),
]


@pytest.mark.parametrize("data, shape, expected", [case[1:] for case in OVERRIDE_CASES],
                         ids=[case[0] for case in OVERRIDE_CASES])
def test_override_reads_a_file_auto_would_read_otherwise(data, shape, expected):
    assert decode(data).shape != shape

    decoded = decode(data, shape=shape)

    assert (decoded.shape, items_of(decoded), decoded.rejects) == (shape, expected, [])


MISFIT_CASES = [
    # (id, data, forced shape, reason)
    ("records-on-jsonl", lines(js(E0), js(E1)), "records", errors.INVALID_JSON),
    ("records-on-array", js([E0]), "records", errors.UNKNOWN_SHAPE),
    ("records-on-digest", DIGEST, "records", errors.UNKNOWN_SHAPE),
    ("array-on-records", records(E0), "array", errors.UNKNOWN_SHAPE),
    ("single-on-unknown-object", b'{"foo": 1}', "single", errors.UNKNOWN_SHAPE),
    ("single-on-array", js([E0]), "single", errors.UNKNOWN_SHAPE),
    ("lookup-events-on-records", records(E0), "lookup-events", errors.UNKNOWN_SHAPE),
    ("eventbridge-on-single", js(E0), "eventbridge", errors.UNKNOWN_SHAPE),
    ("cloudwatch-subscription-on-filter-output", filter_output(json.dumps(E0)), "cloudwatch-subscription",
     errors.UNKNOWN_SHAPE),
    ("cloudwatch-filter-on-records", records(E0), "cloudwatch-filter", errors.UNKNOWN_SHAPE),
    ("jsonl-on-pretty", pretty(E0, E1), "jsonl", errors.INVALID_JSON),
    ("cloudwatch-export-on-jsonl", lines(js(E0)), "cloudwatch-export", errors.INVALID_JSON),
    ("concatenated-on-text", b"hello", "concatenated", errors.INVALID_JSON),
]


@pytest.mark.parametrize("data, shape, reason", [case[1:] for case in MISFIT_CASES],
                         ids=[case[0] for case in MISFIT_CASES])
def test_override_rejects_a_file_of_another_shape(data, shape, reason):
    decoded = decode(data, shape=shape)

    assert (decoded.shape, decoded.items, rejects_of(decoded)) == ("unreadable", [], [(reason, None, data)])


@pytest.mark.parametrize("shape", ["json", "empty", "digest", "unreadable", "Records", ""])
def test_unknown_override_is_a_value_error(shape):
    with pytest.raises(ValueError, match="unknown shape"):
        decode(records(E0), shape=shape)


def test_override_on_an_empty_file_is_empty():
    assert decode(gz(b"\n"), shape="records").shape == "empty"


# ---- whole files rejected ------------------------------------------------------------------------------

GOOD_GZ = gz(records(E0, E1))


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1:]


FILE_REJECT_CASES = [
    # (id, data, reason, whether the content could be decompressed)
    ("corrupt-gzip-header", b"\x1f\x8b\x00garbage", errors.CORRUPT_GZIP, False),
    ("corrupt-gzip-body", _flip(GOOD_GZ, 20), errors.CORRUPT_GZIP, False),
    ("corrupt-gzip-crc", _flip(GOOD_GZ, len(GOOD_GZ) - 6), errors.CORRUPT_GZIP, False),
    ("truncated-gzip", GOOD_GZ[:len(GOOD_GZ) // 2], errors.CORRUPT_GZIP, False),
    ("truncated-gzip-trailer", GOOD_GZ[:-4], errors.CORRUPT_GZIP, False),
    ("gzip-magic-only", b"\x1f\x8b", errors.CORRUPT_GZIP, False),
    ("gzip-trailing-garbage", GOOD_GZ + b"garbage", errors.GZIP_TRAILING_DATA, False),
    ("gzip-trailing-zeros", GOOD_GZ + b"\x00" * 8, errors.GZIP_TRAILING_DATA, False),
    ("gzip-second-member", GOOD_GZ + gz(records(E2)), errors.GZIP_TRAILING_DATA, False),
    ("not-json", b"hello world\n", errors.INVALID_JSON, True),
    ("not-json-gzipped", gz(b"hello world\n"), errors.INVALID_JSON, True),
    ("binary", bytes(range(256)), errors.INVALID_JSON, True),
    ("not-utf-8", b'{"eventID": "\xff\xfe"}', errors.INVALID_JSON, True),
    ("truncated-json", records(E0, E1)[:-20], errors.INVALID_JSON, True),
    ("nan", b'{"eventID": "e", "n": NaN}', errors.INVALID_JSON, True),
    ("deep-nesting", b"[" * 100_000, errors.INVALID_JSON, True),
    ("unknown-object", b'{"foo": 1}', errors.UNKNOWN_SHAPE, True),
    ("unknown-records-not-a-list", b'{"Records": {"eventID": "e"}}', errors.UNKNOWN_SHAPE, True),
    ("unknown-events-without-message", b'{"events": [{"eventID": "e"}]}', errors.UNKNOWN_SHAPE, True),
    ("bare-number", b"42", errors.UNKNOWN_SHAPE, True),
    ("bare-string", b'"Records"', errors.UNKNOWN_SHAPE, True),
    ("null", b"null", errors.UNKNOWN_SHAPE, True),
]


@pytest.mark.parametrize("data, reason, decompressed", [case[1:] for case in FILE_REJECT_CASES],
                         ids=[case[0] for case in FILE_REJECT_CASES])
def test_rejects_the_whole_file(data, reason, decompressed):
    decoded = decode(data)

    assert (decoded.shape, decoded.items, rejects_of(decoded)) == ("unreadable", [], [(reason, None, data)])
    assert 0 < len(decoded.rejects[0].detail) <= 300
    assert (decoded.content_sha256 is not None) == decompressed


def test_gzip_reject_keeps_the_compressed_bytes():
    data = GOOD_GZ + GOOD_GZ

    assert decode(data).rejects[0].payload == data


# ---- single items rejected ------------------------------------------------------------------------------

NO_EVENT = {"EventId": "e9", "EventName": "GetObject"}
BAD_INNER = {"EventId": "e9", "CloudTrailEvent": "{not json"}

ITEM_REJECT_CASES = [
    # (id, data, shape, item positions, [(reason, position, payload)])
    ("lookup-without-cloudtrail-event", js({"Events": [LOOKUP_0, NO_EVENT, LOOKUP_1]}), "lookup-events",
     [0, 2],
     [(errors.UNKNOWN_SHAPE, 1, jsonvalue.dumps(NO_EVENT))]),
    ("lookup-non-object", js({"Events": [LOOKUP_0, "x"]}), "lookup-events", [0],
     [(errors.UNKNOWN_SHAPE, 1, b'"x"')]),
    ("lookup-cloudtrail-event-not-json", js({"Events": [BAD_INNER, LOOKUP_1]}), "lookup-events", [1],
     [(errors.INVALID_JSON, 0, jsonvalue.dumps(BAD_INNER))]),
    ("array-lookup-cloudtrail-event-not-json", js([E0, BAD_INNER]), "array", [0],
     [(errors.INVALID_JSON, 1, jsonvalue.dumps(BAD_INNER))]),
    ("jsonl-bad-line", lines(js(E0), b'{"eventID": "e1", ', js(E2)), "jsonl", [0, 2],
     [(errors.INVALID_JSON, 1, b'{"eventID": "e1", ')]),
    ("jsonl-bad-line-crlf", lines(js(E0), b"garbage", b"", js(E2), end=b"\r\n"), "jsonl", [0, 3],
     [(errors.INVALID_JSON, 1, b"garbage")]),
    ("jsonl-lookup-line-not-json", lines(js(E0), js(BAD_INNER)), "jsonl", [0],
     [(errors.INVALID_JSON, 1, js(BAD_INNER))]),
    ("concatenated-broken-in-the-middle", pretty(E0, E1) + b'{\n  "eventID": "e2",\n' + pretty(E2),
     "concatenated", [0, 1], [(errors.INVALID_JSON, 2, b'{\n  "eventID": "e2",\n' + pretty(E2))]),
    ("concatenated-not-utf-8-in-the-middle", pretty(E0) + b'{"eventID": "\xff"}\n' + pretty(E1),
     "concatenated", [0], [(errors.INVALID_JSON, 1, b'{"eventID": "\xff"}\n' + pretty(E1))]),
    ("concatenated-trailing-garbage", pretty(E0) + b"garbage", "concatenated", [0],
     [(errors.INVALID_JSON, 1, b"garbage")]),
    ("subscription-message-not-json", subscription(json.dumps(E0), "not json"), "cloudwatch-subscription",
     [0],
     [(errors.INVALID_JSON, 1, b"not json")]),
    ("subscription-log-event-without-message",
     js({**SUBSCRIPTION_ENVELOPE, "logEvents": [{"id": "1", "timestamp": 2}]}), "cloudwatch-subscription", [],
     [(errors.UNKNOWN_SHAPE, 0, b'{"id":"1","timestamp":2}')]),
    ("filter-message-not-json", filter_output("not json", json.dumps(E1)), "cloudwatch-filter", [1],
     [(errors.INVALID_JSON, 0, b"not json")]),
    ("export-message-not-json", lines(export_line(0, json.dumps(E0)), export_line(1, "{oops")),
     "cloudwatch-export", [0], [(errors.INVALID_JSON, 1, export_line(1, "{oops"))]),
    ("export-line-without-timestamp", lines(export_line(0, json.dumps(E0)), js(E1)), "cloudwatch-export", [0],
     [(errors.UNKNOWN_SHAPE, 1, js(E1))]),
]


@pytest.mark.parametrize("data, shape, positions, expected", [case[1:] for case in ITEM_REJECT_CASES],
                         ids=[case[0] for case in ITEM_REJECT_CASES])
def test_rejects_single_items_and_keeps_the_rest(data, shape, positions, expected):
    decoded = decode(gz(data))

    assert decoded.shape == shape
    assert [item.position for item in decoded.items] == positions
    assert rejects_of(decoded) == expected
    assert all(0 < len(reject.detail) <= 300 for reject in decoded.rejects)


def test_lone_surrogate_in_an_envelope_does_not_raise():
    # A JSON escape of half a surrogate pair is valid JSON text but has no UTF-8 form.
    data = b'{"Events": [{"EventId": "\\ud800", "CloudTrailEvent": "{\\"eventID\\": \\"e1\\"}"}]}'

    decoded = decode(data)

    assert [i.position for i in decoded.items] + [r.position for r in decoded.rejects] == [0]


# ---- properties ------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=200),
                 st.builds(lambda b: b"\x1f\x8b" + b, st.binary(max_size=50)),
                 st.text(alphabet='{}[]":,\n 0123456789abe-.\\', max_size=80).map(str.encode)))
def test_never_raises_on_arbitrary_bytes(data):
    decoded = decode(data)

    file_rejected = any(reject.position is None for reject in decoded.rejects)
    assert (decoded.shape == "unreadable") == file_rejected
    assert not (file_rejected and decoded.items)


def test_docstring_examples_hold():
    assert doctest.testmod(readers).failed == 0


def test_every_reject_reason_used_here_is_a_known_code():
    reasons = {case[2] for case in FILE_REJECT_CASES} | {r[0] for case in ITEM_REJECT_CASES for r in case[4]}

    assert reasons <= set(errors.REASONS)
    assert reasons == {errors.CORRUPT_GZIP, errors.GZIP_TRAILING_DATA,
                       errors.INVALID_JSON, errors.UNKNOWN_SHAPE}
