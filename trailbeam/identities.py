"""The questions a responder asks of the identity dataset, answered: who assumed a role, where a credential
or event came from, what an origin did, and which identities the trail holds.

``trailbeam attribute`` writes the dataset (``trailbeam.identitystore``); this module only reads it. Every
question is a function of data already loaded (``Session`` records, the issuing calls' ``AttributedEvent``
dicts keyed by eventID, ``CredentialUse`` aggregates, ``Grant`` records), so notebooks and tests call them
without files; the ``load_*`` wrappers read a local store first.

A *trace* is one line of descent: the origin principal, then every hop that led from it, oldest first.
Hops are sessions issued (STS, Identity Center, console) and long-term credentials granted
(``CreateAccessKey``, ``CreateLoginProfile``: how a backdoor user reaches the key that made it), each
with the basis and confidence with which its own issuing call was attributed.

Output is deterministic: results are sorted by (time, eventID); times are UTC micros in the records and
ISO 8601 in ``overview``'s JSON-ready dict. Pure: stdlib, fastavro and trailbeam's pure modules.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import fastavro

from trailbeam import avrofile, errors, identitystore, timestamps
from trailbeam.attribution import Grant
from trailbeam.eventcodec import string_bytes
from trailbeam.sessions import Session, account_of, session_index, shared_event_index
from trailbeam.usage import CredentialUse

__all__ = ["Action", "Hop", "Lineage", "Reach", "Trace", "activity", "event_in", "find_event", "lineage",
           "load_activity", "load_lineage", "load_overview", "load_who_assumed", "overview", "who_assumed"]

Record = Mapping[str, Any]          # an AttributedEvent as fastavro reads it


@dataclass(frozen=True, slots=True, kw_only=True)
class Hop:
    """One link of a trace: a session issued, a long-term credential granted, or the event asked about."""

    relation: str                 # issued (a session), granted (a key or console password), call (the event)
    time: int                     # UTC micros of the call
    event_id: str
    call: str                     # eventName: AssumeRole, CreateAccessKey, ...
    caller: str | None            # who made the call: its ARN, else its key or subject
    target: str | None            # the role or user reached; None for the event itself
    key: str | None               # the key issued or granted; for the event itself, the key that signed it
    account: str | None
    source_ip: str | None
    user_agent: str | None
    basis: str | None             # how the call itself was attributed; None when it is not in the dataset
    confidence: str | None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Trace:
    """An origin and the hops that led from it, oldest first."""

    origin_kind: str
    origin_principal: str
    origin_access_key: str | None
    hops: tuple[Hop, ...]

    @property
    def text(self) -> str:
        """``origin -> role -> role …``; a granted hop shows the user and the granting call."""
        steps = [_short(self.origin_principal)]
        for hop in self.hops:
            if hop.relation == "issued":
                steps.append(_short(hop.target or "?"))
            elif hop.relation == "granted":
                steps.append(f"{_short(hop.target)} [{hop.call}]" if hop.target else f"[{hop.call}]")
        return " -> ".join(steps)


@dataclass(frozen=True, slots=True, kw_only=True)
class Lineage:
    """Where a credential, session or event came from: one trace per matching session."""

    target: str
    kind: str                     # access-key, session-arn, event
    traces: tuple[Trace, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reach:
    """One session of a role: who reached it, how, and from where."""

    time: int
    event_id: str                 # the issuing call
    via: str
    role_arn: str | None
    session_name: str | None
    access_key_id: str | None
    origin_kind: str
    origin_principal: str
    chain: str                    # Trace.text
    source_ip: str | None
    user_agent: str | None
    account: str | None
    cross_account: bool
    basis: str | None
    confidence: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One event of an origin's timeline."""

    time: int
    event_id: str
    event_name: str | None
    event_source: str | None
    account: str | None
    region: str | None
    source_ip: str | None
    user_agent: str | None
    error: str | None
    credential: str | None        # the key that signed the call, else the identity ARN
    session_name: str | None      # of the last hop of the chain
    role_arn: str | None
    basis: str
    confidence: str


