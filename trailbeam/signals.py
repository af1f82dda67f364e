"""Signals: credential behaviour in a trail that a responder should look at first.

Input: the sessions of a trail (``trailbeam.sessions.Session``) and the aggregated uses of its credentials
(``trailbeam.usage.CredentialUse``). Output: ``detect`` returns ``Signal`` records, each naming the
principal and credential concerned, the time span, and the evidence eventIDs (deduplicated, ordered by
time then id, at most ``MAX_EVIDENCE``). A signal is a lead, not a verdict. The detectors, one row each in
``DETECTORS``:

``session-key-moved``  A temporary (``ASIA``) key used from another network (IPv4 /24, IPv6 /64; other
    addresses compared as strings) than the one it was obtained from: high. Used only with another user
    agent: low (tools often obtain a session with one SDK and use it with another). One signal per
    session. Not flagged: uses whose address is an AWS service (``*.amazonaws.com``) or ``AWS Internal``;
    sessions issued to AWS services (caller type ``AWSService``); sessions an AWS service obtained for a
    user (issuing user agent ``aws-internal…``, e.g. Identity Center's AssumeRoleWithSAML); IP moves when
    the issuing address is itself an AWS service or unknown; user agent changes of ``ConsoleLogin``
    sessions (the console calls with many user agents).
``long-term-key-new-network``  A long-term (``AKIA``) key used from a network not seen in its first
    ``baseline_hours`` of observed use (the baseline is [first use, first use + baseline_hours)): medium,
    one signal per (key, new network). Not flagged: uses starting inside the baseline; AWS service
    addresses; keys with no uses after the baseline.
``cross-account-chain``  A chain of sessions (``origin_of``) with a hop into another account: medium, one
    signal per final session of such a chain (a session whose key issued no other session), naming the
    accounts in order. Not flagged: the intermediate sessions of the same chain.
``issuer-outside-logs``  Sessions issued by an assumed role or federated user whose own session (its
    ``caller_key``) is not among the sessions: low (a log gap, a window that starts too late, or another
    account's trail). One signal per such caller key. Not flagged: callers that show no key.
``unusual-token-call``  ``GetFederationToken`` or ``GetSessionToken`` by an IAM user who otherwise obtains
    credentials through ``AssumeRole`` (as that user, with the long-term key or a GetSessionToken session
    of theirs): medium, one per call. Not flagged: a GetSessionToken whose key was itself used to call
    AssumeRole (the usual MFA step before assuming a role); callers that are not IAM users.

Pure: stdlib, ``trailbeam.attribution``, ``trailbeam.sessions`` and ``trailbeam.usage``.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from trailbeam.attribution import session_origin
from trailbeam.sessions import Session, account_of, origin_of, session_index
from trailbeam.usage import CredentialUse, merge_all

__all__ = ["DETECTORS", "MAX_EVIDENCE", "Signal", "detect"]

MAX_EVIDENCE = 10
_HOUR = 3_600_000_000           # micros
_TOKEN_CALLS = ("GetFederationToken", "GetSessionToken")
_UA_VARIES = frozenset({"ConsoleLogin"})   # browser sessions call through many console user agents


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal:
    """One finding of one detector."""

    kind: str                     # the detector's name in DETECTORS
    severity: str                 # high, medium, low
    summary: str                  # one line of plain text
    principal: str                # the origin or user ARN (a "<provider>:<subject>" for SAML/OIDC origins)
    credential: str | None        # the access key id concerned
    first_seen: int               # UTC micros
    last_seen: int
    event_ids: tuple[str, ...]    # evidence, ordered by (eventTime, eventID)
    details: tuple[tuple[str, str], ...]   # (name, value), sorted by name


@dataclass(frozen=True, slots=True, kw_only=True)
class _Trail:
    """What the detectors read, built once per call of ``detect``."""

    sessions: tuple[Session, ...]                        # every input session, in a stable order
    by_key: Mapping[str, Session]                        # session_index
    uses: Mapping[str, tuple[CredentialUse, ...]]        # credential -> its aggregates
    baseline: int                                        # micros


# ---- small facts ----------------------------------------------------------------------------------------

def _is_service_address(address: str) -> bool:
    return address.endswith(".amazonaws.com") or address == "AWS Internal"


def _network(address: str) -> str:
    """198.51.100.7 -> 198.51.100.0/24; IPv6 -> its /64; anything else (a hostname, "255.090.1.1") as is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False))


