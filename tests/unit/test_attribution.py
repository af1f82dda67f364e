"""Tests of trailbeam.attribution: event -> session, chain and origin, with basis and confidence."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fixturedata
from trailbeam import timestamps
from trailbeam.attribution import (
    TEMPORARY_REASONS, Attribution, AttributionSummary, Attributor, Indexes, Origin, attribute, build_indexes,
    grants_from, light_view, needs_original, summarize,
)
from trailbeam.sample import write_sample
from trailbeam.sessions import sessions_from

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
DEPLOY = f"arn:aws:iam::{ACCOUNT}:role/Deploy"
SSO_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"
STORE = f"arn:aws:identitystore::{ACCOUNT}:identitystore/d-1234"
T0 = "2024-11-30T08:43:17Z"


def event(event_id: str, identity: dict[str, Any] | None, name: str = "ListBuckets",
          source: str = "s3.amazonaws.com", time: str = "2024-11-30T09:00:00Z", **more: Any) -> dict[str, Any]:
    return {"eventID": event_id, "eventTime": time, "eventSource": source, "eventName": name,
            "userIdentity": identity, "recipientAccountId": ACCOUNT, **more}


def user(key: str | None = "AKIAALICE", arn: str = ALICE) -> dict[str, Any]:
    identity = {"type": "IAMUser", "arn": arn, "accountId": ACCOUNT, "userName": arn.rpartition("/")[2]}
    return {**identity, "accessKeyId": key} if key else identity


def role_session(key: str | None, name: str = "ci-42", issuer: str = DEPLOY, created: str = T0,
                 **more: Any) -> dict[str, Any]:
    identity = {"type": "AssumedRole", "principalId": f"AROADEPLOY:{name}", "accountId": ACCOUNT,
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{issuer.rpartition('/')[2]}/{name}",
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": issuer},
                                   "attributes": {"creationDate": created}}, **more}
    return {**identity, "accessKeyId": key} if key else identity


def assume(event_id: str, caller: dict[str, Any], new_key: str, name: str = "ci-42", role: str = DEPLOY,
           time: str = T0, via: str = "AssumeRole", request: dict[str, Any] | None = None,
           caller_address: str = "192.0.2.1", **response: Any) -> dict[str, Any]:
    return event(event_id, caller, via, "sts.amazonaws.com", time, sourceIPAddress=caller_address,
                 userAgent=caller_address if caller_address.endswith(".amazonaws.com") else "aws-cli/2.15.30",
                 requestParameters={"roleArn": role, "roleSessionName": name, **(request or {})},
                 responseElements={"credentials": {"accessKeyId": new_key},
                                   "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/x/{name}"},
                                   **response})


ISSUING = [
    assume("i-alice", user(), "ASIAONE"),                                           # IAM user -> Deploy
    assume("i-hop", role_session("ASIAONE"), "ASIATWO", name="hop", time="2024-11-30T08:50:00Z"),
    assume("i-saml", {"type": "SAMLUser", "userName": "bob@example.com"}, "ASIASAML", name="bob",
           role=f"arn:aws:iam::{ACCOUNT}:role/Admins", via="AssumeRoleWithSAML",
           request={"principalArn": f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"},
           subject="bob@example.com"),
    assume("i-oidc", {"type": "WebIdentityUser", "userName": "repo:acme/app:ref:refs/heads/main"}, "ASIAOIDC",
           name="gha", via="AssumeRoleWithWebIdentity",
           provider=f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
           subjectFromWebIdentityToken="repo:acme/app:ref:refs/heads/main"),
    assume("i-svc", {"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}, "ASIALAMBDA", name="fn",
           caller_address="lambda.amazonaws.com"),
    assume("i-root", {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root", "accessKeyId": "ASIAROOTCONSOLE"},
           "ASIAFROMROOT", name="break-glass"),
    # two sessions of the same role and name in the same second: the session-name basis cannot choose
    assume("i-twin-1", user(), "ASIATWIN1", name="twin", time="2024-11-30T10:00:00Z"),
    assume("i-twin-2", user("AKIACAROL", f"arn:aws:iam::{ACCOUNT}:user/carol"), "ASIATWIN2", name="twin",
           time="2024-11-30T10:00:00.400Z"),
    # an attacker session gives a new user a key and a console password
    event("g-key", role_session("ASIATWO", name="hop", created="2024-11-30T08:50:00Z"), "CreateAccessKey",
          "iam.amazonaws.com", "2024-11-30T09:10:00Z", requestParameters={"userName": "backdoor"},
          responseElements={"accessKey": {"userName": "backdoor", "accessKeyId": "AKIABACKDOOR"}}),
    event("g-login", role_session("ASIATWO", name="hop", created="2024-11-30T08:50:00Z"), "CreateLoginProfile",
          "iam.amazonaws.com", "2024-11-30T09:11:00Z", requestParameters={"userName": "backdoor"}),
    event("g-denied", user(), "CreateAccessKey", "iam.amazonaws.com", errorCode="AccessDenied",
          requestParameters={"userName": "bob"}, responseElements=None),
]
def indexes_of(records: Iterable[Any]) -> Indexes:
    """The indexes of every session and grant in ``records``."""
    records = list(records)
    return build_indexes([s for r in records for s in sessions_from(r)], [g for r in records for g in grants_from(r)])


INDEXES = indexes_of(ISSUING)
BACKDOOR = f"arn:aws:iam::{ACCOUNT}:user/backdoor"

IAM_ALICE = Origin(kind="iam-user", principal=ALICE, access_key="AKIAALICE")
SAML_BOB = Origin(kind="saml", principal=f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta:bob@example.com",
                  access_key=None)
GITHUB = Origin(kind="web-identity", principal="token.actions.githubusercontent.com:repo:acme/app:ref:refs/heads/main",
                access_key=None)
LAMBDA = Origin(kind="aws-service", principal="lambda.amazonaws.com", access_key=None, resource="fn")
ROOT = Origin(kind="root", principal=f"arn:aws:iam::{ACCOUNT}:root", access_key=None)
CENTER = Origin(kind="identity-center", principal=f"{STORE}/u-42", access_key=None)
ON_BEHALF = {"onBehalfOf": {"userId": "u-42", "identityStoreArn": STORE}}

# (id, event, basis, confidence, origin, session's issuing event or None, chain's issuing events)
CASES = [
    ("key-one-hop", event("e", role_session("ASIAONE")), "access-key", "high", IAM_ALICE, "i-alice", ["i-alice"]),
    ("key-two-hops", event("e", role_session("ASIATWO", name="hop")), "access-key", "high", IAM_ALICE, "i-hop",
     ["i-alice", "i-hop"]),
    ("key-saml", event("e", role_session("ASIASAML", name="bob")), "access-key", "high", SAML_BOB, "i-saml",
     ["i-saml"]),
    ("key-web-identity", event("e", role_session("ASIAOIDC", name="gha")), "access-key", "high", GITHUB,
     "i-oidc", ["i-oidc"]),
    ("key-service", event("e", role_session("ASIALAMBDA", name="fn")), "access-key", "high", LAMBDA, "i-svc",
     ["i-svc"]),
    ("key-root", event("e", role_session("ASIAFROMROOT", name="break-glass")), "access-key", "high", ROOT,
     "i-root", ["i-root"]),
    ("key-identity-center-sso-session",
     event("e", role_session("ASIASAML", name="bob", issuer=SSO_ROLE, **ON_BEHALF)), "access-key", "high", CENTER,
     "i-saml", ["i-saml"]),
    ("session-name-unknown-key", event("e", role_session("ASIAUNLOGGED")), "session-name", "medium", IAM_ALICE,
     "i-alice", ["i-alice"]),
    ("session-name-no-key-console", event("e", role_session(None, created="2024-11-30T08:43:17.900Z"),
                                          "ConsoleLogin"), "session-name", "medium", IAM_ALICE, "i-alice",
     ["i-alice"]),
    ("session-name-ambiguous", event("e", role_session(None, name="twin", created="2024-11-30T10:00:00Z")),
     "session-name", "low", Origin(kind="unknown", principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/twin",
                                   access_key=None), None, []),
    ("long-term-key", event("e", user()), "long-term", "high", IAM_ALICE, None, []),
    ("long-term-console", event("e", user(None), "ConsoleLogin"), "long-term", "high",
     Origin(kind="iam-user", principal=ALICE, access_key=None), None, []),
    ("long-term-root-console-key", event("e", {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root",
                                               "accessKeyId": "ASIAROOTCONSOLE"}), "long-term", "high", ROOT, None,
     []),
    ("saml-subject-itself", ISSUING[2], "long-term", "high", SAML_BOB, None, []),
    ("web-identity-subject-itself", ISSUING[3], "long-term", "high", GITHUB, None, []),
    ("created-key", event("e", user("AKIABACKDOOR", BACKDOOR), time="2024-11-30T12:00:00Z"), "access-key", "high",
     IAM_ALICE, None, ["i-alice", "i-hop"]),
    ("created-login-console", event("e", user(None, BACKDOOR), "ConsoleLogin", time="2024-11-30T12:00:00Z"),
     "long-term", "high", IAM_ALICE, None, ["i-alice", "i-hop"]),
    ("login-before-creation-is-own-origin",
     event("e", user(None, BACKDOOR), "ConsoleLogin", time="2024-11-30T09:00:00Z"), "long-term", "high",
     Origin(kind="iam-user", principal=BACKDOOR, access_key=None), None, []),
    ("service", event("e", {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}), "service", "high",
     Origin(kind="aws-service", principal="cloudtrail.amazonaws.com", access_key=None), None, []),
    ("identity-center-user", event("e", {"type": "IdentityCenterUser", "accountId": ACCOUNT, **ON_BEHALF},
                                   "GetRoleCredentials", "sso.amazonaws.com"), "on-behalf-of", "high", CENTER,
     None, []),
    ("external-account", event("e", {"type": "AWSAccount", "principalId": "AIDAEXT", "accountId": "999"}), "none",
     "low", Origin(kind="unknown", principal="999:AIDAEXT", access_key=None), None, []),
    ("unknown-role-session-key", event("e", role_session("ASIANOPE", name="other")), "none", "low",
     Origin(kind="unknown", principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/other", access_key=None),
     None, []),
    ("session-name-too-late", event("e", role_session(None, created="2024-11-30T08:43:19Z")), "none", "low",
     Origin(kind="unknown", principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/ci-42", access_key=None),
     None, []),
    ("no-identity", event("e", None), "none", "low", Origin(kind="unknown", principal="unknown", access_key=None),
     None, []),
]


@pytest.mark.parametrize("trail_event, basis, confidence, origin, session, chain", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_attribute(trail_event: dict[str, Any], basis: str, confidence: str, origin: Origin, session: str | None,
                   chain: list[str]) -> None:
    found = attribute(trail_event, INDEXES)
    assert (found.basis, found.confidence, found.origin) == (basis, confidence, origin)
    assert (found.session.issued_by_event if found.session else None) == session
    assert [s.issued_by_event for s in found.chain] == chain
    if found.session is not None:
        assert found.chain[-1] is found.session
    assert found.event_id == trail_event["eventID"]


def test_created_identities_name_the_linking_event() -> None:
    assert attribute(CASES[15][1], INDEXES).created_by == ("g-key",)
    assert attribute(CASES[16][1], INDEXES).created_by == ("g-login",)


def test_failed_grants_and_other_events_grant_nothing() -> None:
    assert [list(grants_from(e)) for e in (ISSUING[-1], ISSUING[0], None, ["x"])] == [[], [], [], []]


def test_ambiguity_never_picks_a_session() -> None:
    """Even when the candidates share an origin, several candidates give low confidence and no session."""
    same_origin = [assume("a", user(), "ASIAA1", name="dup"), assume("b", user(), "ASIAA2", name="dup")]
    indexes = build_indexes(s for e in same_origin for s in sessions_from(e))
    found = attribute(event("e", role_session(None, name="dup")), indexes)
    assert (found.basis, found.confidence, found.session, found.origin) == ("session-name", "low", None, IAM_ALICE)


def test_grant_cycles_stay_finite() -> None:
    """A key created by its own user's session (malformed log) must not recurse forever."""
    loop = [event("g", user("AKIALOOP", BACKDOOR), "CreateAccessKey", "iam.amazonaws.com", "2024-11-30T08:00:00Z",
                  requestParameters={"userName": "backdoor"},
                  responseElements={"accessKey": {"userName": "backdoor", "accessKeyId": "AKIALOOP"}})]
    indexes = build_indexes([], [g for e in loop for g in grants_from(e)])
    found = attribute(event("e", user("AKIALOOP", BACKDOOR)), indexes)
    assert (found.origin.principal, found.created_by) == (BACKDOOR, ("g",))


