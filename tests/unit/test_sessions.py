"""Tests of trailbeam.sessions: issuing events -> Session, the key index and origin chains."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest

import fixturedata
from trailbeam import timestamps
from trailbeam.sample import write_sample
from trailbeam.sessions import Session, origin_of, parse_expiration, session_index, sessions_from

UTC = timezone.utc


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
    issued = 0
    for _, _, record in fixturedata.all_records():
        if not isinstance(record, dict):
            continue
        sessions = list(sessions_from(record))
        assert len(sessions) <= 1
        if record.get("errorCode") is not None:
            assert sessions == []
        issued += len(sessions)
        for session in sessions:
            assert session.access_key_id is not None and session.access_key_id.startswith("ASIA")
    assert issued == 9   # 8 AssumeRole + 1 GetFederationToken succeeded in the Stratus files


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

KIND_CASES = [
    ("assume-role", make_event(), dict(
        via="AssumeRole", access_key_id="ASIANEW", role_arn="arn:aws:iam::111122223333:role/Deploy",
        session_name="ci-42", assumed_arn="arn:aws:sts::111122223333:assumed-role/Deploy/ci-42",
        caller_key="AKIAALICE", caller_type="IAMUser", expires_at=micros(2024, 11, 30, 9, 43, 17),
        source_ip="192.0.2.1", user_agent="aws-cli/2.15.30", account="111122223333", saml_provider=None)),
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
        expires_at=micros(2024, 12, 1, 8, 43, 17))),
    ("federation-token", FEDERATION, dict(
        via="GetFederationToken", access_key_id="ASIAFED", session_name="partner-1",
        role_arn="arn:aws:sts::111122223333:federated-user/partner-1",
        assumed_arn="arn:aws:sts::111122223333:federated-user/partner-1")),
    ("assume-root", ROOT, dict(
        via="AssumeRoot", access_key_id="ASIAROOT", role_arn="arn:aws:iam::444455556666:root",
        caller_key="ASIAOPS", caller_type="AssumedRole")),
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