def _caller_account(session: Session) -> str | None:
    return session.caller_account or account_of(session.caller_arn)


def _target_account(session: Session) -> str | None:
    return account_of(session.role_arn) or account_of(session.assumed_arn) or session.account


def _origin(chain: list[Session]) -> str:
    return session_origin(chain[0]).principal


def _one_line(text: str | None, limit: int = 120) -> str:
    flat = " ".join((text or "unknown").split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _evidence(*pairs: Iterable[tuple[int, str]]) -> tuple[str, ...]:
    """(eventTime, eventID) groups -> at most MAX_EVIDENCE ids by (time, id); an id repeated counts once."""
    earliest: dict[str, int] = {}
    for time, event_id in (pair for group in pairs for pair in group):
        earliest[event_id] = min(time, earliest.get(event_id, time))
    return tuple(i for _, i in sorted((t, i) for i, t in earliest.items())[:MAX_EVIDENCE])


def _issued(*sessions: Session) -> list[tuple[int, str]]:
    return [(s.issued_at, s.issued_by_event) for s in sessions]


def _used(uses: Iterable[CredentialUse]) -> list[tuple[int, str]]:
    return [pair for use in uses for pair in use.evidence]


def _details(**values: str | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, value) for name, value in values.items() if value is not None))


# ---- detectors ------------------------------------------------------------------------------------------

def _obtained_by_service(session: Session) -> bool:
    agent = session.user_agent or ""
    return agent.startswith("aws-internal") or agent == "AWS Internal" or _is_service_address(session.source_ip or "")


def _session_key_moved(trail: _Trail) -> Iterator[Signal]:
    for key, session in trail.by_key.items():
        if not key.startswith("ASIA") or session.caller_type == "AWSService":
            continue
        home = session.source_ip
        # Without a real issuing address there is nothing to compare an IP against, and a session an AWS
        # service obtained for a user (Identity Center's AssumeRoleWithSAML, from AWS's own network with an
        # aws-internal agent) was never where the user is.
        by_service = _obtained_by_service(session)
        home_net = _network(home) if home and not _is_service_address(home) and not by_service else None
        ua_varies = session.via in _UA_VARIES or session.user_agent is None or by_service
        moved_ip, moved_ua = [], []
        for use in trail.uses.get(key, ()):
            if use.source_ip is None or _is_service_address(use.source_ip):
                continue
            if home_net is not None and _network(use.source_ip) != home_net:
                moved_ip.append(use)
            elif not ua_varies and use.user_agent is not None and use.user_agent != session.user_agent:
                moved_ua.append(use)
        moved = moved_ip or moved_ua
        if not moved:
            continue
        who = session.assumed_arn or session.role_arn or "unknown"
        if moved_ip:
            ips = ", ".join(sorted({u.source_ip for u in moved_ip if u.source_ip}))
            summary = f"Session key {key} of {who} was obtained from {home} and used from {ips}"
        else:
            agents = sorted({u.user_agent for u in moved_ua if u.user_agent})
            summary = (f"Session key {key} of {who} was obtained with user agent {_one_line(session.user_agent)} "
                       f"and used with {_one_line(agents[0])}" + (f" and {len(agents) - 1} more" if agents[1:] else ""))
        # Tools often obtain a session with one SDK and use it with another: an agent change alone is weak.
        yield Signal(kind="session-key-moved", severity="high" if moved_ip else "low", summary=summary,
                     principal=_origin(origin_of(key, trail.by_key)), credential=key,
                     first_seen=min(u.first_seen for u in moved), last_seen=max(u.last_seen for u in moved),
                     event_ids=_evidence(_issued(session), _used(moved)),
                     details=_details(via=session.via, assumed_arn=who, issued_from=home,
                                      issued_user_agent=session.user_agent,
                                      used_from=", ".join(sorted({u.source_ip or "" for u in moved})),
                                      used_user_agents=" | ".join(sorted({u.user_agent or "" for u in moved}))))


