"""Tests of trailbeam.sessions: issuing events -> Session, the key index and origin chains."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import fixturedata
from trailbeam import timestamps
from trailbeam.sample import write_sample
from trailbeam.sessions import (
    Session, is_issuing_call, origin_of, parse_expiration, session_index, sessions_from, shared_event_index,
)

UTC = timezone.utc
IDENTITY_TRAIL = Path(__file__).parents[1] / "fixtures" / "identity" / "issuing-calls.json"


def micros(*args: int) -> int:
    return timestamps.datetime_micros(datetime(*args, tzinfo=UTC))


def make_event(event_name: str = "AssumeRole", **overrides: Any) -> dict[str, Any]:
    """A small successful STS event; ``overrides`` replace top-level members (None removes one)."""
    event: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice",
                         "accountId": "111122223333", "accessKeyId": "AKIAALICE"},
        "eventTime": "2024-11-30T08:43:17Z",
        "eventSource": "sts.amazonaws.com",
        "eventName": event_name,
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "aws-cli/2.15.30",
        "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/Deploy", "roleSessionName": "ci-42"},
        "responseElements": {
            "credentials": {"accessKeyId": "ASIANEW", "expiration": "Nov 30, 2024, 9:43:17 AM",
                            "sessionToken": "token"},
            "assumedRoleUser": {"assumedRoleId": "AROAX:ci-42",
                                "arn": "arn:aws:sts::111122223333:assumed-role/Deploy/ci-42"},
        },
        "eventID": "evt-1",
        "recipientAccountId": "111122223333",
    }
    for key, value in overrides.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def only(event: dict[str, Any]) -> Session:
    sessions = list(sessions_from(event))
    assert len(sessions) == 1, sessions
    return sessions[0]


# ---- real records (Stratus Red Team) ---------------------------------------------------------------------

FIXTURE_CASES = [
    # (file, index, expected subset of fields)
    ("aws.credential-access.ec2-get-password-data.json", 30, dict(
        via="AssumeRole", access_key_id="ASIA7RQR64ZW9JXKWPUO", caller_key="AKIAWOGXN38MFN92ING5",
        caller_arn="arn:aws:iam::457448411975:user/christophe", caller_type="IAMUser",
        role_arn="arn:aws:iam::457448411975:role/stratus-red-team-ec2-get-password-data-role",
        session_name="aws-go-sdk-1722375070115152000",
        assumed_arn=("arn:aws:sts::457448411975:assumed-role/stratus-red-team-ec2-get-password-data-role/"
                     "aws-go-sdk-1722375070115152000"),
        expires_at=micros(2024, 7, 30, 21, 46, 15), account="457448411975")),
    ("aws.persistence.sts-federation-token.json", 0, dict(
        via="GetFederationToken", access_key_id="ASIASTJKC5GCM7ZE6LUP", caller_key="AKIA6V1GNZTT65XQH36M",
        caller_arn="arn:aws:iam::742491224508:user/stratus-red-team-user-federation-user",
        role_arn="arn:aws:sts::742491224508:federated-user/stratus_red_team",
        assumed_arn="arn:aws:sts::742491224508:federated-user/stratus_red_team",
        session_name="stratus_red_team", expires_at=micros(2024, 11, 30, 20, 43, 17))),
]


@pytest.mark.parametrize("name, index, expected", FIXTURE_CASES, ids=[f"{n[:-5]}#{i}" for n, i, _ in FIXTURE_CASES])
def test_session_from_fixture_record(name: str, index: int, expected: dict[str, Any]) -> None:
    record = fixturedata.fixture_record(name, index)
    session = only(record)
    assert {field: getattr(session, field) for field in expected} == expected
    assert session.issued_by_event == record["eventID"]
    assert session.issued_at == timestamps.parse_micros(record["eventTime"])


def test_every_fixture_record_issues_at_most_one_session_and_failures_none() -> None:
    issued: Counter[str] = Counter()
    for _, _, record in fixturedata.all_records():
        if not isinstance(record, dict):
            continue
        sessions = list(sessions_from(record))
        assert len(sessions) <= 1
        if record.get("errorCode") is not None or (record.get("responseElements") or {}).get("ConsoleLogin") == "Failure":
            assert sessions == []
        for session in sessions:
            issued[session.via] += 1
            if session.via == "ConsoleLogin":       # the console key is never logged
                assert session.access_key_id is None
            else:
                assert session.access_key_id is not None and session.access_key_id.startswith("ASIA")
    # Stratus: 8 AssumeRole + 1 GetFederationToken + 1 sign-in succeeded; AWS docs: 5 successful sign-ins.
    assert issued == {"AssumeRole": 8, "GetFederationToken": 1, "ConsoleLogin": 6}


CONSOLE_CASES = [
    ("aws.initial-access.console-login-without-mfa.json", 0, dict(
        via="ConsoleLogin", access_key_id=None, role_arn="arn:aws:iam::562283505220:user/stratus-red-team-nmfalu-jfzdtsvchl",
        assumed_arn="arn:aws:iam::562283505220:user/stratus-red-team-nmfalu-jfzdtsvchl",
        session_name="stratus-red-team-nmfalu-jfzdtsvchl", caller_type="IAMUser", caller_account="562283505220",
        cross_account=False, mfa=False, expires_at=None)),
    ("awsdocs_extracted_examples.json", 1, dict(
        via="ConsoleLogin", role_arn="arn:aws:iam::111122223333:user/anaya", session_name="anaya", mfa=True)),
    ("awsdocs_extracted_examples.json", 6, dict(     # root, MFAUsed "YES"
        via="ConsoleLogin", role_arn="arn:aws:iam::111122223333:root", session_name=None, caller_type="Root",
        mfa=True)),
]


@pytest.mark.parametrize("name, index, expected", CONSOLE_CASES, ids=[f"{n[:-5]}#{i}" for n, i, _ in CONSOLE_CASES])
def test_console_login_from_fixture_record(name: str, index: int, expected: dict[str, Any]) -> None:
    session = only(fixturedata.fixture_record(name, index))
    assert {field: getattr(session, field) for field in expected} == expected


@pytest.mark.parametrize("index", [2, 7], ids=["iam-user", "root"])
def test_failed_console_login_issues_nothing(index: int) -> None:
    record = fixturedata.fixture_record("awsdocs_extracted_examples.json", index)
    assert (record["responseElements"], record.get("errorCode")) == ({"ConsoleLogin": "Failure"}, None)
    assert list(sessions_from(record)) == []


def test_failed_fixture_call_issues_nothing() -> None:
    record = fixturedata.fixture_record("aws.credential-access.ec2-get-password-data.json", 32)
    assert record["errorCode"] == "AccessDenied"
    assert list(sessions_from(record)) == []


# ---- each issuing call, hand-made ------------------------------------------------------------------------

SAML = make_event(
    "AssumeRoleWithSAML",
    userIdentity={"type": "SAMLUser", "principalId": "abc=:alice@example.com", "userName": "alice@example.com",
                  "identityProvider": "abc="},
    requestParameters={"roleArn": "arn:aws:iam::111122223333:role/Admins", "roleSessionName": "alice@example.com",
                       "principalArn": "arn:aws:iam::111122223333:saml-provider/Okta"},
    responseElements={"credentials": {"accessKeyId": "ASIASAML", "expiration": "2024-11-30T16:43:17Z"},
                      "assumedRoleUser": {"arn": "arn:aws:sts::111122223333:assumed-role/Admins/alice@example.com"},
                      "subject": "alice@example.com", "sourceIdentity": "alice"})
OIDC = make_event(
    "AssumeRoleWithWebIdentity",
    userIdentity={"type": "WebIdentityUser", "userName": "repo:acme/app:ref:refs/heads/main",
                  "identityProvider": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
    requestParameters={"roleArn": "arn:aws:iam::111122223333:role/CI", "roleSessionName": "GitHubActions"},
    responseElements={"credentials": {"accessKeyId": "ASIAOIDC", "expiration": "Nov 30, 2024, 9:43:17 AM"},
                      "subjectFromWebIdentityToken": "repo:acme/app:ref:refs/heads/main",
                      "assumedRoleUser": {"arn": "arn:aws:sts::111122223333:assumed-role/CI/GitHubActions"},
                      "provider": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"})
SESSION_TOKEN = make_event(
    "GetSessionToken", requestParameters={"durationSeconds": 43200},
    responseElements={"credentials": {"accessKeyId": "ASIAMFA", "expiration": "Dec 1, 2024, 8:43:17 AM"}})
FEDERATION = make_event(
    "GetFederationToken", requestParameters={"name": "partner-1"},
    responseElements={"credentials": {"accessKeyId": "ASIAFED", "expiration": "Nov 30, 2024, 9:43:17 AM"},
                      "federatedUser": {"arn": "arn:aws:sts::111122223333:federated-user/partner-1",
                                        "federatedUserId": "111122223333:partner-1"}})
ROOT = make_event(
    "AssumeRoot",
    userIdentity={"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Ops/bob",
                  "accessKeyId": "ASIAOPS"},
    requestParameters={"targetPrincipal": "444455556666",
                       "taskPolicyArn": {"arn": "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"}},
    responseElements={"credentials": {"accessKeyId": "ASIAROOT", "expiration": "Nov 30, 2024, 8:58:17 AM"}})
SSO = make_event(
    "GetRoleCredentials", eventSource="sso.amazonaws.com", requestParameters=None, responseElements=None,
    userIdentity={"type": "IdentityCenterUser", "accountId": "111122223333"},
    serviceEventDetails={"role_name": "PowerUserAccess", "account_id": "444455556666"})

ROLE_SESSION_CALLER = {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Ops/bob",
                       "accountId": "111122223333", "accessKeyId": "ASIAOPS",
                       "sessionContext": {"attributes": {"mfaAuthenticated": "true"}}}
CROSS_ACCOUNT = make_event(
    requestParameters={"roleArn": "arn:aws:iam::444455556666:role/Audit", "roleSessionName": "bob"},
    userIdentity=ROLE_SESSION_CALLER, sharedEventID="shared-1")
CONSOLE_ROLE = make_event(
    "ConsoleLogin", eventSource="signin.amazonaws.com", requestParameters=None,
    responseElements={"ConsoleLogin": "Success"},
    additionalEventData={"MFAUsed": "No", "SamlProviderArn": "arn:aws:iam::111122223333:saml-provider/Okta"},
    userIdentity={"type": "AssumedRole", "principalId": "AROAADMINS:alice@example.com", "accountId": "111122223333",
                  "arn": "arn:aws:sts::111122223333:assumed-role/Admins/alice@example.com",
                  "sessionContext": {"attributes": {"mfaAuthenticated": "false"}}})

KIND_CASES = [
    ("assume-role", make_event(), dict(
        via="AssumeRole", access_key_id="ASIANEW", role_arn="arn:aws:iam::111122223333:role/Deploy",
        session_name="ci-42", assumed_arn="arn:aws:sts::111122223333:assumed-role/Deploy/ci-42",
        caller_key="AKIAALICE", caller_type="IAMUser", expires_at=micros(2024, 11, 30, 9, 43, 17),
        source_ip="192.0.2.1", user_agent="aws-cli/2.15.30", account="111122223333", saml_provider=None,
        shared_event_id=None, caller_account="111122223333", cross_account=False, mfa=None)),
    ("assume-role-cross-account", CROSS_ACCOUNT, dict(
        role_arn="arn:aws:iam::444455556666:role/Audit", caller_account="111122223333", cross_account=True,
        shared_event_id="shared-1", caller_key="ASIAOPS", mfa=True)),
    ("assume-role-with-mfa-serial", make_event(requestParameters={
        "roleArn": "arn:aws:iam::111122223333:role/Deploy", "roleSessionName": "ci-42",
        "serialNumber": "arn:aws:iam::111122223333:mfa/alice"}), dict(mfa=True, cross_account=False)),
    ("assume-role-caller-without-mfa", make_event(userIdentity={
        **ROLE_SESSION_CALLER, "sessionContext": {"attributes": {"mfaAuthenticated": "false"}}}), dict(mfa=False)),
    ("console-login-assumed-role", CONSOLE_ROLE, dict(
        via="ConsoleLogin", access_key_id=None, session_name="alice@example.com",
        role_arn="arn:aws:sts::111122223333:assumed-role/Admins/alice@example.com",
        assumed_arn="arn:aws:sts::111122223333:assumed-role/Admins/alice@example.com", caller_type="AssumedRole",
        caller_key=None, mfa=False, cross_account=False, expires_at=None)),
    ("saml", SAML, dict(
        via="AssumeRoleWithSAML", access_key_id="ASIASAML", role_arn="arn:aws:iam::111122223333:role/Admins",
        saml_provider="arn:aws:iam::111122223333:saml-provider/Okta", subject="alice@example.com",
        source_identity="alice", caller_key=None, caller_arn=None, caller_type="SAMLUser",
        expires_at=micros(2024, 11, 30, 16, 43, 17))),
    ("web-identity", OIDC, dict(
        via="AssumeRoleWithWebIdentity", access_key_id="ASIAOIDC", role_arn="arn:aws:iam::111122223333:role/CI",
        web_identity_provider="arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
        subject="repo:acme/app:ref:refs/heads/main", caller_key=None, caller_type="WebIdentityUser")),
    ("session-token", SESSION_TOKEN, dict(
        via="GetSessionToken", access_key_id="ASIAMFA", role_arn="arn:aws:iam::111122223333:user/alice",
        session_name=None, assumed_arn="arn:aws:iam::111122223333:user/alice",
        caller_arn="arn:aws:iam::111122223333:user/alice", caller_key="AKIAALICE",
        expires_at=micros(2024, 12, 1, 8, 43, 17), mfa=None, cross_account=False)),
    ("session-token-with-mfa", make_event(
        "GetSessionToken", requestParameters={"serialNumber": "arn:aws:iam::111122223333:mfa/alice"},
        responseElements={"credentials": {"accessKeyId": "ASIAMFA"}}), dict(mfa=True)),
    ("federation-token", FEDERATION, dict(
        via="GetFederationToken", access_key_id="ASIAFED", session_name="partner-1",
        role_arn="arn:aws:sts::111122223333:federated-user/partner-1",
        assumed_arn="arn:aws:sts::111122223333:federated-user/partner-1")),
    ("assume-root", ROOT, dict(
        via="AssumeRoot", access_key_id="ASIAROOT", role_arn="arn:aws:iam::444455556666:root",
        caller_key="ASIAOPS", caller_type="AssumedRole", caller_account=None, cross_account=False)),
    ("assume-root-cross-account", {**ROOT, "userIdentity": {**ROOT["userIdentity"], "accountId": "111122223333"}},
     dict(role_arn="arn:aws:iam::444455556666:root", caller_account="111122223333", cross_account=True)),
    ("sso-role-credentials", SSO, dict(
        via="GetRoleCredentials", access_key_id=None, role_arn=None, expires_at=None,
        caller_type="IdentityCenterUser")),
]


@pytest.mark.parametrize("event, expected", [c[1:] for c in KIND_CASES], ids=[c[0] for c in KIND_CASES])
def test_session_from_each_issuing_call(event: dict[str, Any], expected: dict[str, Any]) -> None:
    session = only(event)
    assert {field: getattr(session, field) for field in expected} == expected
    assert session.issued_by_event == "evt-1"
    assert session.issued_at == micros(2024, 11, 30, 8, 43, 17)


NOTHING_CASES = [
    ("access-denied", make_event(errorCode="AccessDenied", errorMessage="not authorized", responseElements=None)),
    ("error-with-response", make_event(errorCode="ExpiredTokenException")),
    ("saml-failed", {**SAML, "errorCode": "InvalidIdentityToken"}),
    ("not-issuing", make_event("GetCallerIdentity", requestParameters=None, responseElements=None)),
    ("unknown-event", make_event("DescribeInstances", eventSource="ec2.amazonaws.com")),
    ("same-name-other-service", make_event(eventSource="iam.amazonaws.com")),
    ("console-login-failed", {**CONSOLE_ROLE, "responseElements": {"ConsoleLogin": "Failure"}}),
    ("console-login-no-outcome", {**CONSOLE_ROLE, "responseElements": None}),
    ("console-login-other-service", {**CONSOLE_ROLE, "eventSource": "sts.amazonaws.com"}),
    ("no-event-name", make_event(eventName=None)),
    ("not-an-object", ["AssumeRole"]),
    ("null", None),
]


@pytest.mark.parametrize("event", [c[1] for c in NOTHING_CASES], ids=[c[0] for c in NOTHING_CASES])
def test_events_that_issue_nothing(event: Any) -> None:
    assert list(sessions_from(event)) == []


ODD_SHAPE_CASES = [
    ("request-null", make_event(requestParameters=None), dict(role_arn=None, session_name=None)),
    ("response-null", make_event(responseElements=None), dict(access_key_id=None, expires_at=None,
                                                               assumed_arn=None)),
    ("identity-missing", make_event(userIdentity=None), dict(caller_arn=None, caller_key=None, caller_type=None)),
    ("identity-not-object", make_event(userIdentity="x"), dict(caller_arn=None, caller_key=None)),
    ("key-not-string", make_event(responseElements={"credentials": {"accessKeyId": 7}}), dict(access_key_id=None)),
    ("cross-account-role-copy",
     make_event(userIdentity={"type": "AWSAccount", "principalId": "AROAX:s", "accountId": "444455556666"}),
     dict(caller_type="AWSAccount", caller_key=None, caller_arn=None, access_key_id="ASIANEW")),
    ("service-caller", make_event(userIdentity={"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}),
     dict(caller_type="AWSService", caller_key=None)),
]


@pytest.mark.parametrize("event, expected", [c[1:] for c in ODD_SHAPE_CASES], ids=[c[0] for c in ODD_SHAPE_CASES])
def test_odd_shapes_become_none(event: dict[str, Any], expected: dict[str, Any]) -> None:
    session = only(event)
    assert {field: getattr(session, field) for field in expected} == expected


@pytest.mark.parametrize("overrides, error", [
    ({"eventID": None}, KeyError),
    ({"eventID": 42}, ValueError),
    ({"eventTime": "yesterday"}, ValueError),
    ({"eventTime": None}, ValueError),
], ids=["no-event-id", "event-id-not-text", "bad-event-time", "no-event-time"])
def test_required_fields_fail_loudly(overrides: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        list(sessions_from(make_event(**overrides)))


def test_input_event_is_not_modified() -> None:
    event = make_event()
    before = json.dumps(event, sort_keys=True)
    only(event)
    assert json.dumps(event, sort_keys=True) == before


# ---- every issuing call, hand-written records (tests/fixtures/identity) --------------------------------------

def identity_trail() -> list[dict[str, Any]]:
    return json.loads(IDENTITY_TRAIL.read_text())["Records"]


MGMT, PROD = "111122223333", "444455556666"
IDENTITY_CASES = [
    # (eventID of the issuing record, expected subset of fields)
    ("saml-issue", dict(via="AssumeRoleWithSAML", access_key_id="ASIASAMLEXAMPLE0001", caller_type="SAMLUser",
                        saml_provider=f"arn:aws:iam::{MGMT}:saml-provider/Okta", subject="alice@example.com",
                        source_identity="alice@example.com", caller_account=None, cross_account=False, mfa=None)),
    ("oidc-issue", dict(via="AssumeRoleWithWebIdentity", access_key_id="ASIAOIDCEXAMPLE0001",
                        subject="repo:acme/infra-live:ref:refs/heads/main", session_name="GitHubActions",
                        web_identity_provider=f"arn:aws:iam::{PROD}:oidc-provider/token.actions.githubusercontent.com")),
    ("token-issue", dict(via="GetSessionToken", access_key_id="ASIATOKENEXAMPLE001", caller_key="AKIAALICEEXAMPLE0001",
                         mfa=True, expires_at=micros(2024, 11, 30, 20, 10), session_name="alice")),
    ("ops-issue", dict(via="AssumeRole", caller_key="ASIATOKENEXAMPLE001", caller_type="IAMUser", mfa=True)),
    ("root-issue", dict(via="AssumeRoot", access_key_id="ASIAROOTEXAMPLE0001", role_arn=f"arn:aws:iam::{PROD}:root",
                        caller_key="ASIAOPSEXAMPLE00001", caller_account=MGMT, cross_account=True, mfa=True)),
    ("fed-issue", dict(via="GetFederationToken", session_name="partner-7",
                       assumed_arn=f"arn:aws:sts::{MGMT}:federated-user/partner-7", cross_account=False)),
    ("sso-issue", dict(via="GetRoleCredentials", access_key_id=None, role_arn=None, caller_type="IdentityCenterUser")),
    ("ec2-issue", dict(via="AssumeRole", caller_type="AWSService", session_name="i-0123456789abcdef0",
                       source_ip="ec2.amazonaws.com", shared_event_id="6f0e4a2c-ec2-0000-0000-000000000001",
                       caller_account=None, cross_account=False)),
    ("lambda-issue", dict(via="AssumeRole", caller_type="AWSService", session_name="orders-handler",
                          source_ip="lambda.amazonaws.com")),
    ("xacct-caller-copy", dict(access_key_id="ASIAXACCTEXAMPLE001", caller_key="ASIAOPSEXAMPLE00001", account=MGMT,
                               shared_event_id="3b7d5a2e-1c4f-4e8a-9d6b-0a1b2c3d4e5f", cross_account=True, mfa=True)),
    ("xacct-role-copy", dict(access_key_id="ASIAXACCTEXAMPLE001", caller_key=None, caller_type="AWSAccount",
                             account=PROD, caller_account=MGMT, shared_event_id="3b7d5a2e-1c4f-4e8a-9d6b-0a1b2c3d4e5f",
                             cross_account=True, mfa=None)),
    ("console-login", dict(via="ConsoleLogin", access_key_id=None, role_arn=f"arn:aws:iam::{MGMT}:user/bob",
                           session_name="bob", mfa=True, expires_at=None)),
]


def test_identity_trail_issues_exactly_the_expected_sessions() -> None:
    issued = {s.issued_by_event: s for r in identity_trail() for s in sessions_from(r)}
    assert sorted(issued) == sorted(event_id for event_id, _ in IDENTITY_CASES)


@pytest.mark.parametrize("event_id, expected", IDENTITY_CASES, ids=[c[0] for c in IDENTITY_CASES])
def test_session_from_each_issuing_record(event_id: str, expected: dict[str, Any]) -> None:
    record = next(r for r in identity_trail() if r["eventID"] == event_id)
    session = only(record)
    assert {field: getattr(session, field) for field in expected} == expected
    assert session.issued_at == timestamps.parse_micros(record["eventTime"])


@pytest.mark.parametrize("source, name, expected", [
    ("sts.amazonaws.com", "AssumeRole", True),
    ("sts.amazonaws.com", "AssumeRoot", True),
    ("sso.amazonaws.com", "GetRoleCredentials", True),
    ("signin.amazonaws.com", "ConsoleLogin", True),
    ("signin.amazonaws.com", "CheckMfa", False),
    ("iam.amazonaws.com", "AssumeRole", False),
    ("sts.amazonaws.com", "GetCallerIdentity", False),
    (None, None, False),
], ids=["assume-role", "assume-root", "sso", "console", "check-mfa", "wrong-source", "not-issuing", "absent"])
def test_is_issuing_call(source: str | None, name: str | None, expected: bool) -> None:
    assert is_issuing_call(source, name) is expected


# ---- expiration formats --------------------------------------------------------------------------------

EXPIRATION_CASES = [
    ("sts-pm", "Nov 30, 2024, 8:43:17 PM", micros(2024, 11, 30, 20, 43, 17)),
    ("sts-am", "Jul 30, 2024, 9:46:15 AM", micros(2024, 7, 30, 9, 46, 15)),
    ("sts-midnight", "Mar 3, 2026, 12:42:19 AM", micros(2026, 3, 3, 0, 42, 19)),
    ("sts-noon", "Mar 2, 2026, 12:41:26 PM", micros(2026, 3, 2, 12, 41, 26)),
    ("iam-no-second-comma", "Aug 1, 2024 1:33:28 PM", micros(2024, 8, 1, 13, 33, 28)),
    ("zero-padded-day", "Aug 01, 2024, 01:33:28 PM", micros(2024, 8, 1, 13, 33, 28)),
    ("iso-z", "2024-11-30T20:43:17Z", micros(2024, 11, 30, 20, 43, 17)),
    ("iso-fraction-offset", "2024-11-30T22:43:17.5+02:00", micros(2024, 11, 30, 20, 43, 17) + 500_000),
    ("epoch-seconds", 1733000000, 1733000000 * 1_000_000),
    ("epoch-millis", 1733000000123, 1733000000123 * 1000),
    ("garbage", "soon", None),
    ("empty", "", None),
    ("absent", None, None),
    ("object", {"t": 1}, None),
    ("boolean", True, None),
]


@pytest.mark.parametrize("value, expected", [c[1:] for c in EXPIRATION_CASES], ids=[c[0] for c in EXPIRATION_CASES])
def test_parse_expiration(value: object, expected: int | None) -> None:
    assert parse_expiration(value) == expected


# ---- index and origin chains -------------------------------------------------------------------------------

def hop(key: str, caller_key: str | None, event_id: str, **fields: Any) -> Session:
    defaults: dict[str, Any] = dict(
        via="AssumeRole", role_arn=None, session_name=None, assumed_arn=None, caller_arn=None,
        caller_type=None, source_identity=None, issued_at=0, expires_at=None, account=None, source_ip=None,
        user_agent=None)
    return Session(issued_by_event=event_id, access_key_id=key, caller_key=caller_key, **{**defaults, **fields})


A = hop("ASIAA", "AKIAUSER", "e-a", caller_arn="arn:aws:iam::111122223333:user/leaked", issued_at=1)
B = hop("ASIAB", "ASIAA", "e-b", issued_at=2)
C = hop("ASIAC", "ASIAB", "e-c", issued_at=3)
C_ROLE_COPY = hop("ASIAC", None, "e-c-role", caller_type="AWSAccount", issued_at=3)
SERVICE = hop("ASIAS", None, "e-s", caller_type="AWSService", issued_at=1)
NO_KEY = hop(None, "AKIAUSER", "e-sso", via="GetRoleCredentials")  # type: ignore[arg-type]


def test_index_skips_sessions_without_a_key() -> None:
    assert session_index([A, NO_KEY]) == {"ASIAA": A}


@pytest.mark.parametrize("order", [[C, C_ROLE_COPY], [C_ROLE_COPY, C]], ids=["caller-first", "role-copy-first"])
def test_index_prefers_the_copy_naming_the_caller(order: list[Session]) -> None:
    assert session_index(order)["ASIAC"] is C


def test_index_duplicate_deliveries_keep_one() -> None:
    assert session_index([A, A, replace(A)]) == {"ASIAA": A}


A_CONFLICT = replace(A, source_ip="192.0.2.99")      # a conflicting copy: same eventID, key and time


@pytest.mark.parametrize("order", [[A, A_CONFLICT], [A_CONFLICT, A]], ids=["original-first", "conflict-first"])
def test_index_picks_the_same_conflicting_copy_in_any_order(order: list[Session]) -> None:
    # Worker processes see the copies in any order; the attribution must not depend on it.
    assert session_index(order)["ASIAA"] == session_index([A, A_CONFLICT])["ASIAA"]
    assert shared_event_index([replace(s, shared_event_id="s") for s in order]) == shared_event_index(
        [replace(s, shared_event_id="s") for s in [A, A_CONFLICT]])


SHARED_CALLER = replace(C, shared_event_id="shared-c")
SHARED_ROLE_COPY = replace(C_ROLE_COPY, shared_event_id="shared-c", access_key_id=None)   # response not logged


@pytest.mark.parametrize("seed", range(5))
def test_shared_index_keeps_the_callers_copy_in_any_order(seed: int) -> None:
    sessions = [SHARED_CALLER, SHARED_ROLE_COPY, SHARED_ROLE_COPY, A, replace(B, shared_event_id=None)]
    random.Random(seed).shuffle(sessions)
    assert shared_event_index(sessions) == {"shared-c": SHARED_CALLER}


ORIGIN_CASES = [
    ("three-hops", "ASIAC", [A, B, C], ["e-a", "e-b", "e-c"]),
    ("middle", "ASIAB", [A, B, C], ["e-a", "e-b"]),
    ("first", "ASIAA", [A, B, C], ["e-a"]),
    ("service-origin", "ASIAS", [SERVICE], ["e-s"]),
    ("unknown-key", "ASIAZ", [A, B, C], []),
    ("long-term-key", "AKIAUSER", [A, B, C], []),
    ("gap-in-logs", "ASIAC", [B, C], ["e-b", "e-c"]),
    ("cycle", "ASIAX", [hop("ASIAX", "ASIAY", "e-x"), hop("ASIAY", "ASIAX", "e-y")], ["e-x", "e-y"][::-1]),
]


@pytest.mark.parametrize("key, sessions, expected", [c[1:] for c in ORIGIN_CASES], ids=[c[0] for c in ORIGIN_CASES])
def test_origin_of(key: str, sessions: list[Session], expected: list[str]) -> None:
    assert [s.issued_by_event for s in origin_of(key, session_index(sessions))] == expected


def test_origin_names_the_long_term_key() -> None:
    chain = origin_of("ASIAC", session_index([C, B, A, C_ROLE_COPY]))
    assert (chain[0].caller_key, chain[0].caller_arn) == ("AKIAUSER", "arn:aws:iam::111122223333:user/leaked")


# ---- end to end on a synthetic trail -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    root = tmp_path_factory.mktemp("sessions-trail")
    write_sample(root, events=1500, seed=4)
    records = [record for path in sorted(root.glob("AWSLogs/**/*.json.gz"))
               for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]]
    return records, json.loads((root / "ground-truth.json").read_text())


def test_every_ground_truth_credential_is_found(trail: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    records, truth = trail
    index = session_index(s for record in records for s in sessions_from(record))
    assert truth["credentials"]
    for credential in truth["credentials"]:
        session = index.get(credential["access_key_id"])
        assert session is not None, credential
        assert (session.issued_by_event, session.role_arn, session.via) == (
            credential["event_id"], credential["role_arn"], credential["event_name"]), credential
        assert session.caller_key == credential["issuer_access_key_id"], credential
        assert session.caller_type == credential["issuer_type"], credential
        assert session.expires_at == timestamps.parse_micros(credential["expiration"]), credential
        assert session.issued_at == timestamps.parse_micros(credential["event_time"]), credential
        assert session.session_name == credential["session_name"], credential
        assert session.assumed_arn == credential["session_arn"], credential
        assert session.source_identity == credential["source_identity"], credential
        assert session.account == credential["account"], credential
        if credential["issuer_type"] in ("SAMLUser", "WebIdentityUser"):
            assert session.subject == credential["issuer_subject"], credential
            assert credential["issuer"] in (session.saml_provider, session.web_identity_provider), credential


def test_cross_account_copies_issue_the_same_key(trail: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    records, truth = trail
    by_event = {s.issued_by_event: s for record in records for s in sessions_from(record)}
    copies = [c for c in truth["credentials"] if c["role_account_event_id"] is not None]
    assert copies
    for credential in copies:
        caller_copy, role_copy = by_event[credential["event_id"]], by_event[credential["role_account_event_id"]]
        assert caller_copy.access_key_id == role_copy.access_key_id == credential["access_key_id"]
        assert role_copy.caller_key is None and role_copy.caller_type == "AWSAccount"


def test_every_issued_key_in_the_trail_is_a_ground_truth_credential(
        trail: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    records, truth = trail
    index = session_index(s for record in records for s in sessions_from(record))
    assert set(index) == {c["access_key_id"] for c in truth["credentials"]}


def test_attack_key_walks_back_to_the_leaked_principal(trail: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    records, truth = trail
    attack = truth["attack"]
    chain = origin_of(attack["final_access_key_id"], session_index(s for r in records for s in sessions_from(r)))
    hops = attack["chain"]
    assert [s.issued_by_event for s in chain] == [h["event_id"] for h in hops[1:]]
    assert [s.access_key_id for s in chain] == [h["access_key_id"] for h in hops[1:]]
    assert [s.caller_key for s in chain] == [h["issued_by_access_key_id"] for h in hops[1:]]
    origin = chain[0]
    assert (origin.caller_arn, origin.caller_key) == (hops[0]["principal"], hops[0]["access_key_id"])
    assert (origin.caller_arn, origin.caller_key) == (attack["leaked_principal"], attack["leaked_access_key_id"])
    assert origin.caller_key.startswith("AKIA")


def test_cross_account_hops_are_marked_and_share_an_event_id(
        trail: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    records, truth = trail
    by_event = {s.issued_by_event: s for record in records for s in sessions_from(record)}
    shared = shared_event_index(by_event.values())
    for credential in truth["credentials"]:
        session = by_event[credential["event_id"]]
        assert session.shared_event_id == credential["shared_event_id"], credential
        role_account = credential["role_arn"].split(":")[4]
        crossed = credential["role_account_event_id"] is not None
        assert session.cross_account is crossed and (role_account != credential["account"]) is crossed, credential
        if crossed:
            assert shared[session.shared_event_id] is session, credential   # the caller's copy wins


def test_every_console_sign_in_is_a_session(trail: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    records, truth = trail
    logins = {s.issued_by_event: s for record in records for s in sessions_from(record) if s.via == "ConsoleLogin"}
    users = truth["console_sessions"]
    assert users
    for expected in users:
        session = logins[expected["event_id"]]
        assert (session.role_arn, session.mfa, session.account, session.access_key_id) == (
            expected["principal"], expected["mfa"], expected["account"], None), expected
    # Identity Center and Okta users also sign in to the console, as their SAML role sessions.
    assert {s.caller_type for s in logins.values()} >= {"IAMUser", "AssumedRole"}
