"""Tests of trailbeam.signals: each detector's positive and negative cases, evidence, ordering, real records."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from typing import Any

import pytest

import fixturedata
from trailbeam import signals, timestamps
from trailbeam.sessions import Session, sessions_from
from trailbeam.signals import DETECTORS, MAX_EVIDENCE, Signal, detect
from trailbeam.usage import CredentialUse, use_of

HOUR = 3_600_000_000
T0 = timestamps.parse_micros("2024-11-30T08:00:00Z")
A1, A2, A3 = "111122223333", "222233334444", "333344445555"
USER = f"arn:aws:iam::{A1}:user/alice"
CLI = "aws-cli/2.15.30"


def role(name: str, account: str = A1) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def assumed(name: str, account: str = A1) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{name}/s"


def session(key: str = "ASIAONE", **overrides: Any) -> Session:
    """An AssumeRole of role Deploy by alice's long-term key, from 192.0.2.10 with the CLI."""
    fields: dict[str, Any] = dict(
        issued_by_event=f"issue-{key}", via="AssumeRole", access_key_id=key, role_arn=role("Deploy"),
        session_name="s", assumed_arn=assumed("Deploy"), caller_arn=USER, caller_key="AKIAALICE",
        caller_type="IAMUser", source_identity=None, issued_at=T0, expires_at=T0 + HOUR, account=A1,
        source_ip="192.0.2.10", user_agent=CLI)
    fields.update(overrides)
    return Session(**fields)


def hop(key: str, caller: Session, role_name: str, account: str, at: int) -> Session:
    """A session issued by ``caller``'s key (role chaining), cross-account as sessions.py would mark it."""
    caller_account = (caller.assumed_arn or "").split(":")[4]
    return session(key, caller_key=caller.access_key_id, caller_arn=caller.assumed_arn, caller_type="AssumedRole",
                   role_arn=role(role_name, account), assumed_arn=assumed(role_name, account), issued_at=at,
                   caller_account=caller_account, cross_account=caller_account != account)


def use(credential: str = "ASIAONE", ip: str | None = "192.0.2.10", ua: str | None = CLI, at: int = T0 + 1,
        *, last: int | None = None, events: tuple[str, ...] = ()) -> CredentialUse:
    evidence = tuple((at + i, e) for i, e in enumerate(events or (f"use-{credential}-{ip}-{ua}-{at}",)))
    return CredentialUse(credential=credential, principal_arn=USER, account=A1, source_ip=ip, user_agent=ua,
                         origin_kind="iam-user", origin_principal=USER, count=len(evidence), errors=0,
                         first_seen=at, last_seen=last if last is not None else evidence[-1][0],
                         evidence=evidence)


def of_kind(found: list[Signal], kind: str) -> list[Signal]:
    return [s for s in found if s.kind == kind]


# ---- session-key-moved ---------------------------------------------------------------------------------

MOVED_CASES = [
    # (id, session overrides, uses of ASIAONE as (ip, ua), expected severities)
    ("same-place", {}, [("192.0.2.10", CLI)], []),
    ("same-slash-24", {}, [("192.0.2.200", CLI)], []),
    ("other-slash-24", {}, [("192.0.3.10", CLI)], ["high"]),
    ("ip-and-agent", {}, [("198.51.100.7", "boto3/1.34"), ("192.0.2.10", "curl/8")], ["high"]),
    ("agent-only", {}, [("192.0.2.11", "boto3/1.34")], ["low"]),
    ("obtained-by-identity-center", {"via": "AssumeRoleWithSAML", "source_ip": "54.87.240.214",
                                     "user_agent": "aws-internal/3 aws-sdk-java/1.12.646"},
     [("192.0.2.105", "Mozilla/5.0")], []),
    ("ipv6-same-slash-64", {"source_ip": "2001:db8:1:2::1"}, [("2001:db8:1:2:ffff::9", CLI)], []),
    ("ipv6-other-slash-64", {"source_ip": "2001:db8:1:2::1"}, [("2001:db8:1:3::1", CLI)], ["high"]),
    ("aws-service-address", {}, [("ec2.amazonaws.com", "ec2.amazonaws.com")], []),
    ("aws-internal", {}, [("AWS Internal", "AWS Internal")], []),
    ("issued-to-aws-service", {"caller_type": "AWSService", "caller_arn": None, "caller_key": None},
     [("198.51.100.7", "boto3/1.34")], []),
    ("issued-by-service-address", {"source_ip": "lambda.amazonaws.com"}, [("198.51.100.7", CLI)], []),
    ("non-ip-addresses-as-strings", {"source_ip": "255.090.254.5"}, [("255.090.254.6", CLI)], ["high"]),
    ("console-agents-vary", {"via": "ConsoleLogin"}, [("192.0.2.10", "Mozilla/5.0")], []),
    ("console-ip-move", {"via": "ConsoleLogin"}, [("198.51.100.7", "Mozilla/5.0")], ["high"]),
    ("no-uses", {}, [], []),
]


