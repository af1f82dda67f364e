"""resources.py: which resources a CloudTrail event touched, checked on real records first.

The Stratus Red Team and AWS docs tables pin every rule the real records exercise (a broken row
changes an expected ARN); hand-written events cover the services those records lack, the generic
fallback, partitions and hostile input.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fixturedata import AWSDOCS_EXAMPLES, STRATUS, all_records, records_in
from trailbeam import resources
from trailbeam.resources import Coverage, ResourceRef, arn_type, canonical_arn, coverage, is_write, resources_of

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


def _first(file: str, event_name: str, nth: int = 0) -> dict[str, Any]:
    """The nth record of a fixture file with this eventName (a copy: tests may change it)."""
    path = AWSDOCS_EXAMPLES if file == AWSDOCS_EXAMPLES.name else STRATUS / f"{file}.json"
    matches = [record for record in records_in(path) if record.get("eventName") == event_name]
    return copy.deepcopy(matches[nth])


def _pairs(event: Any) -> list[tuple[str, str]]:
    return [(ref.type, ref.arn) for ref in resources_of(event)]


def _event(source: str, name: str, request: Any = None, response: Any = None, *, region: Any = "us-east-1",
           account: Any = ACCOUNT, identity: Any = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A CloudTrail record in the shape AWS writes, called by IAM user alice unless told otherwise."""
    return {"eventVersion": "1.09", "eventSource": source, "eventName": name, "awsRegion": region,
            "recipientAccountId": account, "requestParameters": request, "responseElements": response,
            "userIdentity": {"type": "IAMUser", "arn": ALICE, "accountId": ACCOUNT, "userName": "alice"}
            if identity is None else identity, **(extra or {})}


# ---- real records -----------------------------------------------------------------------------

USER = "AWS::IAM::User"
ROLE = "AWS::IAM::Role"
ADMIN_POLICY = ("AWS::IAM::ManagedPolicy", "arn:aws:iam::aws:policy/AdministratorAccess")
INSTANCE = "AWS::EC2::Instance"
PARAMETER_SUFFIXES = (1, 15, 20, 25, 32, 34, 35, 36, 39, 6)

