"""Tests of trailbeam.cloudtrail: typed columns, rejections, and the lossless round trip of every fixture."""

from __future__ import annotations

import copy
import io
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from fastavro.validation import validate

import fixturedata
from trailbeam import avro, cloudtrail, errors, jsonvalue
from trailbeam.eventcodec import source_head, source_tail

UTC = timezone.utc
STRATUS_PASSWORD_DATA = "aws.credential-access.ec2-get-password-data.json"
STRATUS_FEDERATION = "aws.persistence.sts-federation-token.json"
STRATUS_BACKDOOR_USER = "aws.persistence.iam-backdoor-user.json"
STRATUS_CONSOLE_LOGIN = "aws.initial-access.console-login-without-mfa.json"
AWSDOCS = fixturedata.AWSDOCS_EXAMPLES.name
# The AWS docs examples without an eventID (old StartInstances ... AddUserToGroup samples).
AWSDOCS_WITHOUT_EVENT_ID = {(AWSDOCS, i) for i in range(11, 16)}

SOURCE = {"uri": "s3://bucket/AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/f.json.gz",
          "sha256": "a" * 64, "contentSha256": "b" * 64, "position": 7, "shape": "records", "wrapper": None,
          "ingestRun": "run-1"}


# ---- builders -------------------------------------------------------------------------------------------


def micros(text: str) -> int:
    """Independent reference for an ISO time with a Z."""
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000


def api_event(**overrides: Any) -> dict[str, Any]:
    """A small valid API event with an AssumedRole identity; keyword overrides replace top-level members."""
    event = {
        "eventVersion": "1.09", "eventID": "e-1", "eventTime": "2024-05-01T12:00:00Z",
        "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventType": "AwsApiCall",
        "awsRegion": "us-east-1", "recipientAccountId": "111122223333", "readOnly": True,
        "userIdentity": {
            "type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Deploy/ci",
            "accountId": "111122223333", "accessKeyId": "ASIAEXAMPLE", "principalId": "AROAEXAMPLE:ci",
            "sessionContext": {
                "attributes": {"creationDate": "2024-05-01T11:00:00Z", "mfaAuthenticated": "false"},
                "sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/Deploy",
                                  "accountId": "111122223333", "principalId": "AROAEXAMPLE", "userName": "Deploy"},
            },
        },
    }
    event.update(overrides)
    return event


DELETE = object()  # with_path: delete the member instead of setting it


