"""Tests of trailbeam.eventcodec: the hand-written encoding is byte-identical to fastavro's."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fixturedata
from trailbeam import avro, cloudtrail, errors, jsonvalue
from trailbeam.eventcodec import encode_event, long_bytes, source_head, source_tail, string_bytes

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


def fastavro_bytes(row: dict[str, Any], src: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, EVENT_SCHEMA, cloudtrail.full_record(row, src))
    return buffer.getvalue()


def codec_bytes(row: dict[str, Any], src: dict[str, Any]) -> bytes:
    return encode_event(row, source_head(src["uri"], src["sha256"], src["contentSha256"]), src["position"],
                        source_tail(src["shape"], src["wrapper"], src["ingestRun"]))


def assert_same_bytes(row: dict[str, Any]) -> None:
    for name, src in SOURCES.items():
        assert codec_bytes(row, src) == fastavro_bytes(row, src), f"differs from fastavro with source {name!r}"


def row_of(event: Any) -> dict[str, Any]:
    return cloudtrail.event_row(event, jsonvalue.dumps(event))


# ---- every fixture record -------------------------------------------------------------------------------


def _fixture_rows() -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for item in fixturedata.all_records():
        try:
            rows.append((fixturedata.record_id(item), row_of(item[2])))
        except errors.Rejected:
            continue  # the AWS docs examples without eventID; test_cloudtrail covers them
    return rows


FIXTURE_ROWS = _fixture_rows()


def test_all_accepted_fixture_records_are_covered():
    assert len(FIXTURE_ROWS) == 310 + 24 - 5


@pytest.mark.parametrize("row", [row for _, row in FIXTURE_ROWS], ids=[name for name, _ in FIXTURE_ROWS])
def test_fixture_record_bytes_equal_fastavro(row):
    assert_same_bytes(row)


# ---- rows at the edges --------------------------------------------------------------------------------------

_IDENTITY_FIELDS = ("type", "arn", "accountId", "accessKeyId", "principalId", "userName", "invokedBy",
                    "sourceIdentity", "mfaAuthenticated", "sessionCreationDate", "webIdFederationProvider",
                    "onBehalfOfUserId", "onBehalfOfIdentityStoreArn", "credentialId")
_ISSUER_FIELDS = ("type", "arn", "accountId", "principalId", "userName")
_OPTIONAL_COLUMNS = ("eventName", "eventSource", "eventType", "eventCategory", "eventVersion", "awsRegion",
                     "recipientAccountId", "readOnly", "managementEvent", "errorCode", "errorMessage",
                     "sourceIPAddress", "userAgent", "requestID", "sharedEventID", "vpcEndpointId",
                     "sessionCredentialFromConsole")


def make_row(*, identity: dict[str, Any] | None = None, issuer: dict[str, Any] | None = None,
             **columns: Any) -> dict[str, Any]:
    """A row with every optional column null unless given."""
    user_identity = {**dict.fromkeys(_IDENTITY_FIELDS), **(identity or {})}
    user_identity["sessionIssuer"] = {**dict.fromkeys(_ISSUER_FIELDS), **(issuer or {})}
    row = {"eventTime": 0, "eventID": "e", **dict.fromkeys(_OPTIONAL_COLUMNS), "userIdentity": user_identity,
           "resources": [], "cloudTrailEvent": "{}"}
    row.update(columns)
    return row


def _resource(i: int) -> dict[str, Any]:
    return {"arn": f"arn:aws:s3:::bucket-{i}" if i % 3 else None, "type": "AWS::S3::Bucket" if i % 2 else None,
            "accountId": "111122223333" if i % 4 else None}


EDGE_ROWS = [
    ("all-null", make_row()),
    ("all-set", make_row(
        **{c: "x" * 70 for c in _OPTIONAL_COLUMNS if c not in ("readOnly", "managementEvent",
                                                               "sessionCredentialFromConsole")},
        readOnly=True, managementEvent=False, sessionCredentialFromConsole=True,
        identity={**{f: "y" for f in _IDENTITY_FIELDS}, "mfaAuthenticated": False, "sessionCreationDate": 1},
        issuer={f: "z" for f in _ISSUER_FIELDS})),
    ("one-resource", make_row(resources=[_resource(1)])),
    ("several-resources", make_row(resources=[_resource(i) for i in range(7)])),
    ("64-resources", make_row(resources=[_resource(i) for i in range(64)])),
    ("null-resource-fields", make_row(resources=[{"arn": None, "type": None, "accountId": None}] * 2)),
    ("negative-time", make_row(eventTime=-1)),
    ("time-minus-64", make_row(eventTime=-64)),
    ("time-minus-65", make_row(eventTime=-65)),
    ("min-long-time", make_row(eventTime=-(2**63))),
    ("max-long-time", make_row(eventTime=2**63 - 1)),
    ("year-9999-time", make_row(eventTime=253402300799999999)),
    ("negative-session-date", make_row(identity={"sessionCreationDate": -(10**15)})),
    ("empty-strings", make_row(eventID="", eventName="", userAgent="", identity={"arn": ""},
                               resources=[{"arn": "", "type": "", "accountId": ""}], cloudTrailEvent="")),
    ("63-byte-string", make_row(userAgent="a" * 63)),
    ("64-byte-string", make_row(userAgent="a" * 64)),
    ("multibyte-crosses-64", make_row(userAgent="\u00e9" * 40, eventID="\u65e5" * 22)),
    ("astral", make_row(eventName="\U0001F600" * 20, cloudTrailEvent='{"k":"\U0001F600"}')),
    ("long-event", make_row(cloudTrailEvent="x" * 100_000, errorMessage="m" * 20_000)),
]


@pytest.mark.parametrize("row", [c[1] for c in EDGE_ROWS], ids=[c[0] for c in EDGE_ROWS])
def test_edge_row_bytes_equal_fastavro(row):
    assert_same_bytes(row)


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


def test_encoded_row_decodes_to_the_record():
    row = make_row(eventTime=1714564800000000, resources=[_resource(i) for i in range(3)],
                   identity={"sessionCreationDate": 1714561200000000}, readOnly=False)
    src = SOURCES["wrapper"]
    record = fastavro.schemaless_reader(io.BytesIO(codec_bytes(row, src)), EVENT_SCHEMA, None)
    assert record["source"] == src and record["resources"] == row["resources"]
    assert record["readOnly"] is False and record["copies"] == 1 and record["conflict"] is False


# ---- generated rows ----------------------------------------------------------------------------------------

_longs = st.integers(-(2**63), 2**63 - 1)
_text = st.text(max_size=40)  # any Unicode but surrogates (which have no UTF-8 form)
_opt_text = st.none() | _text
_opt_bool = st.none() | st.booleans()
_resources = st.lists(st.fixed_dictionaries({"arn": _opt_text, "type": _opt_text, "accountId": _opt_text}),
                      max_size=5)


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    columns = {c: draw(_opt_bool if c in ("readOnly", "managementEvent", "sessionCredentialFromConsole")
                       else _opt_text) for c in _OPTIONAL_COLUMNS}
    identity = {f: draw(_opt_text) for f in _IDENTITY_FIELDS}
    identity["mfaAuthenticated"] = draw(_opt_bool)
    identity["sessionCreationDate"] = draw(st.none() | _longs)
    issuer = {f: draw(_opt_text) for f in _ISSUER_FIELDS}
    return make_row(identity=identity, issuer=issuer, eventTime=draw(_longs), eventID=draw(_text),
                    resources=draw(_resources), cloudTrailEvent=draw(st.text(max_size=200)), **columns)


sources = st.fixed_dictionaries({
    "uri": _text, "sha256": _text, "contentSha256": _text, "position": st.integers(0, 2**63 - 1),
    "shape": _text, "wrapper": _opt_text, "ingestRun": _text})


@settings(max_examples=120, deadline=None)
@given(rows(), sources)
def test_generated_rows_encode_like_fastavro(row, src):
    assert codec_bytes(row, src) == fastavro_bytes(row, src)
