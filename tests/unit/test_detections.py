"""Tests of trailbeam.detections: every rule on real records first, then hand-written and hostile events,
signals, ordering, and the sample trail's attack story end to end."""

from __future__ import annotations

import copy
import gzip
import json
import random
import re
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest

import fixturedata
from trailbeam import detections, identityreport, jsonvalue, signals, timestamps
from trailbeam.detections import CATEGORIES, RULES, SEVERITIES, Finding, detect_event, detect_events, from_signals
from trailbeam.detections import sort_findings, trail_buckets_of
from trailbeam.sample import write_sample

A, OTHER = "111122223333", "444455556666"
ALICE = f"arn:aws:iam::{A}:user/alice"
SESSION = f"arn:aws:sts::{A}:assumed-role/Ops/s"
ROLE_SESSION = {"type": "AssumedRole", "arn": SESSION, "accountId": A, "principalId": "AROAOPS:s",
                "accessKeyId": "ASIAOPS", "sessionContext": {"sessionIssuer": {"type": "Role",
                                                                                "arn": f"arn:aws:iam::{A}:role/Ops"}}}
ROOT = {"type": "Root", "arn": f"arn:aws:iam::{A}:root", "accountId": A, "principalId": A}
TRAIL = f"arn:aws:cloudtrail:us-east-1:{A}:trail/main"
BUCKET = "arn:aws:s3:::exports"
PUBLIC_READ = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"}


def event(source: str, name: str, params: Any = None, response: Any = None, **extra: Any) -> dict[str, Any]:
    """A successful call by IAM user alice in account A, us-east-1."""
    record = {
        "eventVersion": "1.09", "eventTime": "2024-11-30T08:00:00Z", "eventID": f"ev-{name}",
        "eventSource": f"{source}.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "recipientAccountId": A, "readOnly": False, "requestParameters": params, "responseElements": response,
        "userIdentity": {"type": "IAMUser", "arn": ALICE, "accountId": A, "userName": "alice",
                         "principalId": "AIDAALICE", "accessKeyId": "AKIAALICE"},
    }
    record.update(extra)
    return record


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


PUBLIC_POLICY = {"bucketName": "exports", "bucketPolicy": policy(PUBLIC_READ)}


def trust(principal: Any, **more: Any) -> str:
    return json.dumps(policy({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **more}))


def rules_of(found: list[Finding]) -> set[tuple[str, str]]:
    return {(f.rule, f.severity) for f in found}


# ---- real records: every fixture file, exactly -------------------------------------------------------------

def _trail(region: str, account: str, name: str) -> str:
    return f"arn:aws:cloudtrail:{region}:{account}:trail/{name}"


# File -> the exact (rule, severity, resource) set of its records. Every fixture file is listed: the ones
# with no detection must stay silent (reads, discovery, execution, and writes no rule is about).
EXPECTED_FIXTURES: dict[str, set[tuple[str, str, str | None]]] = {
    "aws.credential-access.ec2-get-password-data.json": set(),
    "aws.credential-access.ec2-steal-instance-credentials.json": set(),
    "aws.credential-access.secretsmanager-batch-retrieve-secrets.json": set(),
    "aws.credential-access.secretsmanager-retrieve-secrets.json": set(),
    "aws.credential-access.ssm-retrieve-securestring-parameters.json": set(),
    "aws.defense-evasion.cloudtrail-delete.json": {
        ("logging.delete-trail", "high",
         _trail("megov-westwest-1r", "847129010505", "stratus-red-team-cloudtraild-trail-kvrwohmiai"))},
    "aws.defense-evasion.cloudtrail-event-selectors.json": {
        ("logging.event-selectors", "high",
         _trail("cn-northsouth-2r", "958312252124", "stratus-red-team-ctes-trail-khlvciwdor"))},
    "aws.defense-evasion.cloudtrail-stop.json": {
        ("logging.stop-logging", "high",
         _trail("apiso-centralnorth-2r", "143434273843", "stratus-red-team-ct-stop-trail-buykxbqejv"))},
    "aws.defense-evasion.dns-delete-logs.json": {
        ("logging.dns-query-logs", "medium",
         "arn:aws:route53resolver:sa-central-3r:206821776919:resolver-query-log-config/rqlc-4473f20ca554c07")},
    # The technique's LeaveOrganization was denied: an attempt, not a change.
    "aws.defense-evasion.organizations-leave.json": {("logging.attempt", "low", "arn:aws:iam::307578594326:root")},
    "aws.defense-evasion.vpc-remove-flow-logs.json": {
        ("logging.vpc-flow-logs", "medium",
         "arn:aws:ec2:megov-south-1r:498376118699:vpc-flow-log/fl-0e17aa62a21d4bbfe")},
    "aws.discovery.ec2-download-user-data.json": set(),
    "aws.execution.ec2-launch-unusual-instances.json": set(),
    "aws.execution.ec2-user-data.json": set(),
    "aws.execution.ssm-send-command.json": set(),
    "aws.execution.ssm-start-session.json": set(),
    # The anonymiser rewrote 0.0.0.0 into a random address; the /0 prefix is what opens the group.
    "aws.exfiltration.ec2-security-group-open-port-22-ingress.json": {
        ("exposure.security-group-open", "high",
         "arn:aws:ec2:us-northeast-1r:032092706103:security-group/sg-003dc7f1f1c686164")},
    "aws.exfiltration.ec2-share-ami.json": {
        ("exposure.image-shared", "high", "arn:aws:ec2:me-south-1r::image/ami-de1fbCab6ccB03e6D")},
    "aws.exfiltration.ec2-share-ebs-snapshot.json": {
        ("exposure.snapshot-shared", "high", "arn:aws:ec2:me-central-3r::snapshot/snap-041993b54a9b3af6f")},
    "aws.exfiltration.rds-share-snapshot.json": {
        ("exposure.rds-snapshot-shared", "high", "arn:aws:rds:meiso-eastwest-2r:171471557522:snapshot:exfiltration")},
    "aws.impact.bedrock-invoke-model.json": set(),
    "aws.initial-access.console-login-without-mfa.json": set(),
    "aws.lateral-movement.ec2-instance-connect.json": set(),
    "aws.lateral-movement.ec2-serial-console-send-ssh-public-key.json": set(),
    "aws.persistence.iam-backdoor-role.json": {
        ("persistence.trust-policy", "high", "arn:aws:iam::751203476945:role/stratus-red-team-backdoor-r-role")},
    "aws.persistence.iam-backdoor-user.json": {
        ("persistence.access-key-for-other-user", "high",
         "arn:aws:iam::946986569305:user/stratus-red-team-backdoor-u-user")},
    # CreateUser alone is routine; the key and the policy on it are what make it a backdoor.
    "aws.persistence.iam-create-admin-user.json": {
        ("persistence.admin-policy", "high", "arn:aws:iam::229654561268:user/malicious-iam-user"),
        ("persistence.access-key-for-other-user", "high", "arn:aws:iam::229654561268:user/malicious-iam-user")},
    "aws.persistence.iam-create-backdoor-role.json": {
        ("persistence.admin-policy", "high", "arn:aws:iam::609418236337:role/stratus-red-team-malicious-iam-role"),
        ("persistence.broad-trust-role", "high",
         "arn:aws:iam::609418236337:role/stratus-red-team-malicious-iam-role")},
    # The failed DeleteLoginProfile before it is not a finding.
    "aws.persistence.iam-create-user-login-profile.json": {
        ("persistence.login-profile", "high", "arn:aws:iam::070411556318:user/stratus-red-team-login-profile-user")},
    "aws.persistence.lambda-backdoor-function.json": {
        ("persistence.lambda-backdoor", "high",
         "arn:aws:lambda:ca-centralnorth-1r:880896431042:function:stratus-red-team-backdoor-f-func")},
    # A layer from the function's own account: not a detection.
    "aws.persistence.lambda-layer-extension.json": set(),
    "aws.persistence.lambda-overwrite-code.json": {
        ("persistence.lambda-backdoor", "low",
         "arn:aws:lambda:ap-westeast-2r:266106314375:function:stratus-red-team-olc-func-vayhjqkdav")},
    "aws.persistence.rolesanywhere-create-trust-anchor.json": set(),
    "aws.persistence.sts-federation-token.json": set(),
    "aws.privilege-escalation.iam-update-user-login-profile.json": {
        ("persistence.login-profile", "high",
         "arn:aws:iam::763751499319:user/stratus-red-team-update-login-profile-user")},
    # Five Insight events (three Start, two End) and a failed UpdateTrail; sign-ins and the rest are silent.
    "awsdocs_extracted_examples.json": {
        ("insight.api-call-rate", "low", None),
        ("logging.attempt", "low", "arn:aws:cloudtrail:us-east-2:123456789012:trail/myTrail2")},
}


