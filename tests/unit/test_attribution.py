"""Tests of trailbeam.attribution: event -> session, chain and origin, with basis and confidence."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from typing import Any

import pytest

from trailbeam.attribution import Attribution, Origin, attribute, build_indexes, grants_from
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
INDEXES = build_indexes([s for e in ISSUING for s in sessions_from(e)], [g for e in ISSUING for g in grants_from(e)])
BACKDOOR = f"arn:aws:iam::{ACCOUNT}:user/backdoor"

IAM_ALICE = Origin(kind="iam-user", principal=ALICE, access_key="AKIAALICE")
SAML_BOB = Origin(kind="saml", principal=f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta:bob@example.com",
                  access_key=None)
GITHUB = Origin(kind="web-identity", principal="token.actions.githubusercontent.com:repo:acme/app:ref:refs/heads/main",
                access_key=None)
LAMBDA = Origin(kind="aws-service", principal="lambda.amazonaws.com", access_key=None)
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

@pytest.fixture(scope="module")
def attributed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Attribution], dict[str, Any]]:
    root = tmp_path_factory.mktemp("attribution-trail")
    write_sample(root, events=1500, seed=4)
    records = [record for path in sorted(root.glob("AWSLogs/**/*.json.gz"))
               for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]]
    indexes = build_indexes([s for r in records for s in sessions_from(r)],
                            [g for r in records for g in grants_from(r)])
    return {r["eventID"]: attribute(r, indexes) for r in records}, json.loads((root / "ground-truth.json").read_text())


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