@pytest.mark.parametrize("overrides, places, expected", [c[1:] for c in MOVED_CASES], ids=[c[0] for c in MOVED_CASES])
def test_session_key_moved(overrides: dict[str, Any], places: list[tuple[str, str]], expected: list[str]) -> None:
    found = of_kind(detect([session(**overrides)], [use("ASIAONE", ip, ua) for ip, ua in places]),
                    "session-key-moved")
    assert [s.severity for s in found] == expected
    for s in found:
        assert (s.credential, s.principal) == ("ASIAONE", USER)
        assert s.event_ids[0] == "issue-ASIAONE"


def test_session_key_moved_summary_names_key_and_places() -> None:
    [ip_move] = detect([session()], [use(ip="198.51.100.7")])
    assert ip_move.summary == (f"Session key ASIAONE of {assumed('Deploy')} was obtained from 192.0.2.10 "
                               "and used from 198.51.100.7")
    [agent] = detect([session()], [use(ua="boto3/1.34 md/\nPython")])
    assert "user agent aws-cli/2.15.30" in agent.summary and "boto3/1.34 md/ Python" in agent.summary


def test_long_term_keys_are_not_session_moves() -> None:
    assert detect([session()], [use("AKIAALICE", "198.51.100.7")]) == []


# ---- long-term-key-new-network -------------------------------------------------------------------------

BASELINE_CASES = [
    # (id, uses of AKIAALICE as (ip, hours after the first use, micros more), baseline_hours, new networks)
    ("baseline-only", [("192.0.2.1", 0, 0), ("198.51.100.7", 23, 0)], 24, []),
    ("just-inside", [("192.0.2.1", 0, 0), ("198.51.100.7", 24, -1)], 24, []),
    ("at-boundary", [("192.0.2.1", 0, 0), ("198.51.100.7", 24, 0)], 24, ["198.51.100.0/24"]),
    ("same-slash-24-later", [("192.0.2.1", 0, 0), ("192.0.2.99", 30, 0)], 24, []),
    ("longer-baseline", [("192.0.2.1", 0, 0), ("198.51.100.7", 30, 0)], 48, []),
    ("aws-service-later", [("192.0.2.1", 0, 0), ("athena.amazonaws.com", 30, 0)], 24, []),
    ("hostnames", [("host-a", 0, 0), ("host-b", 30, 0)], 24, ["host-b"]),
    ("two-new-networks", [("192.0.2.1", 0, 0), ("203.0.113.5", 40, 0), ("198.51.100.7", 30, 0)], 24,
     ["198.51.100.0/24", "203.0.113.0/24"]),   # in time order
]


@pytest.mark.parametrize("places, hours, expected", [c[1:] for c in BASELINE_CASES], ids=[c[0] for c in BASELINE_CASES])
def test_long_term_key_new_network(places: list[tuple[str, int, int]], hours: int, expected: list[str]) -> None:
    uses = [use("AKIAALICE", ip, at=T0 + h * HOUR + extra) for ip, h, extra in places]
    found = detect([], uses, baseline_hours=hours)
    assert [dict(s.details)["network"] for s in found] == expected
    assert {(s.kind, s.severity, s.credential, s.principal) for s in found} <= {
        ("long-term-key-new-network", "medium", "AKIAALICE", USER)}


