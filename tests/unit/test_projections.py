"""Tests of trailbeam.projections: the state model, the registry, and every built-in reducer.

Reducers are checked on the real Stratus Red Team and AWS docs records where the fixtures hold the call,
and on hand-built calls (``call``: the documented request/response shape inside a real record's envelope)
where they do not. Each case states the whole expected state: a field the case does not name must still
be UNKNOWN, so a reducer that writes a field it has no evidence for fails too.
"""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest

import fixturedata
from trailbeam import jsonvalue
from trailbeam.projections import (
    BUILTINS, DEFAULT, GENERIC, OTHERS, UNKNOWN, Change, FrozenMap, Projection, Registry, State, call_name, diff,
    freeze, is_failed, is_partial, to_json,
)
from trailbeam.projections.base import document, refers_to
from trailbeam.projections.ec2 import rule_key
from trailbeam.resources import ResourceRef

U = {"$unknown": True}
ABSENT = {"$absent": True}


# ---- builders -----------------------------------------------------------------------------------------------

def real(name: str, event_name: str, *, source: str = "stratus", first: bool = False) -> dict[str, Any]:
    """A private copy of the one (or ``first``) real record of ``event_name`` in fixture file ``name``."""
    path = (fixturedata.STRATUS / f"{name}.json") if source == "stratus" else fixturedata.AWSDOCS_EXAMPLES
    found = [r for r in fixturedata.records_in(path) if r.get("eventName") == event_name]
    assert len(found) == 1 or (first and found), f"{name}: {len(found)} {event_name} records"
    return copy.deepcopy(found[0])


# The envelope of a real call (IAM user christophe's DeleteTrail), reused for calls the fixtures lack.
_ENVELOPE = fixturedata.fixture_record("aws.defense-evasion.cloudtrail-delete.json", 0)


def call(event_name: str, source: str, request: Any = None, response: Any = None, *, event_id: str | None = None,
         at: str = "2024-08-01T13:00:00Z", error: str | None = None, **extra: Any) -> dict[str, Any]:
    """A call in the shape AWS documents, inside a real record's envelope."""
    event = copy.deepcopy(_ENVELOPE)
    event.update(eventName=event_name, eventSource=source, requestParameters=request, responseElements=response,
                 eventID=event_id or f"{event_name}-{at}", eventTime=at, errorCode=error, **extra)
    return event


def ref(arn: str, type_: str) -> ResourceRef:
    parts = arn.split(":")
    return ResourceRef(arn=arn, type=type_, account=parts[4] or None, region=parts[3] or None)


def fold(resource: ResourceRef, events: list[dict[str, Any]]) -> State:
    """The state after applying ``events`` in the given order (history.py does the ordering)."""
    projection = DEFAULT.for_type(resource.type)
    state = projection.initial()
    for event in events:
        state = projection.apply(state, event, resource)
    return state


def expected_state(resource: ResourceRef, known: dict[str, Any]) -> dict[str, Any]:
    """Every field of the projection UNKNOWN, except ``known``."""
    fields = DEFAULT.for_type(resource.type).fields
    assert set(known) <= set(fields), f"unknown fields {set(known) - set(fields)}"
    return {name: known.get(name, U) for name in fields}


IAM, EC2, S3, CT = "iam.amazonaws.com", "ec2.amazonaws.com", "s3.amazonaws.com", "cloudtrail.amazonaws.com"
KMS, LAMBDA, SM, SSM = "kms.amazonaws.com", "lambda.amazonaws.com", "secretsmanager.amazonaws.com", "ssm.amazonaws.com"

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ADMIN_USER = ref("arn:aws:iam::229654561268:user/malicious-iam-user", "AWS::IAM::User")
BACKDOOR_USER = ref("arn:aws:iam::946986569305:user/stratus-red-team-backdoor-u-user", "AWS::IAM::User")
LOGIN_USER = ref("arn:aws:iam::070411556318:user/stratus-red-team-login-profile-user", "AWS::IAM::User")
UPDATE_LOGIN_USER = ref("arn:aws:iam::763751499319:user/stratus-red-team-update-login-profile-user", "AWS::IAM::User")
BOB = ref("arn:aws:iam::123456789012:user/Bob", "AWS::IAM::User")
BACKDOOR_ROLE = ref("arn:aws:iam::609418236337:role/stratus-red-team-malicious-iam-role", "AWS::IAM::Role")
TRUSTED_ROLE = ref("arn:aws:iam::751203476945:role/stratus-red-team-backdoor-r-role", "AWS::IAM::Role")
GROUP = ref("arn:aws:ec2:us-northeast-1r:032092706103:security-group/sg-003dc7f1f1c686164", "AWS::EC2::SecurityGroup")
DELETED_TRAIL = ref("arn:aws:cloudtrail:megov-westwest-1r:847129010505:trail/stratus-red-team-cloudtraild-trail-kvrwohmiai",
                    "AWS::CloudTrail::Trail")
STOPPED_TRAIL = ref("arn:aws:cloudtrail:apiso-centralnorth-2r:143434273843:trail/stratus-red-team-ct-stop-trail-buykxbqejv",
                    "AWS::CloudTrail::Trail")
SELECTOR_TRAIL = ref("arn:aws:cloudtrail:cn-northsouth-2r:958312252124:trail/stratus-red-team-ctes-trail-khlvciwdor",
                     "AWS::CloudTrail::Trail")
SNAPSHOT = ref("arn:aws:ec2:me-central-3r::snapshot/snap-041993b54a9b3af6f", "AWS::EC2::Snapshot")
IMAGE = ref("arn:aws:ec2:me-south-1r::image/ami-de1fbCab6ccB03e6D", "AWS::EC2::Image")
BACKDOOR_FN = ref("arn:aws:lambda:ca-centralnorth-1r:880896431042:function:stratus-red-team-backdoor-f-func",
                  "AWS::Lambda::Function")
OVERWRITTEN_FN = ref("arn:aws:lambda:ap-westeast-2r:266106314375:function:stratus-red-team-olc-func-vayhjqkdav",
                     "AWS::Lambda::Function")
LAYERED_FN = ref("arn:aws:lambda:eugov-eastcentral-1r:712967571683:function:stratus-red-team-lambda-layer-simpleLambda",
                 "AWS::Lambda::Function")