def test_every_fixture_file_has_an_expectation():
    assert sorted(path.name for path in fixturedata.fixture_files()) == sorted(EXPECTED_FIXTURES)


@pytest.mark.parametrize("path", fixturedata.fixture_files(), ids=lambda path: path.stem)
def test_fixture_file_findings(path):
    found = detect_events(fixturedata.records_in(path))
    assert {(f.rule, f.severity, f.resource) for f in found} == EXPECTED_FIXTURES[path.name]
    records = {r.get("eventID"): r for r in fixturedata.records_in(path)}
    for finding in found:
        record = records[finding.event_ids[0]]
        assert finding.event_ids == (record["eventID"],)
        assert finding.time == timestamps.parse_micros(record["eventTime"])
        assert finding.principal == (record.get("userIdentity") or {}).get("arn")
        assert_well_formed(finding)


def test_insight_events_each_become_a_finding_with_type_and_state():
    records = fixturedata.records_in(fixturedata.AWSDOCS_EXAMPLES)
    found = [f for f in detect_events(records) if f.category == "insight"]
    insights = [r for r in records if r.get("eventCategory") == "Insight"]
    assert sorted(f.event_ids[0] for f in found) == sorted(r["eventID"] for r in insights)
    by_id = {r["eventID"]: r for r in insights}
    for finding in found:
        details, record = dict(finding.details), by_id[finding.event_ids[0]]
        assert details["state"] == record["insightDetails"]["state"]
        assert details["insight_type"] == "ApiCallRateInsight"
        assert details["insight_id"] == record["sharedEventID"]
        assert finding.principal is None and finding.resource is None


def assert_well_formed(finding: Finding) -> None:
    rule = RULES[finding.rule]
    assert (finding.category, finding.title) == (rule.category, rule.title)
    assert finding.severity in SEVERITIES
    assert SEVERITIES.index(finding.severity) >= SEVERITIES.index(rule.severity), "above the rule's highest"
    assert finding.summary and "\n" not in finding.summary and len(finding.summary) <= 400
    assert list(finding.details) == sorted(finding.details)
    assert all(isinstance(n, str) and isinstance(v, str) and len(v) <= 1000 for n, v in finding.details)


# ---- hand-written events, one table ----------------------------------------------------------------------

TRAIL_SELECTORS = {"trailName": "main"}


def selectors(*basic: dict[str, Any]) -> dict[str, Any]:
    return {**TRAIL_SELECTORS, "eventSelectors": list(basic)}


def advanced(*fields: dict[str, Any]) -> dict[str, Any]:
    return {**TRAIL_SELECTORS, "advancedEventSelectors": [{"name": "s", "fieldSelectors": list(fields)}]}


MANAGEMENT = {"field": "eventCategory", "Equals": ["Management"]}
NESTED = "[" * 600 + "]" * 600
UPLOADED = {"functionName": "fn", "publish": True}


def sg(*permissions: dict[str, Any]) -> dict[str, Any]:
    return {"groupId": "sg-1", "ipPermissions": {"items": list(permissions)}}


def perm(protocol: str, low: int | None, high: int | None, *, v4: tuple[str, ...] = (),
         v6: tuple[str, ...] = ()) -> dict[str, Any]:
    found: dict[str, Any] = {"ipProtocol": protocol, "fromPort": low, "toPort": high,
                             "ipRanges": {"items": [{"cidrIp": c} for c in v4]},
                             "ipv6Ranges": {"items": [{"cidrIpv6": c} for c in v6]}}
    return {k: v for k, v in found.items() if v is not None}


def pab(**flags: Any) -> dict[str, Any]:
    return {"bucketName": "exports", "PublicAccessBlockConfiguration": flags}


ALL_ON = dict(BlockPublicAcls=True, IgnorePublicAcls=True, BlockPublicPolicy=True, RestrictPublicBuckets=True)
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def acl(*grantees: dict[str, Any], permission: str = "READ") -> dict[str, Any]:
    return {"bucketName": "exports", "acl": "", "AccessControlPolicy": {"AccessControlList": {
        "Grant": [{"Grantee": g, "Permission": permission} for g in grantees]}}}