def test_one_signal_per_new_network_with_all_its_uses() -> None:
    uses = [use("AKIAALICE", "192.0.2.1", at=T0), use("AKIAALICE", "198.51.100.7", "boto3", at=T0 + 30 * HOUR),
            use("AKIAALICE", "198.51.100.8", CLI, at=T0 + 31 * HOUR, last=T0 + 40 * HOUR)]
    [found] = detect([], uses)
    assert (found.first_seen, found.last_seen) == (T0 + 30 * HOUR, T0 + 40 * HOUR)
    assert found.summary == ("Long-term key AKIAALICE of arn:aws:iam::111122223333:user/alice was used from new "
                             "network 198.51.100.0/24 (198.51.100.7, 198.51.100.8) after its first 24 hours of use")


def test_negative_baseline_is_rejected() -> None:
    with pytest.raises(ValueError):
        detect([], [], baseline_hours=-1)


# ---- cross-account-chain -------------------------------------------------------------------------------

def chain_of_three(second_account: str, third_account: str) -> list[Session]:
    first = session("ASIAHOP1")
    second = hop("ASIAHOP2", first, "Audit", second_account, T0 + 10)
    return [first, second, hop("ASIAHOP3", second, "Admin", third_account, T0 + 20)]


CHAIN_CASES = [
    # (id, sessions, expected (credential, accounts) per signal)
    ("one-account", chain_of_three(A1, A1), []),
    ("hop-in-the-middle", chain_of_three(A2, A2), [("ASIAHOP3", f"{A1}, {A2}")]),
    ("two-hops-out", chain_of_three(A2, A3), [("ASIAHOP3", f"{A1}, {A2}, {A3}")]),
    ("branching", [*chain_of_three(A2, A2), hop("ASIAHOP4", chain_of_three(A2, A2)[1], "Ops", A3, T0 + 30)],
     [("ASIAHOP3", f"{A1}, {A2}"), ("ASIAHOP4", f"{A1}, {A2}, {A3}")]),
    ("flag-from-sessions-wins",
     [replace(s, cross_account=False) for s in chain_of_three(A2, A2)], []),
]


@pytest.mark.parametrize("chain, expected", [c[1:] for c in CHAIN_CASES], ids=[c[0] for c in CHAIN_CASES])
def test_cross_account_chain(chain: list[Session], expected: list[tuple[str, str]]) -> None:
    found = of_kind(detect(chain, []), "cross-account-chain")
    assert [(s.credential, dict(s.details)["accounts"]) for s in found] == expected
    assert all(s.principal == USER and s.event_ids[0] == "issue-ASIAHOP1" for s in found)


def test_chain_summary_names_the_accounts_in_order() -> None:
    [found] = of_kind(detect(chain_of_three(A2, A3), [use("ASIAHOP3", at=T0 + 99)]), "cross-account-chain")
    assert found.summary == (f"Role chain of 3 sessions from {USER} to {assumed('Admin', A3)} (key ASIAHOP3) "
                             f"crosses accounts {A1}, {A2}, {A3}")
    assert (found.first_seen, found.last_seen) == (T0, T0 + 99)
    assert found.event_ids[:3] == ("issue-ASIAHOP1", "issue-ASIAHOP2", "issue-ASIAHOP3")


# ---- issuer-outside-logs -------------------------------------------------------------------------------

OUTSIDE_CASES = [
    ("assumed-role-unseen", [session(caller_type="AssumedRole", caller_key="ASIAGONE")], ["ASIAGONE"]),
    ("federated-unseen", [session(caller_type="FederatedUser", caller_key="ASIAGONE")], ["ASIAGONE"]),
    ("caller-seen", [session("ASIAGONE"), session(caller_type="AssumedRole", caller_key="ASIAGONE")], []),
    ("iam-user", [session(caller_type="IAMUser", caller_key="AKIAALICE")], []),
    ("no-caller-key", [session(caller_type="AssumedRole", caller_key=None)], []),
    ("one-per-caller", [session("ASIAX", caller_type="AssumedRole", caller_key="ASIAGONE"),
                        session("ASIAY", caller_type="AssumedRole", caller_key="ASIAGONE", issued_at=T0 + 5)],
     ["ASIAGONE"]),
]


