"""Tests of the hand-written TrailEvent encoding (cloudtrail.encode_event on eventcodec's primitives):
its bytes are exactly fastavro's for the record they decode to."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fixturedata
from trailbeam import avro, cloudtrail, jsonvalue
from trailbeam.eventcodec import (long_bytes, optional_bool, optional_long, optional_string, source_head,
                                  source_tail, string_bytes)

EVENT_SCHEMA = avro.parsed_schemas()[avro.EVENT]
SHA = "0123456789abcdef" * 4


def source(**overrides: Any) -> dict[str, Any]:
    return {"uri": "s3://bucket/AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/f.json.gz", "sha256": SHA,
            "contentSha256": SHA[::-1], "position": 0, "shape": "records", "wrapper": None,
            "ingestRun": "20240501T120000Z-abc", **overrides}


SOURCES = {
    "plain": source(),
    "position-63": source(position=63),
    "position-64": source(position=64),
    "position-1e9": source(position=10**9),
    "position-max-long": source(position=2**63 - 1),
    "wrapper": source(shape="lookup-events", wrapper='{"EventId":"e","EventName":"GetObject","Username":"alice"}'),
    "empty-wrapper": source(wrapper=""),
    "long-uri": source(uri="s3://bucket/" + "deep/" * 400 + "f.json.gz"),
    "unicode-uri": source(uri="/home/\u00e9l\u00e8ve/\u65e5\u672c/\U0001F600.json"),
    "empty-strings": source(uri="", sha256="", contentSha256="", shape="", ingestRun=""),
}


def encoded(event: Any, src: dict[str, Any], columns: cloudtrail.ColumnCache | None = None) -> bytes:
    return cloudtrail.encode_event(event, jsonvalue.dumps(event),
                                   source_head(src["uri"], src["sha256"], src["contentSha256"]), src["position"],
                                   source_tail(src["shape"], src["wrapper"], src["ingestRun"]), columns).data


def assert_canonical(event: Any) -> None:
    """Our bytes decode, carry the source, and are exactly what fastavro writes for the decoded record."""
    columns = cloudtrail.ColumnCache()
    for name, src in SOURCES.items():
        data = encoded(event, src, columns)
        record = fastavro.schemaless_reader(io.BytesIO(data), EVENT_SCHEMA, None)
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, EVENT_SCHEMA, record)
        assert data == buffer.getvalue(), f"differs from fastavro with source {name!r}"
        assert record["source"] == src
        assert data == encoded(event, src), "a warm column cache changed the bytes"


FIXTURE_EVENTS = [(fixturedata.record_id(item), item[2]) for item in fixturedata.all_records()
                  if isinstance(item[2], dict) and item[2].get("eventID")]


def test_all_accepted_fixture_records_are_covered():
    assert len(FIXTURE_EVENTS) == 310 + 24 - 5


@pytest.mark.parametrize("event", [e for _, e in FIXTURE_EVENTS], ids=[n for n, _ in FIXTURE_EVENTS])
def test_fixture_event_bytes_are_fastavros(event):
    assert_canonical(event)


# ---- events at the edges ------------------------------------------------------------------------------------

def make_event(**members: Any) -> dict[str, Any]:
    return {"eventID": "e", "eventTime": "2024-05-01T12:00:00Z", "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject", **members}


EDGE_EVENTS = [
    ("minimal", make_event()),
    ("all-typed-members", make_event(
        eventType="AwsApiCall", eventCategory="Data", eventVersion="1.09", awsRegion="x" * 70,
        recipientAccountId="111122223333", readOnly="true", managementEvent=False, errorCode="AccessDenied",
        errorMessage="m" * 20_000, sourceIPAddress="192.0.2.1", userAgent="a" * 64, requestID="r",
        sharedEventID="s", vpcEndpointId="vpce-1", sessionCredentialFromConsole="true",
        userIdentity={"type": "AssumedRole", "arn": "arn", "accountId": "1", "accessKeyId": "ASIA",
                      "principalId": "p", "userName": "u", "invokedBy": "i", "credentialId": "c",
                      "onBehalfOf": {"userId": "u1", "identityStoreArn": "arn:is"},
                      "sessionContext": {"sourceIdentity": "si", "webIdFederationData": {"federatedProvider": "f"},
                                         "attributes": {"mfaAuthenticated": "false",
                                                        "creationDate": "2024-05-01T11:00:00Z"},
                                         "sessionIssuer": {"type": "Role", "arn": "a", "accountId": "1",
                                                           "principalId": "p", "userName": "n"}}})),
    ("deviating-types", make_event(recipientAccountId=111122223333, awsRegion={"x": 1}, readOnly=1,
                                   userAgent=["a"], errorCode=1.5, userIdentity="not an object",
                                   resources={"ARN": "x"})),
    ("resources", make_event(resources=[{"ARN": f"arn:{i}", "type": "T" if i % 2 else None} for i in range(70)]
                                       + [42, {"accountId": 7}])),
    ("resources-all-non-objects", make_event(resources=[1, "two"])),
    ("unicode", make_event(eventName="\U0001F600" * 20, userAgent="\u00e9" * 40, eventID="\u65e5" * 22)),
    ("lone-surrogate", make_event(userAgent="curl\udc00", eventID="e-\ud800")),
    ("negative-and-far-times", make_event(eventTime="1969-12-31T23:59:59Z",
                                          userIdentity={"sessionContext": {"attributes": {
                                              "creationDate": "9999-12-31T23:59:59Z"}}})),
    ("bad-creation-date", make_event(userIdentity={"sessionContext": {"attributes": {"creationDate": "soon"}}})),
    ("insight", {"eventID": "i", "eventTime": "2024-05-01T12:00:00Z", "eventType": "AwsCloudTrailInsight",
                 "insightDetails": {"eventName": "PutObject", "eventSource": "s3.amazonaws.com"}}),
]


@pytest.mark.parametrize("event", [e for _, e in EDGE_EVENTS], ids=[n for n, _ in EDGE_EVENTS])
def test_edge_event_bytes_are_fastavros(event):
    assert_canonical(event)


def test_deviating_types_become_json_text_or_null():
    row = cloudtrail.event_row(EDGE_EVENTS[2][1], jsonvalue.dumps(EDGE_EVENTS[2][1]))
    assert row["recipientAccountId"] == "111122223333" and row["errorCode"] == "1.5"
    assert row["awsRegion"] is None and row["userAgent"] is None and row["readOnly"] is None
    assert row["userIdentity"]["type"] is None and row["resources"] == []


def test_lone_surrogates_are_replaced_in_typed_columns_only():
    event = EDGE_EVENTS[6][1]
    row = cloudtrail.event_row(event, jsonvalue.dumps(event))
    assert row["userAgent"] == "curl\ufffd" and row["eventID"] == "e-\ufffd"
    assert cloudtrail.original_event(row) == event


@pytest.mark.parametrize("n", [0, 1, 63, 64, -1, -64, -65, 127, 128, 8191, 8192, 2**31, -(2**31), 10**9,
                               2**62, 2**63 - 1, -(2**63)])
def test_long_bytes_equal_fastavro(n):
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, "long", n)
    assert long_bytes(n) == buffer.getvalue()


@pytest.mark.parametrize("text", ["", "a", "a" * 63, "a" * 64, "\u00e9" * 32, "\u00e9" * 31 + "a",
                                  "\U0001F600" * 16, "x" * 10_000],
                         ids=["empty", "one", "63", "64", "64-bytes-32-chars", "63-bytes", "astral", "long"])
def test_string_bytes_equal_fastavro(text):
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, "string", text)
    assert string_bytes(text) == buffer.getvalue()


@pytest.mark.parametrize(("schema", "value", "ours"), [
    (["null", "string"], None, optional_string(None)),
    (["null", "string"], "x" * 70, optional_string("x" * 70)),
    (["null", "boolean"], True, optional_bool(True)),
    (["null", "boolean"], False, optional_bool(False)),
    (["null", "long"], -(2**40), optional_long(-(2**40))),
    (["null", "long"], None, optional_long(None)),
], ids=["null-string", "string", "true", "false", "long", "null-long"])
def test_optional_primitives_equal_fastavro(schema, value, ours):
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, value)
    assert ours == buffer.getvalue()


# ---- generated events ------------------------------------------------------------------------------------

_scalar = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=40) | st.floats(
    allow_nan=False, allow_infinity=False)
_member = _scalar | st.lists(_scalar, max_size=2) | st.dictionaries(st.text(max_size=5), _scalar, max_size=2)
_TOP = ("eventType", "eventCategory", "eventVersion", "awsRegion", "recipientAccountId", "readOnly",
        "managementEvent", "errorCode", "errorMessage", "sourceIPAddress", "userAgent", "requestID",
        "sharedEventID", "vpcEndpointId", "sessionCredentialFromConsole")
_IDENTITY = ("type", "arn", "accountId", "accessKeyId", "principalId", "userName", "invokedBy", "credentialId")


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event = make_event(eventID=draw(st.text(min_size=1, max_size=20).filter(str.strip)))
    event.update({k: draw(_member) for k in draw(st.lists(st.sampled_from(_TOP), unique=True))})
    identity = {k: draw(_member) for k in draw(st.lists(st.sampled_from(_IDENTITY), unique=True))}
    identity["sessionContext"] = {"attributes": {"mfaAuthenticated": draw(_member)},
                                  "sessionIssuer": {k: draw(_member) for k in ("type", "arn", "userName")}}
    event["userIdentity"] = identity
    event["resources"] = draw(st.lists(st.dictionaries(st.sampled_from(["ARN", "type", "accountId"]), _scalar),
                                       max_size=4))
    return event


@settings(max_examples=150, deadline=None)
@given(events())
def test_generated_events_encode_like_fastavro(event):
    assert_canonical(event)