# ---- end to end on a synthetic trail -----------------------------------------------------------------------

Sample = tuple[list[dict[str, Any]], Indexes, dict[str, Any]]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """The synthetic trail's records (delivery order, duplicates included), its indexes and its ground truth."""
    root = tmp_path_factory.mktemp("attribution-trail")
    write_sample(root, events=1500, seed=4)
    records = [record for path in sorted(root.glob("AWSLogs/**/*.json.gz"))
               for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]]
    return records, indexes_of(records), json.loads((root / "ground-truth.json").read_text())


@pytest.fixture(scope="module")
def attributed(sample: Sample) -> tuple[dict[str, Attribution], dict[str, Any]]:
    records, indexes, truth = sample
    return {r["eventID"]: attribute(r, indexes) for r in records}, truth


def test_attack_steps_lead_to_the_leaked_principal(
        attributed: tuple[dict[str, Attribution], dict[str, Any]]) -> None:
    found, truth = attributed
    attack = truth["attack"]
    external = f"{attack['attacker']['external_account']}:{attack['attacker']['external_principal_id']}"
    credentialed = [s for s in attack["steps"] if s["principal"] != external]
    assert len(credentialed) >= 35          # leaked key, three role hops, backdoor key and backdoor console
    for step in credentialed:
        got = found[step["event_id"]]
        assert (got.origin.principal, got.origin.access_key, got.confidence) == (
            attack["origin_principal"], attack["leaked_access_key_id"], "high"), step
    # Anonymous reads of the bucket the attacker made public come from another account's own user: no
    # credential links them to the leaked key, so they must not be (confidently) attributed to it.
    for step in attack["steps"]:
        if step["principal"] == external:
            got = found[step["event_id"]]
            assert (got.basis, got.confidence, got.origin.principal) == ("none", "low", external), step


