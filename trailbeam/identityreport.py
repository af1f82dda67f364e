"""The end of an attribution run: sessions, grants, uses, signals and the run summary, written.

The graph is not written here: ``trailbeam graph`` (``graph.build_graph`` over these files) draws it on
demand, whole or for one origin or role, in the format asked for.

Everything here is small (sized by identities, not events), so it runs in one place: the pipeline's last
step, or a notebook. The summary answers the questions a responder asks of the run itself: how many
sessions and keys the trail shows, how events were linked (per basis and confidence), and how many events
made with temporary credentials stayed unattributed, and why.

Pure: stdlib, networkx and trailbeam's pure modules.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from trailbeam import avro, identitystore, signals, store, timestamps
from trailbeam.attribution import Grant, Indexes, grant_order
from trailbeam.sessions import Session
from trailbeam.usage import CredentialUse

__all__ = ["signal_record", "summarize_run", "write_run"]


def _session_order(session: Session) -> tuple[int, str, str]:
    # repr breaks the last ties (conflicting copies of one event share its time and eventID): the file's
    # order never depends on the order the workers delivered the sessions in, nor on set iteration.
    return (session.issued_at, session.issued_by_event, repr(session))


def signal_record(signal: signals.Signal) -> dict[str, Any]:
    """A Signal as JSON: times as ISO 8601 UTC."""
    record = asdict(signal)
    record["first_seen"] = timestamps.format_micros(signal.first_seen)
    record["last_seen"] = timestamps.format_micros(signal.last_seen)
    record["event_ids"] = list(signal.event_ids)
    record["details"] = dict(signal.details)
    return record


def summarize_run(*, run_id: str, sessions: Sequence[Session], grants: Sequence[Grant], indexes: Indexes,
                  uses: Sequence[CredentialUse], counts: dict[str, int], event_files: int,
                  signal_count: int) -> dict[str, Any]:
    issued = {s.access_key_id for s in sessions if s.access_key_id}
    used = {u.credential for u in uses if u.credential.startswith("ASIA")}
    by = lambda prefix: {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith(prefix)}  # noqa: E731
    return {
        "run": run_id,
        "schema_version": avro.SCHEMA_VERSION,
        "event_files": event_files,
        "events": counts.get("events", 0),
        "sessions": len(sessions),
        "sessions_by_call": dict(sorted(Counter(s.via for s in sessions).items())),
        "keys_issued": len(issued),
        "keys_used": len(used),
        "keys_used_and_issued": len(used & issued),
        "keys_used_not_issued": len(used - issued),
        "grants": len(grants),
        "events_by_basis": by("basis:"),
        "events_by_confidence": by("confidence:"),
        "flags": by("flag:"),
        "temporary_credential_events": counts.get("temporary", 0),
        "temporary_unattributed": counts.get("temporary-unattributed", 0),
        "unattributed_reasons": by("reason:"),
        "signals": signal_count,
        "indexed_sessions": len(indexes.by_key),
    }


def write_run(fs: store.StoreFS, store_root: str, run_id: str, *, sessions: Sequence[Session],
              grants: Sequence[Grant], indexes: Indexes, uses: Sequence[CredentialUse],
              issuers: Sequence[tuple[int, str, bytes]], counts: dict[str, int], event_files: int) -> dict[str, Any]:
    """Writes every small file of an identity run (not CURRENT.json: ``identitystore.commit`` does that)."""
    root = identitystore.run_root(store_root, run_id)
    ordered_sessions = sorted(set(sessions), key=_session_order)
    ordered_grants = list(dict.fromkeys(sorted(grants, key=grant_order)))    # equal grants: the first in order
    identitystore.write_records(fs, f"{root}/{identitystore.SESSIONS}", avro.SESSION,
                                map(identitystore.session_record, ordered_sessions))
    identitystore.write_records(fs, f"{root}/{identitystore.GRANTS}", avro.CREDENTIAL_GRANT,
                                map(identitystore.grant_record, ordered_grants))
    identitystore.write_encoded(fs, f"{root}/{identitystore.ISSUERS}", avro.ATTRIBUTED,
                                (record for _, _, record in sorted(set(issuers))))
    identitystore.write_records(fs, f"{root}/{identitystore.USES}", avro.CREDENTIAL_USE,
                                map(identitystore.use_record, uses))
    found = signals.detect(ordered_sessions, uses)
    identitystore.write_json(fs, f"{root}/{identitystore.SIGNALS}", [signal_record(s) for s in found])
    summary = summarize_run(run_id=run_id, sessions=ordered_sessions, grants=ordered_grants, indexes=indexes,
                            uses=uses, counts=counts, event_files=event_files, signal_count=len(found))
    identitystore.write_json(fs, f"{root}/{identitystore.SUMMARY}", summary)
    return summary


def dumps(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=True)