# ---- shared facts ---------------------------------------------------------------------------------------

def _micros(value: datetime | int | None) -> int | None:
    return timestamps.datetime_micros(value) if isinstance(value, datetime) else value


def _short(text: str) -> str:
    """``arn:aws:iam::111122223333:role/Deploy`` -> ``111122223333:role/Deploy``; other text as it is."""
    parts = text.split(":", 5)
    return f"{parts[4]}:{parts[5]}" if len(parts) == 6 and parts[0] == "arn" and parts[4] else text


def _distinct(sessions: Iterable[Session]) -> list[Session]:
    """One session per issuance: a cross-account call is logged in both accounts (same key, same
    sharedEventID) and a file can be delivered twice; the caller's copy wins, as in ``session_index``."""
    sessions = list(sessions)
    kept = {id(s) for s in session_index(sessions).values()}
    keyless = [s for s in sessions if s.access_key_id is None]
    kept |= {id(s) for s in shared_event_index(keyless).values()}
    kept |= {id(s) for s in keyless if s.shared_event_id is None}
    return sorted((s for s in sessions if id(s) in kept), key=lambda s: (s.issued_at, s.issued_by_event))


@dataclass(frozen=True, slots=True, kw_only=True)
class _Facts:
    issuers: Mapping[str, Record]
    by_event: Mapping[str, Session]
    grants: Mapping[str, Grant]   # by the granting eventID


def _facts(sessions: Iterable[Session], issuers: Mapping[str, Record], grants: Iterable[Grant] = ()) -> _Facts:
    return _Facts(issuers=issuers, by_event={s.issued_by_event: s for s in sessions},
                  grants={g.event_id: g for g in grants})


def _attribution(record: Record | None) -> dict[str, Any]:
    if record is None:
        return {"basis": None, "confidence": None, "flags": ()}
    return {"basis": record["basis"], "confidence": record["confidence"], "flags": tuple(record.get("flags") or ())}


def _issued_hop(session: Session, facts: _Facts) -> Hop:
    return Hop(relation="issued", time=session.issued_at, event_id=session.issued_by_event, call=session.via,
               caller=session.caller_arn or session.caller_key or session.subject, target=session.role_arn,
               key=session.access_key_id, account=session.account, source_ip=session.source_ip,
               user_agent=session.user_agent, **_attribution(facts.issuers.get(session.issued_by_event)))


def _granted_hop(event_id: str, facts: _Facts) -> Hop:
    issuer, grant = facts.issuers.get(event_id), facts.grants.get(event_id)
    record: Record = issuer or {}
    caller = record.get("identityArn") or record.get("accessKeyId")
    partition = caller.split(":")[1] if caller and caller.startswith("arn:") else "aws"
    # The user's ARN as IAM shows it may carry a path the grant does not record; account + name identify it.
    user = f"arn:{partition}:iam::{grant.account or ''}:user/{grant.user_name}" if grant else None
    return Hop(relation="granted", time=_micros(record.get("eventTime")) or (grant.granted_at if grant else 0),
               event_id=event_id, call=record.get("eventName") or (grant.kind if grant else "?"), caller=caller,
               target=user, key=grant.access_key_id if grant else None,
               account=record.get("recipientAccountId") or (grant.account if grant else None),
               source_ip=record.get("sourceIPAddress"), user_agent=record.get("userAgent"), **_attribution(issuer))


def _call_hop(record: Record) -> Hop:
    return Hop(relation="call", time=_micros(record["eventTime"]) or 0, event_id=record["eventID"],
               call=record["eventName"] or "?", caller=record["identityArn"] or record["accessKeyId"], target=None,
               key=record["accessKeyId"], account=record["recipientAccountId"], source_ip=record["sourceIPAddress"],
               user_agent=record["userAgent"], **_attribution(record))