def with_path(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``event`` with the member at dotted ``path`` set (or deleted when value is DELETE)."""
    event = copy.deepcopy(event)
    *parents, last = path.split(".")
    node = event
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return event


def row_of(event: Any) -> dict[str, Any]:
    return cloudtrail.event_row(event, jsonvalue.dumps(event))


def column(row: dict[str, Any], path: str) -> Any:
    """``userIdentity.sessionIssuer.type`` -> row["userIdentity"]["sessionIssuer"]["type"]."""
    for key in path.split("."):
        row = row[key]
    return row


def same_json(a: Any, b: Any) -> bool:
    """Equal as values and as canonical text (so 1, 1.0 and True differ, and absent differs from null)."""
    return a == b and jsonvalue.dumps(a) == jsonvalue.dumps(b)


# ---- typed columns of representative fixture records ------------------------------------------------------


def test_full_row_of_an_assumed_role_call():
    record = fixturedata.fixture_record(STRATUS_PASSWORD_DATA, 0)
    canonical = jsonvalue.dumps(record)
    assert cloudtrail.event_row(record, canonical) == {
        "eventTime": micros("2024-07-30T21:31:21Z"),
        "eventID": "450230d4-b39e-4a18-a6a0-d07a6e2105cb",
        "eventName": "GetPasswordData",
        "eventSource": "ec2.amazonaws.com",
        "eventType": "AwsApiCall",
        "eventCategory": "Management",
        "eventVersion": "1.09",
        "awsRegion": "apiso-northsouth-3r",
        "recipientAccountId": "457448411975",
        "readOnly": True,
        "managementEvent": True,
        "errorCode": "Client.UnauthorizedOperation",
        "errorMessage": record["errorMessage"],
        "sourceIPAddress": "200.249.253.51",
        "userAgent": "stratus-red-team_5c59eb79-6dac-405c-a4c4-e19aec03c666",
        "requestID": "b20c2df5-71d5-441e-84c8-b424f1c78ffb",
        "sharedEventID": None,
        "vpcEndpointId": None,
        "sessionCredentialFromConsole": None,
        "userIdentity": {
            "type": "AssumedRole",
            "arn": "arn:aws:sts::457448411975:assumed-role/stratus-red-team-ec2-get-password-data-role/"
                   "aws-go-sdk-1722375070115152000",
            "accountId": "457448411975",
            "accessKeyId": "ASIANQQHHS551LWULIWD",
            "principalId": "AROAMLQ9F6KHQ07JKA0WY:aws-go-sdk-1722375070115152000",
            "userName": None,
            "invokedBy": None,
            "sourceIdentity": None,
            "mfaAuthenticated": False,
            "sessionCreationDate": micros("2024-07-30T21:31:15Z"),
            "sessionIssuer": {
                "type": "Role",
                "arn": "arn:aws:iam::457448411975:role/stratus-red-team-ec2-get-password-data-role",
                "accountId": "457448411975",
                "principalId": "AROAMLQ9F6KHQ07JKA0WY",
                "userName": "stratus-red-team-ec2-get-password-data-role",
            },
            "webIdFederationProvider": None,
            "onBehalfOfUserId": None,
            "onBehalfOfIdentityStoreArn": None,
            "credentialId": None,
        },
        "resources": [],
        "cloudTrailEvent": canonical.decode(),
    }


FIXTURE_COLUMN_CASES = [
    ("iam-user", STRATUS_BACKDOOR_USER, 0, {
        "eventName": "CreateAccessKey", "eventSource": "iam.amazonaws.com", "eventVersion": "1.09",
        "readOnly": False, "managementEvent": True, "errorCode": None, "recipientAccountId": "946986569305",
        "userIdentity.type": "IAMUser", "userIdentity.userName": "christophe",
        "userIdentity.arn": "arn:aws:iam::946986569305:user/christophe",
        "userIdentity.accessKeyId": "AKIA30BEZSJBVKOFKZW0", "userIdentity.principalId": "AIDAKYRO1QIPZ5M62HCS",
        "userIdentity.mfaAuthenticated": None, "userIdentity.sessionCreationDate": None,
        "userIdentity.sessionIssuer.type": None, "userIdentity.sessionIssuer.arn": None}),
    ("federated-user", STRATUS_FEDERATION, 1, {
        "eventName": "GetCallerIdentity", "eventSource": "sts.amazonaws.com", "readOnly": True,
        "userIdentity.type": "FederatedUser",
        "userIdentity.arn": "arn:aws:sts::742491224508:federated-user/stratus_red_team",
        "userIdentity.accessKeyId": "ASIASTJKC5GCM7ZE6LUP", "userIdentity.mfaAuthenticated": False,
        "userIdentity.sessionCreationDate": micros("2024-11-30T08:43:17Z"),
        "userIdentity.sessionIssuer.type": "IAMUser",
        "userIdentity.sessionIssuer.userName": "stratus-red-team-user-federation-user",
        "userIdentity.webIdFederationProvider": None}),
    ("console-login", STRATUS_CONSOLE_LOGIN, 0, {
        "eventName": "ConsoleLogin", "eventSource": "signin.amazonaws.com", "eventType": "AwsConsoleSignIn",
        "readOnly": False, "userIdentity.type": "IAMUser", "userIdentity.accessKeyId": None,
        "userIdentity.userName": "stratus-red-team-nmfalu-jfzdtsvchl"}),
    ("root-console-login-empty-access-key", AWSDOCS, 5, {
        "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn", "readOnly": None, "managementEvent": None,
        "eventCategory": None, "userIdentity.type": "Root", "userIdentity.arn": "arn:aws:iam::111122223333:root",
        "userIdentity.accessKeyId": None}),
    ("root-session-with-empty-issuer", AWSDOCS, 8, {
        "eventName": "EnableMFADevice", "userIdentity.type": "Root", "userIdentity.accessKeyId": "EXAMPLE",
        "userIdentity.mfaAuthenticated": False, "userIdentity.sessionCreationDate": micros("2020-10-13T21:05:40Z"),
        "userIdentity.sessionIssuer.type": None, "userIdentity.webIdFederationProvider": None}),
    ("insight", AWSDOCS, 10, {
        "eventName": "CompleteLifecycleAction", "eventSource": "autoscaling.amazonaws.com",
        "eventType": "AwsCloudTrailInsight", "eventCategory": "Insight", "recipientAccountId": "838185438692",
        "sharedEventID": "7bb000gg-22b3-4c03-94af-c74tj0c8m7c0", "readOnly": None, "userIdentity.type": None,
        "userIdentity.arn": None, "resources": []}),
    ("aws-service-event", AWSDOCS, 20, {
        "eventName": "RotateKey", "eventSource": "kms.amazonaws.com", "eventType": "AwsServiceEvent",
        "userIdentity.type": None, "userIdentity.accountId": "123456789012", "userIdentity.invokedBy": "AWS Internal",
        "resources": [{"arn": "arn:aws:kms:us-east-2:123456789012:key/7944f0ec-EXAMPLE", "type": "AWS::KMS::Key",
                       "accountId": "123456789012"}]}),
]


@pytest.mark.parametrize("name, index, expected", [c[1:] for c in FIXTURE_COLUMN_CASES],
                         ids=[c[0] for c in FIXTURE_COLUMN_CASES])
def test_typed_columns_of_fixture_records(name, index, expected):
    row = row_of(fixturedata.fixture_record(name, index))
    assert {path: column(row, path) for path in expected} == expected


def test_aws_service_identity():
    event = api_event(userIdentity={"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
                      sourceIPAddress="ec2.amazonaws.com")
    identity = row_of(event)["userIdentity"]
    assert identity["type"] == "AWSService" and identity["invokedBy"] == "ec2.amazonaws.com"
    assert identity["arn"] is None and identity["sessionIssuer"] == dict.fromkeys(
        ("type", "arn", "accountId", "principalId", "userName"))


def test_identity_center_and_web_identity_members():
    event = api_event(userIdentity={
        "type": "IdentityCenterUser", "accountId": "111122223333", "credentialId": "cred-1",
        "onBehalfOf": {"userId": "u-1", "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-1"},
        "sessionContext": {"sourceIdentity": "alice",
                           "webIdFederationData": {"federatedProvider": "token.actions.githubusercontent.com"}}})
    identity = row_of(event)["userIdentity"]
    assert (identity["credentialId"], identity["onBehalfOfUserId"], identity["onBehalfOfIdentityStoreArn"],
            identity["sourceIdentity"], identity["webIdFederationProvider"]) == (
        "cred-1", "u-1", "arn:aws:identitystore::111122223333:identitystore/d-1", "alice",
        "token.actions.githubusercontent.com")


# ---- members of unexpected types --------------------------------------------------------------------------

DEVIATION_CASES = [
    # booleans written as strings are read; anything else that is not a boolean is null
    ("readOnly-string-true", "readOnly", "true", "readOnly", True),
    ("readOnly-string-false", "readOnly", "false", "readOnly", False),
    ("readOnly-bool", "readOnly", False, "readOnly", False),
    ("readOnly-null", "readOnly", None, "readOnly", None),
    ("readOnly-absent", "readOnly", DELETE, "readOnly", None),
    ("readOnly-object", "readOnly", {"value": True}, "readOnly", None),
    ("readOnly-array", "readOnly", [True], "readOnly", None),
    ("readOnly-other-string", "readOnly", "yes", "readOnly", None),
    ("managementEvent-string", "managementEvent", "false", "managementEvent", False),
    ("sessionCredentialFromConsole-string", "sessionCredentialFromConsole", "true",
     "sessionCredentialFromConsole", True),
    ("mfa-string-true", "userIdentity.sessionContext.attributes.mfaAuthenticated", "true",
     "userIdentity.mfaAuthenticated", True),
    ("mfa-bool", "userIdentity.sessionContext.attributes.mfaAuthenticated", True,
     "userIdentity.mfaAuthenticated", True),
    ("mfa-object", "userIdentity.sessionContext.attributes.mfaAuthenticated", {}, "userIdentity.mfaAuthenticated",
     None),
    # objects and arrays where strings were expected
    ("awsRegion-object", "awsRegion", {"name": "us-east-1"}, "awsRegion", None),
    ("userAgent-array", "userAgent", ["aws-cli"], "userAgent", None),
    ("errorCode-empty-object", "errorCode", {}, "errorCode", None),
    ("identity-arn-object", "userIdentity.arn", {"arn": "x"}, "userIdentity.arn", None),
    ("issuer-type-array", "userIdentity.sessionContext.sessionIssuer.type", ["Role"],
     "userIdentity.sessionIssuer.type", None),
    # numbers (and booleans) where strings were expected: their JSON text
    ("recipientAccountId-number", "recipientAccountId", 111122223333, "recipientAccountId", "111122223333"),
    ("eventVersion-float", "eventVersion", 1.08, "eventVersion", "1.08"),
    ("eventVersion-big-int", "eventVersion", 2**70, "eventVersion", "1180591620717411303424"),
    ("eventVersion-decimal", "eventVersion", Decimal("1.0000000000000000000001"), "eventVersion",
     "1.0000000000000000000001"),
    ("awsRegion-bool", "awsRegion", True, "awsRegion", "true"),
    ("identity-accountId-number", "userIdentity.accountId", 123, "userIdentity.accountId", "123"),
    ("empty-access-key", "userIdentity.accessKeyId", "", "userIdentity.accessKeyId", None),
    # whole objects of the wrong type: every column below them is null
    ("identity-string", "userIdentity", "root", "userIdentity.type", None),
    ("identity-array", "userIdentity", [{"type": "Root"}], "userIdentity.arn", None),
    ("identity-null", "userIdentity", None, "userIdentity.accountId", None),
    ("session-context-array", "userIdentity.sessionContext", [], "userIdentity.sessionIssuer.arn", None),
    ("attributes-string", "userIdentity.sessionContext.attributes", "x", "userIdentity.mfaAuthenticated", None),
    ("issuer-string", "userIdentity.sessionContext.sessionIssuer", "Role", "userIdentity.sessionIssuer.type", None),
    ("web-identity-string", "userIdentity.sessionContext.webIdFederationData", "x",
     "userIdentity.webIdFederationProvider", None),
    # session creation time: converted, or null when it is not a time
    ("creation-offset", "userIdentity.sessionContext.attributes.creationDate", "2024-05-01T13:00:00+02:00",
     "userIdentity.sessionCreationDate", micros("2024-05-01T11:00:00Z")),
    ("creation-garbage", "userIdentity.sessionContext.attributes.creationDate", "yesterday",
     "userIdentity.sessionCreationDate", None),
    ("creation-number", "userIdentity.sessionContext.attributes.creationDate", 1714561200,
     "userIdentity.sessionCreationDate", None),
    ("creation-null", "userIdentity.sessionContext.attributes.creationDate", None,
     "userIdentity.sessionCreationDate", None),
    # resources: only object entries, in order; anything else is no resources
    ("resources-object", "resources", {"ARN": "arn:aws:s3:::b"}, "resources", []),
    ("resources-null", "resources", None, "resources", []),
    ("resources-mixed", "resources",
     [{"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket", "accountId": "111122223333"}, "junk", None,
      {"ARN": 5, "type": {}}, {}],
     "resources",
     [{"arn": "arn:aws:s3:::b", "type": "AWS::S3::Bucket", "accountId": "111122223333"},
      {"arn": "5", "type": None, "accountId": None}, {"arn": None, "type": None, "accountId": None}]),
]


@pytest.mark.parametrize("path, value, column_path, expected", [c[1:] for c in DEVIATION_CASES],
                         ids=[c[0] for c in DEVIATION_CASES])
def test_typed_columns_of_deviating_members(path, value, column_path, expected):
    event = with_path(api_event(), path, value)
    row = row_of(event)
    assert column(row, column_path) == expected
    assert type(column(row, column_path)) is type(expected)  # True is not 1, "1" is not 1
    assert same_json(cloudtrail.original_event(row), event)


@pytest.mark.parametrize("value", [1, 0, 1.0], ids=["one", "zero", "one-float"])
def test_numbers_are_not_booleans(value):
    assert row_of(api_event(readOnly=value))["readOnly"] is None


# ---- rejections -----------------------------------------------------------------------------------------------

REJECT_CASES = [
    ("array", [api_event()], errors.NOT_AN_OBJECT),
    ("string", "event", errors.NOT_AN_OBJECT),
    ("number", 1, errors.NOT_AN_OBJECT),
    ("null", None, errors.NOT_AN_OBJECT),
    ("bool", True, errors.NOT_AN_OBJECT),
    ("eventID-missing", with_path(api_event(), "eventID", DELETE), errors.MISSING_EVENT_ID),
    ("eventID-empty", api_event(eventID=""), errors.MISSING_EVENT_ID),
    ("eventID-blank", api_event(eventID="  \t"), errors.MISSING_EVENT_ID),
    ("eventID-null", api_event(eventID=None), errors.MISSING_EVENT_ID),
    ("eventID-number", api_event(eventID=12345), errors.MISSING_EVENT_ID),
    ("eventID-object", api_event(eventID={"id": "e"}), errors.MISSING_EVENT_ID),
    ("eventID-checked-before-time", api_event(eventID=None, eventTime="bad"), errors.MISSING_EVENT_ID),
    ("eventTime-missing", with_path(api_event(), "eventTime", DELETE), errors.BAD_EVENT_TIME),
    ("eventTime-null", api_event(eventTime=None), errors.BAD_EVENT_TIME),
    ("eventTime-empty", api_event(eventTime=""), errors.BAD_EVENT_TIME),
    ("eventTime-words", api_event(eventTime="yesterday"), errors.BAD_EVENT_TIME),
    ("eventTime-date-only", api_event(eventTime="2024-05-01"), errors.BAD_EVENT_TIME),
    ("eventTime-epoch-number", api_event(eventTime=1714564800), errors.BAD_EVENT_TIME),
    ("eventTime-month-13", api_event(eventTime="2024-13-01T00:00:00Z"), errors.BAD_EVENT_TIME),
    ("eventSource-missing", with_path(api_event(), "eventSource", DELETE), errors.MISSING_EVENT_SOURCE_OR_NAME),
    ("eventName-missing", with_path(api_event(), "eventName", DELETE), errors.MISSING_EVENT_SOURCE_OR_NAME),
    ("eventSource-empty", api_event(eventSource=""), errors.MISSING_EVENT_SOURCE_OR_NAME),
    ("eventName-null", api_event(eventName=None), errors.MISSING_EVENT_SOURCE_OR_NAME),
    ("eventName-number", api_event(eventName=7), errors.MISSING_EVENT_SOURCE_OR_NAME),
    ("eventSource-object", api_event(eventSource={}), errors.MISSING_EVENT_SOURCE_OR_NAME),
    ("source-checked-after-time", api_event(eventSource=None, eventTime="bad"), errors.BAD_EVENT_TIME),
]


@pytest.mark.parametrize("event, reason", [c[1:] for c in REJECT_CASES], ids=[c[0] for c in REJECT_CASES])
def test_rejections(event, reason):
    with pytest.raises(errors.Rejected) as caught:
        row_of(event)
    assert caught.value.reason == reason
    assert caught.value.detail and str(caught.value).startswith(reason + ": ")


def _insight(**details: Any) -> dict[str, Any]:
    return {"eventVersion": "1.07", "eventID": "i-1", "eventTime": "2024-05-01T12:00:00Z",
            "eventType": "AwsCloudTrailInsight", "eventCategory": "Insight", "insightDetails": details}


INSIGHT_CASES = [
    ("from-insight-details", _insight(eventSource="ssm.amazonaws.com", eventName="UpdateInstanceInformation"),
     ("UpdateInstanceInformation", "ssm.amazonaws.com")),
    ("no-insight-details", {**_insight(), "insightDetails": None}, (None, None)),
    ("insight-details-not-object", {**_insight(), "insightDetails": ["x"]}, (None, None)),
    ("details-name-number", _insight(eventName=5), ("5", None)),
    ("only-eventType", {**_insight(eventName="A", eventSource="s"), "eventCategory": None}, ("A", "s")),
    ("only-eventCategory", {**_insight(eventName="A", eventSource="s"), "eventType": "Other"}, ("A", "s")),
    ("top-level-names-ignored", {**_insight(eventName="A", eventSource="s"), "eventName": "B", "eventSource": "t"},
     ("A", "s")),
]


@pytest.mark.parametrize("event, expected", [c[1:] for c in INSIGHT_CASES], ids=[c[0] for c in INSIGHT_CASES])
def test_insight_events_take_source_and_name_from_insight_details(event, expected):
    assert cloudtrail.is_insight(event)
    row = row_of(event)
    assert (row["eventName"], row["eventSource"]) == expected


def test_insight_event_still_needs_id_and_time():
    with pytest.raises(errors.Rejected) as caught:
        row_of({**_insight(eventName="A", eventSource="s"), "eventTime": None})
    assert caught.value.reason == errors.BAD_EVENT_TIME


@pytest.mark.parametrize("event, expected", [
    (api_event(), False),
    (api_event(eventType="AwsCloudTrailInsight"), True),
    (api_event(eventCategory="Insight"), True),
    (api_event(eventCategory="Management"), False),
], ids=["api-call", "by-eventType", "by-eventCategory", "management"])
def test_is_insight(event, expected):
    assert cloudtrail.is_insight(event) is expected


# ---- rows and records ---------------------------------------------------------------------------------------


def test_full_record_adds_provenance_and_copy_fields_without_touching_the_row():
    row = row_of(api_event())
    before = copy.deepcopy(row)
    record = cloudtrail.full_record(row, SOURCE, copies=3, conflict=True)
    assert row == before
    assert record == {**row, "source": SOURCE, "copies": 3, "conflict": True}
    assert cloudtrail.full_record(row, SOURCE)["copies"] == 1
    assert cloudtrail.full_record(row, SOURCE)["conflict"] is False


def test_original_json_is_the_stored_canonical_text():
    event = api_event(requestParameters={"b": 1, "a": None})
    row = row_of(event)
    assert cloudtrail.original_json(row) == jsonvalue.dumps(event).decode()


# ---- the lossless round trip of every fixture record ----------------------------------------------------------

FIXTURES = [item for item in fixturedata.all_records() if item[:2] not in AWSDOCS_WITHOUT_EVENT_ID]
EVENT_SCHEMA = avro.parsed_schemas()[avro.EVENT]


def test_only_the_records_without_event_id_are_rejected(fixture_records):
    rejected = set()
    for name, index, record in fixture_records:
        try:
            row_of(record)
        except errors.Rejected as err:
            assert err.reason == errors.MISSING_EVENT_ID
            rejected.add((name, index))
    assert rejected == AWSDOCS_WITHOUT_EVENT_ID
    assert len(fixture_records) == 310 + 24


@pytest.mark.parametrize("item", FIXTURES, ids=[fixturedata.record_id(item) for item in FIXTURES])
def test_every_fixture_record_round_trips(item):
    """original_event(full_record(event_row(r))) == r, also after Avro encoding and fastavro decoding."""
    _, index, record = item
    row = row_of(record)
    source = {**SOURCE, "position": index}
    assert same_json(cloudtrail.original_event(cloudtrail.full_record(row, source)), record)

    data = cloudtrail.encode_event(record, jsonvalue.dumps(record),
                                   source_head(source["uri"], source["sha256"], source["contentSha256"]), index,
                                   source_tail(source["shape"], source["wrapper"], source["ingestRun"])).data
    stored = fastavro.schemaless_reader(io.BytesIO(data), EVENT_SCHEMA, None)
    assert same_json(cloudtrail.original_event(stored), record)
    assert stored["source"] == source
    assert (stored["eventID"], stored["copies"], stored["conflict"]) == (record["eventID"], 1, False)
    assert validate(cloudtrail.full_record(row, source), EVENT_SCHEMA)