SECRET = ref("arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf", "AWS::SecretsManager::Secret")
PARAMETER = ref("arn:aws:ssm:us-east-1:111122223333:parameter/prod/db-password", "AWS::SSM::Parameter")
BUCKET = ref("arn:aws:s3:::evidence-bucket", "AWS::S3::Bucket")
KEY = ref("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "AWS::KMS::Key")
RESOLVER_LOG = ref("arn:aws:route53resolver:sa-central-3r:206821776919:resolver-query-log-config/rqlc-4473f20ca554c07",
                   "AWS::Route53Resolver::ResolverQueryLogConfig")
READ_SECRET = ref("arn:aws:secretsmanager:cn-centraleast-1r:903144391865:secret:stratus-red-team-retrieve-secret-18-4Rzn83",
                  "AWS::SecretsManager::Secret")

ROLE_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::193672423079:root"}, "Action": "sts:AssumeRole"}]}
BACKDOORED_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::193672423079:root"}, "Action": "sts:AssumeRole"}]}


# ---- each reducer on the real records ------------------------------------------------------------------------

@dataclass(frozen=True)
class RealCase:
    id: str
    fixture: str            # Stratus file stem, or "awsdocs"
    event_name: str
    resource: ResourceRef
    known: dict[str, Any]   # the expected fields; every other field must stay UNKNOWN


REAL_CASES = [
    RealCase("iam-user/CreateUser", "aws.persistence.iam-create-admin-user", "CreateUser", ADMIN_USER, {
        "exists": True, "attached_policies": {}, "inline_policies": {}, "groups": {}, "access_keys": {},
        "login_profile": False, "mfa_devices": {}, "permissions_boundary": None}),
    RealCase("iam-user/AttachUserPolicy", "aws.persistence.iam-create-admin-user", "AttachUserPolicy", ADMIN_USER, {
        "exists": True, "attached_policies": {ADMIN: True, OTHERS: U}}),
    RealCase("iam-user/CreateAccessKey", "aws.persistence.iam-backdoor-user", "CreateAccessKey", BACKDOOR_USER, {
        "exists": True, "access_keys": {"AKIAL80DWDVKKM0UXEER": "Active", OTHERS: U}}),
    RealCase("iam-user/CreateLoginProfile", "aws.persistence.iam-create-user-login-profile", "CreateLoginProfile",
             LOGIN_USER, {"exists": True, "login_profile": True}),
    RealCase("iam-user/DeleteLoginProfile-failed", "aws.persistence.iam-create-user-login-profile",
             "DeleteLoginProfile", LOGIN_USER, {}),
    RealCase("iam-user/UpdateLoginProfile", "aws.privilege-escalation.iam-update-user-login-profile",
             "UpdateLoginProfile", UPDATE_LOGIN_USER, {"exists": True, "login_profile": True}),
    RealCase("iam-user/CreateUser-awsdocs", "awsdocs", "CreateUser", BOB, {
        "exists": True, "attached_policies": {}, "inline_policies": {}, "groups": {}, "access_keys": {},
        "login_profile": False, "mfa_devices": {}, "permissions_boundary": None}),
    RealCase("iam-user/AddUserToGroup-awsdocs", "awsdocs", "AddUserToGroup", BOB, {
        "exists": True, "groups": {"admin": True, OTHERS: U}}),
    RealCase("iam-role/CreateRole", "aws.persistence.iam-create-backdoor-role", "CreateRole", BACKDOOR_ROLE, {
        "exists": True, "trust_policy": ROLE_TRUST, "attached_policies": {}, "inline_policies": {},
        "permissions_boundary": "arn:aws:iam::aws:policy/AWSDenyAll"}),
    RealCase("iam-role/AttachRolePolicy", "aws.persistence.iam-create-backdoor-role", "AttachRolePolicy",
             BACKDOOR_ROLE, {"exists": True, "attached_policies": {ADMIN: True, OTHERS: U}}),
    RealCase("iam-role/UpdateAssumeRolePolicy", "aws.persistence.iam-backdoor-role", "UpdateAssumeRolePolicy",
             TRUSTED_ROLE, {"exists": True, "trust_policy": BACKDOORED_TRUST}),
    RealCase("sg/AuthorizeSecurityGroupIngress", "aws.exfiltration.ec2-security-group-open-port-22-ingress",
             "AuthorizeSecurityGroupIngress", GROUP, {
                 "exists": True, "ingress": {"tcp 22 0.0.0.0/0": "sgr-09b3e3d2ca1edf2a2", OTHERS: U}}),
    RealCase("trail/DeleteTrail", "aws.defense-evasion.cloudtrail-delete", "DeleteTrail", DELETED_TRAIL, {
        "exists": False, "logging": False}),
    RealCase("trail/StopLogging", "aws.defense-evasion.cloudtrail-stop", "StopLogging", STOPPED_TRAIL, {
        "exists": True, "logging": False}),
    RealCase("trail/PutEventSelectors", "aws.defense-evasion.cloudtrail-event-selectors", "PutEventSelectors",
             SELECTOR_TRAIL, {"exists": True, "event_selectors": {"eventSelectors": [{
                 "dataResources": [{"type": "AWS::S3::Object", "values": []},
                                   {"type": "AWS::Lambda::Function", "values": []}],
                 "excludeManagementEventSources": [], "includeManagementEvents": False,
                 "readWriteType": "ReadOnly"}]}}),
    RealCase("trail/UpdateTrail-failed-awsdocs", "awsdocs", "UpdateTrail",
             ref("arn:aws:cloudtrail:us-east-2:123456789012:trail/myTrail2", "AWS::CloudTrail::Trail"), {}),
    RealCase("snapshot/ModifySnapshotAttribute", "aws.exfiltration.ec2-share-ebs-snapshot", "ModifySnapshotAttribute",
             SNAPSHOT, {"exists": True, "create_volume_permission": {"098797384747": True, OTHERS: U}}),
    RealCase("image/ModifyImageAttribute", "aws.exfiltration.ec2-share-ami", "ModifyImageAttribute", IMAGE, {
        "exists": True, "launch_permission": {"846424999548": True, OTHERS: U}}),
    RealCase("lambda/AddPermission", "aws.persistence.lambda-backdoor-function", "AddPermission20150331v2",
             BACKDOOR_FN, {"exists": True, "resource_policy": {OTHERS: U, "backdoor": {
                 "Sid": "backdoor", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
                 "Resource": "arn:aws:lambda:ca-centralnorth-1r:880896431042:function:stratus-red-team-backdoor-f-func"}}}),
    RealCase("lambda/UpdateFunctionCode", "aws.persistence.lambda-overwrite-code", "UpdateFunctionCode20150331v2",
             OVERWRITTEN_FN, {"exists": True, "code_sha256": "Pt1c8vVaBygmNtAeSyjlpdy7r8nHRqJAAL++HEGlQkc=",
                              "runtime": "python3.9",
                              "role": "arn:aws:iam::266106314375:role/stratus-red-team-olc-lambda-vayhjqkdav"}),
    # The request logs "environment": {} (CloudTrail hides variables): the names are not claimed to be empty.
    RealCase("lambda/UpdateFunctionConfiguration", "aws.persistence.lambda-layer-extension",
             "UpdateFunctionConfiguration20150331v2", LAYERED_FN, {
                 "exists": True, "code_sha256": "yoqgXJ3G1ROsFXLUfkxIKHbCiKf2eKCiIkxoktNUoNE=",
                 "runtime": "python3.10", "role": "arn:aws:iam::712967571683:role/stratus-red-team-lambda-layer-lambda-role",
                 "layers": ["arn:aws:lambda:eugov-eastcentral-1r:712967571683:layer:"
                            "stratus-red-team-lambda-layer-my-lambda-extension:1"]}),
    # Reads change nothing: the secret's state stays unknown.
    RealCase("secret/GetSecretValue-read", "aws.credential-access.secretsmanager-retrieve-secrets", "GetSecretValue",
             READ_SECRET, {}),
    RealCase("kms/RotateKey-service-event-awsdocs", "awsdocs", "RotateKey", KEY, {}),
    RealCase("generic/DeleteResolverQueryLogConfig", "aws.defense-evasion.dns-delete-logs",
             "DeleteResolverQueryLogConfig", RESOLVER_LOG, {"calls": {"DeleteResolverQueryLogConfig": {
                 "originSequenceNumber": 0, "resolverQueryLogConfigId": "rqlc-4473f20ca554c07"}}}),
]


def _real_event(case: RealCase) -> dict[str, Any]:
    if case.fixture == "awsdocs":
        return real("", case.event_name, source="awsdocs")
    return real(case.fixture, case.event_name, first=True)


@pytest.mark.parametrize("case", REAL_CASES, ids=[c.id for c in REAL_CASES])
def test_reducer_on_real_record(case):
    assert to_json(fold(case.resource, [_real_event(case)])) == expected_state(case.resource, case.known)


def test_real_records_keep_their_error_codes():
    # The two failed cases above pass only because failed calls are never applied.
    assert is_failed(real("aws.persistence.iam-create-user-login-profile", "DeleteLoginProfile"))
    assert is_failed(real("", "UpdateTrail", source="awsdocs"))
    assert not is_failed(real("aws.defense-evasion.cloudtrail-stop", "StopLogging"))


def test_failed_call_that_would_change_state_is_not_applied():
    event = real("aws.defense-evasion.cloudtrail-stop", "StopLogging")
    event["errorCode"] = "AccessDenied"
    assert to_json(fold(STOPPED_TRAIL, [event])) == expected_state(STOPPED_TRAIL, {})


# ---- each reducer on sequences of documented calls --------------------------------------------------------

@dataclass(frozen=True)
class SequenceCase:
    id: str
    resource: ResourceRef
    events: list[dict[str, Any]]
    known: dict[str, Any] = field(default_factory=dict)


SEQUENCE_CASES = [
    SequenceCase("iam-user/keys-policies-groups-mfa", BOB, [
        real("", "CreateUser", source="awsdocs"),
        real("", "AddUserToGroup", source="awsdocs"),
        call("CreateAccessKey", IAM, {"userName": "Bob"}, {"accessKey": {"accessKeyId": "AKIA1", "status": "Active",
                                                                         "userName": "Bob"}}),
        call("CreateAccessKey", IAM, {"userName": "Bob"}, {"accessKey": {"accessKeyId": "AKIA2", "status": "Active",
                                                                         "userName": "Bob"}}, event_id="k2"),
        call("UpdateAccessKey", IAM, {"userName": "Bob", "accessKeyId": "AKIA1", "status": "Inactive"}),
        call("DeleteAccessKey", IAM, {"userName": "Bob", "accessKeyId": "AKIA2"}),
        call("AttachUserPolicy", IAM, {"userName": "Bob", "policyArn": ADMIN}),
        call("AttachUserPolicy", IAM, {"userName": "Bob", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
             event_id="p2"),
        call("DetachUserPolicy", IAM, {"userName": "Bob", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
        # IAM logs the request document as JSON text; responses URL-encode it. Both forms must parse.
        call("PutUserPolicy", IAM, {"userName": "Bob", "policyName": "inline",
                                    "policyDocument": '{"Version":"2012-10-17","Statement":[]}'}),
        call("PutUserPolicy", IAM, {"userName": "Bob", "policyName": "encoded",
                                    "policyDocument": "%7B%22Statement%22%3A%5B%5D%7D"}, event_id="p3"),
        call("PutUserPolicy", IAM, {"userName": "Bob", "policyName": "temporary", "policyDocument": "{}"},
             event_id="p4"),
        call("DeleteUserPolicy", IAM, {"userName": "Bob", "policyName": "temporary"}),
        call("RemoveUserFromGroup", IAM, {"userName": "Bob", "groupName": "admin"}),
        call("CreateLoginProfile", IAM, {"userName": "Bob", "passwordResetRequired": False}),
        call("DeleteLoginProfile", IAM, {"userName": "Bob"}),
        call("EnableMFADevice", IAM, {"userName": "Bob", "serialNumber": "arn:aws:iam::123456789012:mfa/bob"}),
        call("EnableMFADevice", IAM, {"userName": "Bob", "serialNumber": "arn:aws:iam::123456789012:mfa/old"},
             event_id="m2"),
        call("DeactivateMFADevice", IAM, {"userName": "Bob", "serialNumber": "arn:aws:iam::123456789012:mfa/old"}),
        call("PutUserPermissionsBoundary", IAM, {"userName": "Bob", "permissionsBoundary": "arn:aws:iam::aws:policy/B"}),
        call("CreateAccessKey", IAM, {"userName": "Mallory"}, {"accessKey": {"accessKeyId": "AKIAOTHER"}},
             event_id="other-user"),        # another user's key: ignored
    ], {"exists": True, "groups": {}, "access_keys": {"AKIA1": "Inactive"}, "attached_policies": {ADMIN: True},
        "inline_policies": {"inline": {"Version": "2012-10-17", "Statement": []}, "encoded": {"Statement": []}},
        "login_profile": False,
        "mfa_devices": {"arn:aws:iam::123456789012:mfa/bob": True},
        "permissions_boundary": "arn:aws:iam::aws:policy/B"}),
    SequenceCase("iam-user/DeleteUser-keeps-last-configuration", BOB, [
        real("", "AddUserToGroup", source="awsdocs"),
        call("DeleteUser", IAM, {"userName": "Bob"}),
    ], {"exists": False, "groups": {"admin": True, OTHERS: U}}),
    SequenceCase("iam-role/create-backdoor-then-clean-up", BACKDOOR_ROLE, [
        real("aws.persistence.iam-create-backdoor-role", "CreateRole"),
        real("aws.persistence.iam-create-backdoor-role", "AttachRolePolicy"),
        call("PutRolePolicy", IAM, {"roleName": "stratus-red-team-malicious-iam-role", "policyName": "x",
                                    "policyDocument": '{"Statement":[]}'}),
        call("DeleteRolePermissionsBoundary", IAM, {"roleName": "stratus-red-team-malicious-iam-role"}),
        call("UpdateAssumeRolePolicy", IAM, {"roleName": "stratus-red-team-other-role", "policyDocument": "{}"}),
        call("DetachRolePolicy", IAM, {"roleName": "stratus-red-team-malicious-iam-role", "policyArn": ADMIN}),
        call("DeleteRolePolicy", IAM, {"roleName": "stratus-red-team-malicious-iam-role", "policyName": "x"}),
        call("DeleteRole", IAM, {"roleName": "stratus-red-team-malicious-iam-role"}),
    ], {"exists": False, "trust_policy": ROLE_TRUST, "attached_policies": {}, "inline_policies": {},
        "permissions_boundary": None}),
    SequenceCase("sg/create-authorize-revoke", GROUP, [
        call("CreateSecurityGroup", EC2, {"groupName": "web", "groupDescription": "web", "vpcId": "vpc-1"},
             {"_return": True, "groupId": "sg-003dc7f1f1c686164"}),
        real("aws.exfiltration.ec2-security-group-open-port-22-ingress", "AuthorizeSecurityGroupIngress"),
        call("AuthorizeSecurityGroupIngress", EC2, {"groupId": "sg-003dc7f1f1c686164", "ipPermissions": {"items": [
            {"ipProtocol": "6", "fromPort": 443, "toPort": 443,
             "ipRanges": {"items": [{"cidrIp": "10.1.2.3/8"}, {"cidrIp": "192.0.2.0/24"}]},
             "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]},
             "groups": {"items": [{"groupId": "sg-0peer", "userId": "032092706103"}]},
             "prefixListIds": {"items": [{"prefixListId": "pl-12ab"}]}}]}}, event_id="a2"),
        call("RevokeSecurityGroupIngress", EC2, {"groupId": "sg-003dc7f1f1c686164", "ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}}),
        call("RevokeSecurityGroupIngress", EC2, {"groupId": "sg-003dc7f1f1c686164", "securityGroupRuleIds": {
            "items": [{"securityGroupRuleId": "sgr-09b3e3d2ca1edf2a2"}]}}, event_id="r2"),
        call("AuthorizeSecurityGroupEgress", EC2, {"groupId": "sg-003dc7f1f1c686164", "ipPermissions": {"items": [
            {"ipProtocol": "-1", "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}}]}}),
        call("RevokeSecurityGroupEgress", EC2, {"groupId": "sg-003dc7f1f1c686164", "ipPermissions": {"items": [
            {"ipProtocol": "-1", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
        call("AuthorizeSecurityGroupIngress", EC2, {"groupId": "sg-0peer", "ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 1, "toPort": 2, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}},
             event_id="other-group"),   # a rule of sg-0peer (grouped here by mistake): GROUP's rules stay
    ], {"exists": True, "ingress": {"tcp 443 192.0.2.0/24": None, "tcp 443 ::/0": None, "tcp 443 sg-0peer": None,
                                    "tcp 443 pl-12ab": None},
        "egress": {"all all ::/0": None}}),
    SequenceCase("sg/revoke-unknown-rule-id-makes-direction-unknown", GROUP, [
        real("aws.exfiltration.ec2-security-group-open-port-22-ingress", "AuthorizeSecurityGroupIngress"),
        call("RevokeSecurityGroupIngress", EC2, {"groupId": "sg-003dc7f1f1c686164",
                                                 "securityGroupRuleIds": {"items": ["sgr-never-seen"]}}),
    ], {"exists": True, "ingress": U}),
    SequenceCase("sg/DeleteSecurityGroup", GROUP, [
        call("DeleteSecurityGroup", EC2, {"groupId": "sg-003dc7f1f1c686164"}),
    ], {"exists": False}),
    SequenceCase("trail/create-start-update-selectors", SELECTOR_TRAIL, [
        call("CreateTrail", CT, {"name": "stratus-red-team-ctes-trail-khlvciwdor", "s3BucketName": "logs",
                                 "isMultiRegionTrail": True}),
        call("StartLogging", CT, {"name": SELECTOR_TRAIL.arn}),
        call("UpdateTrail", CT, {"name": "stratus-red-team-ctes-trail-khlvciwdor", "enableLogFileValidation": True,
                                 "kmsKeyId": "alias/trail"}),
        real("aws.defense-evasion.cloudtrail-event-selectors", "PutEventSelectors"),
        call("PutEventSelectors", CT, {"trailName": "stratus-red-team-ctes-trail-khlvciwdor", "advancedEventSelectors": [
            {"name": "mgmt", "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]}]},
             event_id="advanced"),
        call("StopLogging", CT, {"name": "some-other-trail"}),
    ], {"exists": True, "logging": True, "s3_bucket": "logs", "multi_region": True, "log_file_validation": True,
        "kms_key": "alias/trail", "event_selectors": {"advancedEventSelectors": [
            {"name": "mgmt", "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]}]}}),
    SequenceCase("trail/CreateTrail-defaults", SELECTOR_TRAIL, [
        call("CreateTrail", CT, {"name": "stratus-red-team-ctes-trail-khlvciwdor", "s3BucketName": "logs"}),
    ], {"exists": True, "logging": False, "s3_bucket": "logs", "multi_region": False, "log_file_validation": False,
        "kms_key": None, "event_selectors": {"eventSelectors": [{
            "readWriteType": "All", "includeManagementEvents": True, "dataResources": [],
            "excludeManagementEventSources": []}]}}),
    SequenceCase("s3/every-configuration", BUCKET, [
        call("CreateBucket", S3, {"bucketName": "evidence-bucket", "Host": "evidence-bucket.s3.amazonaws.com",
                                  "x-amz-acl": ["private"]}),
        call("PutBucketPolicy", S3, {"bucketName": "evidence-bucket", "policy": "", "bucketPolicy": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                    "Resource": "arn:aws:s3:::evidence-bucket/*"}]}}),
        call("PutBucketPublicAccessBlock", S3, {"bucketName": "evidence-bucket", "publicAccessBlock": "",
                                                "PublicAccessBlockConfiguration": {
                                                    "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                                                    "BlockPublicAcls": True, "IgnorePublicAcls": True,
                                                    "BlockPublicPolicy": True, "RestrictPublicBuckets": True}}),
        call("DeleteBucketPublicAccessBlock", S3, {"bucketName": "evidence-bucket", "publicAccessBlock": ""}),
        call("PutBucketAcl", S3, {"bucketName": "evidence-bucket", "acl": "", "AccessControlPolicy": {
            "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "Owner": {"ID": "owner"},
            "AccessControlList": {"Grant": [
                {"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                 "Permission": "READ"},
                {"Grantee": {"xsi:type": "CanonicalUser", "ID": "owner"}, "Permission": "FULL_CONTROL"}]}}}),
        call("PutBucketEncryption", S3, {"bucketName": "evidence-bucket", "encryption": "",
                                         "ServerSideEncryptionConfiguration": {
                                             "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                                             "Rule": {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}}}),
        call("DeleteBucketEncryption", S3, {"bucketName": "evidence-bucket", "encryption": ""}),
        call("PutBucketVersioning", S3, {"bucketName": "evidence-bucket", "versioning": "",
                                         "VersioningConfiguration": {"Status": "Suspended"}}),
        call("PutBucketLogging", S3, {"bucketName": "evidence-bucket", "logging": "", "BucketLoggingStatus": {
            "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
            "LoggingEnabled": {"TargetBucket": "logs", "TargetPrefix": "s3/"}}}),
        call("PutBucketLogging", S3, {"bucketName": "evidence-bucket", "logging": "", "BucketLoggingStatus": {
            "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}}, event_id="logging-off"),
        call("PutObjectLockConfiguration", S3, {"bucketName": "evidence-bucket", "object-lock": "",
                                                "ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}}),
        call("PutBucketLifecycle", S3, {"bucketName": "evidence-bucket", "lifecycle": "", "LifecycleConfiguration": {
            "Rule": {"ID": "expire", "Status": "Enabled", "Expiration": {"Days": 1}}}}),
        call("DeleteBucketPolicy", S3, {"bucketName": "evidence-bucket", "policy": ""}),
        call("PutBucketPolicy", S3, {"bucketName": "another-bucket", "bucketPolicy": {"Statement": []}}),
    ], {"exists": True, "policy": None, "public_access_block": None, "encryption": None,
        "acl": {"canned": None, "grants": [
            {"grantee": "id:owner", "permission": "FULL_CONTROL"},
            {"grantee": "uri:http://acs.amazonaws.com/groups/global/AllUsers", "permission": "READ"}]},
        "versioning": {"Status": "Suspended"}, "logging": None, "object_lock": {"ObjectLockEnabled": "Enabled"},
        "lifecycle": {"Rule": {"ID": "expire", "Status": "Enabled", "Expiration": {"Days": 1}}}}),
    SequenceCase("s3/public-access-block-new-api-name-and-canned-acl", BUCKET, [
        call("PutPublicAccessBlock", S3, {"bucketName": "evidence-bucket", "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": "true", "RestrictPublicBuckets": "false"}}),
        call("PutBucketAcl", S3, {"bucketName": "evidence-bucket", "x-amz-acl": ["public-read"]}),
        call("PutBucketAcl", S3, {"bucketName": "evidence-bucket",
                                  "x-amz-grant-read": 'uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"'},
             event_id="grant-header", at="2024-08-01T13:00:01Z"),
    ], {"exists": True, "public_access_block": {"BlockPublicAcls": True, "IgnorePublicAcls": False,
                                                 "BlockPublicPolicy": False, "RestrictPublicBuckets": False},
        "acl": {"canned": None, "grants": [
            {"grantee": "uri:http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "permission": "READ"}]}}),
    SequenceCase("s3/CreateBucket-then-DeleteBucket", BUCKET, [
        call("CreateBucket", S3, {"bucketName": "evidence-bucket", "x-amz-bucket-object-lock-enabled": ["true"]}),
        call("DeleteBucket", S3, {"bucketName": "evidence-bucket"}),
    ], {"exists": False, "policy": None, "logging": None, "lifecycle": None, "versioning": None,
        "acl": {"canned": "private", "grants": []}, "object_lock": {"ObjectLockEnabled": "Enabled"}}),
    SequenceCase("snapshot/made-public-then-private", SNAPSHOT, [
        real("aws.exfiltration.ec2-share-ebs-snapshot", "ModifySnapshotAttribute"),
        call("ModifySnapshotAttribute", EC2, {"snapshotId": "snap-041993b54a9b3af6f", "attributeType":
                                              "CREATE_VOLUME_PERMISSION", "createVolumePermission": {
                                                  "add": {"items": [{"group": "all"}]},
                                                  "remove": {"items": [{"userId": "098797384747"}]}}}),
    ], {"exists": True, "create_volume_permission": {"all": True, OTHERS: U}}),
    SequenceCase("snapshot/reset-and-legacy-form", SNAPSHOT, [
        call("CreateSnapshot", EC2, {"volumeId": "vol-1"}, {"snapshotId": "snap-041993b54a9b3af6f"}),
        call("ModifySnapshotAttribute", EC2, {"snapshotId": "snap-041993b54a9b3af6f", "operationType": "add",
                                              "userIds": {"items": [{"userId": "111122223333"}]}}),
        call("ModifySnapshotAttribute", EC2, {"snapshotId": "snap-0other", "createVolumePermission": {
            "add": {"items": [{"group": "all"}]}}}, event_id="other-snapshot"),
    ], {"exists": True, "create_volume_permission": {"111122223333": True}}),
    SequenceCase("snapshot/ResetSnapshotAttribute-and-delete", SNAPSHOT, [
        real("aws.exfiltration.ec2-share-ebs-snapshot", "ModifySnapshotAttribute"),
        call("ResetSnapshotAttribute", EC2, {"snapshotId": "snap-041993b54a9b3af6f",
                                             "attribute": "createVolumePermission"}),
        call("DeleteSnapshot", EC2, {"snapshotId": "snap-041993b54a9b3af6f"}),
    ], {"exists": False, "create_volume_permission": {}}),
    SequenceCase("image/shared-with-org-then-deregistered", IMAGE, [
        call("CreateImage", EC2, {"instanceId": "i-1", "name": "golden"}, {"imageId": "ami-de1fbCab6ccB03e6D"}),
        real("aws.exfiltration.ec2-share-ami", "ModifyImageAttribute"),
        call("ModifyImageAttribute", EC2, {"imageId": "ami-de1fbCab6ccB03e6D", "launchPermission": {"add": {"items": [
            {"organizationArn": "arn:aws:organizations::111122223333:organization/o-1"}]}}}),
        call("ModifyImageAttribute", EC2, {"imageId": "ami-de1fbCab6ccB03e6D", "attributeType": "description",
                                           "description": {"value": "x"}}, event_id="description"),
        call("DeregisterImage", EC2, {"imageId": "ami-de1fbCab6ccB03e6D"}),
    ], {"exists": False, "launch_permission": {"846424999548": True,
                                               "arn:aws:organizations::111122223333:organization/o-1": True}}),
    SequenceCase("kms/disable-schedule-cancel-policy", KEY, [
        call("CreateKey", KMS, {"keySpec": "SYMMETRIC_DEFAULT"}, {"keyMetadata": {
            "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "enabled": True}}),
        call("DisableKey", KMS, {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        call("EnableKey", KMS, {"keyId": KEY.arn}),
        call("PutKeyPolicy", KMS, {"keyId": "alias/evidence", "policyName": "default",
                                   "policy": '{"Version":"2012-10-17","Statement":[]}'}),
        call("ScheduleKeyDeletion", KMS, {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "pendingWindowInDays": 7},
             {"keyId": KEY.arn, "deletionDate": "Aug 8, 2024, 12:00:00 AM", "keyState": "PendingDeletion",
              "pendingWindowInDays": 7}),
        call("EnableKey", KMS, {"keyId": "ffffffff-0000-0000-0000-000000000000"}, event_id="other-key"),
    ], {"exists": True, "enabled": False, "key_policy": {"Version": "2012-10-17", "Statement": []},
        "pending_deletion": {"deletion_date": "Aug 8, 2024, 12:00:00 AM", "pending_window_days": 7}}),
    SequenceCase("kms/CancelKeyDeletion-leaves-key-disabled", KEY, [
        call("ScheduleKeyDeletion", KMS, {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "pendingWindowInDays": 30}),
        call("CancelKeyDeletion", KMS, {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
    ], {"exists": True, "enabled": False, "pending_deletion": None}),
    SequenceCase("lambda/create-then-backdoor-then-remove-permission", BACKDOOR_FN, [
        call("CreateFunction20150331", LAMBDA, {
            "functionName": "stratus-red-team-backdoor-f-func", "runtime": "python3.12",
            "role": "arn:aws:iam::880896431042:role/fn", "environment": {"variables": {"DB_PASSWORD": "hunter2",
                                                                                         "API_URL": "https://x"}}},
             {"functionName": "stratus-red-team-backdoor-f-func", "codeSha256": "abc=", "runtime": "python3.12"}),
        real("aws.persistence.lambda-backdoor-function", "AddPermission20150331v2"),
        call("AddPermission20150331v2", LAMBDA, {"functionName": "880896431042:function:stratus-red-team-backdoor-f-func",
                                                 "statementId": "s3", "action": "lambda:InvokeFunction",
                                                 "principal": "s3.amazonaws.com"}, None, event_id="no-response"),
        call("RemovePermission20150331v2", LAMBDA, {"functionName": "stratus-red-team-backdoor-f-func",
                                                    "statementId": "backdoor"}),
        call("UpdateFunctionCode20150331v2", LAMBDA, {"functionName": "stratus-red-team-backdoor-f-func"}, None),
    ], {"exists": True, "code_sha256": U, "runtime": "python3.12", "role": "arn:aws:iam::880896431042:role/fn",
        "layers": [], "environment_variable_names": ["API_URL", "DB_PASSWORD"],
        "resource_policy": {"s3": {"action": "lambda:InvokeFunction", "principal": "s3.amazonaws.com"}}}),
    SequenceCase("lambda/DeleteFunction", OVERWRITTEN_FN, [
        real("aws.persistence.lambda-overwrite-code", "UpdateFunctionCode20150331v2"),
        call("DeleteFunction20150331", LAMBDA, {"functionName": "stratus-red-team-olc-func-vayhjqkdav"}),
    ], {"exists": False, "code_sha256": "Pt1c8vVaBygmNtAeSyjlpdy7r8nHRqJAAL++HEGlQkc=", "runtime": "python3.9",
        "role": "arn:aws:iam::266106314375:role/stratus-red-team-olc-lambda-vayhjqkdav"}),
    SequenceCase("secret/versions-delete-restore", SECRET, [
        call("CreateSecret", SM, {"name": "prod/db", "clientRequestToken": "v1"},
             {"arn": SECRET.arn, "name": "prod/db", "versionId": "v1"}),
        call("PutSecretValue", SM, {"secretId": "prod/db", "clientRequestToken": "v2"}, None),
        call("UpdateSecret", SM, {"secretId": "prod/db", "description": "no new value"}, {"arn": SECRET.arn}),
        call("RotateSecret", SM, {"secretId": SECRET.arn}, {"arn": SECRET.arn, "versionId": "v3"}),
        call("GetSecretValue", SM, {"secretId": "prod/db"}, None, readOnly=True),
        call("DeleteSecret", SM, {"secretId": "prod/db", "recoveryWindowInDays": 7},
             {"arn": SECRET.arn, "deletionDate": "Aug 8, 2024, 1:00:00 PM"}),
    ], {"exists": True, "deleted": True, "deletion_date": "Aug 8, 2024, 1:00:00 PM",
        "versions": {"v1": True, "v2": True, "v3": True}, "latest_version": "v3"}),
    SequenceCase("secret/PutSecretValue-on-existing-secret", SECRET, [
        call("PutSecretValue", SM, {"secretId": "prod/db", "clientRequestToken": "v9"},
             {"arn": SECRET.arn, "versionId": "v9", "versionStages": ["AWSCURRENT"]}),
        call("DeleteSecret", SM, {"secretId": "prod/db"}, {"deletionDate": "Aug 30, 2024, 1:00:00 PM"}),
        call("RestoreSecret", SM, {"secretId": "prod/db"}, {"arn": SECRET.arn}),
    ], {"exists": True, "deleted": False, "deletion_date": None, "versions": {"v9": True, OTHERS: U},
        "latest_version": "v9"}),
    SequenceCase("parameter/put-overwrite-delete", PARAMETER, [
        call("PutParameter", SSM, {"name": "/prod/db-password", "type": "SecureString"}, {"version": 1, "tier": "Standard"}),
        call("PutParameter", SSM, {"name": "/prod/db-password", "overwrite": True}, {"version": 2, "tier": "Standard"},
             event_id="overwrite"),
        call("DeleteParameters", SSM, {"names": ["/prod/db-password", "/prod/other"]},
             {"deletedParameters": ["/prod/db-password"], "invalidParameters": ["/prod/other"]}),
    ], {"exists": False, "version": 2, "type": "SecureString"}),
    # The rows no story above reaches: alternative API names and rarer calls.
    SequenceCase("iam-user/boundary-removed", BOB, [
        call("PutUserPermissionsBoundary", IAM, {"userName": "Bob", "permissionsBoundary": "arn:aws:iam::aws:policy/B"}),
        call("DeleteUserPermissionsBoundary", IAM, {"userName": "Bob"}),
    ], {"exists": True, "permissions_boundary": None}),
    SequenceCase("iam-role/PutRolePermissionsBoundary", BACKDOOR_ROLE, [
        call("PutRolePermissionsBoundary", IAM, {"roleName": "stratus-red-team-malicious-iam-role",
                                                 "permissionsBoundary": "arn:aws:iam::aws:policy/B"}),
    ], {"exists": True, "permissions_boundary": "arn:aws:iam::aws:policy/B"}),
    SequenceCase("s3/other-api-names", BUCKET, [
        call("PutBucketLifecycleConfiguration", S3, {"bucketName": "evidence-bucket", "LifecycleConfiguration": {
            "Rule": [{"ID": "a"}]}}),
        call("DeleteBucketLifecycle", S3, {"bucketName": "evidence-bucket", "lifecycle": ""}),
        call("DeletePublicAccessBlock", S3, {"bucketName": "evidence-bucket"}),
        call("PutBucketPolicy", S3, {"bucketName": "evidence-bucket", "policy": ""}),    # the body was not logged
    ], {"exists": True, "lifecycle": None, "public_access_block": None, "policy": U}),
    SequenceCase("snapshot/CopySnapshot", SNAPSHOT, [
        call("CopySnapshot", EC2, {"sourceSnapshotId": "snap-0source"}, {"snapshotId": "snap-041993b54a9b3af6f"}),
    ], {"exists": True, "create_volume_permission": {}}),
    SequenceCase("image/registered-copied-reset", IMAGE, [
        call("RegisterImage", EC2, {"name": "golden"}, {"imageId": "ami-de1fbCab6ccB03e6D"}),
        real("aws.exfiltration.ec2-share-ami", "ModifyImageAttribute"),
        call("ResetImageAttribute", EC2, {"imageId": "ami-de1fbCab6ccB03e6D", "attribute": "launchPermission"}),
        call("ModifyImageAttribute", EC2, {"imageId": "ami-de1fbCab6ccB03e6D", "operationType": "add",
                                           "userGroups": {"items": [{"userGroup": "all"}]}}),
        call("CopyImage", EC2, {"sourceImageId": "ami-de1fbCab6ccB03e6D"}, {"imageId": "ami-0copy"}),
    ], {"exists": True, "launch_permission": {"all": True}}),
    SequenceCase("kms/DeleteKey-service-event", KEY, [
        call("DeleteKey", KMS, None, None, userIdentity={"accountId": "111122223333", "invokedBy": "AWS Internal"},
             eventType="AwsServiceEvent"),
    ], {"exists": False, "enabled": False, "pending_deletion": None}),
    SequenceCase("parameter/DeleteParameter", PARAMETER, [
        call("DeleteParameter", SSM, {"name": "/prod/db-password"}),
    ], {"exists": False}),
    SequenceCase("generic/last-request-per-call-skips-reads", RESOLVER_LOG, [
        call("AssociateResolverQueryLogConfig", "route53resolver.amazonaws.com", {"resolverQueryLogConfigId": "rqlc-1",
                                                                                  "resourceId": "vpc-1"}),
        call("AssociateResolverQueryLogConfig", "route53resolver.amazonaws.com", {"resolverQueryLogConfigId": "rqlc-1",
                                                                                  "resourceId": "vpc-2"}, event_id="2"),
        call("GetResolverQueryLogConfig", "route53resolver.amazonaws.com", {"resolverQueryLogConfigId": "rqlc-1"},
             readOnly=True),
        call("DeleteResolverQueryLogConfig", "route53resolver.amazonaws.com", None),
    ], {"calls": {"AssociateResolverQueryLogConfig": {"resolverQueryLogConfigId": "rqlc-1", "resourceId": "vpc-2"},
                  "DeleteResolverQueryLogConfig": None}}),
]


@pytest.mark.parametrize("case", SEQUENCE_CASES, ids=[c.id for c in SEQUENCE_CASES])
def test_reducer_on_call_sequence(case):
    assert to_json(fold(case.resource, case.events)) == expected_state(case.resource, case.known)


def test_environment_variable_values_are_never_kept():
    case = next(c for c in SEQUENCE_CASES if c.id.startswith("lambda/create"))
    rendered = json.dumps(to_json(fold(case.resource, case.events)))
    assert "hunter2" not in rendered and "https://x" not in rendered


def test_every_table_row_is_exercised():
    """Each built-in call name appears in some case above, so no row ships untested."""
    tested = {call_name(e) for c in SEQUENCE_CASES for e in c.events} | {
        call_name(_real_event(c)) for c in REAL_CASES}
    for projection in BUILTINS:
        untested = set(projection.reducer.updates) - tested
        assert not untested, f"{projection.resource_type}: no case for {sorted(untested)}"


# ---- the state model --------------------------------------------------------------------------------------

def test_unknown_has_no_truth_value_and_survives_pickling():
    with pytest.raises(TypeError):
        bool(UNKNOWN)
    assert pickle.loads(pickle.dumps(UNKNOWN)) is UNKNOWN
    assert repr(UNKNOWN) == "UNKNOWN"


def test_frozen_map_is_immutable_sorted_hashable_and_picklable():
    state = FrozenMap({"b": 1, "a": (1, 2)})
    assert list(state) == ["a", "b"]
    with pytest.raises(AttributeError):
        state.x = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        state["a"] = 2  # type: ignore[index]
    assert state.set("c", 3) == {"a": (1, 2), "b": 1, "c": 3} and "c" not in state
    assert state.without("b") == {"a": (1, 2)} and state.without("zz") is state
    assert hash(FrozenMap({"a": (1, 2), "b": 1})) == hash(state)
    assert pickle.loads(pickle.dumps(state)) == state


@pytest.mark.parametrize("value, expected", [
    (UNKNOWN, U),
    (FrozenMap({"x": UNKNOWN, "y": (1, FrozenMap({"z": None}))}), {"x": U, "y": [1, {"z": None}]}),
    ("text", "text"),
], ids=["unknown", "nested", "scalar"])
def test_to_json(value, expected):
    assert to_json(value) == expected


DIFF_CASES = [
    ("unknown-to-known", {"exists": UNKNOWN}, {"exists": True}, [(("exists",), U, True)]),
    ("unchanged", {"exists": True}, {"exists": True}, []),
    ("one-is-not-true", {"n": 1}, {"n": True}, [(("n",), 1, True)]),
    ("member-added-to-complete-collection", {"keys": {}}, {"keys": {"AKIA1": "Active"}},
     [(("keys", "AKIA1"), ABSENT, "Active")]),
    ("member-added-to-partial-collection", {"keys": {OTHERS: UNKNOWN}}, {"keys": {OTHERS: UNKNOWN, "AKIA1": "Active"}},
     [(("keys", "AKIA1"), U, "Active")]),
    ("member-removed", {"keys": {"AKIA1": "Active"}}, {"keys": {}}, [(("keys", "AKIA1"), "Active", ABSENT)]),
    ("collection-becomes-unknown", {"ingress": {"tcp 22 0.0.0.0/0": None}}, {"ingress": UNKNOWN},
     [(("ingress",), {"tcp 22 0.0.0.0/0": None}, U)]),
    ("document-key", {"doc": {"Statement": [1]}}, {"doc": {"Statement": [1, 2]}},
     [(("doc", "Statement"), [1], [1, 2])]),
]


@pytest.mark.parametrize("before, after, expected", [c[1:] for c in DIFF_CASES], ids=[c[0] for c in DIFF_CASES])
def test_diff(before, after, expected):
    def frozen(value: dict[str, Any]) -> FrozenMap:
        return FrozenMap({k: (v if v is UNKNOWN else freeze({kk: vv for kk, vv in v.items()})
                              if isinstance(v, dict) else v) for k, v in value.items()})
    assert diff(frozen(before), frozen(after)) == [Change(*row) for row in expected]


def test_change_prints_path_and_json_values():
    change = Change(("attached_policies", ADMIN), ABSENT, True)
    assert str(change) == f'attached_policies["{ADMIN}"]: {{"$absent":true}} -> true'


def test_partial_collections():
    assert is_partial(UNKNOWN) and is_partial(FrozenMap({OTHERS: UNKNOWN})) and not is_partial(FrozenMap())


# ---- reading events -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("UpdateFunctionCode20150331v2", "UpdateFunctionCode"),
    ("AddPermission20150331v2", "AddPermission"),
    ("CreateFunction20150331", "CreateFunction"),
    ("GetFunction20150331v2", "GetFunction"),
    ("CreateUser", "CreateUser"),
])
def test_call_name_strips_api_version(name, expected):
    assert call_name({"eventName": name}) == expected


@pytest.mark.parametrize("logged, expected", [
    ('{"Version": "2012-10-17"}', {"Version": "2012-10-17"}),
    ("%7B%22Version%22%3A%20%222012-10-17%22%7D", {"Version": "2012-10-17"}),
    ({"Version": "2012-10-17"}, {"Version": "2012-10-17"}),
    ("not a policy", "not a policy"),
    # A document whose JSON text holds a percent sign: parsed as is, not URL-decoded.
    ('{"Sid": "100%25"}', {"Sid": "100%25"}),
], ids=["json-text", "url-encoded", "object", "not-json", "percent-inside-json"])
def test_document(logged, expected):
    assert to_json(document(logged)) == expected


def test_url_encoded_response_document_matches_request_document():
    event = real("aws.persistence.iam-create-backdoor-role", "CreateRole")
    assert document(event["requestParameters"]["assumeRolePolicyDocument"]) == document(
        event["responseElements"]["role"]["assumeRolePolicyDocument"])


@pytest.mark.parametrize("arn, target, expected", [
    (GROUP.arn, "sg-003dc7f1f1c686164", True),
    (GROUP.arn, "sg-0other", False),
    (GROUP.arn, None, True),
    (BACKDOOR_FN.arn, BACKDOOR_FN.arn + ":PROD", True),
    (SELECTOR_TRAIL.arn, SELECTOR_TRAIL.arn, True),
    (ADMIN_USER.arn, "malicious-iam-user", True),
    (ADMIN_USER.arn, "christophe", False),
], ids=["id", "other-id", "cannot-tell", "qualified-function-arn", "trail-arn", "user-name", "other-user"])
def test_refers_to(arn, target, expected):
    assert refers_to(arn, target) is expected


@pytest.mark.parametrize("args, expected", [
    (("tcp", 22, 22, "208.236.235.254/0"), "tcp 22 0.0.0.0/0"),
    (("6", 1000, 2000, "10.0.0.0/8"), "tcp 1000-2000 10.0.0.0/8"),
    (("-1", -1, -1, "::/0"), "all all ::/0"),
    (("udp", None, None, "sg-1"), "udp all sg-1"),
    (("icmp", -1, -1, "0.0.0.0/0"), "icmp all 0.0.0.0/0"),
    (("tcp", 22, 22, "not-a-cidr/99"), "tcp 22 not-a-cidr/99"),
])
def test_rule_key(args, expected):
    assert rule_key(*args) == expected


# ---- the registry (the extension point) ------------------------------------------------------------------

def _noop(state: State, event: Any, resource: Any) -> State:
    return state


CUSTOM = Projection(resource_type="AWS::SNS::Topic", reducer=_noop, description="test", fields=("policy",))


def test_default_registry_holds_the_builtins_and_falls_back_to_generic():
    assert DEFAULT.types() == tuple(sorted(p.resource_type for p in BUILTINS))
    assert DEFAULT.types() == (
        "AWS::CloudTrail::Trail", "AWS::EC2::Image", "AWS::EC2::SecurityGroup", "AWS::EC2::Snapshot",
        "AWS::IAM::Role", "AWS::IAM::User", "AWS::KMS::Key", "AWS::Lambda::Function", "AWS::S3::Bucket",
        "AWS::SSM::Parameter", "AWS::SecretsManager::Secret")
    assert DEFAULT.for_type("AWS::SNS::Topic") is GENERIC


def test_default_registry_is_locked():
    with pytest.raises(TypeError):
        DEFAULT.register(CUSTOM)
    assert DEFAULT.for_type("AWS::SNS::Topic") is GENERIC


def test_register_into_a_copy():
    registry = DEFAULT.copy().register(CUSTOM)
    assert registry.for_type("AWS::SNS::Topic") is CUSTOM
    assert registry.for_type("AWS::IAM::User") is DEFAULT.for_type("AWS::IAM::User")
    with pytest.raises(ValueError):
        registry.register(CUSTOM)
    replacement = Projection(resource_type="AWS::SNS::Topic", reducer=_noop, description="v2")
    assert registry.register(replacement, replace=True).for_type("AWS::SNS::Topic") is replacement


def test_custom_registry_with_its_own_fallback():
    registry = Registry([CUSTOM], fallback=CUSTOM)
    assert registry.for_type("AWS::Anything") is CUSTOM and registry.types() == ("AWS::SNS::Topic",)


def test_projections_pickle_for_beam_workers():
    # Closures and lambdas in a table would break here: Beam pickles whatever the workers call.
    assert pickle.loads(pickle.dumps(DEFAULT.copy())).types() == DEFAULT.types()
    for projection in (*BUILTINS, GENERIC):
        assert pickle.loads(pickle.dumps(projection)).resource_type == projection.resource_type


def test_initial_state_is_unknown_not_empty():
    for projection in (*BUILTINS, GENERIC):
        initial = projection.initial()
        assert set(initial) == set(projection.fields) and all(v is UNKNOWN for v in initial.values())


def test_a_document_nested_too_deep_to_freeze_is_kept_as_text() -> None:
    deep = "[" * 900 + "]" * 900                    # parses, but freezing it would exhaust the stack
    assert document(deep) == deep
    assert document(jsonvalue.loads(deep)) == deep
    assert document('{"a": [1]}') == freeze({"a": [1]})