def test_every_ground_truth_credential_use_has_its_origin(
        attributed: tuple[dict[str, Attribution], dict[str, Any]]) -> None:
    found, truth = attributed
    origin_of_event = {e: a.origin.principal for e, a in found.items() if a.session is not None}
    by_key = {c["access_key_id"]: c for c in truth["credentials"]}
    checked = 0
    for attribution in found.values():
        if attribution.session is not None and attribution.session.access_key_id in by_key:
            credential = by_key[attribution.session.access_key_id]
            assert credential["origin"] in origin_of_event[attribution.event_id], credential
            checked += 1
    assert checked > 500


def test_unattributed_share_is_small(attributed: tuple[dict[str, Attribution], dict[str, Any]]) -> None:
    found, _ = attributed
    bases = Counter(a.basis for a in found.values())
    share = bases["none"] / len(found)
    print(f"\nattribution bases over {len(found)} events: {dict(bases)}; unattributed share {share:.2%}")
    assert share < 0.05


def test_a_clean_trail_raises_no_false_alarms(attributed: tuple[dict[str, Attribution], dict[str, Any]]) -> None:
    """Every key of the synthetic trail is used while valid, and source identities propagate."""
    found, _ = attributed
    flags = Counter(flag for a in found.values() for flag in a.flags)
    assert set(flags) == {"cross-account"}
    reasons = Counter(a.reason for a in found.values() if a.reason is not None)
    assert set(reasons) == {"external-account"}          # the attacker's anonymous reads only


def test_role_account_copies_are_attributed_as_the_callers_copies(sample: Sample) -> None:
    records, indexes, truth = sample
    by_id = {r["eventID"]: r for r in records}
    copies = [c for c in truth["credentials"] if c["role_account_event_id"] is not None]
    assert copies
    for credential in copies:
        caller = attribute(by_id[credential["event_id"]], indexes)
        role_copy = attribute(by_id[credential["role_account_event_id"]], indexes)
        assert role_copy == replace(caller, event_id=credential["role_account_event_id"]), credential
        assert caller.basis != "none", credential


# ---- every issuing call: hand-written records (tests/fixtures/identity) ----------------------------------

IDENTITY_TRAIL = Path(__file__).parents[1] / "fixtures" / "identity" / "issuing-calls.json"
IDENTITY_RECORDS: list[dict[str, Any]] = json.loads(IDENTITY_TRAIL.read_text())["Records"]
IDENTITY_INDEXES = indexes_of(IDENTITY_RECORDS)
MGMT, PROD = "111122223333", "444455556666"
ALICE_MFA = Origin(kind="iam-user", principal=f"arn:aws:iam::{MGMT}:user/alice", access_key="AKIAALICEEXAMPLE0001")
BOB = Origin(kind="iam-user", principal=f"arn:aws:iam::{MGMT}:user/bob", access_key=None)