def _long_term_key_new_network(trail: _Trail) -> Iterator[Signal]:
    for key, uses in trail.uses.items():
        if not key.startswith("AKIA"):
            continue
        end = min(u.first_seen for u in uses) + trail.baseline   # first use starts the baseline
        known = {_network(u.source_ip) for u in uses if u.first_seen < end and u.source_ip}
        new: dict[str, list[CredentialUse]] = defaultdict(list)
        for use in uses:
            if use.first_seen >= end and use.source_ip and not _is_service_address(use.source_ip):
                if (net := _network(use.source_ip)) not in known:
                    new[net].append(use)
        for net, found in sorted(new.items()):
            user = found[0].principal_arn or found[0].origin_principal
            ips = ", ".join(sorted({u.source_ip for u in found if u.source_ip}))
            hours = f"{trail.baseline / _HOUR:g}"
            yield Signal(kind="long-term-key-new-network", severity="medium", principal=user, credential=key,
                         summary=(f"Long-term key {key} of {user} was used from new network {net} ({ips}) "
                                  f"after its first {hours} hours of use"),
                         first_seen=min(u.first_seen for u in found), last_seen=max(u.last_seen for u in found),
                         event_ids=_evidence(_used(found)),
                         details=_details(network=net, used_from=ips, baseline_hours=hours,
                                          known_networks=", ".join(sorted(known)),
                                          origin=found[0].origin_principal))


def _cross_account_chain(trail: _Trail) -> Iterator[Signal]:
    callers = {s.caller_key for s in trail.by_key.values()}
    for key in trail.by_key:
        chain = origin_of(key, trail.by_key)
        if key in callers or not any(s.cross_account for s in chain):
            continue                  # not the end of a chain, or a chain that stays in one account
        accounts: list[str] = []
        for account in [_caller_account(chain[0]), *map(_target_account, chain)]:
            if account is not None and accounts[-1:] != [account]:
                accounts.append(account)
        final, uses = chain[-1], trail.uses.get(key, ())
        yield Signal(kind="cross-account-chain", severity="medium", principal=_origin(chain), credential=key,
                     summary=(f"Role chain of {len(chain)} sessions from {_origin(chain)} to "
                              f"{final.assumed_arn or final.role_arn} (key {key}) crosses accounts "
                              f"{', '.join(accounts)}"),
                     first_seen=chain[0].issued_at,
                     last_seen=max([final.issued_at, *(u.last_seen for u in uses)]),
                     event_ids=_evidence(_issued(*chain), _used(uses)),
                     details=_details(accounts=", ".join(accounts), hops=str(len(chain)),
                                      roles=", ".join(s.role_arn or "unknown" for s in chain)))


def _issuer_outside_logs(trail: _Trail) -> Iterator[Signal]:
    issued: dict[str, list[Session]] = defaultdict(list)
    for s in trail.sessions:
        if s.caller_type in ("AssumedRole", "FederatedUser") and s.caller_key and s.caller_key not in trail.by_key:
            issued[s.caller_key].append(s)
    for caller_key, found in sorted(issued.items()):
        caller, count = found[0].caller_arn or caller_key, len({s.issued_by_event for s in found})
        yield Signal(kind="issuer-outside-logs", severity="low", principal=caller, credential=caller_key,
                     summary=(f"Key {caller_key} of {caller} issued {count} session(s), "
                              "but the session it belongs to is not in the logs"),
                     first_seen=min(s.issued_at for s in found), last_seen=max(s.issued_at for s in found),
                     event_ids=_evidence(_issued(*found)),
                     details=_details(caller_type=found[0].caller_type,
                                      issued=", ".join(sorted({s.access_key_id or "unknown" for s in found}))))