STRATUS_CASES = [
    ("aws.exfiltration.ec2-security-group-open-port-22-ingress", "AuthorizeSecurityGroupIngress",
     [("AWS::EC2::SecurityGroup", "arn:aws:ec2:us-northeast-1r:032092706103:security-group/sg-003dc7f1f1c686164")]),
    ("aws.defense-evasion.cloudtrail-delete", "DeleteTrail",
     [("AWS::CloudTrail::Trail",
       "arn:aws:cloudtrail:megov-westwest-1r:847129010505:trail/stratus-red-team-cloudtraild-trail-kvrwohmiai")]),
    ("aws.defense-evasion.cloudtrail-stop", "StopLogging",
     [("AWS::CloudTrail::Trail",
       "arn:aws:cloudtrail:apiso-centralnorth-2r:143434273843:trail/stratus-red-team-ct-stop-trail-buykxbqejv")]),
    # trailName in the request and trailARN in the response name one trail.
    ("aws.defense-evasion.cloudtrail-event-selectors", "PutEventSelectors",
     [("AWS::CloudTrail::Trail",
       "arn:aws:cloudtrail:cn-northsouth-2r:958312252124:trail/stratus-red-team-ctes-trail-khlvciwdor")]),
    ("aws.exfiltration.ec2-share-ebs-snapshot", "ModifySnapshotAttribute",
     [("AWS::EC2::Snapshot", "arn:aws:ec2:me-central-3r::snapshot/snap-041993b54a9b3af6f")]),
    ("aws.exfiltration.ec2-share-ami", "ModifyImageAttribute",
     [("AWS::EC2::Image", "arn:aws:ec2:me-south-1r::image/ami-de1fbCab6ccB03e6D")]),
    ("aws.persistence.iam-create-admin-user", "CreateUser",
     [(USER, "arn:aws:iam::229654561268:user/malicious-iam-user")]),
    ("aws.persistence.iam-create-admin-user", "CreateAccessKey",
     [("AWS::IAM::AccessKey", "arn:aws:iam::229654561268:user/malicious-iam-user/accesskey/AKIAXAFZN8JEPF6L682H"),
      (USER, "arn:aws:iam::229654561268:user/malicious-iam-user")]),
    ("aws.persistence.iam-backdoor-user", "CreateAccessKey",
     [("AWS::IAM::AccessKey",
       "arn:aws:iam::946986569305:user/stratus-red-team-backdoor-u-user/accesskey/AKIAL80DWDVKKM0UXEER"),
      (USER, "arn:aws:iam::946986569305:user/stratus-red-team-backdoor-u-user")]),
    ("aws.persistence.iam-create-admin-user", "AttachUserPolicy",
     [ADMIN_POLICY, (USER, "arn:aws:iam::229654561268:user/malicious-iam-user")]),
    ("aws.persistence.iam-create-user-login-profile", "CreateLoginProfile",
     [(USER, "arn:aws:iam::070411556318:user/stratus-red-team-login-profile-user")]),
    ("aws.persistence.iam-create-user-login-profile", "DeleteLoginProfile",
     [(USER, "arn:aws:iam::070411556318:user/stratus-red-team-login-profile-user")]),
    ("aws.privilege-escalation.iam-update-user-login-profile", "UpdateLoginProfile",
     [(USER, "arn:aws:iam::763751499319:user/stratus-red-team-update-login-profile-user")]),
    ("aws.persistence.iam-backdoor-role", "UpdateAssumeRolePolicy",
     [(ROLE, "arn:aws:iam::751203476945:role/stratus-red-team-backdoor-r-role")]),
    # The permissions boundary is a setting of the role, not a resource the call touched.
    ("aws.persistence.iam-create-backdoor-role", "CreateRole",
     [(ROLE, "arn:aws:iam::609418236337:role/stratus-red-team-malicious-iam-role")]),
    ("aws.persistence.iam-create-backdoor-role", "AttachRolePolicy",
     [ADMIN_POLICY, (ROLE, "arn:aws:iam::609418236337:role/stratus-red-team-malicious-iam-role")]),
    ("aws.persistence.lambda-backdoor-function", "AddPermission20150331v2",
     [("AWS::Lambda::Function",
       "arn:aws:lambda:ca-centralnorth-1r:880896431042:function:stratus-red-team-backdoor-f-func")]),
    # The response names version 1 (function:...:1): a version is part of its function.
    ("aws.persistence.lambda-overwrite-code", "UpdateFunctionCode20150331v2",
     [("AWS::Lambda::Function",
       "arn:aws:lambda:ap-westeast-2r:266106314375:function:stratus-red-team-olc-func-vayhjqkdav")]),
    # The layer added is a setting of the function; the execution role in the response is too.
    ("aws.persistence.lambda-layer-extension", "UpdateFunctionConfiguration20150331v2",
     [("AWS::Lambda::Function",
       "arn:aws:lambda:eugov-eastcentral-1r:712967571683:function:stratus-red-team-lambda-layer-simpleLambda")]),
    ("aws.defense-evasion.organizations-leave", "LeaveOrganization",
     [("AWS::::Account", "arn:aws:iam::307578594326:root")]),
    ("aws.defense-evasion.organizations-leave", "AssumeRole",
     [(ROLE, "arn:aws:iam::307578594326:role/stratus-red-team-leave-org-role"),
      ("AWS::STS::AssumedRole", "arn:aws:sts::307578594326:assumed-role/stratus-red-team-leave-org-role/"
                                "aws-go-sdk-1722587398902687000")]),
    ("aws.defense-evasion.dns-delete-logs", "DeleteResolverQueryLogConfig",
     [("AWS::Route53Resolver::ResolverQueryLoggingConfig",
       "arn:aws:route53resolver:sa-central-3r:206821776919:resolver-query-log-config/rqlc-4473f20ca554c07")]),
    ("aws.exfiltration.rds-share-snapshot", "ModifyDBSnapshotAttribute",
     [("AWS::RDS::DBSnapshot", "arn:aws:rds:meiso-eastwest-2r:171471557522:snapshot:exfiltration")]),
    ("aws.defense-evasion.vpc-remove-flow-logs", "DeleteFlowLogs",
     [("AWS::EC2::FlowLog", "arn:aws:ec2:megov-south-1r:498376118699:vpc-flow-log/fl-0e17aa62a21d4bbfe")]),
    # The full ARN's six-character suffix (-4Rzn83) is dropped: calls by name cannot know it.
    ("aws.credential-access.secretsmanager-retrieve-secrets", "GetSecretValue",
     [("AWS::SecretsManager::Secret",
       "arn:aws:secretsmanager:cn-centraleast-1r:903144391865:secret:stratus-red-team-retrieve-secret-18")]),
    ("aws.credential-access.ssm-retrieve-securestring-parameters", "GetParameters",
     [("AWS::SSM::Parameter", f"arn:aws:ssm:cn-west-3r:933175858973:parameter/credentials/stratus-red-team/"
                              f"credentials-{n}") for n in sorted(PARAMETER_SUFFIXES, key=str)]),
    # Denied, so no instance exists: the image and subnet it named still place the attempt.
    ("aws.execution.ec2-launch-unusual-instances", "RunInstances",
     [("AWS::EC2::Image", "arn:aws:ec2:ca-south-3r::image/ami-aCBbfd13bdb1d1E4b"),
      ("AWS::EC2::Subnet", "arn:aws:ec2:ca-south-3r:900138736586:subnet/subnet-0e540f0c7ffb48ae9")]),
    ("aws.execution.ec2-user-data", "StartInstances",
     [(INSTANCE, "arn:aws:ec2:ca-northsouth-2r:309303190113:instance/i-DDd6c7B0e18F0E35f")]),
    ("aws.execution.ec2-user-data", "ModifyInstanceAttribute",
     [(INSTANCE, "arn:aws:ec2:ca-northsouth-2r:309303190113:instance/i-DDd6c7B0e18F0E35f")]),
    ("aws.execution.ec2-user-data", "StopInstances",
     [(INSTANCE, "arn:aws:ec2:ca-northsouth-2r:309303190113:instance/i-DDd6c7B0e18F0E35f")]),
    ("aws.execution.ssm-send-command", "SendCommand",
     [(INSTANCE, f"arn:aws:ec2:sagov-westsouth-1r:056392974792:instance/{i}")
      for i in ("i-00456A8D163f546Ff", "i-9D40CCFc0aE91CFa5", "i-cfE23b1a7ceba6f86")]),
    # The session it opens is the one TerminateSession (next row) closes: one history.
    ("aws.execution.ssm-start-session", "StartSession",
     [(INSTANCE, "arn:aws:ec2:me-northwest-3r:294599468799:instance/i-eA1d1296c1dE3Aa1f"),
      ("AWS::SSM::Session", "arn:aws:ssm:me-northwest-3r:294599468799:session/christophe-wzleysigzmbd6fmkefjqvt5w4u")]),
    ("aws.execution.ssm-start-session", "TerminateSession",
     [("AWS::SSM::Session", "arn:aws:ssm:me-northwest-3r:294599468799:session/christophe-wzleysigzmbd6fmkefjqvt5w4u")]),
    ("aws.lateral-movement.ec2-instance-connect", "SendSSHPublicKey",
     [(INSTANCE, "arn:aws:ec2:eu-south-1r:572910899909:instance/i-fDb357cB7e99ad973")]),
    ("aws.lateral-movement.ec2-serial-console-send-ssh-public-key", "EnableSerialConsoleAccess",
     [("AWS::::Account", "arn:aws:iam::844015365555:root")]),
    ("aws.lateral-movement.ec2-serial-console-send-ssh-public-key", "SendSerialConsoleSSHPublicKey",
     [(INSTANCE, "arn:aws:ec2:cniso-east-3r:844015365555:instance/i-EFCb4e480CAbc4CF9")]),
    ("aws.persistence.sts-federation-token", "GetFederationToken",
     [("AWS::STS::FederatedUser", "arn:aws:sts::742491224508:federated-user/stratus_red_team")]),
    ("aws.initial-access.console-login-without-mfa", "ConsoleLogin",
     [(USER, "arn:aws:iam::562283505220:user/stratus-red-team-nmfalu-jfzdtsvchl")]),
    # Roles Anywhere has no row: the generic fallback finds the ARNs, type from the ARN.
    ("aws.persistence.rolesanywhere-create-trust-anchor", "CreateTrustAnchor",
     [("AWS::RolesAnywhere::TrustAnchor", "arn:aws:rolesanywhere:cn-northsouth-3r:791182566784:trust-anchor/"
                                          "4d07f6a0-1c50-44d3-951b-b68b783daa0a")]),
    # ... and skips createdBy, the caller's own ARN.
    ("aws.persistence.rolesanywhere-create-trust-anchor", "CreateProfile",
     [(ROLE, "arn:aws:iam::791182566784:role/stratus-red-team-trust-anchor-role"),
      ("AWS::RolesAnywhere::Profile", "arn:aws:rolesanywhere:cn-northsouth-3r:791182566784:profile/"
                                      "910042eb-8463-427d-8095-6fd60ac303d9")]),
    ("aws.impact.bedrock-invoke-model", "PutFoundationModelEntitlement",
     [("AWS::Bedrock::FoundationModel",
       "arn:aws:bedrock:megov-northeast-1r::foundation-model/anthropic.claude-3-sonnet-20240229-v1:0")]),
    ("aws.impact.bedrock-invoke-model", "PutUseCaseForModelAccess",
     [("AWS::::Account", "arn:aws:iam::494659789341:root")]),
    ("aws.credential-access.ec2-get-password-data", "GetPasswordData",
     [(INSTANCE, "arn:aws:ec2:apiso-northsouth-3r:457448411975:instance/i-i2jnm5swa59p4fxg")]),
    ("aws.discovery.ec2-download-user-data", "DescribeInstanceAttribute",
     [(INSTANCE, "arn:aws:ec2:apiso-westcentral-3r:321848314756:instance/i-95b86090")]),
    # A tag filter names no resource; neither does GetCallerIdentity.
    ("aws.credential-access.secretsmanager-batch-retrieve-secrets", "BatchGetSecretValue", []),
    ("aws.credential-access.ec2-steal-instance-credentials", "GetCallerIdentity", []),
]


@pytest.mark.parametrize(("file", "event_name", "expected"), STRATUS_CASES,
                         ids=[f"{f.rsplit('.', 1)[-1]}:{n}" for f, n, _ in STRATUS_CASES])
def test_stratus_records(file: str, event_name: str, expected: list[tuple[str, str]]) -> None:
    assert _pairs(_first(file, event_name)) == expected


DOCS = AWSDOCS_EXAMPLES.name
AWSDOCS_CASES = [
    ("ConsoleLogin", 0, [(USER, "arn:aws:iam::111122223333:user/anaya")]),
    # A failed sign-in has no userIdentity.arn: the user is built from userName.
    ("ConsoleLogin", 2, [(USER, "arn:aws:iam::111122223333:user/anaya")]),
    ("ConsoleLogin", 3, [("AWS::::Account", "arn:aws:iam::111122223333:root")]),
    ("CheckMfa", 0, [(USER, "arn:aws:iam::111122223333:user/anaya")]),
    ("PasswordUpdated", 0, [("AWS::::Account", "arn:aws:iam::111122223333:root")]),
    # Root enabling its own MFA: IAM writes userName "AWS ROOT USER", which is the account.
    ("EnableMFADevice", 0, [("AWS::::Account", "arn:aws:iam::111122223333:root"),
                            ("AWS::IAM::MFADevice", "arn:aws:iam::111122223333:mfa/root-account-mfa-device")]),
    ("CreateUser", 0, [(USER, "arn:aws:iam::123456789012:user/Bob")]),
    ("AddUserToGroup", 0, [("AWS::IAM::Group", "arn:aws:iam::123456789012:group/admin"),
                           (USER, "arn:aws:iam::123456789012:user/Bob")]),
    ("StartInstances", 0, [(INSTANCE, "arn:aws:ec2:us-east-2:123456789012:instance/i-ebeaf9e2")]),
    ("CreateKeyPair", 0, [("AWS::EC2::KeyPair", "arn:aws:ec2:us-east-2:123456789012:key-pair/mykeypair")]),
    ("UpdateTrail", 0, [("AWS::CloudTrail::Trail", "arn:aws:cloudtrail:us-east-2:123456789012:trail/myTrail2")]),
    # Service events: resources[] is all there is.
    ("RotateKey", 0, [("AWS::KMS::Key", "arn:aws:kms:us-east-2:123456789012:key/7944f0ec-EXAMPLE")]),
    ("CreateServiceLinkedChannel", 0,
     [("AWS::CloudTrail::Channel", "arn:aws:cloudtrail:us-east-1:111122223333:channel/7944f0ec-EXAMPLE")]),
    # Insight events name no API call and no resource.
    (None, 0, []),
]