# (eventID, basis, confidence, origin, chain's issuing events, flags)
IDENTITY_CASES = [
    ("saml-use", "access-key", "high",
     Origin(kind="saml", principal=f"arn:aws:iam::{MGMT}:saml-provider/Okta:alice@example.com", access_key=None),
     ["saml-issue"], ()),
    ("oidc-use", "access-key", "high",
     Origin(kind="web-identity", principal="token.actions.githubusercontent.com:repo:acme/infra-live:ref:refs/heads/main",
            access_key=None), ["oidc-issue"], ()),
    ("token-use", "access-key", "high", ALICE_MFA, ["token-issue"], ()),
    ("ops-issue", "access-key", "high", ALICE_MFA, ["token-issue"], ()),
    ("root-use", "access-key", "high", ALICE_MFA, ["token-issue", "ops-issue", "root-issue"], ("cross-account",)),
    ("fed-use", "access-key", "high",
     Origin(kind="iam-user", principal=f"arn:aws:iam::{MGMT}:user/partner-portal", access_key="AKIAPARTNEREXAMPLE1"),
     ["fed-issue"], ()),
    ("sso-issue", "on-behalf-of", "high",
     Origin(kind="identity-center", access_key=None, principal=(
         f"arn:aws:identitystore::{MGMT}:identitystore/d-9067230000/94482488-3041-7026-18f3-be45837cd0e4")), [], ()),
    ("ec2-issue", "service", "high", Origin(kind="aws-service", principal="ec2.amazonaws.com", access_key=None), [], ()),
    ("ec2-use", "access-key", "high", Origin(kind="aws-service", principal="ec2.amazonaws.com", access_key=None,
                                             resource="i-0123456789abcdef0"), ["ec2-issue"], ()),
    ("lambda-use", "access-key", "high", Origin(kind="aws-service", principal="lambda.amazonaws.com", access_key=None,
                                                resource="orders-handler"), ["lambda-issue"], ()),
    ("xacct-caller-copy", "access-key", "high", ALICE_MFA, ["token-issue", "ops-issue"], ()),
    ("xacct-role-copy", "access-key", "high", ALICE_MFA, ["token-issue", "ops-issue"], ()),
    ("xacct-use", "access-key", "high", ALICE_MFA, ["token-issue", "ops-issue", "xacct-caller-copy"], ("cross-account",)),
    ("console-login", "long-term", "high", BOB, [], ()),
    ("console-use", "long-term", "high", BOB, ["console-login"], ()),
]


@pytest.mark.parametrize("event_id, basis, confidence, origin, chain, flags", IDENTITY_CASES,
                         ids=[c[0] for c in IDENTITY_CASES])
def test_attribute_each_kind_of_session(event_id: str, basis: str, confidence: str, origin: Origin, chain: list[str],
                                        flags: tuple[str, ...]) -> None:
    found = attribute(next(r for r in IDENTITY_RECORDS if r["eventID"] == event_id), IDENTITY_INDEXES)
    assert (found.basis, found.confidence, found.origin, found.flags, found.reason) == (
        basis, confidence, origin, flags, None)
    assert [s.issued_by_event for s in found.chain] == chain
    assert found.session is (found.chain[-1] if chain else None)


def test_cross_account_copies_are_one_hop() -> None:
    auditor = IDENTITY_INDEXES.by_name[(f"arn:aws:iam::{PROD}:role/Auditor", "alice-audit")]
    assert [s.issued_by_event for s in auditor] == ["xacct-caller-copy"]
    assert IDENTITY_INDEXES.by_shared["3b7d5a2e-1c4f-4e8a-9d6b-0a1b2c3d4e5f"].issued_by_event == "xacct-caller-copy"


def _without(record: dict[str, Any], *members: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in members}


# How the role account's copy may be logged: which member it still has to join the caller's copy by.
JOIN_CASES = [
    ("as-logged", (), (), True),
    ("response-not-logged", ("responseElements",), (), True),            # only sharedEventID joins
    ("no-shared-event-id", ("sharedEventID",), ("sharedEventID",), True),  # only the issued key joins
    ("neither", ("responseElements", "sharedEventID"), ("sharedEventID",), False),
]


@pytest.mark.parametrize("role_copy_drops, caller_copy_drops, joined", [c[1:] for c in JOIN_CASES],
                         ids=[c[0] for c in JOIN_CASES])
def test_role_account_copy_joins_the_callers_copy(role_copy_drops: tuple[str, ...], caller_copy_drops: tuple[str, ...],
                                                  joined: bool) -> None:
    drops = {"xacct-role-copy": role_copy_drops, "xacct-caller-copy": caller_copy_drops}
    records = [_without(r, *drops.get(r["eventID"], ())) for r in IDENTITY_RECORDS]
    indexes = indexes_of(records)
    role_copy, caller_copy = (attribute(next(r for r in records if r["eventID"] == i), indexes)
                              for i in ("xacct-role-copy", "xacct-caller-copy"))
    if joined:
        assert role_copy == replace(caller_copy, event_id="xacct-role-copy")
    else:
        assert (role_copy.basis, role_copy.reason, role_copy.origin.principal) == (
            "none", "external-account", f"{MGMT}:AROAOPSADMIN:alice")


# ---- real records (Stratus Red Team; identities link up only within one file) ------------------------------

# (file, record index, basis, confidence, origin kind, origin resource, index of the issuing record or None)
REAL_CASES = [
    ("aws.credential-access.ec2-get-password-data.json", 0, "access-key", "high", "iam-user", None, 31),
    ("aws.discovery.ec2-download-user-data.json", 0, "access-key", "high", "iam-user", None, 7),
    ("aws.persistence.sts-federation-token.json", 1, "access-key", "high", "iam-user", None, 0),
    ("aws.persistence.sts-federation-token.json", 0, "long-term", "high", "iam-user", None, None),
    # Instance credentials used from outside the instance; their issue is not in the file.
    ("aws.credential-access.ec2-steal-instance-credentials.json", 5, "service", "medium", "aws-service",
     "i-786a3A8B5C0d92eF4", None),
    ("aws.initial-access.console-login-without-mfa.json", 0, "long-term", "high", "iam-user", None, None),
]


@pytest.mark.parametrize("name, index, basis, confidence, kind, resource, issued_by", REAL_CASES,
                         ids=[f"{c[0][:-5]}#{c[1]}" for c in REAL_CASES])