@pytest.mark.parametrize("given, expected", [c[1:] for c in OUTSIDE_CASES], ids=[c[0] for c in OUTSIDE_CASES])
def test_issuer_outside_logs(given: list[Session], expected: list[str]) -> None:
    found = of_kind(detect(given, []), "issuer-outside-logs")
    assert [s.credential for s in found] == expected
    assert all(s.severity == "low" and "ASIAGONE" in s.summary for s in found)


# ---- unusual-token-call --------------------------------------------------------------------------------

BOB = f"arn:aws:iam::{A1}:user/bob"
FEDERATION = session("ASIAFED", via="GetFederationToken", role_arn=None, assumed_arn=None, issued_at=T0 + 50)
MFA = session("ASIAMFA", via="GetSessionToken", role_arn=USER, assumed_arn=USER)
VIA_MFA = session("ASIAROLE", caller_key="ASIAMFA", issued_at=T0 + 1)

TOKEN_CASES = [
    # (id, sessions, credentials flagged)
    ("assume-role-then-federation", [session(), FEDERATION], ["ASIAFED"]),
    ("federation-only", [FEDERATION], []),
    ("someone-else-assumes", [session(caller_arn=BOB, caller_key="AKIABOB"), FEDERATION], []),
    ("assume-role-through-mfa-session", [MFA, VIA_MFA, FEDERATION], ["ASIAFED"]),
    ("mfa-step-is-not-flagged", [MFA, VIA_MFA], []),
    ("other-session-token", [session(), replace(MFA, access_key_id="ASIATOKEN", issued_by_event="issue-tok",
                                                issued_at=T0 + 60)], ["ASIATOKEN"]),
    ("root-caller", [session(), replace(FEDERATION, caller_type="Root")], []),
]


@pytest.mark.parametrize("given, expected", [c[1:] for c in TOKEN_CASES], ids=[c[0] for c in TOKEN_CASES])
def test_unusual_token_call(given: list[Session], expected: list[str]) -> None:
    found = of_kind(detect(given, []), "unusual-token-call")
    assert [s.credential for s in found] == expected
    assert all(s.severity == "medium" and s.principal == USER for s in found)


# ---- evidence, ordering, text --------------------------------------------------------------------------

def test_evidence_is_deduplicated_ordered_and_capped() -> None:
    events = tuple(f"e{n:02}" for n in range(12))
    uses = [use(ip="198.51.100.7", at=T0 + 100, events=events[::-1]),      # times reverse the id order
            use(ip="203.0.113.9", at=T0 + 100, events=("e11", "e00"))]      # repeats, at other times
    [found] = detect([session()], uses)
    assert len(found.event_ids) == MAX_EVIDENCE == len(set(found.event_ids))
    assert found.event_ids[:3] == ("issue-ASIAONE", "e11", "e00")          # each id at its earliest time
    assert found.event_ids[3:] == tuple(reversed(events))[1:8]             # e00 and e10 tie on time: id order


def scenario() -> tuple[list[Session], list[CredentialUse]]:
    """A trail in which every detector fires at least once."""
    sessions = [session(), FEDERATION, *chain_of_three(A2, A3),
                session("ASIAX", caller_type="AssumedRole", caller_key="ASIAGONE", issued_at=T0 + 7)]
    uses = [use(ip="198.51.100.7"), use("ASIAFED", ua="boto3/1.34", at=T0 + 60),
            use("AKIAALICE", at=T0), use("AKIAALICE", "203.0.113.5", at=T0 + 30 * HOUR),
            use("ASIAHOP3", ip="192.0.2.10", at=T0 + 21)]
    return sessions, uses


def test_every_detector_fires_in_the_scenario() -> None:
    assert {s.kind for s in detect(*scenario())} == set(DETECTORS)