@pytest.mark.parametrize(("event_name", "nth", "expected"), AWSDOCS_CASES,
                         ids=[f"{n}#{i}" for n, i, _ in AWSDOCS_CASES])
def test_awsdocs_records(event_name: str | None, nth: int, expected: list[tuple[str, str]]) -> None:
    assert _pairs(_first(DOCS, event_name, nth)) == expected


@pytest.mark.parametrize(("event", "arn", "account", "region"), [
    (_first("aws.exfiltration.ec2-share-ami", "ModifyImageAttribute"),
     "arn:aws:ec2:me-south-1r::image/ami-de1fbCab6ccB03e6D", None, "me-south-1r"),
    (_first("aws.persistence.iam-create-admin-user", "AttachUserPolicy"),
     "arn:aws:iam::aws:policy/AdministratorAccess", None, None),
    (_first("aws.persistence.iam-create-admin-user", "AttachUserPolicy"),
     "arn:aws:iam::229654561268:user/malicious-iam-user", "229654561268", None),
    (_first("aws.defense-evasion.dns-delete-logs", "DeleteResolverQueryLogConfig"),
     "arn:aws:route53resolver:sa-central-3r:206821776919:resolver-query-log-config/rqlc-4473f20ca554c07",
     "206821776919", "sa-central-3r"),
    # An S3 ARN has no account; CloudTrail's resources[] says who owns the bucket.
    (_event("s3.amazonaws.com", "GetObject", {"bucketName": "logs", "key": "a.txt"}, extra={"resources": [
        {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::logs/a.txt"},
        {"accountId": "444455556666", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::logs"}]}),
     "arn:aws:s3:::logs", "444455556666", None),
    (_first(DOCS, "CreateServiceLinkedChannel"),
     "arn:aws:cloudtrail:us-east-1:111122223333:channel/7944f0ec-EXAMPLE", "111122223333", "us-east-1"),
], ids=["image", "aws-managed-policy", "user", "regional", "s3-owner-from-resources", "arn-account-wins"])
def test_account_and_region_come_from_the_arn(event: dict[str, Any], arn: str, account: str | None,
                                              region: str | None) -> None:
    refs = {ref.arn: ref for ref in resources_of(event)}
    assert refs[arn] == ResourceRef(arn=arn, type=refs[arn].type, account=account, region=region)


# ---- hand-written events for what the real records lack ----------------------------------------

def _s(source: str) -> str:
    return f"{source}.amazonaws.com"


A = ACCOUNT
HAND_CASES = [
    ("s3-bucket-policy", _event(_s("s3"), "PutBucketPolicy", {"bucketName": "b1", "bucketPolicy": {}}),
     [("AWS::S3::Bucket", "arn:aws:s3:::b1")]),
    ("s3-data-event", _event(_s("s3"), "GetObject", {"bucketName": "b1", "key": "dir/x y.txt"}),
     [("AWS::S3::Bucket", "arn:aws:s3:::b1"), ("AWS::S3::Object", "arn:aws:s3:::b1/dir/x y.txt")]),
    ("s3-account-block", _event(_s("s3"), "PutAccountPublicAccessBlock", {"accountId": A}),
     [("AWS::::Account", f"arn:aws:iam::{A}:root")]),
    ("kms-key-id", _event(_s("kms"), "ScheduleKeyDeletion", {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
     [("AWS::KMS::Key", f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab")]),
    ("kms-key-arn", _event(_s("kms"), "DisableKey", {"keyId": "arn:aws:kms:eu-west-1:444455556666:key/k1"}),
     [("AWS::KMS::Key", "arn:aws:kms:eu-west-1:444455556666:key/k1")]),
    ("kms-alias", _event(_s("kms"), "CreateAlias", {"aliasName": "alias/prod", "targetKeyId": "k2"}),
     [("AWS::KMS::Alias", f"arn:aws:kms:us-east-1:{A}:alias/prod"),
      ("AWS::KMS::Key", f"arn:aws:kms:us-east-1:{A}:key/k2")]),
    ("kms-alias-as-key-id", _event(_s("kms"), "PutKeyPolicy", {"keyId": "alias/prod", "policyName": "default"}),
     [("AWS::KMS::Alias", f"arn:aws:kms:us-east-1:{A}:alias/prod")]),
    ("eks", _event(_s("eks"), "DeleteCluster", {"name": "prod"}),
     [("AWS::EKS::Cluster", f"arn:aws:eks:us-east-1:{A}:cluster/prod")]),
    ("eks-access-entry", _event(_s("eks"), "CreateAccessEntry", {"name": "prod", "principalArn": ALICE}),
     [("AWS::EKS::Cluster", f"arn:aws:eks:us-east-1:{A}:cluster/prod")]),
    ("rds-instance-lowercased", _event(_s("rds"), "DeleteDBInstance", {"dBInstanceIdentifier": "Prod-DB"}),
     [("AWS::RDS::DBInstance", f"arn:aws:rds:us-east-1:{A}:db:prod-db")]),
    ("rds-cluster-snapshot-copy", _event(_s("rds"), "CopyDBClusterSnapshot", {
        "sourceDBClusterSnapshotIdentifier": "arn:aws:rds:us-east-1:444455556666:cluster-snapshot:s1",
        "targetDBClusterSnapshotIdentifier": "s1-copy"}),
     [("AWS::RDS::DBClusterSnapshot", f"arn:aws:rds:us-east-1:{A}:cluster-snapshot:s1-copy"),
      ("AWS::RDS::DBClusterSnapshot", "arn:aws:rds:us-east-1:444455556666:cluster-snapshot:s1")]),
    ("org-move-account", _event(_s("organizations"), "MoveAccount", {
        "accountId": "444455556666", "sourceParentId": "r-ab12", "destinationParentId": "ou-ab12-11111111"}),
     [("AWS::::Account", "arn:aws:iam::444455556666:root"),
      ("AWS::Organizations::OrganizationalUnit", f"arn:aws:organizations::{A}:ou/ou-ab12-11111111"),
      ("AWS::Organizations::Root", f"arn:aws:organizations::{A}:root/r-ab12")]),
    ("org-attach-policy", _event(_s("organizations"), "AttachPolicy",
                                 {"policyId": "p-examplepolicyid111", "targetId": "444455556666"}),
     [("AWS::::Account", "arn:aws:iam::444455556666:root"),
      ("AWS::Organizations::Policy", f"arn:aws:organizations::{A}:policy/p-examplepolicyid111")]),
    ("org-aws-managed-policy", _event(_s("organizations"), "DetachPolicy",
                                      {"policyId": "p-FullAWSAccess", "targetId": "ou-ab12-11111111"}),
     [("AWS::Organizations::OrganizationalUnit", f"arn:aws:organizations::{A}:ou/ou-ab12-11111111"),
      ("AWS::Organizations::Policy", "arn:aws:organizations::aws:policy/p-FullAWSAccess")]),
    # The exact ARN in the response is rewritten to the id form every other OU call yields.
    ("org-create-ou", _event(_s("organizations"), "CreateOrganizationalUnit", {"parentId": "r-ab12", "name": "x"},
                             {"organizationalUnit": {"id": "ou-ab12-22222222", "name": "x", "arn":
                              f"arn:aws:organizations::{A}:ou/o-exampleorgid/ou-ab12-22222222"}}),
     [("AWS::Organizations::OrganizationalUnit", f"arn:aws:organizations::{A}:ou/ou-ab12-22222222"),
      ("AWS::Organizations::Root", f"arn:aws:organizations::{A}:root/r-ab12")]),
    ("org-organization", _event(_s("organizations"), "CreateOrganization", {"featureSet": "ALL"},
                                {"organization": {"arn": f"arn:aws:organizations::{A}:organization/o-exampleorgid",
                                                  "masterAccountArn": f"arn:aws:organizations::{A}:account/"
                                                                      f"o-exampleorgid/{A}"}}),
     [("AWS::Organizations::Organization", f"arn:aws:organizations::{A}:organization/o-exampleorgid")]),
    # Inline policies are part of their owner.
    ("iam-inline-user-policy", _event(_s("iam"), "PutUserPolicy", {"userName": "bob", "policyName": "inline",
                                                                    "policyDocument": "{}"}),
     [(USER, f"arn:aws:iam::{A}:user/bob")]),
    ("iam-inline-role-policy", _event(_s("iam"), "DeleteRolePolicy", {"roleName": "r1", "policyName": "inline"}),
     [(ROLE, f"arn:aws:iam::{A}:role/r1")]),
    # Paths are dropped: request and response name the one user.
    ("iam-user-with-path", _event(_s("iam"), "CreateUser", {"userName": "bob", "path": "/eng/"},
                                  {"user": {"arn": f"arn:aws:iam::{A}:user/eng/bob", "path": "/eng/"}}),
     [(USER, f"arn:aws:iam::{A}:user/bob")]),
    ("iam-customer-policy", _event(_s("iam"), "AttachGroupPolicy", {
        "groupName": "admins", "policyArn": f"arn:aws:iam::{A}:policy/team/Deploy"}),
     [("AWS::IAM::Group", f"arn:aws:iam::{A}:group/admins"),
      ("AWS::IAM::ManagedPolicy", f"arn:aws:iam::{A}:policy/Deploy")]),
    ("iam-create-policy", _event(_s("iam"), "CreatePolicy", {"policyName": "Deploy", "path": "/team/"},
                                 {"policy": {"arn": f"arn:aws:iam::{A}:policy/team/Deploy"}}),
     [("AWS::IAM::ManagedPolicy", f"arn:aws:iam::{A}:policy/Deploy")]),
    ("iam-instance-profile", _event(_s("iam"), "AddRoleToInstanceProfile", {"instanceProfileName": "web",
                                                                             "roleName": "web-role"}),
     [("AWS::IAM::InstanceProfile", f"arn:aws:iam::{A}:instance-profile/web"),
      (ROLE, f"arn:aws:iam::{A}:role/web-role")]),
    ("iam-hardware-mfa", _event(_s("iam"), "EnableMFADevice", {"userName": "bob", "serialNumber": "GAHT12345678"}),
     [("AWS::IAM::MFADevice", f"arn:aws:iam::{A}:mfa/GAHT12345678"), (USER, f"arn:aws:iam::{A}:user/bob")]),
    ("iam-virtual-mfa", _event(_s("iam"), "CreateVirtualMFADevice", {"virtualMFADeviceName": "bob-phone"},
                               {"virtualMFADevice": {"serialNumber": f"arn:aws:iam::{A}:mfa/bob-phone"}}),
     [("AWS::IAM::MFADevice", f"arn:aws:iam::{A}:mfa/bob-phone")]),
    # No userName: IAM acts on the caller; the caller's path is dropped like any other.
    ("iam-own-access-key", _event(_s("iam"), "DeleteAccessKey", {"accessKeyId": "AKIAIOSFODNN7EXAMPLE"},
                                  identity={"type": "IAMUser", "arn": f"arn:aws:iam::{A}:user/ops/alice"}),
     [("AWS::IAM::AccessKey", f"arn:aws:iam::{A}:user/alice/accesskey/AKIAIOSFODNN7EXAMPLE"),
      (USER, f"arn:aws:iam::{A}:user/alice")]),
    ("iam-root-access-key", _event(_s("iam"), "UpdateAccessKey", {"accessKeyId": "AKIAIOSFODNN7EXAMPLE",
                                                                   "status": "Inactive"},
                                   identity={"type": "Root", "arn": f"arn:aws:iam::{A}:root"}),
     [("AWS::::Account", f"arn:aws:iam::{A}:root"),
      ("AWS::IAM::AccessKey", f"arn:aws:iam::{A}:root/accesskey/AKIAIOSFODNN7EXAMPLE")]),
    ("iam-change-password", _event(_s("iam"), "ChangePassword", None), [(USER, ALICE)]),
    ("iam-password-policy", _event(_s("iam"), "UpdateAccountPasswordPolicy", {"minimumPasswordLength": 8}),
     [("AWS::::Account", f"arn:aws:iam::{A}:root")]),
    ("iam-service-linked-role", _event(_s("iam"), "CreateServiceLinkedRole", {"aWSServiceName": "x.amazonaws.com"},
                                       {"role": {"arn": f"arn:aws:iam::{A}:role/aws-service-role/x.amazonaws.com/"
                                                        "AWSServiceRoleForX"}}),
     [(ROLE, f"arn:aws:iam::{A}:role/AWSServiceRoleForX")]),
    ("sts-saml", _event(_s("sts"), "AssumeRoleWithSAML", {
        "roleArn": f"arn:aws:iam::{A}:role/sso/Admin", "principalArn": f"arn:aws:iam::{A}:saml-provider/Okta"},
        {"assumedRoleUser": {"arn": f"arn:aws:sts::{A}:assumed-role/Admin/jane@example.com"}}),
     [(ROLE, f"arn:aws:iam::{A}:role/Admin"), ("AWS::IAM::SAMLProvider", f"arn:aws:iam::{A}:saml-provider/Okta"),
      ("AWS::STS::AssumedRole", f"arn:aws:sts::{A}:assumed-role/Admin/jane@example.com")]),
    ("sts-assume-root", _event(_s("sts"), "AssumeRoot", {"targetPrincipal": "444455556666"}),
     [("AWS::::Account", "arn:aws:iam::444455556666:root")]),
    ("lambda-partial-arn", _event(_s("lambda"), "DeleteFunction20150331", {
        "functionName": "444455556666:function:f1:PROD"}),
     [("AWS::Lambda::Function", "arn:aws:lambda:us-east-1:444455556666:function:f1")]),
    ("lambda-name-qualifier", _event(_s("lambda"), "PutFunctionConcurrency20171031", {"functionName": "f1:$LATEST"}),
     [("AWS::Lambda::Function", f"arn:aws:lambda:us-east-1:{A}:function:f1")]),
    ("lambda-layer", _event(_s("lambda"), "AddLayerVersionPermission20181031", {"layerName": "l1",
                                                                                 "versionNumber": 3}),
     [("AWS::Lambda::LayerVersion", f"arn:aws:lambda:us-east-1:{A}:layer:l1")]),
    ("lambda-event-source-mapping", _event(_s("lambda"), "CreateEventSourceMapping20150331", {
        "functionName": "f1", "eventSourceArn": f"arn:aws:sqs:us-east-1:{A}:q"},
        {"uUID": "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE"}),
     [("AWS::Lambda::EventSourceMapping",
       f"arn:aws:lambda:us-east-1:{A}:event-source-mapping:a1b2c3d4-5678-90ab-cdef-11111EXAMPLE"),
      ("AWS::Lambda::Function", f"arn:aws:lambda:us-east-1:{A}:function:f1")]),
    ("secret-create", _event(_s("secretsmanager"), "CreateSecret", {"name": "prod/db"},
                             {"arn": f"arn:aws:secretsmanager:us-east-1:{A}:secret:prod/db-AbC123"}),
     [("AWS::SecretsManager::Secret", f"arn:aws:secretsmanager:us-east-1:{A}:secret:prod/db")]),
    ("ssm-put-parameter-no-slash", _event(_s("ssm"), "PutParameter", {"name": "db-password", "type": "SecureString"}),
     [("AWS::SSM::Parameter", f"arn:aws:ssm:us-east-1:{A}:parameter/db-password")]),
    ("ssm-parameter-selector", _event(_s("ssm"), "GetParameter", {"name": "/app/key:3"}),
     [("AWS::SSM::Parameter", f"arn:aws:ssm:us-east-1:{A}:parameter/app/key")]),
    ("ssm-document", _event(_s("ssm"), "UpdateDocument", {"name": "MyRunbook", "documentVersion": "$LATEST"}),
     [("AWS::SSM::Document", f"arn:aws:ssm:us-east-1:{A}:document/MyRunbook")]),
    ("ssm-managed-instance", _event(_s("ssm"), "StartSession", {"target": "mi-0123456789abcdef0"}),
     [("AWS::SSM::ManagedInstance", f"arn:aws:ssm:us-east-1:{A}:managed-instance/mi-0123456789abcdef0")]),
    ("cloudtrail-name-is-arn", _event(_s("cloudtrail"), "StopLogging", {
        "name": "arn:aws:cloudtrail:eu-west-1:444455556666:trail/org-trail"}),
     [("AWS::CloudTrail::Trail", "arn:aws:cloudtrail:eu-west-1:444455556666:trail/org-trail")]),
    # The S3 bucket a trail writes to is a setting, not a resource of CreateTrail.
    ("cloudtrail-create", _event(_s("cloudtrail"), "CreateTrail", {"name": "t1", "s3BucketName": "logs"},
                                 {"trailARN": f"arn:aws:cloudtrail:us-east-1:{A}:trail/t1"}),
     [("AWS::CloudTrail::Trail", f"arn:aws:cloudtrail:us-east-1:{A}:trail/t1")]),
    ("ec2-run-instances", _event(_s("ec2"), "RunInstances", {
        "instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890", "minCount": 2, "maxCount": 2}]},
        "groupSet": {"items": [{"groupId": "sg-0123456789abcdef0"}]}},
        {"instancesSet": {"items": [{"instanceId": "i-0aaaaaaaaaaaaaaaa"}, {"instanceId": "i-0bbbbbbbbbbbbbbbb"}]}}),
     [("AWS::EC2::Image", "arn:aws:ec2:us-east-1::image/ami-0abcdef1234567890"),
      (INSTANCE, f"arn:aws:ec2:us-east-1:{A}:instance/i-0aaaaaaaaaaaaaaaa"),
      (INSTANCE, f"arn:aws:ec2:us-east-1:{A}:instance/i-0bbbbbbbbbbbbbbbb"),
      ("AWS::EC2::SecurityGroup", f"arn:aws:ec2:us-east-1:{A}:security-group/sg-0123456789abcdef0")]),
    ("ec2-create-security-group", _event(_s("ec2"), "CreateSecurityGroup", {"groupName": "web",
                                                                             "vpcId": "vpc-0123abcd"},
                                         {"_return": True, "groupId": "sg-0fedcba9876543210"}),
     [("AWS::EC2::SecurityGroup", f"arn:aws:ec2:us-east-1:{A}:security-group/sg-0fedcba9876543210"),
      ("AWS::EC2::VPC", f"arn:aws:ec2:us-east-1:{A}:vpc/vpc-0123abcd")]),
    ("ec2-create-tags", _event(_s("ec2"), "CreateTags", {
        "resourcesSet": {"items": [{"resourceId": "vol-0123abcd"}, {"resourceId": "subnet-0123abcd"}]},
        "tagSet": {"items": [{"key": "k", "value": "v"}]}}),
     [("AWS::EC2::Subnet", f"arn:aws:ec2:us-east-1:{A}:subnet/subnet-0123abcd"),
      ("AWS::EC2::Volume", f"arn:aws:ec2:us-east-1:{A}:volume/vol-0123abcd")]),
    ("ec2-copy-snapshot", _event(_s("ec2"), "CopySnapshot", {"sourceSnapshotId": "snap-0aaa", "sourceRegion": "x"},
                                 {"snapshotId": "snap-0bbb"}),
     [("AWS::EC2::Snapshot", "arn:aws:ec2:us-east-1::snapshot/snap-0aaa"),
      ("AWS::EC2::Snapshot", "arn:aws:ec2:us-east-1::snapshot/snap-0bbb")]),
    ("ec2-ebs-default-encryption", _event(_s("ec2"), "DisableEbsEncryptionByDefault", {}),
     [("AWS::::Account", f"arn:aws:iam::{A}:root")]),
    ("resolver-association", _event(_s("route53resolver"), "DisassociateResolverQueryLogConfig", {
        "resolverQueryLogConfigId": "rqlc-1", "resourceId": "vpc-0123abcd"}),
     [("AWS::EC2::VPC", f"arn:aws:ec2:us-east-1:{A}:vpc/vpc-0123abcd"),
      ("AWS::Route53Resolver::ResolverQueryLoggingConfig",
       f"arn:aws:route53resolver:us-east-1:{A}:resolver-query-log-config/rqlc-1")]),
    ("iam-server-certificate", _event(_s("iam"), "DeleteServerCertificate", {"serverCertificateName": "web"}),
     [("AWS::IAM::ServerCertificate", f"arn:aws:iam::{A}:server-certificate/web")]),
    ("iam-saml-provider", _event(_s("iam"), "DeleteSAMLProvider", {
        "sAMLProviderArn": f"arn:aws:iam::{A}:saml-provider/Okta"}),
     [("AWS::IAM::SAMLProvider", f"arn:aws:iam::{A}:saml-provider/Okta")]),
    ("cloudtrail-insight-selectors", _event(_s("cloudtrail"), "PutInsightSelectors", {"trailName": "t1"}),
     [("AWS::CloudTrail::Trail", f"arn:aws:cloudtrail:us-east-1:{A}:trail/t1")]),
    ("cloudtrail-tags", _event(_s("cloudtrail"), "AddTags", {
        "resourceId": f"arn:aws:cloudtrail:us-east-1:{A}:trail/t1", "tagsList": []}),
     [("AWS::CloudTrail::Trail", f"arn:aws:cloudtrail:us-east-1:{A}:trail/t1")]),
    ("cloudtrail-event-data-store", _event(_s("cloudtrail"), "CreateEventDataStore", {"name": "lake"}, {
        "eventDataStoreArn": f"arn:aws:cloudtrail:us-east-1:{A}:eventdatastore/e1"}),
     [("AWS::CloudTrail::EventDataStore", f"arn:aws:cloudtrail:us-east-1:{A}:eventdatastore/e1")]),
    ("secret-by-name", _event(_s("secretsmanager"), "PutSecretValue", {"secretId": "prod/db"}),
     [("AWS::SecretsManager::Secret", f"arn:aws:secretsmanager:us-east-1:{A}:secret:prod/db")]),
    ("rds-cluster", _event(_s("rds"), "DeleteDBCluster", {"dBClusterIdentifier": "aurora-1"}),
     [("AWS::RDS::DBCluster", f"arn:aws:rds:us-east-1:{A}:cluster:aurora-1")]),
    ("rds-tags", _event(_s("rds"), "AddTagsToResource", {"resourceName": f"arn:aws:rds:us-east-1:{A}:db:db1"}),
     [("AWS::RDS::DBInstance", f"arn:aws:rds:us-east-1:{A}:db:db1")]),
    ("resolver-rule", _event(_s("route53resolver"), "DeleteResolverRule", {"resolverRuleId": "rslvr-rr-1"}),
     [("AWS::Route53Resolver::ResolverRule", f"arn:aws:route53resolver:us-east-1:{A}:resolver-rule/rslvr-rr-1")]),
    ("resolver-endpoint", _event(_s("route53resolver"), "DeleteResolverEndpoint", {"resolverEndpointId": "rslvr-in-1"}),
     [("AWS::Route53Resolver::ResolverEndpoint",
       f"arn:aws:route53resolver:us-east-1:{A}:resolver-endpoint/rslvr-in-1")]),
    ("guardduty", _event(_s("guardduty"), "DeleteDetector", {"detectorId": "12abc34d567e8fa901bc2d34e56789f0"}),
     [("AWS::GuardDuty::Detector", f"arn:aws:guardduty:us-east-1:{A}:detector/12abc34d567e8fa901bc2d34e56789f0")]),
    ("logs", _event(_s("logs"), "DeleteLogGroup", {"logGroupName": "/aws/lambda/f1"}),
     [("AWS::Logs::LogGroup", f"arn:aws:logs:us-east-1:{A}:log-group:/aws/lambda/f1")]),
    ("dynamodb", _event(_s("dynamodb"), "DeleteTable", {"tableName": "orders"}),
     [("AWS::DynamoDB::Table", f"arn:aws:dynamodb:us-east-1:{A}:table/orders")]),
    ("sqs", _event(_s("sqs"), "PurgeQueue", {"queueUrl": f"https://sqs.us-east-1.amazonaws.com/{A}/jobs.fifo"}),
     [("AWS::SQS::Queue", f"arn:aws:sqs:us-east-1:{A}:jobs.fifo")]),
    ("sns", _event(_s("sns"), "CreateTopic", {"name": "alerts"}, {"topicArn": f"arn:aws:sns:us-east-1:{A}:alerts"}),
     [("AWS::SNS::Topic", f"arn:aws:sns:us-east-1:{A}:alerts")]),
    ("signin-assumed-role", _event(_s("signin"), "ConsoleLogin", None, {"ConsoleLogin": "Success"}, identity={
        "type": "AssumedRole", "arn": f"arn:aws:sts::{A}:assumed-role/Admin/jane",
        "sessionContext": {"sessionIssuer": {"arn": f"arn:aws:iam::{A}:role/sso/Admin"}}}),
     [(ROLE, f"arn:aws:iam::{A}:role/Admin")]),
    # An unknown user name at sign-in is withheld: it must not become a user.
    ("signin-unknown-user", _event(_s("signin"), "ConsoleLogin", None, {"ConsoleLogin": "Failure"}, identity={
        "type": "IAMUser", "accountId": A, "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}), []),
]


@pytest.mark.parametrize(("event", "expected"), [case[1:] for case in HAND_CASES], ids=[c[0] for c in HAND_CASES])
def test_hand_written_events(event: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert _pairs(event) == expected


# Calls that share one extractor: each row must exist (a missing one leaves the call unresolved).
ACCOUNT_SETTINGS = [
    ("iam", "UpdateAccountPasswordPolicy"), ("iam", "DeleteAccountPasswordPolicy"), ("iam", "CreateAccountAlias"),
    ("iam", "DeleteAccountAlias"), ("iam", "SetSecurityTokenServicePreferences"),
    ("s3", "PutAccountPublicAccessBlock"), ("s3", "DeleteAccountPublicAccessBlock"),
    ("ec2", "EnableSerialConsoleAccess"), ("ec2", "DisableSerialConsoleAccess"),
    ("ec2", "EnableEbsEncryptionByDefault"), ("ec2", "DisableEbsEncryptionByDefault"),
    ("ec2", "ModifyEbsDefaultKmsKeyId"), ("ec2", "ResetEbsDefaultKmsKeyId"),
    ("ec2", "EnableImageBlockPublicAccess"), ("ec2", "DisableImageBlockPublicAccess"),
    ("ec2", "EnableSnapshotBlockPublicAccess"), ("ec2", "DisableSnapshotBlockPublicAccess"),
    ("organizations", "LeaveOrganization"), ("bedrock", "PutUseCaseForModelAccess"),
]


@pytest.mark.parametrize(("service", "name"), ACCOUNT_SETTINGS, ids=[f"{s}:{n}" for s, n in ACCOUNT_SETTINGS])
def test_account_level_settings_touch_the_account(service: str, name: str) -> None:
    assert _pairs(_event(_s(service), name, {"x": 1})) == [("AWS::::Account", f"arn:aws:iam::{A}:root")]


NAMED_CALLS = [
    (call, {"name": "n1"}, [("AWS::SSM::Parameter", f"arn:aws:ssm:us-east-1:{A}:parameter/n1")])
    for call in ("GetParameter", "GetParameterHistory", "PutParameter", "DeleteParameter", "LabelParameterVersion",
                 "UnlabelParameterVersion")
] + [
    (call, {"names": ["n1", "/n2"]}, [("AWS::SSM::Parameter", f"arn:aws:ssm:us-east-1:{A}:parameter/n1"),
                                      ("AWS::SSM::Parameter", f"arn:aws:ssm:us-east-1:{A}:parameter/n2")])
    for call in ("GetParameters", "DeleteParameters")
] + [
    (call, {"name": "d1"}, [("AWS::SSM::Document", f"arn:aws:ssm:us-east-1:{A}:document/d1")])
    for call in ("CreateDocument", "UpdateDocument", "DeleteDocument", "UpdateDocumentDefaultVersion",
                 "ModifyDocumentPermission")
] + [
    (call, {"name": "t1"}, [("AWS::CloudTrail::Trail", f"arn:aws:cloudtrail:us-east-1:{A}:trail/t1")])
    for call in ("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging", "GetTrailStatus",
                 "GetTrail")
]


@pytest.mark.parametrize(("name", "request_parameters", "expected"), NAMED_CALLS, ids=[c[0] for c in NAMED_CALLS])
def test_calls_naming_their_resource_name(name: str, request_parameters: dict[str, Any],
                                          expected: list[tuple[str, str]]) -> None:
    source = _s("cloudtrail") if "Trail" in name or "Logging" in name else _s("ssm")
    assert _pairs(_event(source, name, request_parameters)) == expected
    # "name" means a parameter, a document or a trail only in these calls: elsewhere it is ignored.
    assert _pairs(_event(source, "CreateEventDataStore", request_parameters)) == []


def _table_cases() -> list[tuple[str, dict[str, Any], list[tuple[str, str]]]]:
    return ([(f"{f.rsplit('.', 1)[-1]}:{n}", _first(f, n), exp) for f, n, exp in STRATUS_CASES]
            + [(f"docs:{n}#{i}", _first(DOCS, n, i), exp) for n, i, exp in AWSDOCS_CASES]
            + [(c[0], c[1], c[2]) for c in HAND_CASES])


# Services without a row (Roles Anywhere, Insight events) are the generic fallback's cases.
TABLE_CASES = [case for case in _table_cases() if case[1].get("eventSource") in resources._RULES]


@pytest.mark.parametrize(("event", "expected"), [c[1:] for c in TABLE_CASES], ids=[c[0] for c in TABLE_CASES])
def test_the_table_alone_explains_every_call_it_has_a_row_for(monkeypatch: pytest.MonkeyPatch,
                                                               event: dict[str, Any],
                                                               expected: list[tuple[str, str]]) -> None:
    # The generic fallback often finds the same ARNs (a response ARN, an i- id): without it, a
    # broken or missing row cannot hide behind it.
    monkeypatch.setattr(resources, "_generic", lambda event, where: iter(()))
    assert _pairs(event) == expected


# ---- the generic fallback ---------------------------------------------------------------------

GENERIC_CASES = [
    ("arn-anywhere", _event(_s("example"), "Attach", {"spec": {"targets": [
        f"arn:aws:dynamodb:us-east-1:{A}:table/orders", {"x": f"arn:aws:codebuild:us-east-1:{A}:project/p1"}]}}),
     [("AWS::CodeBuild::Project", f"arn:aws:codebuild:us-east-1:{A}:project/p1"),
      ("AWS::DynamoDB::Table", f"arn:aws:dynamodb:us-east-1:{A}:table/orders")]),
    ("id-fields", _event(_s("example"), "Wire", {"bucketName": "b1", "instanceId": "i-0123abcd",
                                                  "groupId": "sg-0123abcd", "roleName": "r1", "functionName": "f1"}),
     [(INSTANCE, f"arn:aws:ec2:us-east-1:{A}:instance/i-0123abcd"),
      ("AWS::EC2::SecurityGroup", f"arn:aws:ec2:us-east-1:{A}:security-group/sg-0123abcd"),
      (ROLE, f"arn:aws:iam::{A}:role/r1"),
      ("AWS::Lambda::Function", f"arn:aws:lambda:us-east-1:{A}:function:f1"),
      ("AWS::S3::Bucket", "arn:aws:s3:::b1")]),
    # Connect's instanceId is a UUID and Transfer's userName is not an IAM user: neither is taken.
    ("ambiguous-fields", _event(_s("connect"), "UpdateInstanceAttribute", {
        "instanceId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111", "userName": "sftp-user", "groupId": "AGPAEXAMPLE"}), []),
    # The caller's ARN names the actor; a policy document is not an ARN.
    ("caller-and-documents", _event(_s("example"), "Put", {"owner": ALICE, "policy": (
        '{"Statement": [{"Resource": "arn:aws:s3:::b2"}]}'), "arns": ["arn:aws:s3:::b3\nx"]}), []),
    # Only EC2's {"content", "tag"} pair is a wrapped value: an object that has a "content" member is walked.
    ("content-member", _event(_s("example"), "Put", {"doc": {"content": "x",
                                                             "topic": f"arn:aws:sns:us-east-1:{A}:t"}}),
     [("AWS::SNS::Topic", f"arn:aws:sns:us-east-1:{A}:t")]),
    ("key-fields-are-case-sensitive", _event(_s("example"), "Put", {"BucketName": "b1"}), []),
    # A known service whose rows find nothing still falls back to the generic rules.
    ("known-service-new-call", _event(_s("lambda"), "CreateCodeSigningConfig20200422", {"description": "x"}, {
        "codeSigningConfig": {"codeSigningConfigArn": f"arn:aws:lambda:us-east-1:{A}:code-signing-config:csc-1"}}),
     [("AWS::Lambda::CodeSigningConfig", f"arn:aws:lambda:us-east-1:{A}:code-signing-config:csc-1")]),
]


@pytest.mark.parametrize(("event", "expected"), [c[1:] for c in GENERIC_CASES], ids=[c[0] for c in GENERIC_CASES])
def test_generic_fallback(event: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert _pairs(event) == expected


@pytest.mark.parametrize(("arn", "expected"), [
    (f"arn:aws:dynamodb:us-east-1:{A}:table/orders", "AWS::DynamoDB::Table"),
    (f"arn:aws:dynamodb:us-east-1:{A}:table/orders/stream/2024", "AWS::DynamoDB::Table"),
    ("arn:aws:s3:::b1", "AWS::S3::Bucket"),
    ("arn:aws:s3:::b1/k/e/y", "AWS::S3::Object"),
    (f"arn:aws:iam::{A}:root", "AWS::::Account"),
    (f"arn:aws:iam::{A}:user/u/accesskey/AKIAIOSFODNN7EXAMPLE", "AWS::IAM::AccessKey"),
    ("arn:aws:iam::aws:policy/AdministratorAccess", "AWS::IAM::ManagedPolicy"),
    (f"arn:aws:iam::{A}:instance-profile/p", "AWS::IAM::InstanceProfile"),
    (f"arn:aws:sts::{A}:assumed-role/r/s", "AWS::STS::AssumedRole"),
    (f"arn:aws:ec2:us-east-1:{A}:vpc/vpc-1", "AWS::EC2::VPC"),
    (f"arn:aws:ec2:us-east-1:{A}:natgateway/nat-1", "AWS::EC2::NatGateway"),
    (f"arn:aws:rds:us-east-1:{A}:cluster-snapshot:s", "AWS::RDS::DBClusterSnapshot"),
    (f"arn:aws:lambda:us-east-1:{A}:function:f", "AWS::Lambda::Function"),
    (f"arn:aws:sns:us-east-1:{A}:topic", "AWS::SNS::Topic"),
    (f"arn:aws:sqs:us-east-1:{A}:queue", "AWS::SQS::Queue"),
    (f"arn:aws:secretsmanager:us-east-1:{A}:secret:s", "AWS::SecretsManager::Secret"),
    (f"arn:aws:states:us-east-1:{A}:stateMachine:m", "AWS::StepFunctions::StateMachine"),
    (f"arn:aws:new-service:us-east-1:{A}:widget-group/w", "AWS::NewService::WidgetGroup"),
    (f"arn:aws:new-service:us-east-1:{A}:w", "AWS::NewService::Resource"),
    ("not an arn", "AWS::Unknown::Resource"),
])
def test_arn_type(arn: str, expected: str) -> None:
    assert arn_type(arn) == expected


@pytest.mark.parametrize(("arn", "expected"), [
    (f"arn:aws:iam::{A}:role/service-role/x/Deploy", f"arn:aws:iam::{A}:role/Deploy"),
    (f"arn:aws:iam::{A}:user/ops/u/accesskey/AKIAIOSFODNN7EXAMPLE",
     f"arn:aws:iam::{A}:user/u/accesskey/AKIAIOSFODNN7EXAMPLE"),
    ("arn:aws:iam::aws:policy/service-role/AWSLambdaRole", "arn:aws:iam::aws:policy/service-role/AWSLambdaRole"),
    (f"arn:aws:lambda:us-east-1:{A}:function:f:PROD", f"arn:aws:lambda:us-east-1:{A}:function:f"),
    (f"arn:aws:lambda:us-east-1:{A}:layer:l:7", f"arn:aws:lambda:us-east-1:{A}:layer:l"),
    (f"arn:aws:secretsmanager:us-east-1:{A}:secret:db-AbC123", f"arn:aws:secretsmanager:us-east-1:{A}:secret:db"),
    (f"arn:aws:logs:us-east-1:{A}:log-group:/x:*", f"arn:aws:logs:us-east-1:{A}:log-group:/x"),
    (f"arn:aws:organizations::{A}:account/o-exampleorgid/444455556666", "arn:aws:iam::444455556666:root"),
    (f"arn:aws:organizations::{A}:policy/o-exampleorgid/service_control_policy/p-1a2b3c4d",
     f"arn:aws:organizations::{A}:policy/p-1a2b3c4d"),
    ("arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess",
     "arn:aws:organizations::aws:policy/p-FullAWSAccess"),
    (f"arn:aws:organizations::{A}:handshake/o-exampleorgid/invite/h-1a2b3c4d",
     f"arn:aws:organizations::{A}:handshake/h-1a2b3c4d"),
    (f"arn:aws:ec2:us-east-1:{A}:instance/i-1", f"arn:aws:ec2:us-east-1:{A}:instance/i-1"),
    ("not-an-arn", "not-an-arn"),
])
def test_canonical_arn(arn: str, expected: str) -> None:
    assert canonical_arn(arn) == expected
    assert canonical_arn(expected) == expected   # idempotent: a canonical ARN is its own key


# ---- partitions -------------------------------------------------------------------------------

PARTITION_CASES = [
    ("cn-region", "cn-north-1", {}, "arn:aws-cn:iam::111122223333:role/r1"),
    ("gov-region", "us-gov-west-1", {}, "arn:aws-us-gov:iam::111122223333:role/r1"),
    ("iso-region", "us-isob-east-1", {}, "arn:aws-iso-b:iam::111122223333:role/r1"),
    ("commercial", "eu-west-1", {}, "arn:aws:iam::111122223333:role/r1"),
    # The caller's ARN is what AWS wrote; it wins over a region the mapping may not know.
    ("caller-wins", "cn-newregion-9", {"type": "IAMUser", "arn": "arn:aws-cn:iam::111122223333:user/u"},
     "arn:aws-cn:iam::111122223333:role/r1"),
    ("caller-wins-over-region", "cn-north-1", {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/u"},
     "arn:aws:iam::111122223333:role/r1"),
]


@pytest.mark.parametrize(("region", "identity", "expected"), [c[1:] for c in PARTITION_CASES],
                         ids=[c[0] for c in PARTITION_CASES])
def test_partition(region: str, identity: dict[str, Any], expected: str) -> None:
    event = _event(_s("iam"), "DeleteRole", {"roleName": "r1"}, region=region, identity=identity)
    assert [ref.arn for ref in resources_of(event)] == [expected]


@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1"])
def test_partitioned_regional_arns(region: str) -> None:
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov"
    given = f"arn:{partition}:secretsmanager:{region}:{A}:secret:s-AbC123"
    event = _event(_s("secretsmanager"), "GetSecretValue", {"secretId": given}, region=region, identity={})
    assert _pairs(event) == [("AWS::SecretsManager::Secret", f"arn:{partition}:secretsmanager:{region}:{A}:secret:s")]
    event = _event(_s("ec2"), "DeleteVolume", {"volumeId": "vol-1"}, region=region, identity={})
    assert _pairs(event) == [("AWS::EC2::Volume", f"arn:{partition}:ec2:{region}:{A}:volume/vol-1")]
    event = _event(_s("example"), "Do", {"target": f"arn:{partition}:sns:{region}:{A}:t"}, region=region, identity={})
    assert _pairs(event) == [("AWS::SNS::Topic", f"arn:{partition}:sns:{region}:{A}:t")]


# ---- hostile input ----------------------------------------------------------------------------

ODD_VALUES = [None, True, 0, -1.5, 10**40, "", "x", [], {}, [None, 5, [["deep"]]], {"content": 5},
              {"a": {"b": [1, {"c": None}]}}, "a" * 100_000, "arn:aws:iam::1:role/x", "\x00\n\t", "../../etc"]


@pytest.mark.parametrize("value", ODD_VALUES, ids=[f"{type(v).__name__}{i}" for i, v in enumerate(ODD_VALUES)])
@pytest.mark.parametrize("place", ["requestParameters", "responseElements", "userIdentity", "resources",
                                   "awsRegion", "recipientAccountId", "eventName", "eventSource", "readOnly"])
def test_odd_values_anywhere_never_raise(place: str, value: Any) -> None:
    for source, name in (("iam.amazonaws.com", "CreateAccessKey"), ("ec2.amazonaws.com", "RunInstances"),
                         ("organizations.amazonaws.com", "MoveAccount"), ("example.amazonaws.com", "Do"),
                         ("signin.amazonaws.com", "ConsoleLogin")):
        event = _event(source, name, {"userName": value, "instanceId": value, "names": value, "x": value},
                       {"accessKey": value, "instancesSet": {"items": [value]}})
        event[place] = value
        refs = resources_of(event)
        assert isinstance(refs, tuple) and all(isinstance(ref, ResourceRef) for ref in refs)
        assert isinstance(is_write(event), bool)


@pytest.mark.parametrize("event", [None, [], "x", 5, {"Records": []}, {"eventSource": ["iam.amazonaws.com"]}],
                         ids=["none", "list", "str", "int", "wrapper", "list-source"])
def test_not_a_record(event: Any) -> None:
    assert resources_of(event) == ()
    assert is_write(event) is False


@pytest.mark.parametrize(("name", "value"), [
    ("iam-name-with-space", {"userName": "a b"}),
    ("iam-name-with-slash", {"userName": "../admin"}),
    ("iam-name-too-long", {"userName": "u" * 129}),
    ("arn-with-newline", {"roleName": "arn:aws:iam::111122223333:role/x\nfoo"}),
    ("redacted", {"userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_invalid_names_are_skipped(name: str, value: dict[str, Any]) -> None:
    assert resources_of(_event(_s("iam"), "DeleteUser", value)) == ()


def test_huge_list_is_capped() -> None:
    names = [f"/p/{n}" for n in range(10_000)]
    refs = resources_of(_event(_s("ssm"), "GetParameters", {"names": names}))
    assert len(refs) == resources._MAX_LIST


def test_huge_request_is_capped() -> None:
    request = {f"k{n}": f"arn:aws:sns:us-east-1:{A}:t{n}" for n in range(10_000)}
    refs = resources_of(_event(_s("example"), "Do", request))
    assert 0 < len(refs) <= resources._MAX_REFS


def test_deep_nesting_does_not_recurse() -> None:
    deep: Any = f"arn:aws:sns:us-east-1:{A}:t"
    for _ in range(100_000):
        deep = {"a": [deep]}
    assert resources_of(_event(_s("example"), "Do", deep)) == ()   # too deep to reach; but no RecursionError


def test_resources_entries_of_any_shape() -> None:
    event = _event(_s("example"), "Do", extra={"resources": [
        5, None, "arn:aws:s3:::b", {"ARN": 5}, {"ARN": "nope"}, {"ARN": "arn:aws:s3:::b1", "type": 7, "accountId": 3},
        {"arn": f"arn:aws:sns:us-east-1:{A}:t", "type": "AWS::SNS::Topic"}]})
    assert resources_of(event) == (
        ResourceRef(arn="arn:aws:s3:::b1", type="AWS::S3::Bucket", account=None, region=None),
        ResourceRef(arn=f"arn:aws:sns:us-east-1:{A}:t", type="AWS::SNS::Topic", account=A, region="us-east-1"))


def test_resources_type_is_cloudtrails_and_duplicates_merge() -> None:
    # resources[] names the role first (CloudTrail's type wins); the request names it again.
    event = _event(_s("sts"), "AssumeRole", {"roleArn": f"arn:aws:iam::{A}:role/path/r"}, extra={"resources": [
        {"ARN": f"arn:aws:iam::{A}:role/path/r", "type": "AWS::IAM::Role", "accountId": A}]})
    assert _pairs(event) == [(ROLE, f"arn:aws:iam::{A}:role/r")]


# ---- is_write and coverage --------------------------------------------------------------------

@pytest.mark.parametrize(("event", "expected"), [
    ({"eventName": "GetObject", "readOnly": False}, True),
    ({"eventName": "DeleteTrail", "readOnly": True}, False),
    ({"eventName": "DescribeInstances"}, False),
    ({"eventName": "ListUsers"}, False),
    ({"eventName": "HeadObject"}, False),
    ({"eventName": "LookupEvents"}, False),
    ({"eventName": "GetSecretValue"}, False),
    ({"eventName": "ConsoleLogin"}, True),
    ({"eventName": "CreateUser"}, True),
    ({"eventName": "CreateUser", "readOnly": "true"}, True),      # not a bool: the name decides
    ({"eventType": "AwsCloudTrailInsight", "eventName": "CreateUser"}, False),
    ({"readOnly": None}, False),
], ids=lambda v: str(v) if isinstance(v, bool) else "")
def test_is_write(event: dict[str, Any], expected: bool) -> None:
    assert is_write(event) is expected


def test_coverage_counts_writes_without_resources() -> None:
    events = [
        _event(_s("iam"), "CreateUser", {"userName": "u"}),          # write, resolved
        _event(_s("example"), "Reset", {}),                          # write, unresolved
        _event(_s("example"), "Reset", None),                        # write, unresolved
        _event(_s("other"), "Toggle", {}),                           # write, unresolved
        _event(_s("example"), "GetThing", {}),                       # read: not counted
        "garbage",
    ]
    assert coverage(events) == Coverage(write_events=4, unresolved=3, unresolved_share=0.75,
                                        top_unresolved=(("example.amazonaws.com", "Reset", 2),
                                                        ("other.amazonaws.com", "Toggle", 1)))
    assert coverage(events, top=1).top_unresolved == (("example.amazonaws.com", "Reset", 2),)
    assert coverage([]) == Coverage(write_events=0, unresolved=0, unresolved_share=0.0, top_unresolved=())


def test_every_stratus_write_event_has_a_resource() -> None:
    stratus = [record for name, _, record in all_records() if name != AWSDOCS_EXAMPLES.name]
    report = coverage(stratus)
    print(f"stratus: {report.write_events} write events, {report.unresolved} without a resource "
          f"({report.unresolved_share:.1%}); top: {report.top_unresolved}")
    assert report.write_events == 49   # readOnly false in 49 of the 310 records
    assert report.unresolved_share == 0.0, report.top_unresolved


def test_every_fixture_write_event_has_a_resource() -> None:
    report = coverage(record for _, _, record in all_records())
    print(f"all fixtures: {report.write_events} write events, {report.unresolved_share:.1%} without a resource")
    assert report.unresolved == 0, report.top_unresolved


# ---- the table itself -------------------------------------------------------------------------

def test_table_keys_are_sources_or_source_and_plain_event_name() -> None:
    for key in resources._RULES:
        source, name = (key, None) if isinstance(key, str) else key
        assert source.endswith(".amazonaws.com"), key
        assert name is None or (name.isalnum() and not resources._API_VERSION.search(name)), key
        assert resources._RULES[key] and all(callable(rule) for rule in resources._RULES[key]), key


def test_output_is_sorted_and_unique() -> None:
    for _, _, record in all_records():
        refs = resources_of(record)
        assert list(refs) == sorted(refs, key=lambda ref: (ref.type, ref.arn))
        assert len({ref.arn for ref in refs}) == len(refs)
        assert all(canonical_arn(ref.arn) == ref.arn for ref in refs)
