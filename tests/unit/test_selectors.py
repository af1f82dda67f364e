"""Tests of trailbeam.selectors: CloudTrail event selectors (and simple flags) as an event filter.

The semantics and the sources they follow are in the module docstring. Every documented selector
example lives in tests/fixtures/selectors/ (see its README) and is evaluated against small
hand-made events, following what the documentation says is or is not logged.
"""

from __future__ import annotations

import json
import pickle
import re
import timeit
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fixturedata
from trailbeam import errors
from trailbeam.selectors import ALL, EventFilter, SelectorError, both, load_selectors, parse_selectors, simple_filter
from trailbeam.timestamps import parse_micros

SELECTORS = Path(__file__).parent.parent / "fixtures" / "selectors"
ACCOUNT = "123456789012"
ABSENT = object()   # record(field=ABSENT) removes the field


# ---- event builders ----------------------------------------------------------------------------------

def record(**fields: Any) -> dict[str, Any]:
    """A management event (DescribeInstances by an IAM user) with ``fields`` replaced or removed."""
    event: dict[str, Any] = {
        "eventVersion": "1.10", "eventTime": "2024-05-01T12:00:00Z", "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances", "eventType": "AwsApiCall", "eventCategory": "Management",
        "managementEvent": True, "readOnly": True, "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice"},
    }
    for key, value in fields.items():
        if value is ABSENT:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def mgmt(name: str = "DescribeInstances", source: str = "ec2.amazonaws.com", read_only: bool = True,
         **fields: Any) -> dict[str, Any]:
    return record(**{"eventSource": source, "eventName": name, "readOnly": read_only, **fields})


def data(source: str, name: str, resources: list[dict[str, Any]], read_only: bool = False,
         **fields: Any) -> dict[str, Any]:
    return record(**{"eventSource": source, "eventName": name, "eventCategory": "Data", "managementEvent": False,
                     "readOnly": read_only, "resources": resources, **fields})