@pytest.mark.parametrize("seed", range(5))
def test_order_does_not_depend_on_input_order(seed: int) -> None:
    sessions, uses = scenario()
    expected = detect(sessions, uses)
    rng = random.Random(seed)
    rng.shuffle(sessions)
    rng.shuffle(uses)
    assert detect(sessions + sessions[:2], uses) == expected           # duplicates change nothing either
    keys = [(s.first_seen, s.kind, s.credential or "", s.principal) for s in expected]
    assert keys == sorted(keys)


MARKUP = re.compile(r"[<>`*\n\r\t]|\[|\]|\*\*|__")


@pytest.mark.parametrize("signal", detect(*scenario()), ids=lambda s: f"{s.kind}-{s.credential}")
def test_signal_text_is_plain_and_details_are_sorted_strings(signal: Signal) -> None:
    assert not MARKUP.search(signal.summary)
    assert signal.credential is None or signal.credential in signal.summary
    assert signal.severity in ("high", "medium", "low")
    assert signal.details == tuple(sorted(signal.details))
    assert all(isinstance(v, str) for pair in signal.details for v in pair)
    assert signal.first_seen <= signal.last_seen and 0 < len(signal.event_ids) <= MAX_EVIDENCE


def test_every_detector_is_documented() -> None:
    assert all(f"``{name}``" in (signals.__doc__ or "") for name in DETECTORS)


# ---- real records (Stratus Red Team: a federation token used right away) -------------------------------

FEDERATION_FILE = fixturedata.STRATUS / "aws.persistence.sts-federation-token.json"


def uses_from(records: list[dict[str, Any]]) -> list[CredentialUse]:
    """One use per record, as the usage aggregation would build it (origin: the IAM user behind it)."""
    return [use_of(credential=r["userIdentity"]["accessKeyId"], principal_arn=r["userIdentity"]["arn"],
                   account=r["recipientAccountId"], source_ip=r["sourceIPAddress"], user_agent=r["userAgent"],
                   origin_kind="iam-user", origin_principal=r["userIdentity"].get("sessionContext", {}).get(
                       "sessionIssuer", {}).get("arn", r["userIdentity"]["arn"]),
                   event_time=timestamps.parse_micros(r["eventTime"]), event_id=r["eventID"],
                   failed="errorCode" in r) for r in records]


def test_stratus_federation_token() -> None:
    records = fixturedata.records_in(FEDERATION_FILE)
    sessions = [s for r in records for s in sessions_from(r)]
    uses = uses_from(records)
    [federation] = sessions
    user = "arn:aws:iam::742491224508:user/stratus-red-team-user-federation-user"
    assert (federation.via, federation.access_key_id, federation.caller_arn) == (
        "GetFederationToken", "ASIASTJKC5GCM7ZE6LUP", user)

    # As recorded: the token is used at once from the address and client that obtained it, the user never
    # calls AssumeRole, and the long-term key is seen once: nothing to report.
    assert detect(sessions, uses) == []

    # Had the user otherwise assumed roles, the federation token would stand out...
    usual = session("ASIAUSUAL", caller_arn=user, caller_key=federation.caller_key, account="742491224508",
                    role_arn=role("Deploy", "742491224508"), issued_at=federation.issued_at - HOUR)
    [unusual] = detect([*sessions, usual], uses)
    assert (unusual.kind, unusual.credential, unusual.principal) == (
        "unusual-token-call", "ASIASTJKC5GCM7ZE6LUP", user)
    assert unusual.event_ids == ("6e882b9d-2af8-4c67-b91f-aeac6a0e5e70", "91529247-c4c4-4793-afc8-d70bbcfe9d19")

    # ...and a use of the token from elsewhere is a move. "255.090.254.5" is not a valid IP for Python
    # (leading zeros), so addresses are compared as strings.
    moved = replace(uses[1], source_ip="255.090.254.6", evidence=((uses[1].first_seen + 1, "elsewhere"),))
    [signal] = detect(sessions, [*uses, moved])
    assert (signal.kind, signal.severity, signal.principal) == ("session-key-moved", "high", user)
    assert signal.event_ids == ("6e882b9d-2af8-4c67-b91f-aeac6a0e5e70", "elsewhere")