def _trace_of(record: Record, facts: _Facts, *, sessions: Iterable[Session] = (),
              grant_ids: Iterable[str] = ()) -> Trace:
    """The trace an AttributedEvent names (its chain and created-by links), extended by ``sessions``
    and ``grant_ids`` that follow it. Hops are ordered by time: a grant precedes every session made
    from the credential it created, so time order is the order of cause and effect."""
    hops: dict[str, Hop] = {}
    for item in record.get("chain") or ():
        session = facts.by_event.get(item["issuedByEvent"]) or identitystore.session_from_record(item)
        hops[session.issued_by_event] = _issued_hop(session, facts)
    for event_id in (*(record.get("createdBy") or ()), *grant_ids):
        hops[event_id] = _granted_hop(event_id, facts)
    for session in sessions:
        hops[session.issued_by_event] = _issued_hop(session, facts)
    return Trace(origin_kind=record["originKind"], origin_principal=record["originPrincipal"],
                 origin_access_key=record.get("originAccessKey"),
                 hops=tuple(sorted(hops.values(), key=lambda h: (h.time, h.event_id))))


def _session_trace(session: Session, facts: _Facts) -> Trace:
    issuer = facts.issuers.get(session.issued_by_event)
    if issuer is not None:
        return _trace_of(issuer, facts, sessions=(session,))
    # The issuing call is not in the dataset (a run over part of a store): say what the session shows.
    return Trace(origin_kind="unknown", origin_principal=session.caller_arn or session.caller_key or "unknown",
                 origin_access_key=None, hops=(_issued_hop(session, facts),))


# ---- who assumed a role ---------------------------------------------------------------------------------