def test_attribute_real_records(name: str, index: int, basis: str, confidence: str, kind: str, resource: str | None,
                                issued_by: int | None) -> None:
    records = fixturedata.records_in(fixturedata.STRATUS / name)
    found = attribute(records[index], indexes_of(records))
    assert (found.basis, found.confidence, found.origin.kind, found.origin.resource, found.flags) == (
        basis, confidence, kind, resource, ())
    assert (found.session.issued_by_event if found.session else None) == (
        records[issued_by]["eventID"] if issued_by is not None else None)


# ---- flags and reasons ---------------------------------------------------------------------------------------

AUDIT = "arn:aws:iam::444455556666:role/Audit"
APP = f"arn:aws:iam::{ACCOUNT}:role/app-server"
INSTANCE = "i-0123456789abcdef0"
EXPIRING = assume("x-exp", user(), "ASIAEXP", name="exp",
                  credentials={"accessKeyId": "ASIAEXP", "expiration": "Nov 30, 2024, 9:43:17 AM"})
SI_FIRST = assume("si-1", user(), "ASIASI1", name="si", request={"sourceIdentity": "alice"}, sourceIdentity="alice")
SI_SAME = assume("si-2", role_session("ASIASI1", name="si"), "ASIASI2", name="si2", time="2024-11-30T08:50:00Z",
                 sourceIdentity="alice")
SI_OTHER = assume("si-3", role_session("ASIASI1", name="si"), "ASIASI3", name="si3", time="2024-11-30T08:50:00Z",
                  sourceIdentity="mallory")
CROSS = assume("x-cross", user(), "ASIACROSS", name="audit", role=AUDIT)
ORPHAN = assume("x-orphan", role_session("ASIAUNSEEN", name="gone"), "ASIAORPHAN", name="orphan")
ROLE_COPY_ONLY = assume("x-copy", {"type": "AWSAccount", "principalId": "AROAX:s", "accountId": "999988887777"},
                        "ASIACOPY", name="copy", sharedEventID="shared-copy")
BOB_ARN = f"arn:aws:iam::{ACCOUNT}:user/bob"


def console_login(event_id: str, time: str, outcome: str = "Success") -> dict[str, Any]:
    return event(event_id, user(None, BOB_ARN), "ConsoleLogin", "signin.amazonaws.com", time,
                 responseElements={"ConsoleLogin": outcome}, additionalEventData={"MFAUsed": "No"})


def console_use(created: str) -> dict[str, Any]:
    return event("e", {**user("ASIACONSOLE", BOB_ARN), "sessionContext": {"attributes": {"creationDate": created}}},
                 time="2024-11-30T10:05:00Z")


def used(key: str | None, name: str, time: str = "2024-11-30T09:00:00Z", issuer: str = DEPLOY,
         created: str = T0, **context: Any) -> dict[str, Any]:
    identity = role_session(key, name=name, issuer=issuer, created=created)
    identity["sessionContext"].update(context)
    return event("e", identity, time=time)


# (id, issuing events, event, basis, confidence, session's issuing event or None, flags, reason)
FLAG_CASES = [
    ("expired", [EXPIRING], used("ASIAEXP", "exp", "2024-11-30T10:00:00Z"), "access-key", "high", "x-exp",
     ("expired",), None),
    ("at-expiry-is-valid", [EXPIRING], used("ASIAEXP", "exp", "2024-11-30T09:43:17Z"), "access-key", "high", "x-exp",
     (), None),
    ("expired-by-session-name", [EXPIRING], used(None, "exp", "2024-11-30T10:00:00Z"), "session-name", "medium",
     "x-exp", ("expired",), None),
    ("before-issue", [EXPIRING], used("ASIAEXP", "exp", "2024-11-30T08:00:00Z"), "access-key", "high", "x-exp",
     ("before-issue",), None),
    ("source-identity-kept", [SI_FIRST, SI_SAME], used("ASIASI2", "si2", sourceIdentity="alice"), "access-key",
     "high", "si-2", (), None),
    ("source-identity-changed-by-a-hop", [SI_FIRST, SI_OTHER], used("ASIASI3", "si3"), "access-key", "high", "si-3",
     ("source-identity-changed",), None),
    ("source-identity-changed-in-the-event", [SI_FIRST], used("ASIASI1", "si", sourceIdentity="mallory"),
     "access-key", "high", "si-1", ("source-identity-changed",), None),
    ("cross-account", [CROSS], used("ASIACROSS", "audit", issuer=AUDIT), "access-key", "high", "x-cross",
     ("cross-account",), None),
    ("issuer-not-in-logs", [ORPHAN], used("ASIAORPHAN", "orphan"), "access-key", "high", "x-orphan",
     ("issuer-not-in-logs",), "issuer-not-in-logs"),
    ("only-the-role-accounts-copy", [ROLE_COPY_ONLY], used("ASIACOPY", "copy"), "access-key", "high", "x-copy",
     ("cross-account", "issuer-not-in-logs"), "issuer-not-in-logs"),
    ("ambiguous-session-name", ISSUING[6:8], used(None, "twin", created="2024-11-30T10:00:00Z"), "session-name",
     "low", None, ("ambiguous",), "ambiguous-session-name"),
    ("console-session", [console_login("c-1", "2024-11-30T10:00:00Z")], console_use("2024-11-30T10:00:00Z"),
     "long-term", "high", "c-1", (), None),
    ("console-sign-ins-in-one-second", [console_login("c-1", "2024-11-30T10:00:00Z"),
                                        console_login("c-2", "2024-11-30T10:00:00.500Z")],
     console_use("2024-11-30T10:00:00Z"), "long-term", "high", None, ("ambiguous",), None),
    ("failed-sign-in-opens-no-session", [console_login("c-1", "2024-11-30T10:00:00Z", "Failure")],
     console_use("2024-11-30T10:00:00Z"), "long-term", "high", None, (), None),
    ("instance-profile-not-in-logs", [], used("ASIAGONE", INSTANCE, issuer=APP), "service", "medium", None, (), None),
    ("key-not-issued-in-logs", [], used("ASIANOPE", "nope"), "none", "low", None, (), "key-not-issued-in-logs"),
    ("session-not-in-logs", [], used(None, "nope"), "none", "low", None, (), "session-not-in-logs"),
    ("no-identity", [], event("e", None), "none", "low", None, (), "no-identity"),
    ("external-account", [], event("e", {"type": "AWSAccount", "principalId": "AIDAX", "accountId": "999"}), "none",
     "low", None, (), "external-account"),
    ("unknown-identity", [], event("e", {"type": "Unknown", "principalId": "x"}), "none", "low", None, (),
     "unknown-identity"),
]