# (id, event, expected {(rule, severity)}, details every expected finding's details must include together,
#  detect_event keyword arguments)
CASES: list[tuple[str, dict[str, Any], set[tuple[str, str]], dict[str, str], dict[str, Any]]] = [
    # -- logging tampering
    ("update-trail-destination", event("cloudtrail", "UpdateTrail", {"name": "main", "s3BucketName": "elsewhere"}),
     {("logging.update-trail", "high")}, {"destination_bucket": "elsewhere"}, {}),
    ("update-trail-validation-off",
     event("cloudtrail", "UpdateTrail", {"name": TRAIL, "enableLogFileValidation": False}),
     {("logging.update-trail", "high")}, {"log_file_validation": "false"}, {}),
    ("update-trail-single-region", event("cloudtrail", "UpdateTrail", {"name": "main", "isMultiRegionTrail": "false"}),
     {("logging.update-trail", "high")}, {"multi_region": "false"}, {}),
    ("update-trail-kms-only", event("cloudtrail", "UpdateTrail", {"name": "main", "kmsKeyId": "alias/logs"}),
     {("logging.update-trail", "low")}, {"kms_key": "alias/logs"}, {}),
    ("update-trail-validation-on",
     event("cloudtrail", "UpdateTrail", {"name": "main", "enableLogFileValidation": True}),
     {("logging.update-trail", "low")}, {}, {}),
    ("selectors-no-management", event("cloudtrail", "PutEventSelectors",
                                      selectors({"includeManagementEvents": False, "readWriteType": "All"})),
     {("logging.event-selectors", "high")}, {"excluded": "management events", "selectors": "basic"}, {}),
    ("selectors-read-only", event("cloudtrail", "PutEventSelectors", selectors({"readWriteType": "ReadOnly"})),
     {("logging.event-selectors", "high")}, {"excluded": "write management events"}, {}),
    ("selectors-write-only", event("cloudtrail", "PutEventSelectors", selectors({"readWriteType": "WriteOnly"})),
     {("logging.event-selectors", "medium")}, {"excluded": "read-only management events"}, {}),
    ("selectors-one-of-two-logs-writes", event("cloudtrail", "PutEventSelectors", selectors(
        {"readWriteType": "ReadOnly"}, {"readWriteType": "WriteOnly", "includeManagementEvents": True})),
     {("logging.event-selectors", "low")}, {}, {}),
    ("selectors-exclude-kms", event("cloudtrail", "PutEventSelectors", selectors(
        {"readWriteType": "All", "excludeManagementEventSources": ["kms.amazonaws.com"]})),
     {("logging.event-selectors", "medium")}, {"excluded": "management events from kms.amazonaws.com"}, {}),
    ("selectors-all", event("cloudtrail", "PutEventSelectors", selectors(
        {"readWriteType": "All", "includeManagementEvents": True, "dataResources": []})),
     {("logging.event-selectors", "low")}, {"selectors": "basic"}, {}),
    ("advanced-data-only", event("cloudtrail", "PutEventSelectors", advanced(
        {"field": "eventCategory", "Equals": ["Data"]}, {"field": "resources.type", "Equals": ["AWS::S3::Object"]})),
     {("logging.event-selectors", "high")}, {"excluded": "management events", "selectors": "advanced"}, {}),
    ("advanced-read-only", event("cloudtrail", "PutEventSelectors", advanced(
        MANAGEMENT, {"field": "readOnly", "Equals": ["true"]})),
     {("logging.event-selectors", "high")}, {"excluded": "write management events"}, {}),
    ("advanced-not-kms", event("cloudtrail", "PutEventSelectors", advanced(
        MANAGEMENT, {"field": "eventSource", "NotEquals": ["kms.amazonaws.com"]})),
     {("logging.event-selectors", "medium")}, {"excluded": "management events from kms.amazonaws.com"}, {}),
    ("advanced-management", event("cloudtrail", "PutEventSelectors", advanced(MANAGEMENT)),
     {("logging.event-selectors", "low")}, {}, {}),
    ("selectors-not-logged", event("cloudtrail", "PutEventSelectors", TRAIL_SELECTORS),
     {("logging.event-selectors", "low")}, {"selectors": "not logged"}, {}),
    ("trail-bucket-policy", event("s3", "PutBucketPolicy", {"bucketName": "trail-logs", "bucketPolicy": policy()}),
     {("logging.trail-bucket", "medium")}, {"bucket": "trail-logs"}, {"trail_buckets": {"trail-logs"}}),
    ("trail-bucket-deleted", event("s3", "DeleteBucket", {"bucketName": "trail-logs"}),
     {("logging.trail-bucket", "high")}, {}, {"trail_buckets": {"trail-logs"}}),
    ("trail-bucket-lifecycle", event("s3", "PutBucketLifecycleConfiguration", {"bucketName": "trail-logs"}),
     {("logging.trail-bucket", "medium")}, {}, {"trail_buckets": {"trail-logs"}}),
    ("other-bucket-deleted", event("s3", "DeleteBucket", {"bucketName": "scratch"}), set(), {},
     {"trail_buckets": {"trail-logs"}}),
    ("dns-disassociate", event("route53resolver", "DisassociateResolverQueryLogConfig",
                               {"resolverQueryLogConfigId": "rqlc-1", "resourceId": "vpc-1"}),
     {("logging.dns-query-logs", "medium")}, {"config": "rqlc-1", "vpc": "vpc-1"}, {}),
    ("leave-organization", event("organizations", "LeaveOrganization"), {("organizations.leave", "high")}, {}, {}),
    # -- failed calls: only attempts at weakening logging
    ("failed-stop-logging", event("cloudtrail", "StopLogging", {"name": "main"}, errorCode="AccessDenied"),
     {("logging.attempt", "low")}, {"call": "StopLogging", "error_code": "AccessDenied"}, {}),
    ("failed-flow-logs",
     event("ec2", "DeleteFlowLogs", {"flowLogId": "fl-1"}, errorCode="Client.UnauthorizedOperation"),
     {("logging.attempt", "low")}, {"call": "DeleteFlowLogs"}, {}),
    ("failed-public-policy", event("s3", "PutBucketPolicy", PUBLIC_POLICY, errorCode="AccessDenied"), set(), {}, {}),
    ("failed-access-key", event("iam", "CreateAccessKey", {"userName": "bob"}, errorCode="AccessDenied"),
     set(), {}, {}),
    ("failed-open-group", event("ec2", "AuthorizeSecurityGroupIngress", {"groupId": "sg-1", "cidrIp": "0.0.0.0/0"},
                                errorCode="Client.UnauthorizedOperation"), set(), {}, {}),
    ("empty-error-code-is-success", event("cloudtrail", "StopLogging", {"name": "main"}, errorCode=""),
     {("logging.stop-logging", "high")}, {}, {}),
    # -- persistence
    ("access-key-self", event("iam", "CreateAccessKey", None, {"accessKey": {"accessKeyId": "AKIANEW"}}),
     set(), {}, {}),
    ("access-key-self-named", event("iam", "CreateAccessKey", {"userName": "alice"}), set(), {}, {}),
    ("access-key-by-role", event("iam", "CreateAccessKey", {"userName": "bob"},
                                 {"accessKey": {"accessKeyId": "AKIANEW", "userName": "bob"}},
                                 userIdentity=ROLE_SESSION),
     {("persistence.access-key-for-other-user", "high")}, {"user": "bob", "access_key_id": "AKIANEW"}, {}),
    ("access-key-by-root", event("iam", "CreateAccessKey", {"userName": "alice"}, userIdentity=ROOT),
     {("persistence.access-key-for-other-user", "high")}, {"user": "alice"}, {}),
    ("login-profile-self", event("iam", "UpdateLoginProfile", {"userName": "alice"}),
     {("persistence.login-profile", "medium")}, {"user": "alice"}, {}),
    ("login-profile-other", event("iam", "CreateLoginProfile", {"userName": "bob", "passwordResetRequired": True}),
     {("persistence.login-profile", "high")}, {"user": "bob", "password_reset_required": "true"}, {}),
    ("trust-anyone", event("iam", "UpdateAssumeRolePolicy", {"roleName": "r", "policyDocument": trust("*")}),
     {("persistence.trust-policy", "high")}, {"anyone": "true"}, {}),
    ("trust-anyone-aws-list", event("iam", "UpdateAssumeRolePolicy", {"roleName": "r", "policyDocument": trust(
        {"AWS": [f"arn:aws:iam::{A}:root", "*"]}, Condition={"StringEquals": {"sts:ExternalId": "x"}})}),
     {("persistence.trust-policy", "high")}, {"anyone": "true", "conditions": "sts:ExternalId"}, {}),
    ("trust-other-account-id", event("iam", "UpdateAssumeRolePolicy", {"roleName": "r", "policyDocument": trust(
        {"AWS": OTHER})}), {("persistence.trust-policy", "high")}, {"trusted_accounts": OTHER}, {}),
    ("trust-url-encoded", event("iam", "UpdateAssumeRolePolicy", {"roleName": "r", "policyDocument": quote(trust(
        {"AWS": f"arn:aws:iam::{OTHER}:role/x"}))}), {("persistence.trust-policy", "high")},
     {"trusted_accounts": OTHER}, {}),
    ("trust-own-account", event("iam", "UpdateAssumeRolePolicy", {"roleName": "r", "policyDocument": trust(
        {"AWS": f"arn:aws:iam::{A}:root"})}), {("persistence.trust-policy", "low")}, {}, {}),
    ("trust-service", event("iam", "UpdateAssumeRolePolicy", {"roleName": "r", "policyDocument": trust(
        {"Service": "lambda.amazonaws.com"})}), {("persistence.trust-policy", "low")},
     {"principals": "Service:lambda.amazonaws.com"}, {}),
    ("trust-denied-other", event("iam", "UpdateAssumeRolePolicy", {"roleName": "r", "policyDocument": json.dumps(
        policy({"Effect": "Deny", "Principal": {"AWS": OTHER}, "Action": "sts:AssumeRole"}))}),
     {("persistence.trust-policy", "low")}, {}, {}),
    ("trust-not-json", event("iam", "UpdateAssumeRolePolicy", {"roleName": "r", "policyDocument": "{not json"}),
     {("persistence.trust-policy", "low")}, {"policy": "unreadable"}, {}),
    ("create-role-service", event("iam", "CreateRole", {"roleName": "r", "assumeRolePolicyDocument": trust(
        {"Service": "ec2.amazonaws.com"})}), set(), {}, {}),
    ("create-role-anyone", event("iam", "CreateRole", {"roleName": "r", "assumeRolePolicyDocument": trust(
        {"AWS": "*"})}), {("persistence.broad-trust-role", "high")}, {"anyone": "true"}, {}),
    ("create-role-not-principal", event("iam", "CreateRole", {"roleName": "r", "assumeRolePolicyDocument": json.dumps(
        policy({"Effect": "Allow", "NotPrincipal": {"AWS": OTHER}, "Action": "sts:AssumeRole"}))}),
     {("persistence.broad-trust-role", "high")}, {"anyone": "true"}, {}),
    ("attach-admin-group", event("iam", "AttachGroupPolicy", {"groupName": "g", "policyArn":
                                                              "arn:aws:iam::aws:policy/AdministratorAccess"}),
     {("persistence.admin-policy", "high")}, {"policy": "arn:aws:iam::aws:policy/AdministratorAccess"}, {}),
    ("attach-read-only", event("iam", "AttachRolePolicy", {"roleName": "r", "policyArn":
                                                           "arn:aws:iam::aws:policy/ReadOnlyAccess"}), set(), {}, {}),
    ("attach-customer-admin-name", event("iam", "AttachUserPolicy", {"userName": "bob", "policyArn":
                                                                     f"arn:aws:iam::{A}:policy/AdministratorAccess"}),
     set(), {}, {}),
    ("inline-admin", event("iam", "PutUserPolicy", {"userName": "bob", "policyName": "p", "policyDocument": json.dumps(
        policy({"Effect": "Allow", "Action": ["s3:*", "*"], "Resource": "*"}))}),
     {("persistence.admin-policy", "high")}, {"policy": "p"}, {}),
    ("inline-star-star", event("iam", "PutRolePolicy", {
        "roleName": "r", "policyName": "p",
        "policyDocument": json.dumps(policy({"Effect": "Allow", "Action": "*:*", "Resource": ["*"]}))}),
     {("persistence.admin-policy", "high")}, {}, {}),
    ("inline-scoped", event("iam", "PutRolePolicy", {"roleName": "r", "policyName": "p", "policyDocument": json.dumps(
        policy({"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": "arn:aws:s3:::acme-prod-artifacts/*"}))}), set(), {}, {}),
    ("inline-everything-on-one-bucket", event("iam", "PutUserPolicy", {"userName": "bob", "policyName": "p",
                                                                       "policyDocument": json.dumps(policy(
        {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::exports/*"}))}), set(), {}, {}),
    ("inline-not-action", event("iam", "PutGroupPolicy", {"groupName": "g", "policyName": "p", "policyDocument":
                                                          json.dumps(policy({"Effect": "Allow", "NotAction": "iam:*",
                                                                             "Action": "*", "Resource": "*"}))}),
     set(), {}, {}),
    ("lambda-other-account", event("lambda", "AddPermission20150331v2", {"functionName": "fn", "principal": OTHER,
                                                                          "action": "lambda:InvokeFunction"}),
     {("persistence.lambda-backdoor", "high")}, {"principal": OTHER}, {}),
    ("lambda-anyone-in-org", event("lambda", "AddPermission20150331v2", {"functionName": "fn", "principal": "*",
                                                                          "principalOrgID": "o-abc"}),
     {("persistence.lambda-backdoor", "medium")}, {"principal_org_id": "o-abc"}, {}),
    ("lambda-service", event("lambda", "AddPermission20150331v2", {"functionName": "fn", "principal":
                                                                    "s3.amazonaws.com", "sourceAccount": A}),
     set(), {}, {}),
    ("lambda-own-account", event("lambda", "AddPermission20150331v2", {"functionName": "fn", "principal":
                                                                        f"arn:aws:iam::{A}:root"}), set(), {}, {}),
    ("lambda-code-uploaded", event("lambda", "UpdateFunctionCode20150331v2", UPLOADED),
     {("persistence.lambda-backdoor", "low")}, {"publish": "true"}, {}),
    ("lambda-code-from-s3", event("lambda", "UpdateFunctionCode20150331v2", {
        "functionName": "fn", "s3Bucket": "acme-prod-artifacts", "s3Key": "releases/fn/1.zip"}), set(), {}, {}),
    ("lambda-code-from-image", event("lambda", "UpdateFunctionCode20150331v2", {
        "functionName": "fn", "imageUri": f"{A}.dkr.ecr.us-east-1.amazonaws.com/fn:1"}), set(), {}, {}),
    # -- exposure: S3
    ("public-policy-star", event("s3", "PutBucketPolicy", PUBLIC_POLICY),
     {("exposure.public-bucket-policy", "high")}, {"actions": "s3:GetObject", "public_statements": "1"}, {}),
    ("public-policy-aws-star-text", event("s3", "PutBucketPolicy", {"bucketName": "exports", "bucketPolicy": json.dumps(
        policy({**PUBLIC_READ, "Principal": {"AWS": ["*"]}}))}), {("exposure.public-bucket-policy", "high")}, {}, {}),
    ("public-policy-url-encoded", event("s3", "PutBucketPolicy", {"bucketName": "exports", "bucketPolicy": quote(
        json.dumps(policy({**PUBLIC_READ, "Principal": {"AWS": "*"}})))}),
     {("exposure.public-bucket-policy", "high")}, {}, {}),
    ("public-policy-secure-transport-only", event("s3", "PutBucketPolicy", {"bucketName": "exports", "bucketPolicy":
        policy({**PUBLIC_READ, "Condition": {"Bool": {"aws:SecureTransport": "true"}}})}),
     {("exposure.public-bucket-policy", "high")}, {}, {}),
    ("policy-source-ip", event("s3", "PutBucketPolicy", {"bucketName": "exports", "bucketPolicy": policy(
        {**PUBLIC_READ, "Condition": {"IpAddress": {"aws:SourceIp": "198.51.100.0/24"}}})}), set(), {}, {}),
    ("policy-org-id", event("s3", "PutBucketPolicy", {"bucketName": "exports", "bucketPolicy": policy(
        {**PUBLIC_READ, "Condition": {"StringEquals": {"AWS:PrincipalOrgID": "o-abc"}}})}), set(), {}, {}),
    ("policy-other-account", event("s3", "PutBucketPolicy", {"bucketName": "exports", "bucketPolicy": policy(
        {**PUBLIC_READ, "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"}})}), set(), {}, {}),
    ("policy-deny-everyone", event("s3", "PutBucketPolicy", {"bucketName": "exports", "bucketPolicy": policy(
        {**PUBLIC_READ, "Effect": "Deny"})}), set(), {}, {}),
    ("policy-not-json", event("s3", "PutBucketPolicy", {"bucketName": "exports", "bucketPolicy": "Principal * Allow"}),
     set(), {}, {}),
    ("policy-json-array", event("s3", "PutBucketPolicy", {"bucketName": "exports", "bucketPolicy": json.dumps(
        [PUBLIC_READ])}), set(), {}, {}),
    ("policy-too-large", event("s3", "PutBucketPolicy", {"bucketName": "exports", "bucketPolicy": json.dumps(policy(
        PUBLIC_READ, *[{**PUBLIC_READ, "Principal": {"AWS": OTHER}, "Sid": "x" * 100}] * 3000))}), set(), {}, {}),
    ("policy-deeply-nested", event("s3", "PutBucketPolicy", {"bucketName": "exports", "bucketPolicy": NESTED}),
     set(), {}, {}),
    ("acl-all-users-body", event("s3", "PutBucketAcl", acl({"xsi:type": "Group", "URI": ALL_USERS})),
     {("exposure.public-bucket-acl", "high")}, {"grants": "AllUsers READ"}, {}),
    ("acl-authenticated-users-write", event("s3", "PutBucketAcl", acl(
        {"URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}, permission="WRITE")),
     {("exposure.public-bucket-acl", "high")}, {"grants": "AuthenticatedUsers WRITE"}, {}),
    ("acl-canned-public-read", event("s3", "PutBucketAcl", {"bucketName": "exports", "x-amz-acl": ["public-read"]}),
     {("exposure.public-bucket-acl", "high")}, {"canned_acl": "public-read"}, {}),
    ("acl-grant-header", event("s3", "PutBucketAcl", {"bucketName": "exports", "x-amz-grant-read":
                                                      f'id="abc", uri="{ALL_USERS}"'}),
     {("exposure.public-bucket-acl", "high")}, {"grants": "AllUsers READ"}, {}),
    ("acl-object", event("s3", "PutObjectAcl", {"bucketName": "exports", "key": "a.csv", "x-amz-acl": "public-read"}),
     {("exposure.public-bucket-acl", "high")}, {}, {}),
    ("acl-private", event("s3", "PutBucketAcl", {"bucketName": "exports", "x-amz-acl": ["private"]}), set(), {}, {}),
    ("acl-canonical-user", event("s3", "PutBucketAcl", acl({"ID": "abc123"}, permission="FULL_CONTROL")),
     set(), {}, {}),
    ("acl-look-alike-uri", event("s3", "PutBucketAcl", acl({"URI": "http://example.com/AllUsers"})), set(), {}, {}),
    ("pab-deleted-bucket", event("s3", "DeleteBucketPublicAccessBlock", {"bucketName": "exports"}),
     {("exposure.public-access-block-removed", "medium")}, {"scope": "bucket"}, {}),
    ("pab-deleted-api-name", event("s3", "DeletePublicAccessBlock", {"bucketName": "exports"}),
     {("exposure.public-access-block-removed", "medium")}, {}, {}),
    ("pab-all-on", event("s3", "PutBucketPublicAccessBlock", pab(**ALL_ON)), set(), {}, {}),
    ("pab-all-on-as-text", event("s3", "PutBucketPublicAccessBlock", pab(**{k: "true" for k in ALL_ON})),
     set(), {}, {}),
    ("pab-one-off", event("s3", "PutBucketPublicAccessBlock", pab(**{**ALL_ON, "BlockPublicPolicy": "false"})),
     {("exposure.public-access-block-removed", "medium")}, {"off": "BlockPublicPolicy"}, {}),
    ("pab-left-out-is-off", event("s3", "PutPublicAccessBlock", pab(BlockPublicAcls=True, IgnorePublicAcls=True)),
     {("exposure.public-access-block-removed", "medium")}, {"off": "BlockPublicPolicy, RestrictPublicBuckets"}, {}),
    ("pab-not-logged", event("s3", "PutBucketPublicAccessBlock", {"bucketName": "exports"}), set(), {}, {}),
    ("pab-account-off", event("s3", "PutAccountPublicAccessBlock", {"PublicAccessBlockConfiguration": {
        **ALL_ON, "RestrictPublicBuckets": False}}), {("exposure.public-access-block-removed", "high")},
     {"scope": "account", "off": "RestrictPublicBuckets"}, {}),
    ("pab-account-deleted", event("s3", "DeleteAccountPublicAccessBlock", {}),
     {("exposure.public-access-block-removed", "high")}, {"scope": "account"}, {}),
    # -- exposure: EC2 and RDS
    ("snapshot-public", event("ec2", "ModifySnapshotAttribute", {"snapshotId": "snap-1", "createVolumePermission": {
        "add": {"items": [{"group": "all"}]}}}), {("exposure.snapshot-shared", "high")}, {"public": "true"}, {}),
    ("snapshot-removed-only", event("ec2", "ModifySnapshotAttribute", {
        "snapshotId": "snap-1", "createVolumePermission": {"remove": {"items": [{"userId": OTHER}]}}}), set(), {}, {}),
    ("snapshot-own-account", event("ec2", "ModifySnapshotAttribute", {
        "snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"userId": A}]}}}), set(), {}, {}),
    ("image-organization", event("ec2", "ModifyImageAttribute", {"imageId": "ami-1", "launchPermission": {
        "add": {"items": [{"organizationArn": "arn:aws:organizations::111122223333:organization/o-abc"}]}}}),
     {("exposure.image-shared", "medium")}, {}, {}),
    ("image-public", event("ec2", "ModifyImageAttribute", {"imageId": "ami-1", "launchPermission": {
        "add": {"items": [{"group": "all"}]}}}), {("exposure.image-shared", "high")}, {"public": "true"}, {}),
    ("rds-public", event("rds", "ModifyDBSnapshotAttribute", {"dBSnapshotIdentifier": "db1", "attributeName": "restore",
                                                               "valuesToAdd": ["all"]}),
     {("exposure.rds-snapshot-shared", "high")}, {"public": "true"}, {}),
    ("rds-cluster", event("rds", "ModifyDBClusterSnapshotAttribute", {
        "dBClusterSnapshotIdentifier": "c1", "attributeName": "restore", "valuesToAdd": [OTHER]}),
     {("exposure.rds-snapshot-shared", "high")}, {"accounts": OTHER}, {}),
    ("rds-other-attribute", event("rds", "ModifyDBSnapshotAttribute", {
        "dBSnapshotIdentifier": "db1", "attributeName": "other", "valuesToAdd": ["all"]}),
     set(), {}, {}),
    ("sg-all-traffic", event("ec2", "AuthorizeSecurityGroupIngress", sg(perm("-1", None, None, v4=("0.0.0.0/0",)))),
     {("exposure.security-group-open", "high")}, {"ports": "all ports", "cidr": "0.0.0.0/0"}, {}),
    ("sg-https-v6", event("ec2", "AuthorizeSecurityGroupIngress", sg(perm("tcp", 443, 443, v6=("::/0",)))),
     {("exposure.security-group-open", "medium")}, {"ports": "tcp 443", "cidr": "::/0"}, {}),
    ("sg-range-with-rdp", event("ec2", "AuthorizeSecurityGroupIngress", sg(perm("tcp", 3000, 4000, v4=("0.0.0.0/0",)))),
     {("exposure.security-group-open", "high")}, {"ports": "tcp 3000-4000"}, {}),
    ("sg-icmp", event("ec2", "AuthorizeSecurityGroupIngress", sg(perm("icmp", -1, -1, v4=("0.0.0.0/0",)))),
     {("exposure.security-group-open", "medium")}, {"ports": "icmp"}, {}),
    ("sg-ports-as-text", event("ec2", "AuthorizeSecurityGroupIngress", sg(perm("tcp", "22", "22", v4=("0.0.0.0/0",)))),
     {("exposure.security-group-open", "high")}, {"ports": "tcp 22"}, {}),
    ("sg-private-range", event("ec2", "AuthorizeSecurityGroupIngress", sg(perm("tcp", 22, 22, v4=("10.0.0.0/8",)))),
     set(), {}, {}),
    ("sg-not-a-cidr", event("ec2", "AuthorizeSecurityGroupIngress", sg(perm("tcp", 22, 22, v4=("everywhere",)))),
     set(), {}, {}),
    # -- insight types
    ("insight-error-rate", {"eventVersion": "1.08", "eventTime": "2024-11-30T08:00:00Z", "eventID": "ins-1",
                            "eventType": "AwsCloudTrailInsight", "eventCategory": "Insight", "sharedEventID": "shared",
                            "insightDetails": {"state": "Start", "eventSource": "iam.amazonaws.com",
                                               "eventName": "ListUsers", "errorCode": "AccessDenied",
                                               "insightType": "ApiErrorRateInsight"}},
     {("insight.api-error-rate", "low")}, {"error_code": "AccessDenied", "insight_id": "shared"}, {}),
    ("insight-new-type", {"eventTime": "2024-11-30T08:00:00Z", "eventID": "ins-2",
                          "insightDetails": {"state": "Start", "insightType": "SomethingNewInsight"}},
     {("insight.other", "low")}, {"insight_type": "SomethingNewInsight"}, {}),
    # -- no rule
    ("unwatched-call", event("ec2", "RunInstances", {"instanceType": "p5.48xlarge"}), set(), {}, {}),
    ("read-call", event("cloudtrail", "GetTrailStatus", {"name": "main"}, readOnly=True), set(), {}, {}),
]


@pytest.mark.parametrize("name, record, expected, details, kwargs", CASES, ids=[c[0] for c in CASES])
def test_event_rules(name, record, expected, details, kwargs):
    found = detect_event(record, **kwargs)
    assert rules_of(found) == expected
    merged = dict(pair for finding in found for pair in finding.details)
    assert {key: merged.get(key) for key in details} == details
    for finding in found:
        assert_well_formed(finding)


def test_every_event_rule_is_exercised():
    """A rule no table row (fixtures or CASES) triggers could break unnoticed."""
    triggered = {rule for expected in EXPECTED_FIXTURES.values() for rule, _, _ in expected}
    triggered |= {rule for _, _, expected, _, _ in CASES for rule, _ in expected}
    event_rules = {rule_id for rule_id, rule in RULES.items() if rule.detector is not None}
    assert event_rules - triggered == set()


RESOURCES = [
    ("stop-logging-by-arn", event("cloudtrail", "StopLogging", {"name": TRAIL}), TRAIL),
    ("public-policy", event("s3", "PutBucketPolicy", PUBLIC_POLICY), BUCKET),
    ("object-acl", event("s3", "PutObjectAcl", {"bucketName": "exports", "key": "a.csv", "x-amz-acl": "public-read"}),
     f"{BUCKET}/a.csv"),
    ("account-pab", event("s3", "DeleteAccountPublicAccessBlock", {}), f"arn:aws:iam::{A}:root"),
    ("admin-group", event("iam", "AttachGroupPolicy", {"groupName": "g", "policyArn":
                                                       "arn:aws:iam::aws:policy/AdministratorAccess"}),
     f"arn:aws:iam::{A}:group/g"),
    ("rds-cluster", event("rds", "ModifyDBClusterSnapshotAttribute", {
        "dBClusterSnapshotIdentifier": "C1", "attributeName": "restore", "valuesToAdd": [OTHER]}),
     f"arn:aws:rds:us-east-1:{A}:cluster-snapshot:c1"),
    ("insight", CASES[-4][1], None),
]


@pytest.mark.parametrize("name, record, resource", RESOURCES, ids=[r[0] for r in RESOURCES])
def test_resource_is_the_canonical_arn(name, record, resource):
    assert [f.resource for f in detect_event(record)] == [resource]


def test_summary_names_who_what_and_which():
    [found] = detect_event(event("cloudtrail", "StopLogging", {"name": TRAIL}))
    assert found.summary == f"{ALICE} stopped logging of trail main"
    [found] = detect_event(event("iam", "CreateAccessKey", {"userName": "bob"},
                                 {"accessKey": {"accessKeyId": "AKIANEW"}}, userIdentity=ROLE_SESSION))
    assert found.summary == f"{SESSION} created access key AKIANEW for user bob"


# ---- the caller, the origin, the trail buckets -----------------------------------------------------------

def test_origin_comes_from_the_attributed_record():
    record = event("cloudtrail", "StopLogging", {"name": "main"}, userIdentity=ROLE_SESSION)
    [found] = detect_event(record, {"eventID": record["eventID"], "originPrincipal": ALICE, "originKind": "iam-user"})
    assert (found.principal, found.origin) == (SESSION, ALICE)
    assert found.summary == f"{SESSION} (origin {ALICE}) stopped logging of trail main"
    [alone] = detect_event(record)
    assert alone.origin is None and "origin" not in alone.summary


def test_attributed_record_of_another_event_is_refused():
    with pytest.raises(ValueError, match="is not event"):
        detect_event(event("cloudtrail", "StopLogging"), {"eventID": "other", "originPrincipal": ALICE})


@pytest.mark.parametrize("identity, principal", [
    ({"type": "AWSAccount", "accountId": OTHER, "principalId": "AIDAX"}, f"{OTHER}:AIDAX"),
    ({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}, "cloudtrail.amazonaws.com"),
    (None, None),
    ("not an object", None),
])
def test_callers_without_an_arn(identity, principal):
    [found] = detect_event(event("cloudtrail", "StopLogging", {"name": "main"}, userIdentity=identity))
    assert found.principal == principal
    assert found.summary.startswith(principal or "an unknown caller")


def test_trail_buckets_are_learned_from_the_same_events():
    create = event("cloudtrail", "CreateTrail", {"name": "main", "s3BucketName": "trail-logs"}, eventID="c")
    deleted = event("s3", "DeleteBucket", {"bucketName": "trail-logs"}, eventID="d", eventTime="2024-11-30T09:00:00Z")
    assert detect_events([deleted]) == []
    assert [f.rule for f in detect_events([deleted, create])] == ["logging.trail-bucket"]
    assert [f.rule for f in detect_events([deleted], trail_buckets=["trail-logs"])] == ["logging.trail-bucket"]


@pytest.mark.parametrize("record, buckets", [
    (event("cloudtrail", "CreateTrail", {"name": "t", "s3BucketName": "a"}, {"s3BucketName": "a"}), {"a"}),
    (event("cloudtrail", "UpdateTrail", {"name": "t", "s3BucketName": "b"}), {"b"}),
    (event("cloudtrail", "DescribeTrails", {}, {"trailList": [{"s3BucketName": "c"}, {"s3BucketName": "d"}, "x"]}),
     {"c", "d"}),
    (event("cloudtrail", "GetTrail", {"name": "t"}, {"trail": {"s3BucketName": "e"}}), {"e"}),
    (event("cloudtrail", "CreateTrail", {"name": "t", "s3BucketName": "f"}, errorCode="InsufficientS3BucketPolicy"),
     set()),
    (event("s3", "CreateBucket", {"bucketName": "g", "s3BucketName": "g"}), set()),
    (event("cloudtrail", "DescribeTrails", "garbage", ["garbage"]), set()),
    ("not an event", set()),
])
def test_trail_buckets_of(record, buckets):
    assert trail_buckets_of(record) == buckets


# ---- hostile input ----------------------------------------------------------------------------------------

WATCHED = sorted({(source, name) for rule in RULES.values() for source, name in rule.calls if source != "insight"})
HOSTILE_PARAMS = ["a string", ["a", "list"], 12, None, True,
                  {"name": ["x"], "bucketName": {"a": 1}, "policyDocument": NESTED, "bucketPolicy": 7,
                   "ipPermissions": "x", "eventSelectors": "x", "PublicAccessBlockConfiguration": [1],
                   "createVolumePermission": {"add": "x"}, "launchPermission": {"add": {"items": [1, None]}},
                   "valuesToAdd": "all", "assumeRolePolicyDocument": {"Statement": "x"}, "principal": 5,
                   "AccessControlPolicy": {"AccessControlList": {"Grant": "x"}}, "x-amz-acl": 3,
                   "advancedEventSelectors": [{"fieldSelectors": "x"}, 7], "userName": ["bob"]}]


@pytest.mark.parametrize("source, name", WATCHED, ids=[f"{s.split('.')[0]}.{n}" for s, n in WATCHED])
@pytest.mark.parametrize("params", HOSTILE_PARAMS, ids=range(len(HOSTILE_PARAMS)))
def test_values_of_any_type_never_raise(source, name, params):
    record = event(source.split(".")[0], name, params, response=params)
    for finding in detect_event(record, trail_buckets={"x"}) + detect_event({**record, "errorCode": ["x"]}):
        assert_well_formed(finding)


def test_the_calls_that_report_without_a_readable_request():
    """With nothing readable, only calls that are findings whatever their request still report."""
    reported = {name for source, name in WATCHED
                for finding in detect_event(event(source.split(".")[0], name, "garbage"))}
    assert reported == {"StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors", "DeleteFlowLogs",
                        "DeleteResolverQueryLogConfig", "DisassociateResolverQueryLogConfig", "LeaveOrganization",
                        "UpdateAssumeRolePolicy", "CreateLoginProfile", "UpdateLoginProfile", "UpdateFunctionCode",
                        "DeleteBucketPublicAccessBlock", "DeletePublicAccessBlock", "DeleteAccountPublicAccessBlock"}


@pytest.mark.parametrize("record", ["text", 5, None, [event("cloudtrail", "StopLogging")],
                                   {"eventSource": 5, "eventName": "StopLogging"}, {}])
def test_what_is_not_an_event_gives_nothing(record):
    assert detect_event(record) == []


def test_names_from_requests_cannot_break_the_summary_line():
    name = "main\n2024-11-30 INFO all clear\r" + "x" * 2000
    [found] = detect_event(event("cloudtrail", "StopLogging", {"name": name}))
    assert "\n" not in found.summary and "\r" not in found.summary and len(found.summary) <= 400
    [failed] = detect_event(event("cloudtrail", "StopLogging", errorCode="Denied", errorMessage="y" * 5000))
    assert len(dict(failed.details)["error_message"]) == 1000


def test_large_policy_statement_is_kept_short_in_details():
    big = {**PUBLIC_READ, "Resource": [f"{BUCKET}/{i}" * 5 for i in range(500)]}
    [found] = detect_event(event("s3", "PutBucketPolicy", {"bucketName": "exports", "bucketPolicy": policy(big)}))
    statement = dict(found.details)["statement"]
    assert len(statement) == 1000 and statement.endswith("...")


@pytest.mark.parametrize("change", [{"eventID": None}, {"eventID": ""}, {"eventTime": "yesterday"},
                                    {"eventTime": None}])
def test_matched_event_without_id_or_time_fails_loudly(change):
    with pytest.raises(ValueError):
        detect_event({**event("cloudtrail", "StopLogging", {"name": "main"}), **change})


def test_statement_shown_in_details_is_canonical_json():
    [found] = detect_event(event("s3", "PutBucketPolicy", PUBLIC_POLICY))
    assert json.loads(dict(found.details)["statement"]) == PUBLIC_READ
    assert dict(found.details)["statement"] == jsonvalue.dumps(PUBLIC_READ).decode()


# ---- credential misuse from signals -----------------------------------------------------------------------

T0 = timestamps.parse_micros("2024-11-30T08:00:00Z")


def signal(kind: str, severity: str = "high", **more: Any) -> signals.Signal:
    fields: dict[str, Any] = dict(kind=kind, severity=severity, summary=f"{kind} summary", principal=ALICE,
                                  credential="ASIAONE", first_seen=T0, last_seen=T0 + 60_000_000,
                                  event_ids=("e1", "e2"), details=(("via", "AssumeRole"),))
    fields.update(more)
    return signals.Signal(**fields)


def test_every_signal_kind_has_a_rule():
    assert {f"credential-misuse.{kind}" for kind in signals.DETECTORS} == {
        rule_id for rule_id, rule in RULES.items() if rule.category == "credential-misuse"}


SIGNAL_CASES = [
    ("moved-ip", signal("session-key-moved"), "high", ALICE),
    ("moved-agent", signal("session-key-moved", "low"), "low", ALICE),
    ("new-network", signal("long-term-key-new-network", "medium",
                           details=(("network", "203.0.113.0/24"), ("origin", SESSION))), "medium", SESSION),
    ("chain", signal("cross-account-chain", "medium"), "medium", ALICE),
    ("outside", signal("issuer-outside-logs", "low", principal=SESSION), "low", None),
    ("token", signal("unusual-token-call", "medium"), "medium", None),
]


@pytest.mark.parametrize("name, source, severity, origin", SIGNAL_CASES, ids=[c[0] for c in SIGNAL_CASES])
def test_signal_becomes_a_finding(name, source, severity, origin):
    [found] = from_signals([source])
    assert (found.rule, found.category, found.severity) == (f"credential-misuse.{source.kind}", "credential-misuse",
                                                            severity)
    assert (found.time, found.event_ids, found.principal, found.origin) == (T0, ("e1", "e2"), source.principal, origin)
    assert found.summary == source.summary and found.resource is None
    details = dict(found.details)
    assert details["credential"] == "ASIAONE"
    assert details["last_seen"] == timestamps.format_micros(T0 + 60_000_000)
    assert set(dict(source.details)) <= set(details)
    assert_well_formed(found)
    # The stored signals.json records give the same findings as the Signal values.
    record = json.loads(json.dumps(identityreport.signal_record(source)))
    assert from_signals([record]) == [found]


@pytest.mark.parametrize("record, message", [
    ({**identityreport.signal_record(signal("session-key-moved")), "kind": "brand-new"}, "no rule"),
    ({**identityreport.signal_record(signal("session-key-moved")), "severity": "critical"}, "severity"),
    ({k: v for k, v in identityreport.signal_record(signal("session-key-moved")).items() if k != "event_ids"},
     "event_ids"),
    ({**identityreport.signal_record(signal("session-key-moved")), "first_seen": "soon"}, "ISO 8601"),
])
def test_bad_signal_records_are_refused(record, message):
    with pytest.raises(ValueError, match=message):
        from_signals([record])


# ---- the table and ordering -------------------------------------------------------------------------------

@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_rows(rule_id):
    rule = RULES[rule_id]
    assert rule.category in CATEGORIES and rule.severity in SEVERITIES and rule.title
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*\.[a-z]+(-[a-z]+)*", rule_id)
    assert (rule.detector is None) == (rule.category == "credential-misuse")
    assert f"``{rule_id}``" in detections.__doc__ or rule.category in ("credential-misuse", "insight")
    assert rule_id.split(".")[1] in detections.__doc__


def test_sort_findings_is_a_total_order():
    records = [r for path in fixturedata.fixture_files() for r in fixturedata.records_in(path)]
    expected = detect_events(records)
    shuffled = copy.deepcopy(records)
    random.Random(3).shuffle(shuffled)
    assert detect_events(shuffled) == expected
    assert sort_findings(reversed(expected)) == expected
    keys = [(f.time, SEVERITIES.index(f.severity), f.rule, f.event_ids) for f in expected]
    assert keys == sorted(keys)


def test_same_time_sorts_high_first():
    low = detect_event(event("cloudtrail", "StopLogging", errorCode="AccessDenied", eventID="a"))
    high = detect_event(event("cloudtrail", "StopLogging", {"name": "main"}, eventID="b"))
    medium = [replace(high[0], severity="medium", rule="logging.vpc-flow-logs", event_ids=("c",))]
    assert [f.severity for f in sort_findings(low + medium + high)] == ["high", "medium", "low"]


# ---- end to end: the sample trail's attack story ---------------------------------------------------------

# The attack script's change calls (trailbeam/sample/attack.py) and the rule each must raise. CreateUser and
# the AssumeRole hops are not here: a user created alone is routine (its key, policy and password are what
# the rules see), and role chains are the signals' work (credential-misuse).
ATTACK_RULES = {
    "CreateAccessKey": "persistence.access-key-for-other-user",
    "AttachUserPolicy": "persistence.admin-policy",
    "CreateLoginProfile": "persistence.login-profile",
    "StopLogging": "logging.stop-logging",
    "PutEventSelectors": "logging.event-selectors",
    "DeleteBucketPublicAccessBlock": "exposure.public-access-block-removed",
    "PutBucketPolicy": "exposure.public-bucket-policy",
}
# Measured with events=1500, seed=4: no finding on any of the ~1,440 background events (its UpdateFunctionCode
# deploys come from S3 artifacts and its inline policies are scoped).
MAX_BACKGROUND_FINDINGS = 0


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    root = tmp_path_factory.mktemp("sample")
    write_sample(root, events=1500, seed=4)
    records = [record for path in sorted((root / "AWSLogs").rglob("*.json.gz"))
               for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]]
    return records, json.loads((root / "ground-truth.json").read_text())


def test_sample_attack_calls_are_all_found(sample):
    records, truth = sample
    found = detect_events(records)
    steps = [s for s in truth["attack"]["steps"] if s["event_name"] in ATTACK_RULES]
    assert sorted({s["event_name"] for s in steps}) == sorted(ATTACK_RULES), "the attack script changed"
    by_event = {(f.event_ids[0], f.rule) for f in found}
    missed = [s for s in steps if (s["event_id"], ATTACK_RULES[s["event_name"]]) not in by_event]
    assert missed == []
    for finding in found:
        assert_well_formed(finding)


def test_sample_background_false_positives(sample):
    records, truth = sample
    attack = {s["event_id"] for s in truth["attack"]["steps"]}
    background = [f for f in detect_events(records) if not set(f.event_ids) & attack]
    print(f"findings on background events: {len(background)} of {len(records) - len(attack)} events")
    assert len(background) <= MAX_BACKGROUND_FINDINGS, [f.summary for f in background]


def test_sample_findings_name_the_tampered_trail_and_public_bucket(sample):
    records, truth = sample
    found = detect_events(records)
    attack = truth["attack"]
    assert {f.resource for f in found if f.category == "logging-tampering"} == {attack["tampered_trail"]}
    assert {f.resource for f in found if f.category == "exposure"} == {attack["public_bucket"]}
    assert {f.resource for f in found if f.category == "persistence"} == {attack["backdoor"]["user"]}


def test_detection_runs_file_by_file_with_the_same_result(sample):
    """What a Beam step does: detect_event per record of each file, then sort_findings over everything."""
    records, _ = sample
    per_record = sort_findings(f for record in records for f in detect_event(record))
    assert per_record == detect_events(records)
