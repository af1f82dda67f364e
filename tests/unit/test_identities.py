"""Tests of trailbeam.identities on a hand-built identity dataset.

The story: alice's long-term key assumes Deploy, then Infra, then Org in the management account (a
cross-account hop, logged in both accounts). From Org she creates a backdoor user's key, which later
assumes Ops. Bob also assumes Deploy (a role reached by two origins), with the same session name as
alice. A Ghost session whose issuer is not in the logs assumes Audit (an unlinked session).
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from trailbeam import avro, avrofile, errors, identitystore, timestamps
from trailbeam.attribution import Grant
from trailbeam.identities import activity, event_in, lineage, overview, who_assumed
from trailbeam.sessions import Session
from trailbeam.usage import CredentialUse

PROD, MGMT = "111122223333", "444455556666"
ALICE, BOB = f"arn:aws:iam::{PROD}:user/alice", f"arn:aws:iam::{PROD}:user/bob"
BACKDOOR = f"arn:aws:iam::{MGMT}:user/backdoor"
GHOST = f"arn:aws:sts::{PROD}:assumed-role/Ghost/x"


def at(hhmm: str) -> int:
    return timestamps.parse_micros(f"2024-11-30T{hhmm}:00Z")


def role(name: str, account: str = PROD) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def assumed(name: str, account: str = PROD, session_name: str = "s") -> str:
    return f"arn:aws:sts::{account}:assumed-role/{name}/{session_name}"


def session(event_id: str, key: str | None, role_name: str, caller_arn: str | None, caller_key: str | None,
            when: str, *, account: str = PROD, role_account: str | None = None, caller_type: str = "AssumedRole",
            name: str = "s", **more: Any) -> Session:
    """An AssumeRole logged in ``account``, of a role in ``role_account`` (default: the same)."""
    role_account = role_account or account
    return Session(issued_by_event=event_id, via="AssumeRole", access_key_id=key,
                   role_arn=role(role_name, role_account), session_name=name,
                   assumed_arn=assumed(role_name, role_account, name), caller_arn=caller_arn, caller_key=caller_key,
                   caller_type=caller_type, source_identity=None, issued_at=at(when), expires_at=None,
                   account=account, source_ip="198.51.100.7", user_agent="aws-cli/2", **more)


S1 = session("e-s1", "ASIADEPLOY", "Deploy", ALICE, "AKIAALICE", "10:00", caller_type="IAMUser", name="deploy",
             caller_account=PROD)
S2 = session("e-s2", "ASIAINFRA", "Infra", assumed("Deploy", session_name="deploy"), "ASIADEPLOY", "10:05",
             caller_account=PROD)
S3 = session("e-s3", "ASIAORG", "Org", assumed("Infra"), "ASIAINFRA", "10:10", account=PROD,  # caller's copy
             role_account=MGMT, shared_event_id="shared-3", caller_account=PROD, cross_account=True)
S3_COPY = session("e-s3-copy", "ASIAORG", "Org", None, None, "10:10", account=MGMT, caller_type="AWSAccount",
                  shared_event_id="shared-3", caller_account=PROD, cross_account=True)
S4 = session("e-s4", "ASIABOBDEPLOY", "Deploy", BOB, "AKIABOB", "11:00", caller_type="IAMUser", name="deploy",
             caller_account=PROD)
S5 = session("e-s5", "ASIAOPS", "Ops", BACKDOOR, "AKIABACKDOOR", "12:00", account=MGMT, caller_type="IAMUser",
             caller_account=MGMT)
S6 = session("e-s6", "ASIAAUDIT", "Audit", GHOST, "ASIAGHOST", "13:00", caller_account=PROD)
SESSIONS = [S6, S5, S4, S3_COPY, S3, S2, S1]                 # any order
GRANT = Grant(event_id="g1", kind="access-key", account=MGMT, user_name="backdoor", access_key_id="AKIABACKDOOR",
              granted_at=at("10:20"), creator={})


def record(event_id: str, when: str, name: str, *, arn: str | None, key: str | None, chain: tuple[Session, ...] = (),
           origin: tuple[str, str, str | None] = ("iam-user", ALICE, "AKIAALICE"), basis: str = "access-key",
           confidence: str = "high", created_by: tuple[str, ...] = (), account: str = PROD, **more: Any
           ) -> dict[str, Any]:
    """An AttributedEvent as fastavro reads it back."""
    base = {"eventTime": timestamps.to_datetime(at(when)), "eventID": event_id, "eventName": name,
            "eventSource": "sts.amazonaws.com", "awsRegion": "us-east-1", "recipientAccountId": account,
            "errorCode": None, "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2",
            "identityType": "IAMUser" if key and key.startswith("AKIA") else "AssumedRole", "identityArn": arn,
            "identityAccountId": account, "accessKeyId": key, "principalId": None, "userName": None,
            "basis": basis, "confidence": confidence, "reason": None, "flags": [], "originKind": origin[0],
            "originPrincipal": origin[1], "originAccessKey": origin[2], "originResource": None,
            "session": identitystore.session_record(chain[-1]) if chain else None,
            "chain": [identitystore.session_record(s) for s in chain], "createdBy": list(created_by)}
    return {**base, **more}


ISSUERS = {r["eventID"]: r for r in (
    record("e-s1", "10:00", "AssumeRole", arn=ALICE, key="AKIAALICE", basis="long-term"),
    record("e-s2", "10:05", "AssumeRole", arn=S1.assumed_arn, key="ASIADEPLOY", chain=(S1,)),
    record("e-s3", "10:10", "AssumeRole", arn=S2.assumed_arn, key="ASIAINFRA", chain=(S1, S2)),
    record("e-s3-copy", "10:10", "AssumeRole", arn=None, key=None, chain=(S1, S2), account=MGMT),
    record("g1", "10:20", "CreateAccessKey", arn=S3.assumed_arn, key="ASIAORG", chain=(S1, S2, S3), account=MGMT),
    record("e-s4", "11:00", "AssumeRole", arn=BOB, key="AKIABOB", basis="long-term", origin=("iam-user", BOB, "AKIABOB")),
    record("e-s5", "12:00", "AssumeRole", arn=BACKDOOR, key="AKIABACKDOOR", chain=(S1, S2, S3), created_by=("g1",),
           account=MGMT),
    record("e-s6", "13:00", "AssumeRole", arn=GHOST, key="ASIAGHOST", basis="none", confidence="low",
           origin=("unknown", GHOST, None), reason="key-not-issued-in-logs"),
)}
EVENTS = [
    record("ev-late", "12:30", "ListUsers", arn=BACKDOOR, key="AKIABACKDOOR", chain=(S1, S2, S3), created_by=("g1",),
           account=MGMT),
    record("ev-b", "10:15", "ListBuckets", arn=S3.assumed_arn, key="ASIAORG", chain=(S1, S2, S3), account=MGMT),
    record("ev-a", "10:15", "GetCallerIdentity", arn=S3.assumed_arn, key="ASIAORG", chain=(S1, S2, S3), account=MGMT),
    record("ev-first", "09:59", "GetCallerIdentity", arn=ALICE, key="AKIAALICE", basis="long-term"),
    record("ev-bob", "11:05", "ListRoles", arn=assumed("Deploy", session_name="deploy"), key="ASIABOBDEPLOY",
           chain=(S4,), origin=("iam-user", BOB, "AKIABOB")),
]
BY_ID = {r["eventID"]: r for r in EVENTS}
ORG_CHAIN = f"{PROD}:user/alice -> {PROD}:role/Deploy -> {PROD}:role/Infra -> {MGMT}:role/Org"


# ---- who_assumed -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("role_arn", "window", "expected"), [
    (role("Deploy"), {}, [("e-s1", ALICE), ("e-s4", BOB)]),
    (assumed("Deploy", session_name="anything"), {}, [("e-s1", ALICE), ("e-s4", BOB)]),
    (f"arn:aws:iam::{PROD}:role/team/Deploy", {}, [("e-s1", ALICE), ("e-s4", BOB)]),
    (role("deploy"), {}, []),
    (role("Deploy", MGMT), {}, []),
    (role("Deploy"), {"start": at("10:30")}, [("e-s4", BOB)]),
    (role("Deploy"), {"end": at("11:00")}, [("e-s1", ALICE)]),
    (role("Deploy"), {"start": at("10:00"), "end": at("10:00")}, []),
    (role("Org", MGMT), {}, [("e-s3", ALICE)]),
    (role("Ops", MGMT), {}, [("e-s5", ALICE)]),
    (role("Audit"), {}, [("e-s6", GHOST)]),
], ids=["role-arn", "assumed-role-arn", "path-ignored", "name-case-sensitive", "other-account", "start",
        "end-exclusive", "empty-window", "cross-account-copies-once", "through-created-key", "unlinked"])
def test_who_assumed(role_arn: str, window: dict[str, int], expected: list[tuple[str, str]]) -> None:
    found = who_assumed(role_arn, SESSIONS, ISSUERS, **window)
    assert [(r.event_id, r.origin_principal) for r in found] == expected


def test_who_assumed_describes_the_chain_and_the_issuing_call() -> None:
    [org] = who_assumed(role("Org", MGMT), SESSIONS, ISSUERS)
    assert (org.chain, org.cross_account, org.basis, org.confidence, org.access_key_id) == (
        ORG_CHAIN, True, "access-key", "high", "ASIAORG")
    [ops] = who_assumed(role("Ops", MGMT), SESSIONS, ISSUERS, grants=[GRANT])
    assert ops.chain == f"{ORG_CHAIN} -> {MGMT}:user/backdoor [CreateAccessKey] -> {MGMT}:role/Ops"
    [ops] = who_assumed(role("Ops", MGMT), SESSIONS, ISSUERS)
    assert ops.chain == f"{ORG_CHAIN} -> [CreateAccessKey] -> {MGMT}:role/Ops"


def test_who_assumed_rejects_other_arns() -> None:
    with pytest.raises(errors.InputError, match="not a role ARN"):
        who_assumed(ALICE, SESSIONS, ISSUERS)


# ---- lineage ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("target", "kind", "expected"), [
    ("ASIAORG", "access-key", [(ALICE, "AKIAALICE", ["e-s1", "e-s2", "e-s3"])]),
    ("ASIAOPS", "access-key", [(ALICE, "AKIAALICE", ["e-s1", "e-s2", "e-s3", "g1", "e-s5"])]),
    ("AKIABACKDOOR", "access-key", [(ALICE, "AKIAALICE", ["e-s1", "e-s2", "e-s3", "g1"])]),
    ("AKIAALICE", "access-key", [(ALICE, "AKIAALICE", [])]),
    (assumed("Deploy", session_name="deploy"), "session-arn",
     [(ALICE, "AKIAALICE", ["e-s1"]), (BOB, "AKIABOB", ["e-s4"])]),
    (assumed("Org", MGMT), "session-arn", [(ALICE, "AKIAALICE", ["e-s1", "e-s2", "e-s3"])]),
    ("ev-b", "event", [(ALICE, "AKIAALICE", ["e-s1", "e-s2", "e-s3", "ev-b"])]),
    ("ev-late", "event", [(ALICE, "AKIAALICE", ["e-s1", "e-s2", "e-s3", "g1", "ev-late"])]),
    ("e-s2", "event", [(ALICE, "AKIAALICE", ["e-s1", "e-s2"])]),
    ("e-s6", "event", [(GHOST, None, ["e-s6"])]),
], ids=["session-key", "session-from-created-key", "created-key", "long-term-key", "session-arn-two-origins",
        "cross-account-session-arn", "event", "event-through-grant", "issuing-event", "unlinked-event"])
def test_lineage(target: str, kind: str, expected: list[tuple[str, str | None, list[str]]]) -> None:
    found = lineage(target, SESSIONS, ISSUERS, BY_ID.get, grants=[GRANT])
    assert (found.target, found.kind) == (target, kind)
    assert [(t.origin_principal, t.origin_access_key, [h.event_id for h in t.hops]) for t in found.traces] == expected


def test_lineage_hops_carry_their_evidence() -> None:
    [trace] = lineage("ev-late", SESSIONS, ISSUERS, BY_ID.get, grants=[GRANT]).traces
    relations = [(h.relation, h.call, h.caller, h.target, h.key) for h in trace.hops]
    assert relations == [
        ("issued", "AssumeRole", ALICE, role("Deploy"), "ASIADEPLOY"),
        ("issued", "AssumeRole", assumed("Deploy", session_name="deploy"), role("Infra"), "ASIAINFRA"),
        ("issued", "AssumeRole", assumed("Infra"), role("Org", MGMT), "ASIAORG"),
        ("granted", "CreateAccessKey", S3.assumed_arn, BACKDOOR, "AKIABACKDOOR"),
        ("call", "ListUsers", BACKDOOR, None, "AKIABACKDOOR"),
    ]
    assert [(h.basis, h.confidence) for h in trace.hops[:2]] == [("long-term", "high"), ("access-key", "high")]
    assert trace.hops[0].time == at("10:00") and trace.hops[0].source_ip == "198.51.100.7"


def test_lineage_without_grants_still_names_the_granting_call() -> None:
    [trace] = lineage("ev-late", SESSIONS, ISSUERS, BY_ID.get).traces
    granted = trace.hops[3]
    assert (granted.relation, granted.event_id, granted.call, granted.target) == ("granted", "g1", "CreateAccessKey",
                                                                                  None)


@pytest.mark.parametrize("target", ["ASIANOSUCHKEY", assumed("Nope"), "no-such-event"],
                         ids=["key", "session-arn", "event-id"])
def test_lineage_of_an_unknown_target_is_an_input_error(target: str) -> None:
    with pytest.raises(errors.InputError, match="is not"):
        lineage(target, SESSIONS, ISSUERS, BY_ID.get, grants=[GRANT])


# ---- activity --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("principal", "window", "expected"), [
    (ALICE, {}, ["ev-first", "ev-a", "ev-b", "ev-late"]),
    ("AKIAALICE", {}, ["ev-first", "ev-a", "ev-b", "ev-late"]),
    ("ASIAORG", {}, ["ev-a", "ev-b"]),
    (S3.assumed_arn, {}, ["ev-a", "ev-b"]),
    (BACKDOOR, {}, ["ev-late"]),
    (BOB, {}, ["ev-bob"]),
    (ALICE, {"start": at("10:15"), "end": at("12:30")}, ["ev-a", "ev-b"]),
    ("nobody", {}, []),
], ids=["origin", "origin-key", "session-key", "session-arn", "identity-arn", "other-origin", "window", "none"])
def test_activity(principal: str, window: dict[str, int], expected: list[str]) -> None:
    assert [a.event_id for a in activity(principal, EVENTS, **window)] == expected


def test_activity_rows_name_the_last_hop() -> None:
    [row] = activity("ASIABOBDEPLOY", EVENTS)
    assert (row.time, row.event_name, row.credential, row.session_name, row.role_arn, row.basis) == (
        at("11:05"), "ListRoles", "ASIABOBDEPLOY", "deploy", role("Deploy"), "access-key")


# ---- overview --------------------------------------------------------------------------------------------

USES = [CredentialUse(credential=key, principal_arn=None, account=PROD, source_ip=None, user_agent=None,
                      origin_kind="iam-user", origin_principal=principal, count=count, errors=0,
                      first_seen=at(first), last_seen=at(last), evidence=())
        for key, principal, count, first, last in (("AKIAALICE", ALICE, 3, "09:59", "10:00"),
                                                    ("ASIAORG", ALICE, 7, "10:15", "10:16"),
                                                    ("AKIABOB", BOB, 1, "11:00", "11:00"))]


def test_overview() -> None:
    found = overview(SESSIONS, ISSUERS, USES, {"run": "r1"})
    assert found["summary"] == {"run": "r1"}
    assert [(o["principal"], o["sessions"], o["events"], o["first"], o["last"]) for o in found["origins"]] == [
        (ALICE, 4, 10, "2024-11-30T09:59:00Z", "2024-11-30T12:00:00Z"),
        (BOB, 1, 1, "2024-11-30T11:00:00Z", "2024-11-30T11:00:00Z"),
        (GHOST, 1, 0, "2024-11-30T13:00:00Z", "2024-11-30T13:00:00Z"),
    ]
    assert found["roles"][0] == {"role": role("Deploy"), "sessions": 2, "origins": 2}
    assert found["cross_account"] == [{"from": PROD, "to": MGMT, "role": role("Org", MGMT), "sessions": 1}]
    longest = found["longest_chains"][0]
    assert (longest["length"], longest["event_id"]) == (5, "e-s5")
    assert [c["length"] for c in found["longest_chains"]] == [5, 3, 2, 1, 1, 1]
    assert [(u["event_id"], u["reason"]) for u in found["unlinked_sessions"]] == [("e-s6", "key-not-issued-in-logs")]


def test_overview_does_not_depend_on_input_order() -> None:
    assert overview(SESSIONS, ISSUERS, USES, {}) == overview(SESSIONS[::-1], ISSUERS, USES[::-1], {})


# ---- finding an event in an attributed file --------------------------------------------------------------

def test_event_in_finds_the_block_that_holds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(avrofile, "BLOCK_BYTES", 1)          # one record per block
    out = io.BytesIO()
    ordered = sorted(EVENTS, key=lambda r: (r["eventTime"], r["eventID"]))
    avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.ATTRIBUTED),
                             records=[avro.encode(avro.ATTRIBUTED, r) for r in ordered], seed="t")
    data = out.getvalue()
    assert len(avrofile.read_container(data).blocks) == len(EVENTS)
    found = event_in(data, "ev-bob")
    assert found is not None and found["eventID"] == "ev-bob" and found["chain"][0]["issuedByEvent"] == "e-s4"
    assert found["eventTime"] == BY_ID["ev-bob"]["eventTime"]
    # "g1" occurs in ev-late's createdBy but is no event of the file.
    assert event_in(data, "g1") is None and event_in(data, "absent") is None