@pytest.mark.parametrize("issuing, trail_event, basis, confidence, session, flags, reason", [c[1:] for c in FLAG_CASES],
                         ids=[c[0] for c in FLAG_CASES])
def test_flags_and_reasons(issuing: list[dict[str, Any]], trail_event: dict[str, Any], basis: str, confidence: str,
                           session: str | None, flags: tuple[str, ...], reason: str | None) -> None:
    found = attribute(trail_event, indexes_of(issuing))
    assert (found.basis, found.confidence, found.flags, found.reason) == (basis, confidence, flags, reason)
    assert (found.session.issued_by_event if found.session else None) == session


def test_unknown_issuer_names_what_is_known() -> None:
    orphan = attribute(used("ASIAORPHAN", "orphan"), indexes_of([ORPHAN]))
    assert orphan.origin == Origin(kind="unknown", principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/gone",
                                   access_key=None)
    copy = attribute(used("ASIACOPY", "copy"), indexes_of([ROLE_COPY_ONLY]))
    assert copy.origin == Origin(kind="unknown", principal="999988887777", access_key=None)


def test_instance_profile_by_name_names_the_instance() -> None:
    found = attribute(used("ASIAGONE", INSTANCE, issuer=APP), build_indexes([]))
    assert found.origin == Origin(kind="aws-service", principal="ec2.amazonaws.com", access_key=None,
                                  resource=INSTANCE)


# ---- many service sessions behind one principal ----------------------------------------------------------------

HANDLER = f"arn:aws:iam::{ACCOUNT}:role/orders-handler-role"
LAMBDA_CALLER = {"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}
EC2_CALLER = {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}


def service_sessions(caller: dict[str, Any], role: str, name: str, count: int, spacing: int) -> list[dict[str, Any]]:
    """``count`` AssumeRole calls of one service for one role and session name, ``spacing`` seconds apart."""
    start = timestamps.parse_micros(T0)
    return [assume(f"s-{i}", caller, f"ASIAS{i:04d}", name=name, role=role,
                   time=timestamps.format_micros(start + i * spacing * 1_000_000),
                   caller_address=caller["invokedBy"]) for i in range(count)]


def at(seconds: int) -> str:
    return timestamps.format_micros(timestamps.parse_micros(T0) + seconds * 1_000_000)


LAMBDA_ORIGIN = Origin(kind="aws-service", principal="lambda.amazonaws.com", access_key=None, resource="orders-handler")
# (id, sessions: (caller, role, name, spacing), event, basis, confidence, session, origin)
MANY_CASES = [
    ("same-second-no-key", (LAMBDA_CALLER, HANDLER, "orders-handler", 0), used(None, "orders-handler", issuer=HANDLER),
     "session-name", "low", None, LAMBDA_ORIGIN),
    ("same-second-key", (LAMBDA_CALLER, HANDLER, "orders-handler", 0),
     used("ASIAS0137", "orders-handler", issuer=HANDLER), "access-key", "high", "s-137", LAMBDA_ORIGIN),
    ("spaced-creation-time", (LAMBDA_CALLER, HANDLER, "orders-handler", 600),
     used(None, "orders-handler", issuer=HANDLER, created=at(137 * 600)), "session-name", "medium", "s-137",
     LAMBDA_ORIGIN),
    ("spaced-creation-time-between-issues", (LAMBDA_CALLER, HANDLER, "orders-handler", 600),
     used(None, "orders-handler", issuer=HANDLER, created=at(137 * 600 + 300)), "none", "low", None,
     Origin(kind="unknown", principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/orders-handler-role/orders-handler",
            access_key=None)),
    ("instance-refreshes-unknown-key", (EC2_CALLER, APP, INSTANCE, 3600),
     used("ASIAOTHER", INSTANCE, issuer=APP, created=at(137 * 3600 + 1800)), "service", "medium", None,
     Origin(kind="aws-service", principal="ec2.amazonaws.com", access_key=None, resource=INSTANCE)),
    ("instance-refreshes-key", (EC2_CALLER, APP, INSTANCE, 3600), used("ASIAS0137", INSTANCE, issuer=APP),
     "access-key", "high", "s-137", Origin(kind="aws-service", principal="ec2.amazonaws.com", access_key=None,
                                           resource=INSTANCE)),
]


@pytest.mark.parametrize("spec, trail_event, basis, confidence, session, origin", [c[1:] for c in MANY_CASES],
                         ids=[c[0] for c in MANY_CASES])
def test_hundreds_of_service_sessions_behind_one_principal(spec: tuple[Any, ...], trail_event: dict[str, Any],
                                                           basis: str, confidence: str, session: str | None,
                                                           origin: Origin) -> None:
    """Sessions sharing one principalId lower the confidence; they never give a confident wrong link."""
    indexes = indexes_of(service_sessions(*spec[:3], count=300, spacing=spec[3]))
    found = attribute(trail_event, indexes)
    assert (found.basis, found.confidence, found.origin) == (basis, confidence, origin)
    assert (found.session.issued_by_event if found.session else None) == session


# ---- input order and duplicates ---------------------------------------------------------------------------------

def shuffled_with_duplicates(items: list[Any], rng: random.Random) -> list[Any]:
    again = items + rng.sample(items, len(items) // 3)
    rng.shuffle(again)
    return again


@pytest.mark.parametrize("seed", range(3))
def test_indexes_and_results_do_not_depend_on_input_order(sample: Sample, seed: int) -> None:
    records, indexes, _ = sample
    rng = random.Random(seed)
    sessions = [s for r in records for s in sessions_from(r)]
    grants = [g for r in records for g in grants_from(r)]
    again = build_indexes(shuffled_with_duplicates(sessions, rng), shuffled_with_duplicates(grants, rng))
    assert again == indexes
    picked = rng.sample(records, 400)
    assert [attribute(r, again) for r in picked] == [attribute(r, indexes) for r in picked]


@pytest.mark.parametrize("seed", range(5))
def test_records_sharing_an_event_id_index_the_same_in_any_order(seed: int) -> None:
    """The AWS docs examples repeat an eventID with different content; the indexes still do not depend on order."""
    records = [r for r in fixturedata.records_in(fixturedata.AWSDOCS_EXAMPLES) if "eventID" in r]
    sessions = [s for r in records for s in sessions_from(r)]
    assert len({s.issued_by_event for s in sessions}) < len(sessions)
    again = build_indexes(shuffled_with_duplicates(sessions, random.Random(seed)))
    assert again == build_indexes(sessions)


def test_conflicting_copies_of_a_grant_index_the_same_in_any_order() -> None:
    """Copies of one CreateAccessKey/CreateLoginProfile that differ in the caller are equal Grants (the creator is
    not compared): which one the indexes keep must still not depend on the order worker processes deliver them."""
    originals = [g for e in ISSUING[-3:-1] for g in grants_from(e)]
    tampered = [replace(g, creator={**g.creator, "userIdentity": user()}) for g in originals]
    first, second = build_indexes([], originals + tampered), build_indexes([], tampered + originals)
    assert [g.creator for g in first.grants_by_key.values()] == [g.creator for g in second.grants_by_key.values()]
    assert ([g.creator for gs in first.grants_by_user.values() for g in gs]
            == [g.creator for gs in second.grants_by_user.values() for g in gs])


# ---- the pipeline's view: Attributor, light events ---------------------------------------------------------------

def identity_key(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record.get("userIdentity"), option=orjson.OPT_SORT_KEYS)


def pipeline_view(record: dict[str, Any]) -> dict[str, Any]:
    """What the pipeline passes: the original for the events that need it, else the light view."""
    return record if needs_original(record.get("eventSource"), record.get("eventName")) else light_view(record)


@pytest.mark.parametrize("seed", range(2))
def test_attributor_equals_attribute_on_the_sample(sample: Sample, seed: int) -> None:
    records, indexes, _ = sample
    order = records[:]
    random.Random(seed).shuffle(order)
    attributor = Attributor(indexes)
    for record in order + order:            # the second round hits the cache for every identity
        view = pipeline_view(record)
        expected = attribute(record, indexes)
        assert attributor.attribute(view, cache_key=identity_key(record)) == expected
        assert attributor.attribute(view) == expected


def test_attributor_cache_hit_needs_only_id_time_and_identity(sample: Sample) -> None:
    """The pipeline rebuilds later events of a known identity from eventID, eventTime and userIdentity alone."""
    records, indexes, _ = sample
    attributor = Attributor(indexes)
    for record in records:
        if needs_original(record.get("eventSource"), record.get("eventName")):
            continue
        light = light_view(record)
        reduced = {"eventID": light["eventID"], "eventTime": light["eventTime"], "userIdentity": light["userIdentity"]}
        assert attributor.attribute(reduced, cache_key=identity_key(record)) == attribute(record, indexes)


# Identities whose answers depend on the event's time: created keys and passwords, expiry, issue time.
POOL_RECORDS = [*ISSUING, *IDENTITY_RECORDS, EXPIRING, SI_FIRST, SI_OTHER, CROSS, ORPHAN,
                console_login("c-1", "2024-11-30T10:00:00Z")]
POOL_INDEXES = indexes_of(POOL_RECORDS)
POOL = [json.loads(identity) for identity in sorted({json.dumps(e["userIdentity"], sort_keys=True) for e in [
    *POOL_RECORDS, *(c[1] for c in CASES), *(c[2] for c in FLAG_CASES), console_use("2024-11-30T10:00:00Z"),
    event("e", user("AKIABACKDOOR", BACKDOOR)), event("e", user(None, BACKDOOR))]})]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(POOL) - 1), st.integers(-3 * 3600, 30 * 3600)), max_size=30))