def _assume_role_user(session: Session, by_key: Mapping[str, Session]) -> str | None:
    """The IAM user behind an AssumeRole call: direct, or through a GetSessionToken session of theirs."""
    parent = by_key.get(session.caller_key or "")
    if parent is not None and parent.via == "GetSessionToken":
        return parent.role_arn
    return session.caller_arn if session.caller_type == "IAMUser" else None


def _unusual_token_call(trail: _Trail) -> Iterator[Signal]:
    assumes = [s for s in trail.sessions if s.via == "AssumeRole"]
    users = {_assume_role_user(s, trail.by_key) for s in assumes} - {None}
    mfa_steps = {s.caller_key for s in assumes}   # a GetSessionToken used to AssumeRole is the normal route
    for s in trail.by_key.values():
        user = s.caller_arn
        if s.via not in _TOKEN_CALLS or s.caller_type != "IAMUser" or user is None or user not in users:
            continue
        if s.via == "GetSessionToken" and s.access_key_id in mfa_steps:
            continue
        uses = trail.uses.get(s.access_key_id or "", ())
        yield Signal(kind="unusual-token-call", severity="medium", principal=user,
                     credential=s.access_key_id,
                     summary=(f"IAM user {user} called {s.via} (issued {s.access_key_id}) "
                              "but otherwise obtains credentials through AssumeRole"),
                     first_seen=s.issued_at, last_seen=max([s.issued_at, *(u.last_seen for u in uses)]),
                     event_ids=_evidence(_issued(s), _used(uses)),
                     details=_details(via=s.via, caller_key=s.caller_key, source_ip=s.source_ip,
                                      assumed_arn=s.assumed_arn))


DETECTORS: Mapping[str, Callable[[_Trail], Iterator[Signal]]] = {
    "session-key-moved": _session_key_moved,
    "long-term-key-new-network": _long_term_key_new_network,
    "cross-account-chain": _cross_account_chain,
    "issuer-outside-logs": _issuer_outside_logs,
    "unusual-token-call": _unusual_token_call,
}


def detect(sessions: Iterable[Session], uses: Iterable[CredentialUse], *,
           baseline_hours: float = 24) -> list[Signal]:
    """Every signal of every detector in ``DETECTORS``.

    Args:
        sessions: the sessions of the trail, in any order (duplicates are fine).
        uses: the credential uses of the trail, in any order; aggregates of one key are merged.
        baseline_hours: how long after a long-term key's first use its networks count as known.

    Returns:
        Signals sorted by (first_seen, kind, credential, principal), then summary: the same input in
        any order gives the same list.

    Raises:
        ValueError: ``baseline_hours`` is negative.
    """
    if baseline_hours < 0:
        raise ValueError(f"baseline_hours must not be negative: {baseline_hours!r}")
    ordered = tuple(sorted(sessions, key=lambda s: (s.issued_at, s.issued_by_event, s.access_key_id or "")))
    by_credential: dict[str, list[CredentialUse]] = defaultdict(list)
    for use in merge_all(uses):
        by_credential[use.credential].append(use)
    trail = _Trail(sessions=ordered, by_key=dict(sorted(session_index(ordered).items())),
                   uses={key: tuple(found) for key, found in by_credential.items()},
                   baseline=round(baseline_hours * _HOUR))
    found = [signal for detector in DETECTORS.values() for signal in detector(trail)]
    return sorted(found, key=lambda s: (s.first_seen, s.kind, s.credential or "", s.principal, s.summary))