def s3(name: str, object_arn: str, **fields: Any) -> dict[str, Any]:
    """An S3 object-level data event: resources are the object and its bucket, as CloudTrail writes them."""
    bucket = object_arn.split("/", 1)[0]
    return data("s3.amazonaws.com", name, [{"type": "AWS::S3::Object", "ARN": object_arn},
                                           {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": bucket}],
                read_only=name.startswith(("Get", "Head", "List")), **fields)


def s3_bucket_level(name: str, bucket_arn: str, **fields: Any) -> dict[str, Any]:
    """ListObjects/DeleteObjects: the object resource has only an ARNPrefix."""
    return data("s3.amazonaws.com", name, [{"type": "AWS::S3::Object", "ARNPrefix": f"{bucket_arn}/"},
                                           {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": bucket_arn}],
                read_only=name.startswith("List"), **fields)


def one(source: str, name: str, resource_type: str, arn: str, read_only: bool = False, **fields: Any) -> dict[str, Any]:
    return data(source, name, [{"accountId": ACCOUNT, "type": resource_type, "ARN": arn}], read_only, **fields)


def invoke(function_arn: str) -> dict[str, Any]:
    return one("lambda.amazonaws.com", "Invoke", "AWS::Lambda::Function", function_arn)


def network(source: str, error: str | None = "VpceAccessDenied") -> dict[str, Any]:
    return record(eventSource=source, eventName="Decrypt", eventCategory="NetworkActivity", eventType="AwsVpceEvent",
                  managementEvent=ABSENT, readOnly=ABSENT, errorCode=error or ABSENT,
                  vpcEndpointId="vpce-0123456789abcdef0")


def insight() -> dict[str, Any]:
    return record(eventCategory="Insight", eventType="AwsCloudTrailInsight", eventSource=ABSENT, eventName=ABSENT,
                  readOnly=ABSENT, managementEvent=ABSENT, userIdentity=ABSENT)


def advanced(*field_selectors: dict[str, Any]) -> EventFilter:
    return parse_selectors([{"Name": "test", "FieldSelectors": list(field_selectors)}])


def eq(field: str, *values: Any) -> dict[str, Any]:
    return {"Field": field, "Equals": list(values)}


BUCKET = "arn:aws:s3:::amzn-s3-demo-bucket"
TERMINATE = mgmt("TerminateInstances", read_only=False)
KMS_DECRYPT = mgmt("Decrypt", "kms.amazonaws.com")
KMS_DISABLE = mgmt("DisableKey", "kms.amazonaws.com", read_only=False)
RDS_DATA = mgmt("ExecuteStatement", "rdsdata.amazonaws.com", read_only=False)


# ---- operators ---------------------------------------------------------------------------------------

def describe_instances(name: str = "DescribeInstances") -> dict[str, Any]:
    return mgmt(name)


OPERATOR_CASES = [
    ("equals-hit", {"Equals": ["DescribeInstances"]}, "DescribeInstances", True),
    ("equals-miss", {"Equals": ["DescribeRegions"]}, "DescribeInstances", False),
    ("equals-any-value", {"Equals": ["DescribeRegions", "DescribeInstances"]}, "DescribeInstances", True),
    ("equals-is-case-sensitive", {"Equals": ["describeinstances"]}, "DescribeInstances", False),
    ("equals-is-not-a-prefix", {"Equals": ["Describe"]}, "DescribeInstances", False),
    ("equals-no-wildcards", {"Equals": ["Describe*"]}, "DescribeInstances", False),
    ("startswith-hit", {"StartsWith": ["Describe"]}, "DescribeInstances", True),
    ("startswith-miss", {"StartsWith": ["Get"]}, "DescribeInstances", False),
    ("startswith-any-value", {"StartsWith": ["Get", "Desc"]}, "DescribeInstances", True),
    ("endswith-hit", {"EndsWith": ["Instances"]}, "DescribeInstances", True),
    ("endswith-miss", {"EndsWith": ["Regions"]}, "DescribeInstances", False),
    ("notequals-excludes", {"NotEquals": ["DescribeInstances"]}, "DescribeInstances", False),
    ("notequals-keeps", {"NotEquals": ["DescribeRegions"]}, "DescribeInstances", True),
    ("notequals-excludes-any-value", {"NotEquals": ["X", "DescribeInstances"]}, "DescribeInstances", False),
    ("notstartswith-excludes", {"NotStartsWith": ["Describe"]}, "DescribeInstances", False),
    ("notstartswith-keeps", {"NotStartsWith": ["Get"]}, "DescribeInstances", True),
    ("notendswith-excludes", {"NotEndsWith": ["Instances"]}, "DescribeInstances", False),
    ("notendswith-keeps", {"NotEndsWith": ["Regions"]}, "DescribeInstances", True),
    # Several operators in one field selector: SELECT ones OR'd, DESELECT ones AND'd, the groups AND'd.
    ("select-operators-or", {"Equals": ["GetObject"], "StartsWith": ["Desc"]}, "DescribeInstances", True),
    ("select-operators-or-none", {"Equals": ["GetObject"], "EndsWith": ["Regions"]}, "DescribeInstances", False),
    ("deselect-operators-and", {"NotEquals": ["X"], "NotEndsWith": ["Instances"]}, "DescribeInstances", False),
    ("deselect-operators-and-none", {"NotEquals": ["X"], "NotEndsWith": ["Y"]}, "DescribeInstances", True),
    ("select-and-deselect", {"StartsWith": ["Describe"], "NotEquals": ["DescribeRegions"]}, "DescribeInstances", True),
    ("deselect-beats-select", {"StartsWith": ["Describe"], "NotEquals": ["DescribeRegions"]}, "DescribeRegions",
     False),
    ("empty-lists-are-unused-operators", {"Equals": ["DescribeInstances"], "NotEquals": [], "StartsWith": []},
     "DescribeInstances", True),
]


@pytest.mark.parametrize("operators, name, expected", [c[1:] for c in OPERATOR_CASES],
                         ids=[c[0] for c in OPERATOR_CASES])
def test_operator(operators: dict[str, list[str]], name: str, expected: bool) -> None:
    assert advanced({"Field": "eventName", **operators}).matches(mgmt(name)) is expected


ABSENT_CASES = [(op, op.startswith("Not")) for op in
                ("Equals", "StartsWith", "EndsWith", "NotEquals", "NotStartsWith", "NotEndsWith")]
ODD_VALUES = [("absent", ABSENT), ("null", None), ("number", 5), ("object", {"x": 1}), ("array", ["x"])]


@pytest.mark.parametrize("operator, expected", ABSENT_CASES, ids=[c[0] for c in ABSENT_CASES])
@pytest.mark.parametrize("value", [v for _, v in ODD_VALUES], ids=[n for n, _ in ODD_VALUES])
def test_absent_field_fails_select_and_passes_deselect(operator: str, expected: bool, value: Any) -> None:
    """An absent (or non-string) field matches no value: SELECT fails, DESELECT holds."""
    event = record(errorCode=value)
    assert advanced({"Field": "errorCode", operator: ["AccessDenied"]}).matches(event) is expected


@settings(max_examples=60, deadline=None)
@given(value=st.text(max_size=6), operand=st.text(min_size=1, max_size=3),
       operator=st.sampled_from(["Equals", "StartsWith", "EndsWith"]))
def test_deselect_is_the_negation_of_select_on_a_present_field(value: str, operand: str, operator: str) -> None:
    event = mgmt(value)
    select = advanced({"Field": "eventName", operator: [operand]}).matches(event)
    deselect = advanced({"Field": "eventName", f"Not{operator}": [operand]}).matches(event)
    assert deselect is not select


# ---- AND within a selector, OR across selectors ------------------------------------------------------

BOOLEAN_CASES = [
    ("and-both-hold", [[eq("eventSource", "ec2.amazonaws.com"), eq("eventName", "DescribeInstances")]], True),
    ("and-one-fails", [[eq("eventSource", "ec2.amazonaws.com"), eq("eventName", "RunInstances")]], False),
    ("and-same-field-twice", [[{"Field": "eventName", "StartsWith": ["Describe"]},
                               {"Field": "eventName", "EndsWith": ["Instances"]}]], True),
    ("or-first-holds", [[eq("eventName", "DescribeInstances")], [eq("eventName", "RunInstances")]], True),
    ("or-second-holds", [[eq("eventName", "RunInstances")], [eq("eventName", "DescribeInstances")]], True),
    ("or-none-holds", [[eq("eventName", "RunInstances")], [eq("eventSource", "s3.amazonaws.com")]], False),
]


@pytest.mark.parametrize("selectors, expected", [c[1:] for c in BOOLEAN_CASES], ids=[c[0] for c in BOOLEAN_CASES])
def test_and_within_a_selector_or_across_selectors(selectors: list[list[dict[str, Any]]], expected: bool) -> None:
    document = [{"Name": f"s{i}", "FieldSelectors": fields} for i, fields in enumerate(selectors)]
    assert parse_selectors(document).matches(mgmt()) is expected


# ---- every field ---------------------------------------------------------------------------------------

SIGNIN = {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/bob"}
FIELD_CASES = [
    ("eventCategory", eq("eventCategory", "Management"), mgmt(), True),
    ("eventCategory-data", eq("eventCategory", "Data"), mgmt(), False),
    ("eventCategory-network", eq("eventCategory", "NetworkActivity"), network("kms.amazonaws.com"), True),
    ("eventCategory-insight", eq("eventCategory", "Insight"), insight(), True),
    ("eventSource", eq("eventSource", "ec2.amazonaws.com"), mgmt(), True),
    ("eventSource-miss", eq("eventSource", "s3.amazonaws.com"), mgmt(), False),
    ("eventName", eq("eventName", "DescribeInstances"), mgmt(), True),
    ("readOnly-bool-true", eq("readOnly", "true"), mgmt(read_only=True), True),
    ("readOnly-bool-false", eq("readOnly", "false"), mgmt(read_only=False), True),
    ("readOnly-bool-mismatch", eq("readOnly", "true"), mgmt(read_only=False), False),
    ("readOnly-string-true", eq("readOnly", "true"), record(readOnly="true"), True),
    ("readOnly-string-false", eq("readOnly", "false"), record(readOnly="false"), True),
    ("readOnly-string-any-case", eq("readOnly", "true"), record(readOnly="True"), True),
    ("readOnly-string-mismatch", eq("readOnly", "false"), record(readOnly="true"), False),
    ("readOnly-selector-value-any-case", eq("readOnly", "TRUE"), mgmt(read_only=True), True),
    ("readOnly-selector-value-json-bool", eq("readOnly", True), mgmt(read_only=True), True),
    ("readOnly-absent-true", eq("readOnly", "true"), record(readOnly=ABSENT), False),
    ("readOnly-absent-false", eq("readOnly", "false"), record(readOnly=ABSENT), False),
    ("readOnly-notequals", {"Field": "readOnly", "NotEquals": ["true"]}, mgmt(read_only=False), True),
    ("eventType", eq("eventType", "AwsApiCall"), mgmt(), True),
    ("eventType-service-event", {"Field": "eventType", "NotEquals": ["AwsServiceEvent"]},
     mgmt(eventType="AwsServiceEvent"), False),
    ("userIdentity.arn", {"Field": "userIdentity.arn", "StartsWith": [f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/"]},
     mgmt(userIdentity=SIGNIN), True),
    ("userIdentity.arn-miss", {"Field": "userIdentity.arn", "EndsWith": ["/alice"]}, mgmt(userIdentity=SIGNIN),
     False),
    ("userIdentity.arn-no-arn", {"Field": "userIdentity.arn", "NotEndsWith": ["/alice"]},
     mgmt(userIdentity={"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}), True),
    ("userIdentity.arn-not-an-object", eq("userIdentity.arn", "x"), mgmt(userIdentity="x"), False),
    ("errorCode", eq("errorCode", "VpceAccessDenied"), network("s3.amazonaws.com"), True),
    ("errorCode-absent", eq("errorCode", "VpceAccessDenied"), network("s3.amazonaws.com", error=None), False),
    ("sessionCredentialFromConsole-string", eq("sessionCredentialFromConsole", "true"),
     mgmt(sessionCredentialFromConsole="true"), True),
    ("sessionCredentialFromConsole-bool", eq("sessionCredentialFromConsole", "true"),
     mgmt(sessionCredentialFromConsole=True), True),
    ("sessionCredentialFromConsole-absent", {"Field": "sessionCredentialFromConsole", "NotEquals": ["true"]}, mgmt(),
     True),
    ("sessionCredentialFromConsole-absent-equals", eq("sessionCredentialFromConsole", "true"), mgmt(), False),
    ("vpcEndpointId", {"Field": "vpcEndpointId", "StartsWith": ["vpce-"]}, network("kms.amazonaws.com"), True),
    ("vpcEndpointId-absent", {"Field": "vpcEndpointId", "StartsWith": ["vpce-"]}, mgmt(), False),
    ("resources.type", eq("resources.type", "AWS::S3::Object"), s3("GetObject", f"{BUCKET}/k"), True),
    ("resources.type-any-resource", eq("resources.type", "AWS::S3::Bucket"), s3("GetObject", f"{BUCKET}/k"), True),
    ("resources.type-miss", eq("resources.type", "AWS::Lambda::Function"), s3("GetObject", f"{BUCKET}/k"), False),
    ("resources.ARN", eq("resources.ARN", f"{BUCKET}/k"), s3("GetObject", f"{BUCKET}/k"), True),
    ("resources.ARN-miss", eq("resources.ARN", f"{BUCKET}/other"), s3("GetObject", f"{BUCKET}/k"), False),
]


@pytest.mark.parametrize("field_selector, event, expected", [c[1:] for c in FIELD_CASES],
                         ids=[c[0] for c in FIELD_CASES])
def test_field(field_selector: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert advanced(field_selector).matches(event) is expected


def test_every_documented_field_is_tested() -> None:
    documented = {"eventCategory", "eventSource", "eventName", "readOnly", "resources.type", "resources.ARN",
                  "eventType", "userIdentity.arn", "errorCode", "sessionCredentialFromConsole", "vpcEndpointId"}
    assert {case[1]["Field"] for case in FIELD_CASES} == documented


# ---- resources: 0, 1 or several, evaluated per resource -----------------------------------------------

OBJECT = {"type": "AWS::S3::Object", "ARN": f"{BUCKET}/k"}
LOG_OBJECT = {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::logs/k"}
OBJECT_TYPE = eq("resources.type", "AWS::S3::Object")
NOT_LOGS = {"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::logs/"]}
RESOURCE_CASES = [
    ("none-select", [OBJECT_TYPE], ABSENT, False),
    ("none-deselect", [NOT_LOGS], ABSENT, True),
    ("empty-list-select", [OBJECT_TYPE], [], False),
    ("empty-list-deselect", [NOT_LOGS], [], True),
    ("null-deselect", [NOT_LOGS], None, True),
    ("not-objects-are-ignored", [OBJECT_TYPE], ["AWS::S3::Object", 3], False),
    ("one-select", [OBJECT_TYPE], [OBJECT], True),
    ("one-deselect-excluded", [NOT_LOGS], [LOG_OBJECT], False),
    ("one-deselect-kept", [NOT_LOGS], [OBJECT], True),
    ("several-select-any", [eq("resources.ARN", f"{BUCKET}/k")], [LOG_OBJECT, OBJECT], True),
    # One resource outside the excluded prefix keeps the event: a copy out of the excluded bucket matters.
    ("several-deselect-one-kept", [NOT_LOGS], [LOG_OBJECT, OBJECT], True),
    ("several-deselect-all-excluded", [NOT_LOGS], [LOG_OBJECT, {**LOG_OBJECT, "ARN": "arn:aws:s3:::logs/j"}], False),
    # resources.type and resources.ARN conditions must hold on the same resource.
    ("type-and-arn-same-resource", [OBJECT_TYPE, eq("resources.ARN", f"{BUCKET}/k")],
     [OBJECT, {"type": "AWS::S3::Bucket", "ARN": BUCKET}], True),
    ("type-and-arn-different-resources", [OBJECT_TYPE, eq("resources.ARN", BUCKET)],
     [OBJECT, {"type": "AWS::S3::Bucket", "ARN": BUCKET}], False),
    ("type-and-deselect-per-resource", [OBJECT_TYPE, NOT_LOGS], [LOG_OBJECT, {"type": "AWS::S3::Bucket", "ARN": "x"}],
     False),
    ("arn-prefix-when-no-arn", [{"Field": "resources.ARN", "StartsWith": [f"{BUCKET}/"]}],
     [{"type": "AWS::S3::Object", "ARNPrefix": f"{BUCKET}/"}], True),
    ("arn-wins-over-arn-prefix", [eq("resources.ARN", "a")], [{"ARN": "a", "ARNPrefix": "b"}], True),
    ("resource-without-arn", [{"Field": "resources.ARN", "NotEquals": ["a"]}], [{"type": "AWS::S3::Object"}], True),
]


@pytest.mark.parametrize("field_selectors, resources, expected", [c[1:] for c in RESOURCE_CASES],
                         ids=[c[0] for c in RESOURCE_CASES])
def test_resources(field_selectors: list[dict[str, Any]], resources: Any, expected: bool) -> None:
    assert advanced(*field_selectors).matches(record(resources=resources)) is expected


# ---- eventCategory of older records ----------------------------------------------------------------------

CATEGORY_CASES = [
    ("own-category-wins", record(eventCategory="Data", managementEvent=True), "Data"),
    ("management-event-true", record(eventCategory=ABSENT, managementEvent=True), "Management"),
    ("management-event-false", record(eventCategory=ABSENT, managementEvent=False), "Data"),
    ("management-event-string", record(eventCategory=ABSENT, managementEvent="false"), "Data"),
    ("insight-event-type", record(eventCategory=ABSENT, managementEvent=ABSENT, eventType="AwsCloudTrailInsight"),
     "Insight"),
    ("old-s3-object-event", s3("GetObject", f"{BUCKET}/k", eventCategory=ABSENT, managementEvent=ABSENT), "Data"),
    ("old-lambda-invoke", invoke("arn:aws:lambda:us-east-1:1:function:f") | {"eventCategory": "x"}, "x"),
    ("old-lambda-invoke-inferred", {k: v for k, v in invoke("arn:aws:lambda:us-east-1:1:function:f").items()
                                    if k not in ("eventCategory", "managementEvent")}, "Data"),
    ("old-console-login", record(eventCategory=ABSENT, managementEvent=ABSENT, readOnly=ABSENT,
                                 eventSource="signin.amazonaws.com", eventName="ConsoleLogin"), "Management"),
    ("old-bucket-policy", record(eventCategory=ABSENT, managementEvent=ABSENT, eventSource="s3.amazonaws.com",
                                 resources=[{"type": "AWS::S3::Bucket", "ARN": BUCKET}]), "Management"),
]
CATEGORIES = ["Management", "Data", "Insight", "x"]


@pytest.mark.parametrize("event, category", [c[1:] for c in CATEGORY_CASES], ids=[c[0] for c in CATEGORY_CASES])
def test_event_category_of_records_with_and_without_it(event: dict[str, Any], category: str) -> None:
    found = [c for c in CATEGORIES if advanced({"Field": "eventCategory", "StartsWith": [c]}).matches(event)]
    assert found == [category]


# ---- documented examples -----------------------------------------------------------------------------------

def lam(name: str, region: str = "us-west-2", account: str = "111111111111") -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


PUT = "PutObject"
DOC_CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    # get-event-selectors defaults: management events, no data events.
    ("ug-data-basic-default", "read", mgmt(), True),
    ("ug-data-basic-default", "write", TERMINATE, True),
    ("ug-data-basic-default", "no-data-events", s3("GetObject", "arn:aws:s3:::b/k"), False),
    ("ug-data-basic-default", "no-insight-events", insight(), False),
    ("ug-data-basic-default", "no-network-events", network("kms.amazonaws.com"), False),
    ("cli-get-event-selectors", "management", TERMINATE, True),
    ("cli-get-event-selectors", "no-data-events", invoke(lam("f")), False),
    ("ug-mgmt-advanced-default", "read", mgmt(), True),
    ("ug-mgmt-advanced-default", "write", TERMINATE, True),
    ("ug-mgmt-advanced-default", "no-data-events", s3("GetObject", "arn:aws:s3:::b/k"), False),
    ("ug-mgmt-advanced-default", "no-insight-events", insight(), False),
    # Basic selectors with two S3 bucket/prefix values.
    ("ug-data-basic-two-s3-prefixes", "first-prefix", s3(PUT, "arn:aws:s3:::mybucket/prefix/a.txt"), True),
    ("ug-data-basic-two-s3-prefixes", "second-prefix", s3("GetObject", "arn:aws:s3:::mybucket2/prefix2/b"), True),
    ("ug-data-basic-two-s3-prefixes", "other-prefix", s3(PUT, "arn:aws:s3:::mybucket/other/a.txt"), False),
    ("ug-data-basic-two-s3-prefixes", "other-bucket", s3(PUT, "arn:aws:s3:::mybucket3/prefix/a.txt"), False),
    ("ug-data-basic-two-s3-prefixes", "management", TERMINATE, True),
    ("ug-data-basic-two-s3-prefixes", "lambda", invoke(lam("f")), False),
    ("ug-mgmt-basic-s3-prefixes", "prefix", s3(PUT, "arn:aws:s3:::mybucket2/prefix2/c"), True),
    ("ug-mgmt-basic-s3-prefixes", "other", s3(PUT, "arn:aws:s3:::mybucket2/c"), False),
    ("ug-mgmt-basic-s3-prefixes", "management", mgmt(), True),
    # Advanced: all management events plus PutObject/DeleteObject under two prefixes (input and output forms).
    *[(name, label, event, expected)
      for name in ("ug-data-advanced-mgmt-and-s3-prefixes", "ug-data-advanced-mgmt-and-s3-prefixes-output")
      for label, event, expected in [
          ("management-write", TERMINATE, True),
          ("management-read", mgmt(), True),
          ("put-first-prefix", s3(PUT, "arn:aws:s3:::mybucket/prefix/x"), True),
          ("delete-second-prefix", s3("DeleteObject", "arn:aws:s3:::mybucket2/prefix2/y"), True),
          ("get-not-selected", s3("GetObject", "arn:aws:s3:::mybucket/prefix/x"), False),
          ("put-other-bucket", s3(PUT, "arn:aws:s3:::mybucket3/prefix/x"), False),
      ]],
    # All data events of one bucket ("the trailing slash is intentional").
    ("ug-data-advanced-s3-bucket", "object", s3("GetObject", "arn:aws:s3:::bucket_name/photo.jpg"), True),
    ("ug-data-advanced-s3-bucket", "list-objects", s3_bucket_level("ListObjects", "arn:aws:s3:::bucket_name"), True),
    ("ug-data-advanced-s3-bucket", "other-bucket", s3(PUT, "arn:aws:s3:::bucket_name2/photo.jpg"), False),
    ("ug-data-advanced-s3-bucket", "bucket-management", mgmt("PutBucketPolicy", "s3.amazonaws.com", False, resources=[
        {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::bucket_name"}]), False),
    ("ug-data-advanced-outposts", "outposts-object", one(
        "s3-outposts.amazonaws.com", PUT, "AWS::S3Outposts::Object",
        f"arn:aws:s3-outposts:us-east-1:{ACCOUNT}:outpost/op-01ac5d28a6a232904/bucket/b/object/k"), True),
    ("ug-data-advanced-outposts", "s3-object", s3(PUT, "arn:aws:s3:::b/k"), False),
    ("ug-data-advanced-all-data-events", "s3", s3("GetObject", "arn:aws:s3:::b/k"), True),
    ("ug-data-advanced-all-data-events", "lambda", invoke(lam("f")), True),
    ("ug-data-advanced-all-data-events", "dynamodb", one("dynamodb.amazonaws.com", "GetItem", "AWS::DynamoDB::Table",
                                                         f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/T", True), True),
    ("ug-data-advanced-all-data-events", "ebs", one("ebs.amazonaws.com", "GetSnapshotBlock", "AWS::EC2::Snapshot",
                                                    "arn:aws:ec2:us-east-1::snapshot/snap-0123", True), True),
    ("ug-data-advanced-all-data-events", "sns-not-listed", one("sns.amazonaws.com", "Publish", "AWS::SNS::Topic",
                                                               f"arn:aws:sns:us-east-1:{ACCOUNT}:t"), False),
    ("ug-data-advanced-all-data-events", "management", mgmt(), False),
    ("ug-data-eds-ebs", "snapshot-block", one("ebs.amazonaws.com", "GetSnapshotBlock", "AWS::EC2::Snapshot",
                                              "arn:aws:ec2:us-east-1::snapshot/snap-0123", True), True),
    ("ug-data-eds-ebs", "s3", s3("GetObject", "arn:aws:s3:::b/k"), False),
    # The User Guide's prose examples of S3 object logging.
    ("ug-data-prose-bucket-1", "put", s3(PUT, "arn:aws:s3:::bucket-1/upload.png"), True),
    ("ug-data-prose-bucket-1", "get", s3("GetObject", "arn:aws:s3:::bucket-1/upload.png"), True),
    ("ug-data-prose-bucket-1", "bucket-2", s3(PUT, "arn:aws:s3:::bucket-2/upload.png"), False),
    ("ug-data-prose-bucket-3-my-images-write", "delete-my-images",
     s3("DeleteObject", "arn:aws:s3:::bucket-3/my-images/example.jpg"), True),
    ("ug-data-prose-bucket-3-my-images-write", "delete-my-videos",
     s3("DeleteObject", "arn:aws:s3:::bucket-3/my-videos/example.avi"), False),
    ("ug-data-prose-bucket-3-my-images-write", "get-is-read",
     s3("GetObject", "arn:aws:s3:::bucket-3/my-images/example.jpg"), False),
    # Excluding KMS or RDS Data API management events.
    ("ug-mgmt-basic-exclude-kms", "kms", KMS_DECRYPT, False),
    ("ug-mgmt-basic-exclude-kms", "kms-write", KMS_DISABLE, False),
    ("ug-mgmt-basic-exclude-kms", "ec2", mgmt(), True),
    ("ug-mgmt-basic-exclude-kms", "rdsdata", RDS_DATA, True),
    ("ug-mgmt-basic-exclude-rdsdata", "rdsdata", RDS_DATA, False),
    ("ug-mgmt-basic-exclude-rdsdata", "kms", KMS_DECRYPT, True),
    ("ug-mgmt-eds-exclude-kms", "kms", KMS_DECRYPT, False),
    ("ug-mgmt-eds-exclude-kms", "ec2", TERMINATE, True),
    ("ug-mgmt-eds-exclude-kms", "no-source", record(eventSource=ABSENT), True),
    ("ug-mgmt-eds-exclude-rdsdata", "rdsdata", RDS_DATA, False),
    ("ug-mgmt-eds-exclude-rdsdata", "kms", KMS_DECRYPT, True),
    # Write-only management events: KMS DisableKey kept, Decrypt dropped (the documented low-volume recipe).
    ("ug-mgmt-basic-write-only", "terminate-instances", TERMINATE, True),
    ("ug-mgmt-basic-write-only", "describe-instances", mgmt(), False),
    ("ug-mgmt-basic-write-only", "kms-disable-key", KMS_DISABLE, True),
    ("ug-mgmt-basic-write-only", "kms-decrypt", KMS_DECRYPT, False),
    ("ug-mgmt-basic-write-only", "no-read-only-field", record(readOnly=ABSENT, eventName="ConsoleLogin"), False),
    # Filtering data events by using advanced event selectors.
    ("ug-filter-cognito-identity-pools", "get-id", one("cognito-identity.amazonaws.com", "GetId",
                                                       "AWS::Cognito::IdentityPool",
                                                       f"arn:aws:cognito-identity:us-east-1:{ACCOUNT}:identitypool/p"),
     True),
    ("ug-filter-cognito-identity-pools", "management", mgmt("CreateIdentityPool", "cognito-identity.amazonaws.com",
                                                            False), False),
    ("ug-filter-put-delete-all-but-one-bucket", "excluded-bucket", s3(PUT, f"{BUCKET}/x"), False),
    ("ug-filter-put-delete-all-but-one-bucket", "other-bucket", s3(PUT, "arn:aws:s3:::other/x"), True),
    ("ug-filter-put-delete-all-but-one-bucket", "get", s3("GetObject", "arn:aws:s3:::other/x"), False),
    ("ug-filter-put-delete-all-but-one-bucket", "similar-name", s3(PUT, f"{BUCKET}-2/x"), True),
    # The six documented outcomes of "How CloudTrail evaluates multiple conditions for a field".
    ("ug-filter-s3select-multiple-conditions", "1-object1-equals", s3(PUT, f"{BUCKET}/object1"), True),
    ("ug-filter-s3select-multiple-conditions", "2-object2-startswith", s3(PUT, f"{BUCKET}/object2"), True),
    ("ug-filter-s3select-multiple-conditions", "3-bucket1-object3-endswith", s3(PUT, f"{BUCKET}1/object3"), True),
    ("ug-filter-s3select-multiple-conditions", "4-notstartswith", s3(PUT, f"{BUCKET}/deselectObject4"), False),
    ("ug-filter-s3select-multiple-conditions", "5-notendswith", s3(PUT, f"{BUCKET}/object5"), False),
    ("ug-filter-s3select-multiple-conditions", "6-notequals", s3(PUT, f"{BUCKET}/object6"), False),
    ("ug-filter-s3select-multiple-conditions", "no-select", s3(PUT, "arn:aws:s3:::other/object7"), False),
    ("ug-filter-get-put-delete", "get", s3("GetObject", "arn:aws:s3:::b/k"), True),
    ("ug-filter-get-put-delete", "head", s3("HeadObject", "arn:aws:s3:::b/k"), False),
    ("ug-filter-ebs-except-listchangedblocks", "get-block", one(
        "ebs.amazonaws.com", "GetSnapshotBlock", "AWS::EC2::Snapshot", "arn:aws:ec2:us-east-1::snapshot/s", True), True),
    ("ug-filter-ebs-except-listchangedblocks", "list-changed", one(
        "ebs.amazonaws.com", "ListChangedBlocks", "AWS::EC2::Snapshot", "arn:aws:ec2:us-east-1::snapshot/s", True),
     False),
    ("ug-filter-bucket-except-scanner-role", "alice", s3("GetObject", f"{BUCKET}/x"), True),
    ("ug-filter-bucket-except-scanner-role", "scanner", s3("GetObject", f"{BUCKET}/x", userIdentity={
        "type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/bucket-scanner-role/i-0abc"}), False),
    ("ug-filter-bucket-except-scanner-role", "service-without-arn", s3("GetObject", f"{BUCKET}/x", userIdentity={
        "type": "AWSService", "invokedBy": "s3.amazonaws.com"}), True),
    ("ug-filter-bucket-except-scanner-role", "other-bucket", s3("GetObject", "arn:aws:s3:::other/x"), False),
    ("ug-filter-exclude-deleteobjects-individual", "put", s3(PUT, f"{BUCKET}/x"), True),
    ("ug-filter-exclude-deleteobjects-individual", "delete-object", s3("DeleteObject", f"{BUCKET}/x"), True),
    ("ug-filter-exclude-deleteobjects-individual", "deleted-by-delete-objects",
     s3("DeleteObject", f"{BUCKET}/x", eventType="AwsServiceEvent"), False),
    ("ug-filter-exclude-deleteobjects-individual", "delete-objects", s3_bucket_level("DeleteObjects", BUCKET), True),
    # PutEventSelectors API reference examples.
    ("api-put-mgmt-s3-kms-network", "management", TERMINATE, True),
    ("api-put-mgmt-s3-kms-network", "put-prefix", s3(PUT, f"{BUCKET}/prefix/x"), True),
    ("api-put-mgmt-s3-kms-network", "put-other", s3(PUT, f"{BUCKET}/x"), False),
    ("api-put-mgmt-s3-kms-network", "kms-network", network("kms.amazonaws.com"), True),
    ("api-put-mgmt-s3-kms-network", "s3-network", network("s3.amazonaws.com"), False),
    ("api-put-sns-sqs", "sns-topic", one("sns.amazonaws.com", "Publish", "AWS::SNS::Topic",
                                         f"arn:aws:sns:us-east-1:{ACCOUNT}:t"), True),
    ("api-put-sns-sqs", "sns-endpoint", one("sns.amazonaws.com", "Publish", "AWS::SNS::PlatformEndpoint",
                                            f"arn:aws:sns:us-east-1:{ACCOUNT}:endpoint/GCM/app/e"), True),
    ("api-put-sns-sqs", "sqs-send", one("sqs.amazonaws.com", "SendMessage", "AWS::SQS::Queue",
                                        f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"), True),
    ("api-put-sns-sqs", "sqs-receive", one("sqs.amazonaws.com", "ReceiveMessage", "AWS::SQS::Queue",
                                           f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"), False),
    # DataResource (API Reference): prefixes, and exact Lambda function ARNs.
    ("api-dataresource-examples", "bucket1-object", s3(PUT, "arn:aws:s3:::amzn-s3-demo-bucket1/image.png"), True),
    ("api-dataresource-examples", "other-bucket", s3(PUT, "arn:aws:s3:::amzn-s3-demo-bucket2/image.png"), False),
    ("api-dataresource-examples", "helloworld", invoke(lam("helloworld")), True),
    ("api-dataresource-examples", "helloworld2-is-not-helloworld", invoke(lam("helloworld2")), False),
    ("api-dataresource-examples", "helloworld-alias", invoke(lam("helloworld:PROD")), True),
    ("api-dataresource-examples", "no-management-events", mgmt(), False),
    ("api-dataresource-all-resources", "any-object", s3("GetObject", "arn:aws:s3:::any/k"), True),
    ("api-dataresource-all-resources", "any-function", invoke(lam("any", "eu-west-1", ACCOUNT)), True),
    ("api-dataresource-all-resources", "any-table", one("dynamodb.amazonaws.com", "PutItem", "AWS::DynamoDB::Table",
                                                        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/T"), True),
    ("api-dataresource-all-resources", "sns", one("sns.amazonaws.com", "Publish", "AWS::SNS::Topic",
                                                  f"arn:aws:sns:us-east-1:{ACCOUNT}:t"), False),
    ("api-dataresource-all-resources", "other-partition-is-literal", s3("GetObject", "arn:aws-cn:s3:::any/k"), False),
    ("api-dataresource-s3-object-prefix", "under-prefix",
     s3(PUT, "arn:aws:s3:::amzn-s3-demo-bucket1/example-images/cat.png"), True),
    ("api-dataresource-s3-object-prefix", "outside-prefix", s3(PUT, "arn:aws:s3:::amzn-s3-demo-bucket1/cat.png"),
     False),
    # AWS CLI reference examples.
    ("cli-put-advanced-mytrail", "management", mgmt(), True),
    ("cli-put-advanced-mytrail", "put-excluded-bucket", s3(PUT, "arn:aws:s3:::sample_bucket_name/x"), False),
    ("cli-put-advanced-mytrail", "put-other-bucket", s3(PUT, "arn:aws:s3:::other/x"), True),
    ("cli-put-advanced-mytrail", "my-function", invoke(lam("myFunction", "us-east-1", ACCOUNT)), True),
    ("cli-put-advanced-mytrail", "other-function", invoke(lam("otherFunction", "us-east-1", ACCOUNT)), False),
    ("cli-put-advanced-mytrail", "publish-my-topic", one(
        "sns.amazonaws.com", "Publish", "AWS::SNS::Topic", f"arn:aws:sns:us-east-1:{ACCOUNT}:myTopic.fifo"), True),
    ("cli-put-advanced-mytrail", "publish-other-topic", one(
        "sns.amazonaws.com", "Publish", "AWS::SNS::Topic", f"arn:aws:sns:us-east-1:{ACCOUNT}:other"), False),
    ("cli-put-basic-two-prefixes-lambda", "function", invoke(lam("hello-world-python-function", account=ACCOUNT)),
     True),
    ("cli-put-basic-two-prefixes-lambda", "similar-function",
     invoke(lam("hello-world-python-function-v2", account=ACCOUNT)), False),
    ("cli-put-basic-two-prefixes-lambda", "prefix", s3(PUT, "arn:aws:s3:::mybucket/prefix/x"), True),
    ("cli-put-basic-two-prefixes-lambda", "management", KMS_DECRYPT, True),
    ("cli-put-basic-all-s3-lambda", "any-object", s3(PUT, "arn:aws:s3:::x/y"), True),
    ("cli-put-basic-all-s3-lambda", "any-function", invoke(lam("z")), True),
    ("cli-put-basic-all-s3-lambda", "dynamodb", one("dynamodb.amazonaws.com", "PutItem", "AWS::DynamoDB::Table",
                                                    f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/T"), False),
    ("cli-put-basic-all-s3-lambda", "management", mgmt(), True),
]


@pytest.mark.parametrize("fixture, event, expected", [(c[0], c[2], c[3]) for c in DOC_CASES],
                         ids=[f"{c[0]}:{c[1]}" for c in DOC_CASES])
def test_documented_example(fixture: str, event: dict[str, Any], expected: bool) -> None:
    assert load_selectors(SELECTORS / f"{fixture}.json").matches(event) is expected


def test_every_documented_example_is_evaluated() -> None:
    files = {path.stem for path in SELECTORS.glob("*.json")}
    assert files - {case[0] for case in DOC_CASES} == {"ug-data-advanced-empty"}   # a SelectorError, tested below


def test_the_output_form_means_the_same_as_the_input_form() -> None:
    """CloudTrail's output repeats unused operators as []: the same filter as the command's input."""
    assert (load_selectors(SELECTORS / "ug-data-advanced-mgmt-and-s3-prefixes-output.json")
            == load_selectors(SELECTORS / "ug-data-advanced-mgmt-and-s3-prefixes.json"))


def test_documented_filters_evaluate_every_fixture_record(fixture_records: list[fixturedata.FixtureRecord]) -> None:
    """No real record makes a filter fail; the default selectors keep every management event."""
    filters = {path.stem: load_selectors(path) for path in SELECTORS.glob("*.json") if "empty" not in path.stem}
    for _, _, event in fixture_records:
        for selector_filter in filters.values():
            assert selector_filter.matches(event) in (True, False)
    management = [event for _, _, event in fixture_records if event.get("eventCategory") == "Management"]
    assert management and all(filters["ug-mgmt-advanced-default"].matches(event) for event in management)


# ---- errors ------------------------------------------------------------------------------------------------

def fields(*field_selectors: Any) -> list[dict[str, Any]]:
    return [{"Name": "n", "FieldSelectors": list(field_selectors)}]


def basic(**selector: Any) -> dict[str, Any]:
    return {"EventSelectors": [selector]}


S3_TYPE = {"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}
ERROR_CASES = [
    ("not-json-container", "text", "must be a JSON object or array, not a string"),
    ("number", 42, "not a number"),
    ("both-kinds", {"EventSelectors": [{}], "AdvancedEventSelectors": []}, "only one kind per trail"),
    ("neither-kind", {"TrailARN": "arn:x"}, "neither EventSelectors nor AdvancedEventSelectors (keys: TrailARN)"),
    ("advanced-not-array", {"AdvancedEventSelectors": {}}, "AdvancedEventSelectors must be an array, not an object"),
    ("advanced-empty", {"AdvancedEventSelectors": []}, "AdvancedEventSelectors is empty"),
    ("basic-empty", {"EventSelectors": []}, "EventSelectors is empty"),
    ("bare-empty", [], "AdvancedEventSelectors is empty"),
    ("selector-not-object", ["x"], "AdvancedEventSelectors[0]: a selector must be an object, not a string"),
    ("no-field-selectors", [{"Name": "n"}], "AdvancedEventSelectors[0] 'n': has no FieldSelectors"),
    ("empty-field-selectors", fields(), "'n': FieldSelectors must be a non-empty array"),
    ("field-selectors-not-array", [{"FieldSelectors": {}}], "[0]: FieldSelectors must be a non-empty array"),
    ("name-not-string", [{"Name": 5, "FieldSelectors": [eq("eventName", "x")]}], "Name must be a string, not a number"),
    ("unknown-selector-key", [{"Name": "n", "FieldSelectors": [eq("eventName", "x")], "Extra": 1}],
     "'n': unknown key 'Extra' (known: Name, FieldSelectors)"),
    ("basic-key-in-advanced", [{"FieldSelectors": [eq("eventName", "x")], "ReadWriteType": "All"}],
     "basic selectors go under \"EventSelectors\""),
    ("name-key-wrong-case", [{"name": "n", "FieldSelectors": [eq("eventName", "x")]}], "did you mean 'Name'?"),
    ("field-selector-not-object", fields("eventName"), "FieldSelectors[0]: a field selector must be an object"),
    ("no-field", fields({"Equals": ["x"]}), "'n' FieldSelectors[0]: the field selector has no Field"),
    ("field-not-string", fields({"Field": 3, "Equals": ["x"]}), "unknown field 3"),
    ("unknown-field", fields({"Field": "sourceIPAddress", "Equals": ["x"]}), "unknown field 'sourceIPAddress'"),
    ("field-wrong-case", fields({"Field": "resources.arn", "Equals": ["x"]}),
     "unknown field 'resources.arn'; did you mean 'resources.ARN'? (names are case-sensitive)"),
    ("field-wrong-case-2", fields({"Field": "EventName", "Equals": ["x"]}), "did you mean 'eventName'?"),
    ("unknown-operator", fields({"Field": "eventName", "Contains": ["x"]}), "unknown operator 'Contains'"),
    ("operator-wrong-case", fields({"Field": "eventName", "equals": ["x"]}), "did you mean 'Equals'?"),
    ("second-field-selector-named", fields(eq("eventName", "x"), {"Field": "eventSource"}),
     "'n' FieldSelectors[1] (eventSource): no operator has a value"),
    ("only-empty-operators", fields({"Field": "eventName", "Equals": [], "NotEquals": []}), "no operator has a value"),
    ("operator-not-array", fields({"Field": "eventName", "Equals": "GetObject"}),
     "(eventName): Equals must be an array of strings, not a string"),
    ("value-not-string", fields({"Field": "eventName", "NotEquals": [1]}), "NotEquals values must be non-empty strings"),
    ("value-empty", fields({"Field": "eventName", "StartsWith": [""]}), "StartsWith values must be non-empty strings"),
    ("value-null", fields({"Field": "eventName", "Equals": [None]}), "values must be non-empty strings, not None"),
    ("readonly-bad-value", fields(eq("readOnly", "yes")), "(readOnly): Equals 'yes' is never a readOnly value"),
    ("session-bad-value", fields({"Field": "sessionCredentialFromConsole", "NotEquals": ["1"]}),
     "NotEquals '1' is never a sessionCredentialFromConsole value"),
    ("category-wrong-case", fields(eq("eventCategory", "management")),
     "(eventCategory): Equals 'management' is not an event category; did you mean 'Management'?"),
    ("category-unknown", fields({"Field": "eventCategory", "NotEquals": ["Events"]}),
     "NotEquals 'Events' is not an event category (known: Management, Data,"),
    ("resource-type-malformed", fields(eq("resources.type", "S3::Object")),
     "(resources.type): Equals 'S3::Object' is not a resource type like AWS::S3::Object"),
    ("basic-not-object", {"EventSelectors": ["x"]}, "EventSelectors[0]: a selector must be an object, not a string"),
    ("basic-unknown-key", basic(ReadWriteType="All", Foo=1), "EventSelectors[0]: unknown key 'Foo'"),
    ("basic-key-wrong-case", basic(readWriteType="All"), "did you mean 'ReadWriteType'?"),
    ("basic-bad-read-write", basic(ReadWriteType="read-only"), "ReadWriteType 'read-only' is not one of"),
    ("basic-read-write-not-string", basic(ReadWriteType=["All"]), "ReadWriteType ['All'] is not one of"),
    ("basic-include-not-bool", basic(IncludeManagementEvents="true"), "IncludeManagementEvents must be true or false"),
    ("basic-exclude-not-array", basic(ExcludeManagementEventSources="kms.amazonaws.com"),
     "ExcludeManagementEventSources must be an array, not a string"),
    ("basic-exclude-not-strings", basic(ExcludeManagementEventSources=[1]), "must hold strings"),
    ("basic-data-not-array", basic(DataResources={}), "DataResources must be an array, not an object"),
    ("data-resource-not-object", basic(DataResources=["x"]), "DataResources[0]: a data resource must be an object"),
    ("data-resource-unknown-key", basic(DataResources=[{**S3_TYPE, "Value": []}]),
     "DataResources[0]: unknown key 'Value'; did you mean 'Values'?"),
    ("data-resource-no-type", basic(DataResources=[{"Values": ["arn:aws:s3"]}]), "Type None is not a type like"),
    ("data-resource-bad-type", basic(DataResources=[{**S3_TYPE, "Type": "S3Object"}]), "Type 'S3Object' is not"),
    ("data-resource-no-values", basic(DataResources=[{"Type": "AWS::S3::Object"}]),
     "(AWS::S3::Object): Values must be an array of strings, not null"),
    ("data-resource-empty-values", basic(DataResources=[{**S3_TYPE, "Values": []}]), "Values is empty"),
    ("data-resource-value-not-string", basic(DataResources=[{**S3_TYPE, "Values": [7]}]), "non-empty strings"),
    ("basic-selects-nothing", basic(IncludeManagementEvents=False), "EventSelectors select nothing"),
    ("bare-basic-selects-nothing", [{"IncludeManagementEvents": False}], "EventSelectors select nothing"),
]


@pytest.mark.parametrize("document, message", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_invalid_document(document: Any, message: str) -> None:
    with pytest.raises(SelectorError, match=re.escape(message)) as raised:
        parse_selectors(document)
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, errors.InputError)


def test_documented_empty_selectors_are_an_error() -> None:
    path = SELECTORS / "ug-data-advanced-empty.json"
    with pytest.raises(SelectorError, match=re.escape(f"{path}: AdvancedEventSelectors is empty")):
        load_selectors(path)


def write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "selectors.json"
    path.write_bytes(content)
    return path


LOAD_ERROR_CASES = [
    ("missing", None, "cannot read selectors file"),
    ("directory", "dir", "cannot read selectors file"),
    ("not-json", b'{"EventSelectors": [', "not valid JSON"),
    ("trailing-comma", b'{"EventSelectors": [{"ReadWriteType": "All",}]}', "not valid JSON"),
    ("not-utf8", b'\xff\xfe\xfd', "not valid JSON"),
    ("invalid-document", b'{"EventSelectors": []}', "selectors.json: EventSelectors is empty"),
]


@pytest.mark.parametrize("content, message", [c[1:] for c in LOAD_ERROR_CASES], ids=[c[0] for c in LOAD_ERROR_CASES])
def test_load_error(tmp_path: Path, content: bytes | str | None, message: str) -> None:
    if content is None:
        path = tmp_path / "missing.json"
    elif content == "dir":
        path = tmp_path
    else:
        path = write(tmp_path, content)
    with pytest.raises(SelectorError, match=re.escape(message)) as raised:
        load_selectors(str(path) if content == "dir" else path)
    assert "\n" not in str(raised.value)


def test_load_accepts_str_paths_and_utf8_bom(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf" + json.dumps([{"FieldSelectors": [eq("eventName", "x")]}]).encode())
    assert load_selectors(str(path)) == parse_selectors([{"FieldSelectors": [eq("eventName", "x")]}])


# ---- documents that parse --------------------------------------------------------------------------------

def test_bare_array_of_basic_selectors_is_recognised() -> None:
    assert (parse_selectors([{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}])
            == parse_selectors({"EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]}))


def test_basic_selector_defaults_are_all_management_events() -> None:
    """ReadWriteType defaults to All and IncludeManagementEvents to true (EventSelector API reference)."""
    only_defaults = parse_selectors({"EventSelectors": [{}]})
    assert only_defaults.matches(mgmt()) and only_defaults.matches(TERMINATE)
    assert not only_defaults.matches(s3("GetObject", "arn:aws:s3:::b/k"))


def test_empty_string_in_excluded_sources_excludes_nothing() -> None:
    """The User Guide re-enables KMS events by passing an empty string as ExcludeManagementEventSources."""
    assert parse_selectors(basic(ExcludeManagementEventSources=[""])).matches(KMS_DECRYPT)


TABLE = "arn:aws:dynamodb:us-east-1:1:table/Orders"
BASIC_DATA_CASES = [
    ("dynamodb-table-exact", "AWS::DynamoDB::Table", TABLE, TABLE, True),
    ("dynamodb-table-not-a-longer-name", "AWS::DynamoDB::Table", TABLE, f"{TABLE}2", False),
    ("dynamodb-table-sub-resource", "AWS::DynamoDB::Table", TABLE, f"{TABLE}/index/ByDate", True),
    ("dynamodb-partial-is-prefix", "AWS::DynamoDB::Table", "arn:aws:dynamodb:us-east-1", TABLE, True),
    ("lambda-qualified-is-exact", "AWS::Lambda::Function", "arn:aws:lambda:us-east-1:1:function:f:1",
     "arn:aws:lambda:us-east-1:1:function:f:10", False),
    ("lambda-qualified-exact-hit", "AWS::Lambda::Function", "arn:aws:lambda:us-east-1:1:function:f:1",
     "arn:aws:lambda:us-east-1:1:function:f:1", True),
    ("lambda-name-is-not-a-prefix", "AWS::Lambda::Function", "arn:aws:lambda:us-east-1:1:function:hel",
     "arn:aws:lambda:us-east-1:1:function:hello", False),
    ("lambda-region-prefix", "AWS::Lambda::Function", "arn:aws:lambda:us-east-1",
     "arn:aws:lambda:us-east-1:1:function:hello", True),
    ("s3-without-slash-is-a-literal-prefix", "AWS::S3::Object", "arn:aws:s3:::logs", "arn:aws:s3:::logs2/k", True),
]


@pytest.mark.parametrize("resource_type, value, arn, expected", [c[1:] for c in BASIC_DATA_CASES],
                         ids=[c[0] for c in BASIC_DATA_CASES])
def test_basic_data_resource_values(resource_type: str, value: str, arn: str, expected: bool) -> None:
    selectors = parse_selectors(basic(IncludeManagementEvents=False,
                                      DataResources=[{"Type": resource_type, "Values": [value]}]))
    assert selectors.matches(one("x.amazonaws.com", "Op", resource_type, arn)) is expected
    assert not selectors.matches(one("x.amazonaws.com", "Op", "AWS::Other::Type", arn))   # the type must match


def test_basic_selectors_do_not_match_other_categories() -> None:
    everything = parse_selectors(basic(DataResources=[{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}]))
    assert not everything.matches(insight())
    assert not everything.matches(network("s3.amazonaws.com"))


# ---- simple flags -----------------------------------------------------------------------------------------

JAN = parse_micros("2024-01-01T00:00:00Z")
FEB = parse_micros("2024-02-01T00:00:00Z")
SIMPLE_CASES = [
    ("no-flags", {}, mgmt(), True),
    ("write-only-write", {"write_only": True}, TERMINATE, True),
    ("write-only-read", {"write_only": True}, mgmt(), False),
    ("write-only-string", {"write_only": True}, record(readOnly="false"), True),
    ("write-only-absent", {"write_only": True}, record(readOnly=ABSENT), False),
    ("read-only-read", {"read_only": True}, mgmt(), True),
    ("read-only-write", {"read_only": True}, TERMINATE, False),
    ("source-hit", {"event_sources": ["s3.amazonaws.com", "ec2.amazonaws.com"]}, mgmt(), True),
    ("source-miss", {"event_sources": ["s3.amazonaws.com"]}, mgmt(), False),
    ("source-is-exact", {"event_sources": ["ec2"]}, mgmt(), False),
    ("name-hit", {"event_names": ["DescribeInstances"]}, mgmt(), True),
    ("name-miss", {"event_names": ["RunInstances"]}, mgmt(), False),
    ("flags-combine-with-and", {"write_only": True, "event_names": ["DescribeInstances"]}, mgmt(), False),
    ("start-inclusive", {"start": JAN}, record(eventTime="2024-01-01T00:00:00Z"), True),
    ("before-start", {"start": JAN}, record(eventTime="2023-12-31T23:59:59.999999Z"), False),
    ("end-exclusive", {"end": FEB}, record(eventTime="2024-02-01T00:00:00Z"), False),
    ("before-end", {"end": FEB}, record(eventTime="2024-01-31T23:59:59Z"), True),
    ("window-with-offset", {"start": JAN, "end": FEB}, record(eventTime="2024-01-01T01:00:00+02:00"), False),
    ("window-inside", {"start": JAN, "end": FEB}, record(eventTime="2024-01-15T08:00:00Z"), True),
    ("time-unparseable", {"start": JAN}, record(eventTime="yesterday"), False),
    ("time-absent", {"end": FEB}, record(eventTime=ABSENT), False),
    ("time-not-a-string", {"end": FEB}, record(eventTime=1704067200), False),
]


@pytest.mark.parametrize("flags, event, expected", [c[1:] for c in SIMPLE_CASES], ids=[c[0] for c in SIMPLE_CASES])
def test_simple_filter(flags: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert simple_filter(**flags).matches(event) is expected


SIMPLE_ERROR_CASES = [
    ("write-and-read", {"write_only": True, "read_only": True}, "write-only and read-only together"),
    ("empty-window", {"start": JAN, "end": JAN}, "empty time window: start 2024-01-01T00:00:00Z is not before end"),
    ("reversed-window", {"start": FEB, "end": JAN}, "empty time window"),
    ("bool-bound", {"start": True}, "a time bound must be UTC microseconds"),
    ("float-bound", {"end": 1.5}, "a time bound must be UTC microseconds"),
    ("empty-source", {"event_sources": [""]}, "event_sources: values must be non-empty strings"),
    ("null-name", {"event_names": [None]}, "event_names: values must be non-empty strings"),
]


@pytest.mark.parametrize("flags, message", [c[1:] for c in SIMPLE_ERROR_CASES],
                         ids=[c[0] for c in SIMPLE_ERROR_CASES])
def test_simple_filter_error(flags: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectorError, match=re.escape(message)):
        simple_filter(**flags)


def test_simple_filter_rejects_one_string_for_a_sequence() -> None:
    with pytest.raises(TypeError, match="event_sources must be a sequence of strings"):
        simple_filter(event_sources="s3.amazonaws.com")


def test_simple_filter_without_flags_is_all() -> None:
    assert simple_filter() == ALL
    assert simple_filter(write_only=False, read_only=False, event_sources=[], event_names=()) == ALL


# ---- both() ---------------------------------------------------------------------------------------------------

KMS_ONLY = simple_filter(event_sources=["kms.amazonaws.com"])
WRITES = simple_filter(write_only=True)
JANUARY = simple_filter(start=JAN, end=FEB)
BOTH_CASES = [
    ("and-both", both(KMS_ONLY, WRITES), KMS_DISABLE, True),
    ("and-first-fails", both(KMS_ONLY, WRITES), TERMINATE, False),
    ("and-second-fails", both(KMS_ONLY, WRITES), KMS_DECRYPT, False),
    ("selectors-and-time", both(load_selectors(SELECTORS / "ug-mgmt-basic-exclude-kms.json"), JANUARY),
     mgmt(eventTime="2024-01-02T00:00:00Z"), True),
    ("selectors-and-time-outside", both(load_selectors(SELECTORS / "ug-mgmt-basic-exclude-kms.json"), JANUARY),
     mgmt(eventTime="2024-02-02T00:00:00Z"), False),
    ("selectors-fail-time-holds", both(load_selectors(SELECTORS / "ug-mgmt-basic-exclude-kms.json"), JANUARY),
     KMS_DISABLE | {"eventTime": "2024-01-02T00:00:00Z"}, False),
    ("windows-intersect", both(JANUARY, simple_filter(start=parse_micros("2024-01-20T00:00:00Z"))),
     mgmt(eventTime="2024-01-10T00:00:00Z"), False),
    ("windows-intersect-inside", both(JANUARY, simple_filter(end=parse_micros("2024-01-20T00:00:00Z"))),
     mgmt(eventTime="2024-01-10T00:00:00Z"), True),
]


@pytest.mark.parametrize("combined, event, expected", [c[1:] for c in BOTH_CASES], ids=[c[0] for c in BOTH_CASES])
def test_both(combined: EventFilter, event: dict[str, Any], expected: bool) -> None:
    assert combined.matches(event) is expected


def test_both_identities_and_window() -> None:
    assert both(ALL, KMS_ONLY) == KMS_ONLY == both(KMS_ONLY, ALL)
    assert both(KMS_ONLY, KMS_ONLY) == KMS_ONLY
    assert both(JANUARY, simple_filter(start=parse_micros("2024-01-20T00:00:00Z"))).start == parse_micros(
        "2024-01-20T00:00:00Z")
    with pytest.raises(SelectorError, match="the time windows do not overlap"):
        both(JANUARY, simple_filter(start=FEB))


# ---- describe, pickling, cost -----------------------------------------------------------------------------------

DESCRIBE_CASES = [
    ("all", ALL, "all events"),
    ("advanced", load_selectors(SELECTORS / "api-put-sns-sqs.json"), "advanced selectors: 3 (OR)"),
    ("basic", load_selectors(SELECTORS / "cli-put-basic-all-s3-lambda.json"),
     "basic selectors: 1 (OR; 3 advanced-equivalent)"),
    ("flags", simple_filter(write_only=True, event_sources=["a", "b"], event_names=["c"]),
     "readOnly = false AND eventSource in (a, b) AND eventName = c"),
    ("window", JANUARY, "eventTime in [2024-01-01T00:00:00Z, 2024-02-01T00:00:00Z)"),
    ("start", simple_filter(start=JAN), "eventTime >= 2024-01-01T00:00:00Z"),
    ("end", simple_filter(end=FEB), "eventTime < 2024-02-01T00:00:00Z"),
    ("combined", both(load_selectors(SELECTORS / "api-put-sns-sqs.json"), both(WRITES, JANUARY)),
     "advanced selectors: 3 (OR); readOnly = false; eventTime in [2024-01-01T00:00:00Z, 2024-02-01T00:00:00Z)"),
]


@pytest.mark.parametrize("selector_filter, expected", [c[1:] for c in DESCRIBE_CASES],
                         ids=[c[0] for c in DESCRIBE_CASES])
def test_describe(selector_filter: EventFilter, expected: str) -> None:
    assert selector_filter.describe() == expected


PICKLE_CASES = [
    ("all", ALL),
    ("advanced", load_selectors(SELECTORS / "cli-put-advanced-mytrail.json")),
    ("basic", load_selectors(SELECTORS / "cli-put-basic-two-prefixes-lambda.json")),
    ("flags", simple_filter(read_only=True, event_names=["GetObject"], start=JAN)),
    ("both", both(load_selectors(SELECTORS / "ug-filter-s3select-multiple-conditions.json"), JANUARY)),
]
PICKLE_EVENTS = [event for _, _, event, _ in DOC_CASES] + [mgmt(eventTime="2024-01-05T00:00:00Z")]


@pytest.mark.parametrize("selector_filter", [c[1] for c in PICKLE_CASES], ids=[c[0] for c in PICKLE_CASES])
def test_pickle_round_trip(selector_filter: EventFilter) -> None:
    copy = pickle.loads(pickle.dumps(selector_filter))
    assert copy == selector_filter and hash(copy) == hash(selector_filter)
    assert [copy.matches(e) for e in PICKLE_EVENTS] == [selector_filter.matches(e) for e in PICKLE_EVENTS]


def test_filters_are_plain_data() -> None:
    """Only tuples, strings, ints, bools and None inside: nothing that pickles by value or by closure."""
    def leaves(value: Any) -> list[Any]:
        if isinstance(value, tuple):
            return [leaf for item in value for leaf in leaves(item)]
        return [value]
    for _, selector_filter in PICKLE_CASES:
        found = leaves((selector_filter.sets, selector_filter.start, selector_filter.end))
        assert {type(leaf) for leaf in found} <= {str, bool, int, type(None)}


class Untouchable(dict[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise AssertionError("ALL must not look at the event")

    get = __getitem__   # type: ignore[assignment]


def test_all_matches_without_looking_at_the_event() -> None:
    assert ALL.matches(Untouchable()) is True


def test_all_matches_is_cheap() -> None:
    """About the cost of one dict look-up, measured side by side so machine load cancels out."""
    event = mgmt()
    cost = min(timeit.repeat(lambda: ALL.matches(event), number=20_000, repeat=5))
    look_up = min(timeit.repeat(lambda: event.get("eventTime"), number=20_000, repeat=5))
    assert cost < 4 * look_up