def test_attributor_equals_attribute_for_any_sequence(draws: list[tuple[int, int]]) -> None:
    attributor = Attributor(POOL_INDEXES)
    for n, (which, seconds) in enumerate(draws):
        trail_event = {"eventID": f"h-{n}", "eventTime": at(seconds), "userIdentity": POOL[which]}
        assert attributor.attribute(trail_event, cache_key=which) == attribute(trail_event, POOL_INDEXES)


def test_attributor_recomputes_the_time_dependent_parts() -> None:
    attributor = Attributor(POOL_INDEXES)
    backdoor = {"eventID": "b", "userIdentity": user(None, BACKDOOR)}
    before = attributor.attribute({**backdoor, "eventTime": "2024-11-30T09:00:00Z"}, cache_key="backdoor")
    after = attributor.attribute({**backdoor, "eventTime": "2024-11-30T12:00:00Z"}, cache_key="backdoor")
    assert (before.origin.principal, after.origin) == (BACKDOOR, IAM_ALICE)
    expiring = {"eventID": "x", "userIdentity": used("ASIAEXP", "exp")["userIdentity"]}
    assert [attributor.attribute({**expiring, "eventTime": t}, cache_key="exp").flags
            for t in ("2024-11-30T08:00:00Z", "2024-11-30T09:00:00Z", "2024-11-30T10:00:00Z")] == [
        ("before-issue",), (), ("expired",)]


NEEDS_ORIGINAL_CASES = [
    ("sts.amazonaws.com", "AssumeRole", True),
    ("sts.amazonaws.com", "AssumeRoleWithSAML", True),
    ("sso.amazonaws.com", "GetRoleCredentials", True),
    ("signin.amazonaws.com", "ConsoleLogin", True),
    ("iam.amazonaws.com", "CreateAccessKey", True),
    ("iam.amazonaws.com", "UpdateLoginProfile", True),
    ("iam.amazonaws.com", "CreateUser", False),
    ("signin.amazonaws.com", "CheckMfa", False),
    ("sts.amazonaws.com", "GetCallerIdentity", False),
    ("s3.amazonaws.com", "GetObject", False),
    (None, None, False),
]


