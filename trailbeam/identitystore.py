"""The identity dataset inside an event store: where attribution results live, and reading them back.

``trailbeam attribute`` derives everything here from the store's events, so a run replaces the previous
one as a whole. Layout::

    <store>/identity/run=<run>/sessions.avro     Session, by (issuedAt, issuedByEvent)
    <store>/identity/run=<run>/grants.avro       CredentialGrant, by (grantedAt, eventID)
    <store>/identity/run=<run>/issuers.avro      AttributedEvent of every call that issued a session or
                                                 granted a credential: how each hop was reached
    <store>/identity/run=<run>/uses.avro         CredentialUse, by (credential, account, IP, user agent)
    <store>/identity/run=<run>/attributed/account=…/region=…/date=…/part-HH-<event run>.avro
                                                 AttributedEvent: one file per event file, same order
    <store>/identity/run=<run>/signals.json      credential-misuse signals with their events
    <store>/identity/run=<run>/summary.json      counts; the store runs it covers
    <store>/identity/CURRENT.json                {"run": <run>}: written last, so readers never see a
                                                 half-written run

The record conversions (dataclass <-> Avro record) are here too, so the pipeline and the readers agree.
Pure: stdlib, fastavro and trailbeam's pure modules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import fastavro

from trailbeam import avro, derived, store, timestamps
from trailbeam.attribution import Grant
from trailbeam.sessions import Session
from trailbeam.usage import CredentialUse

IDENTITY = "identity"
CURRENT = derived.CURRENT
SESSIONS = "sessions.avro"
GRANTS = "grants.avro"
USES = "uses.avro"
ISSUERS = "issuers.avro"
ATTRIBUTED = "attributed"
SIGNALS = "signals.json"
SUMMARY = derived.SUMMARY


def run_root(store_root: str, run_id: str) -> str:
    return derived.run_root(store_root, IDENTITY, run_id)


def attributed_file(store_root: str, run_id: str, event_file: str) -> str:
    """The AttributedEvent file for one event file (its path relative to the store's events/ folder)."""
    relative = event_file.split(f"/{store.EVENTS}/", 1)[-1]
    return f"{run_root(store_root, run_id)}/{ATTRIBUTED}/{relative}"


# ---- records ---------------------------------------------------------------------------------------------

def _time(micros: int | None) -> Any:
    return None if micros is None else timestamps.to_datetime(micros)


def _micros(value: Any) -> int | None:
    return None if value is None else timestamps.datetime_micros(value)


def session_record(session: Session) -> dict[str, Any]:
    return {
        "issuedByEvent": session.issued_by_event, "via": session.via, "accessKeyId": session.access_key_id,
        "roleArn": session.role_arn, "sessionName": session.session_name, "assumedArn": session.assumed_arn,
        "callerArn": session.caller_arn, "callerKey": session.caller_key, "callerType": session.caller_type,
        "sourceIdentity": session.source_identity, "issuedAt": _time(session.issued_at),
        "expiresAt": _time(session.expires_at), "account": session.account, "sourceIPAddress": session.source_ip,
        "userAgent": session.user_agent, "samlProvider": session.saml_provider,
        "webIdentityProvider": session.web_identity_provider, "subject": session.subject,
        "sharedEventID": session.shared_event_id, "callerAccount": session.caller_account,
        "crossAccount": session.cross_account, "mfa": session.mfa,
    }


def session_from_record(record: Mapping[str, Any]) -> Session:
    return Session(
        issued_by_event=record["issuedByEvent"], via=record["via"], access_key_id=record["accessKeyId"],
        role_arn=record["roleArn"], session_name=record["sessionName"], assumed_arn=record["assumedArn"],
        caller_arn=record["callerArn"], caller_key=record["callerKey"], caller_type=record["callerType"],
        source_identity=record["sourceIdentity"], issued_at=_micros(record["issuedAt"]) or 0,
        expires_at=_micros(record["expiresAt"]), account=record["account"], source_ip=record["sourceIPAddress"],
        user_agent=record["userAgent"], saml_provider=record["samlProvider"],
        web_identity_provider=record["webIdentityProvider"], subject=record["subject"],
        shared_event_id=record["sharedEventID"], caller_account=record["callerAccount"],
        cross_account=record["crossAccount"], mfa=record["mfa"],
    )


def grant_record(grant: Grant) -> dict[str, Any]:
    return {"eventID": grant.event_id, "kind": grant.kind, "account": grant.account, "userName": grant.user_name,
            "accessKeyId": grant.access_key_id, "grantedAt": _time(grant.granted_at),
            "creator": json.dumps(grant.creator, sort_keys=True, separators=(",", ":"))}


def grant_from_record(record: Mapping[str, Any]) -> Grant:
    return Grant(event_id=record["eventID"], kind=record["kind"], account=record["account"],
                 user_name=record["userName"], access_key_id=record["accessKeyId"],
                 granted_at=_micros(record["grantedAt"]) or 0, creator=json.loads(record["creator"]))


def use_record(use: CredentialUse) -> dict[str, Any]:
    return {"credential": use.credential, "principalArn": use.principal_arn, "account": use.account,
            "sourceIPAddress": use.source_ip, "userAgent": use.user_agent, "originKind": use.origin_kind,
            "originPrincipal": use.origin_principal, "count": use.count, "errors": use.errors,
            "firstSeen": _time(use.first_seen), "lastSeen": _time(use.last_seen),
            "evidence": [{"eventTime": _time(t), "eventID": e} for t, e in use.evidence]}


def use_from_record(record: Mapping[str, Any]) -> CredentialUse:
    return CredentialUse(
        credential=record["credential"], principal_arn=record["principalArn"], account=record["account"],
        source_ip=record["sourceIPAddress"], user_agent=record["userAgent"], origin_kind=record["originKind"],
        origin_principal=record["originPrincipal"], count=record["count"], errors=record["errors"],
        first_seen=_micros(record["firstSeen"]) or 0, last_seen=_micros(record["lastSeen"]) or 0,
        evidence=tuple((_micros(e["eventTime"]) or 0, e["eventID"]) for e in record["evidence"]))


# ---- writing ---------------------------------------------------------------------------------------------

def write_records(fs: store.StoreFS, path: str, schema: str, records: Iterable[dict[str, Any]]) -> int:
    """One deterministic container of fastavro-encoded records (the identity files are small)."""
    return write_encoded(fs, path, schema, (avro.encode(schema, r) for r in records))


def write_encoded(fs: store.StoreFS, path: str, schema: str, records: Iterable[bytes]) -> int:
    """One deterministic container of records that are already encoded."""
    return derived.write_avro(fs, path, IDENTITY, schema, records)


write_json = derived.write_json


def commit(fs: store.StoreFS, store_root: str, run_id: str) -> None:
    """Points readers at a finished run, then removes older runs."""
    derived.commit(fs, store_root, IDENTITY, run_id)


# ---- reading (local stores) --------------------------------------------------------------------------------

def current_run(store_root: str) -> Path:
    """The folder of the committed identity run; ``errors.StoreError`` when there is none."""
    return derived.current_run(store_root, IDENTITY, made_by="attribute")


def _read(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as handle:
        yield from fastavro.reader(handle)


def read_sessions(store_root: str) -> list[Session]:
    return [session_from_record(r) for r in _read(current_run(store_root) / SESSIONS)]


def read_grants(store_root: str) -> list[Grant]:
    return [grant_from_record(r) for r in _read(current_run(store_root) / GRANTS)]


def read_uses(store_root: str) -> list[CredentialUse]:
    return [use_from_record(r) for r in _read(current_run(store_root) / USES)]


def read_issuers(store_root: str) -> dict[str, dict[str, Any]]:
    """AttributedEvent records of the issuing and granting calls, by eventID."""
    return {r["eventID"]: r for r in _read(current_run(store_root) / ISSUERS)}


def read_summary(store_root: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((current_run(store_root) / SUMMARY).read_text())
    return summary


def read_signals(store_root: str) -> list[dict[str, Any]]:
    signals: list[dict[str, Any]] = json.loads((current_run(store_root) / SIGNALS).read_text())
    return signals


def read_attributed(store_root: str, *, start: int | None = None, end: int | None = None
                    ) -> Iterator[dict[str, Any]]:
    """AttributedEvent records with eventTime in [start, end) micros, file by file (partition order)."""
    start_day = timestamps.to_datetime(start).date().isoformat() if start is not None else None
    end_day = timestamps.to_datetime(end).date().isoformat() if end is not None else None
    for path in sorted((current_run(store_root) / ATTRIBUTED).glob("account=*/region=*/date=*/*.avro")):
        day = path.parent.name.partition("=")[2]
        if (start_day and day < start_day) or (end_day and day > end_day):
            continue
        for record in _read(path):
            micros = timestamps.datetime_micros(record["eventTime"])
            if (start is None or micros >= start) and (end is None or micros < end):
                yield record