def _role_name(arn: str) -> tuple[str | None, str] | None:
    """(account, role name) of a role ARN (any path) or an assumed-role ARN; None for other text."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    resource = parts[5]
    if parts[2] == "iam" and resource.startswith("role/"):
        return parts[4] or None, resource.rsplit("/", 1)[1]
    if parts[2] == "sts" and resource.startswith("assumed-role/"):
        return parts[4] or None, resource.split("/")[1]
    return None


def who_assumed(role_arn: str, sessions: Iterable[Session], issuers: Mapping[str, Record], *,
                start: int | None = None, end: int | None = None, grants: Iterable[Grant] = ()) -> list[Reach]:
    """Every session of one role issued in [start, end) (UTC micros), sorted by (time, eventID).

    Args:
        role_arn: ``arn:aws:iam::ACCT:role/[path/]NAME`` or a session's ``arn:aws:sts::ACCT:assumed-role/NAME/…``;
            sessions match on account and role name (case-sensitive), whatever the path.
        sessions: every session of the dataset (``identitystore.read_sessions``).
        issuers: the issuing calls' AttributedEvent records by eventID (``identitystore.read_issuers``).
        grants: the dataset's grants (``identitystore.read_grants``): they name the user a granted hop of a
            chain created; without them the chain text shows only the granting call.

    Raises:
        errors.InputError: ``role_arn`` is not a role or assumed-role ARN.
    """
    wanted = _role_name(role_arn)
    if wanted is None:
        raise errors.InputError(f"{role_arn!r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME) "
                                "or assumed-role ARN")
    sessions = list(sessions)
    facts = _facts(sessions, issuers, grants)
    found = []
    for session in _distinct(s for s in sessions if s.role_arn and _role_name(s.role_arn) == wanted):
        if (start is not None and session.issued_at < start) or (end is not None and session.issued_at >= end):
            continue
        trace, issuer = _session_trace(session, facts), issuers.get(session.issued_by_event)
        found.append(Reach(
            time=session.issued_at, event_id=session.issued_by_event, via=session.via, role_arn=session.role_arn,
            session_name=session.session_name, access_key_id=session.access_key_id, origin_kind=trace.origin_kind,
            origin_principal=trace.origin_principal, chain=trace.text, source_ip=session.source_ip,
            user_agent=session.user_agent, account=session.account, cross_account=session.cross_account,
            basis=issuer["basis"] if issuer else None, confidence=issuer["confidence"] if issuer else None))
    return found


# ---- lineage ---------------------------------------------------------------------------------------------

def _is_key(text: str) -> bool:
    return text.startswith(("AKIA", "ASIA")) and text.isalnum() and text.isupper()


def _key_traces(key: str, sessions: list[Session], facts: _Facts) -> list[Trace]:
    issued = session_index(sessions).get(key)
    if issued is not None:
        return [_session_trace(issued, facts)]
    grants = sorted((g for g in facts.grants.values() if g.access_key_id == key),
                    key=lambda g: (g.granted_at, g.event_id))
    if grants:
        record = facts.issuers.get(grants[0].event_id)
        if record is None:
            return [Trace(origin_kind="unknown", origin_principal="unknown", origin_access_key=None,
                          hops=(_granted_hop(grants[0].event_id, facts),))]
        return [_trace_of(record, facts, grant_ids=(grants[0].event_id,))]
    # A long-term key nobody in the trail created: its origin is whoever signs with it.
    signed = sorted((r for r in facts.issuers.values() if r["accessKeyId"] == key),
                    key=lambda r: (_micros(r["eventTime"]) or 0, r["eventID"]))
    return [_trace_of(signed[0], facts)] if signed else []


def lineage(target: str, sessions: Iterable[Session], issuers: Mapping[str, Record],
            find_event: Callable[[str], Record | None], *, grants: Iterable[Grant] = ()) -> Lineage:
    """Where an access key, a session or an event came from, hop by hop back to its origin.

    Args:
        target: an access key id (``ASIA…``/``AKIA…``), a session ARN (assumed-role, federated-user; every
            session showing it is traced), or an eventID (the event itself is the last hop).
        sessions, issuers: as for ``who_assumed``.
        find_event: eventID -> its AttributedEvent record, or None (``find_event`` over a store).
        grants: the dataset's grants (``identitystore.read_grants``): they name the user and key each
            granted hop created, and trace keys made by ``CreateAccessKey``.

    Raises:
        errors.InputError: nothing in the dataset matches ``target``.
    """
    sessions = list(sessions)
    facts = _facts(sessions, issuers, grants)
    if _is_key(target):
        kind, traces = "access-key", _key_traces(target, sessions, facts)
        what = "an access key the identity data shows being issued, granted or used to issue credentials"
    elif target.startswith("arn:"):
        matching = _distinct(s for s in sessions if s.assumed_arn == target)
        kind, traces = "session-arn", [_session_trace(s, facts) for s in matching]
        what = "the ARN of any session in the identity data"
    else:
        record = issuers.get(target) or find_event(target)
        kind, traces = "event", [] if record is None else [_with_call(record, facts)]
        what = "an eventID of the attributed events"
    if not traces:
        raise errors.InputError(f"{target!r} is not {what}")
    return Lineage(target=target, kind=kind, traces=tuple(traces))


def _with_call(record: Record, facts: _Facts) -> Trace:
    trace = _trace_of(record, facts)
    return Trace(origin_kind=trace.origin_kind, origin_principal=trace.origin_principal,
                 origin_access_key=trace.origin_access_key, hops=(*trace.hops, _call_hop(record)))


# ---- activity --------------------------------------------------------------------------------------------

def activity(principal: str, records: Iterable[Record], *, start: int | None = None,
             end: int | None = None) -> Iterator[Action]:
    """Everything an origin did, through all its sessions, in [start, end), ordered by (eventTime, eventID).

    ``principal`` matches an event's origin principal or origin key, or the ARN or key that signed it,
    so a responder can start from a user, a leaked key or a session ARN.
    """
    found = []
    for record in records:
        if principal not in (record["originPrincipal"], record["originAccessKey"], record["identityArn"],
                             record["accessKeyId"]):
            continue
        time = _micros(record["eventTime"]) or 0
        if (start is not None and time < start) or (end is not None and time >= end):
            continue
        last = record["chain"][-1] if record.get("chain") else {}
        found.append(Action(
            time=time, event_id=record["eventID"], event_name=record["eventName"], event_source=record["eventSource"],
            account=record["recipientAccountId"], region=record["awsRegion"], source_ip=record["sourceIPAddress"],
            user_agent=record["userAgent"], error=record["errorCode"],
            credential=record["accessKeyId"] or record["identityArn"], session_name=last.get("sessionName"),
            role_arn=last.get("roleArn"), basis=record["basis"], confidence=record["confidence"]))
    yield from sorted(found, key=lambda a: (a.time, a.event_id))


# ---- overview --------------------------------------------------------------------------------------------

def _iso(micros: int | None) -> str | None:
    return None if micros is None else timestamps.format_micros(micros)


def overview(sessions: Iterable[Session], issuers: Mapping[str, Record], uses: Iterable[CredentialUse],
             summary: Mapping[str, Any], *, grants: Iterable[Grant] = ()) -> dict[str, Any]:
    """The identities of a trail at a glance, as a JSON-ready dict (times ISO 8601 UTC).

    Keys: ``summary`` (the run's), ``origins`` (most events first), ``roles`` (most sessions first),
    ``cross_account`` (hops between accounts per role), ``longest_chains`` (top 10 distinct chains) and
    ``unlinked_sessions`` (sessions whose issuing call was not attributed, or only with low confidence).
    ``grants`` name the users in chain texts, as for ``who_assumed``.
    """
    sessions = list(sessions)
    facts = _facts(sessions, issuers, grants)
    origins: dict[tuple[str, str], dict[str, Any]] = {}

    def origin(kind: str, principal: str, first: int, last: int) -> dict[str, Any]:
        entry = origins.setdefault((kind, principal), {"principal": principal, "kind": kind, "sessions": 0,
                                                       "events": 0, "first": first, "last": last})
        entry["first"], entry["last"] = min(entry["first"], first), max(entry["last"], last)
        return entry

    roles: dict[str, tuple[int, set[str]]] = {}
    hops: dict[tuple[str | None, str | None, str | None], int] = {}
    chains: dict[str, tuple[int, int, int, str]] = {}      # text -> (length, count, first time, eventID)
    unlinked = []
    for session in _distinct(sessions):
        trace = _session_trace(session, facts)
        origin(trace.origin_kind, trace.origin_principal, session.issued_at, session.issued_at)["sessions"] += 1
        if session.role_arn and ":role/" in session.role_arn:
            count, reached_by = roles.get(session.role_arn, (0, set()))
            roles[session.role_arn] = (count + 1, reached_by | {trace.origin_principal})
        if session.cross_account:
            route = (session.caller_account, account_of(session.role_arn), session.role_arn)
            hops[route] = hops.get(route, 0) + 1
        length, count, first, event_id = chains.get(trace.text, (len(trace.hops), 0, session.issued_at,
                                                                 session.issued_by_event))
        chains[trace.text] = (length, count + 1, first, event_id)
        issuer = issuers.get(session.issued_by_event)
        if issuer is None or issuer["basis"] == "none" or issuer["confidence"] == "low":
            unlinked.append({
                "time": _iso(session.issued_at), "event_id": session.issued_by_event, "via": session.via,
                "role": session.role_arn, "session_name": session.session_name, "caller": session.caller_arn,
                "basis": issuer["basis"] if issuer else None, "confidence": issuer["confidence"] if issuer else None,
                "reason": (issuer.get("reason") or "no reason recorded") if issuer else "issuing call not in the dataset",
                "flags": list(issuer.get("flags") or ()) if issuer else []})
    for use in uses:
        origin(use.origin_kind, use.origin_principal, use.first_seen, use.last_seen)["events"] += use.count
    return {
        "summary": dict(summary),
        "origins": [{**o, "first": _iso(o["first"]), "last": _iso(o["last"])}
                    for o in sorted(origins.values(), key=lambda o: (-o["events"], -o["sessions"], o["kind"],
                                                                      o["principal"]))],
        "roles": [{"role": role, "sessions": count, "origins": len(reached_by)}
                  for role, (count, reached_by) in sorted(roles.items(), key=lambda r: (-r[1][0], r[0]))],
        "cross_account": [{"from": source, "to": target, "role": role, "sessions": count}
                          for (source, target, role), count in sorted(
                              hops.items(), key=lambda h: (-h[1], *(v or "" for v in h[0])))],
        "longest_chains": [{"length": length, "chain": text, "sessions": count, "first": _iso(first),
                            "event_id": event_id}
                           for text, (length, count, first, event_id) in sorted(
                               chains.items(), key=lambda c: (-c[1][0], c[1][2], c[0]))[:10]],
        "unlinked_sessions": unlinked,
    }


# ---- reading a store -------------------------------------------------------------------------------------

def _records_holding(data: bytes, text: str) -> Iterator[dict[str, Any]]:
    """The records of the blocks of one attributed file (a whole Avro container) that hold ``text``.

    A record that names ``text`` in any string field holds its Avro encoding (length, then UTF-8), so
    blocks without those bytes are skipped undecoded: for one eventID or principal, most of a store.
    """
    encoded = string_bytes(text)
    container = avrofile.read_container(data)
    schema = None
    for count, block in container.blocks:
        if encoded in block:
            schema = schema or fastavro.parse_schema(json.loads(container.schema_json))
            buffer = io.BytesIO(block)
            for _ in range(count):
                yield fastavro.schemaless_reader(buffer, schema, None)


def event_in(data: bytes, event_id: str) -> Record | None:
    """The AttributedEvent of ``event_id`` in one attributed file, or None."""
    return next((r for r in _records_holding(data, event_id) if r["eventID"] == event_id), None)


def _attributed_files(store_root: str, start: int | None, end: int | None) -> Iterator[bytes]:
    """The attributed files of a local store, whole, in partition order; only the days [start, end) touch."""
    first = timestamps.format_micros(start)[:10] if start is not None else None
    last = timestamps.format_micros(end)[:10] if end is not None else None
    folder = identitystore.current_run(store_root) / identitystore.ATTRIBUTED
    for path in sorted(folder.glob("account=*/region=*/date=*/*.avro")):
        day = path.parent.name.partition("=")[2]
        if (first is None or day >= first) and (last is None or day <= last):
            yield path.read_bytes()


def find_event(store_root: str, event_id: str) -> Record | None:
    """The AttributedEvent of one eventID in a local store's identity data, or None."""
    for data in _attributed_files(store_root, None, None):
        found = event_in(data, event_id)
        if found is not None:
            return found
    return None


def load_who_assumed(store_root: str, role_arn: str, *, start: int | None = None,
                     end: int | None = None) -> list[Reach]:
    return who_assumed(role_arn, identitystore.read_sessions(store_root), identitystore.read_issuers(store_root),
                       start=start, end=end, grants=identitystore.read_grants(store_root))


def load_lineage(store_root: str, target: str) -> Lineage:
    return lineage(target, identitystore.read_sessions(store_root), identitystore.read_issuers(store_root),
                   lambda event_id: find_event(store_root, event_id), grants=identitystore.read_grants(store_root))


def load_activity(store_root: str, principal: str, *, start: int | None = None,
                  end: int | None = None) -> Iterator[Action]:
    mentioning = (r for data in _attributed_files(store_root, start, end) for r in _records_holding(data, principal))
    return activity(principal, mentioning, start=start, end=end)


def load_overview(store_root: str) -> dict[str, Any]:
    return overview(identitystore.read_sessions(store_root), identitystore.read_issuers(store_root),
                    identitystore.read_uses(store_root), identitystore.read_summary(store_root),
                    grants=identitystore.read_grants(store_root))