@pytest.mark.parametrize("source, name, expected", NEEDS_ORIGINAL_CASES, ids=[f"{c[0]}:{c[1]}" for c in NEEDS_ORIGINAL_CASES])
def test_needs_original(source: str | None, name: str | None, expected: bool) -> None:
    assert needs_original(source, name) is expected


def test_light_view_keeps_only_the_columns() -> None:
    record = next(r for r in IDENTITY_RECORDS if r["eventID"] == "ec2-use")
    assert light_view(record) == {
        "eventID": "ec2-use", "eventTime": "2024-11-30T08:41:00Z", "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject", "recipientAccountId": PROD, "awsRegion": "eu-west-1", "sourceIPAddress": "10.0.1.23",
        "userAgent": "aws-sdk-java/2.20.1",
        "userIdentity": {
            "type": "AssumedRole", "arn": f"arn:aws:sts::{PROD}:assumed-role/app-server/{INSTANCE}", "accountId": PROD,
            "accessKeyId": "ASIAEC2EXAMPLE00001", "principalId": f"AROAAPPSERVER:{INSTANCE}",
            "sessionContext": {
                "attributes": {"mfaAuthenticated": "false", "creationDate": "2024-11-30T08:40:00Z"},
                "sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{PROD}:role/app-server", "accountId": PROD,
                                  "principalId": "AROAAPPSERVER", "userName": "app-server"}}}}


def test_light_view_renders_times_as_the_store() -> None:
    record = event("e", role_session("ASIAONE", created="2024-11-30T09:43:17+01:00"), time="2024-11-30T08:43:17.250Z")
    light = light_view(record)
    assert light["eventTime"] == "2024-11-30T08:43:17.250000Z"
    assert light["userIdentity"]["sessionContext"]["attributes"]["creationDate"] == "2024-11-30T08:43:17Z"


def assert_light_view_suffices(records: list[Any], indexes: Indexes) -> int:
    """attribute(light_view(e)) == attribute(e) for every event not needing its original; returns how many."""
    checked = 0
    for record in records:
        if not isinstance(record, dict):
            continue
        if list(sessions_from(record)) or list(grants_from(record)):
            assert needs_original(record.get("eventSource"), record.get("eventName")), record["eventID"]
            continue
        if needs_original(record.get("eventSource"), record.get("eventName")):
            continue
        assert attribute(light_view(record), indexes) == attribute(record, indexes), record.get("eventID")
        checked += 1
    return checked


def test_light_view_suffices_on_the_sample(sample: Sample) -> None:
    records, indexes, _ = sample
    assert assert_light_view_suffices(records, indexes) > 1000


def test_light_view_suffices_on_the_fixtures() -> None:
    checked = assert_light_view_suffices(IDENTITY_RECORDS, IDENTITY_INDEXES)
    for path in fixturedata.fixture_files():
        records = [r for r in fixturedata.records_in(path) if not isinstance(r, dict) or "eventID" in r]
        checked += assert_light_view_suffices(records, indexes_of(records))
    assert checked > 250


# ---- summary --------------------------------------------------------------------------------------------------

def test_summary_of_the_identity_trail() -> None:
    found = [attribute(r, IDENTITY_INDEXES) for r in IDENTITY_RECORDS]
    summary = summarize(found, [s for r in IDENTITY_RECORDS for s in sessions_from(r)])
    assert summary.as_dict() == {
        "sessions": 11,                  # 12 issuing records; the cross-account copies are one hop
        "sessions_by_via": {"AssumeRole": 4, "AssumeRoleWithSAML": 1, "AssumeRoleWithWebIdentity": 1,
                            "AssumeRoot": 1, "ConsoleLogin": 1, "GetFederationToken": 1, "GetRoleCredentials": 1,
                            "GetSessionToken": 1},
        "keys_issued": 9, "keys_used": 9, "events": 22,
        "events_by_basis": {"access-key": 12, "long-term": 6, "none": 1, "on-behalf-of": 1, "service": 2},
        "events_by_confidence": {"high": 21, "low": 1},
        "temporary_unattributed": 0,
        "reasons": {"unknown-identity": 1},          # the failed sign-in names no ARN
        "flags": {"cross-account": 2},
    }


def test_summary_counts_temporary_credentials_left_unattributed() -> None:
    found = [attribute(c[2], indexes_of(c[1])) for c in FLAG_CASES]
    summary = summarize(found)
    reasons = Counter(c[-1] for c in FLAG_CASES if c[-1] is not None)
    assert summary.reasons == dict(sorted(reasons.items()))
    # issuer-not-in-logs comes with a confident link to the session: it is not "left unattributed".
    assert summary.temporary_unattributed == sum(n for r, n in reasons.items()
                                                 if r in TEMPORARY_REASONS and r != "issuer-not-in-logs")


@pytest.mark.parametrize("seed", range(3))
def test_summaries_merge_in_any_grouping(sample: Sample, seed: int) -> None:
    records, indexes, _ = sample
    found = [attribute(r, indexes) for r in records]
    sessions = [s for r in records for s in sessions_from(r)]
    whole = summarize(found, sessions)
    rng = random.Random(seed)
    # Every event goes to exactly one part; sessions may be seen by several parts (one per file that holds them).
    slices = [found[i::4] for i in range(4)]
    parts = [summarize(slices[i], [*rng.sample(sessions, len(sessions) // 2), *sessions[i::4]]) for i in range(4)]
    left = parts[0].merged(parts[1]).merged(parts[2]).merged(parts[3])
    right = parts[3].merged(parts[2].merged(parts[1].merged(parts[0])))
    assert left == right == whole == AttributionSummary().merged(whole) == whole.merged(AttributionSummary())
    assert whole.keys_used <= whole.keys_issued
    assert json.loads(json.dumps(whole.as_dict()))["events"] == len(records)
