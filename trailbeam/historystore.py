"""The history dataset inside an event store: where change logs live, writing them, reading them back.

``trailbeam histories`` derives everything here from the store's events (and, when present, the identity
dataset), so a run replaces the previous one as a whole. Layout::

    <store>/history/run=<run>/changes/part-SSSSS.avro     ResourceChange, by (resourceArn, sequence)
    <store>/history/run=<run>/resources/part-SSSSS.avro   ResourceSummary, by resourceArn
    <store>/history/run=<run>/reads/part-SSSSS.avro       ResourceReads, by (resourceArn, hour, principal,
                                                          originPrincipal); only with --reads
    <store>/history/run=<run>/summary.json                counts, coverage, shards
    <store>/history/CURRENT.json                          {"run": <run>}: written last

A resource lives in shard ``shard_of(arn, shards)`` (a stable hash) of all three folders, so reading one
resource's log opens one file. Every shard has its files, empty or not.

Record conversions, shard writing and the questions the CLI asks (``state_at``, ``states_of_type``,
``diff_between``) are here too. Pure: stdlib, fastavro and trailbeam's pure modules.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro

from trailbeam import avro, derived, errors, identitystore, jsonvalue, sharding, store, timestamps
from trailbeam.changelog import Entry, ReadAccess, Tally
from trailbeam.projections import DEFAULT, UNKNOWN, Change, FrozenMap, diff, to_json
from trailbeam.projections.state import UNKNOWN_JSON
from trailbeam.resources import ResourceRef, canonical_arn

HISTORY = "history"
CURRENT = derived.CURRENT
CHANGES = "changes"
RESOURCES = "resources"
READS = "reads"
SUMMARY = derived.SUMMARY
SHARDS = 16                    # the least a run gets; a run records its own count in summary.json
# Stored events (compressed Avro) per shard. A shard's writer holds its resources' encoded change logs,
# measured at ~70 MB per million events (155 MB of store), so ~120 MB per shard whatever the store size.
STORE_BYTES_PER_SHARD = 256 << 20
TOP_UNRESOLVED = 10


def run_root(store_root: str, run_id: str) -> str:
    return derived.run_root(store_root, HISTORY, run_id)


def shards_for(store_bytes: int) -> int:
    """How many shards a run over ``store_bytes`` of stored events gets: enough that no shard's writer
    grows with the store (one per ``STORE_BYTES_PER_SHARD``), and at least ``SHARDS``."""
    return sharding.shard_count(store_bytes, STORE_BYTES_PER_SHARD, minimum=SHARDS)


def shard_of(arn: str, shards: int) -> int:
    """The shard of a resource: a stable hash of its ARN (the same in every process and run)."""
    return int.from_bytes(hashlib.sha256(arn.encode()).digest()[:8], "big") % shards


def shard_file(root: str, folder: str, shard: int) -> str:
    return f"{root}/{folder}/part-{shard:05d}.avro"


# ---- records ------------------------------------------------------------------------------------------

def _time(micros: int) -> Any:
    return timestamps.to_datetime(micros)


def _json_text(value: Any) -> str:
    return jsonvalue.dumps(value).decode()


def change_record(ref: ResourceRef, entry: Entry) -> dict[str, Any]:
    change = entry.change
    return {
        "resourceArn": ref.arn, "resourceType": ref.type, "sequence": entry.sequence,
        "eventTime": _time(change.event_time), "eventID": change.event_id, "eventName": change.event_name,
        "eventSource": change.event_source, "principal": change.principal, "originPrincipal": change.origin,
        "originKind": entry.origin_kind, "sourceIPAddress": change.source_ip, "userAgent": change.user_agent,
        "errorCode": change.error_code, "applied": change.applied,
        "changes": [{"path": list(c.path), "before": _json_text(c.before), "after": _json_text(c.after)}
                    for c in change.changes],
        "stateAfter": entry.state_after,
    }


def summary_record(ref: ResourceRef, entries: list[Entry]) -> dict[str, Any]:
    first, last = entries[0], entries[-1]
    return {
        "resourceArn": ref.arn, "resourceType": ref.type, "account": ref.account, "region": ref.region,
        "entries": len(entries), "attempts": sum(not e.change.applied for e in entries),
        "changing": sum(bool(e.change.changes) for e in entries),
        "firstEventTime": _time(first.change.event_time), "firstEventID": first.change.event_id,
        "lastEventTime": _time(last.change.event_time), "lastEventID": last.change.event_id,
        "lastEventName": last.change.event_name, "finalState": last.state_after,
    }


def reads_record(access: ReadAccess) -> dict[str, Any]:
    return {
        "resourceArn": access.resource_arn, "resourceType": access.resource_type, "principal": access.principal,
        "originPrincipal": access.origin_principal, "hour": _time(access.hour), "count": access.count,
        "errors": access.errors, "firstSeen": _time(access.first_seen), "lastSeen": _time(access.last_seen),
        "evidence": [event_id for _, event_id in access.evidence],
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class EncodedLog:
    """One resource's change log, encoded for its shard's files (what the per-resource step ships)."""

    arn: str
    type: str
    changes: tuple[bytes, ...]      # ResourceChange records in sequence order
    summary: bytes                  # its ResourceSummary record
    attempts: int
    changing: int


def encode_log(ref: ResourceRef, entries: list[Entry]) -> EncodedLog:
    summary = summary_record(ref, entries)
    return EncodedLog(arn=ref.arn, type=ref.type,
                      changes=tuple(avro.encode(avro.RESOURCE_CHANGE, change_record(ref, e)) for e in entries),
                      summary=avro.encode(avro.RESOURCE_SUMMARY, summary), attempts=summary["attempts"],
                      changing=summary["changing"])


# ---- writing ------------------------------------------------------------------------------------------

def _write(fs: store.StoreFS, path: str, schema: str, records: Iterable[bytes]) -> int:
    return derived.write_avro(fs, path, HISTORY, schema, records)


def write_shard(fs: store.StoreFS, store_root: str, run_id: str, shard: int, logs: Iterable[EncodedLog],
                reads: Iterable[ReadAccess] | None) -> dict[str, int]:
    """Writes one shard's files, sorted whatever order the logs and aggregates came in; returns its counts.

    ``reads`` None: read aggregates were not asked for, and no reads file is written.
    """
    root = run_root(store_root, run_id)
    ordered = sorted(logs, key=lambda log: log.arn)
    counts: Counter[str] = Counter(resources=len(ordered))
    for log in ordered:
        counts[f"type:{log.type}"] += 1
        counts["entries"] += len(log.changes)
        counts["attempts"] += log.attempts
        counts["changing"] += log.changing
    _write(fs, shard_file(root, CHANGES, shard), avro.RESOURCE_CHANGE,
           (record for log in ordered for record in log.changes))
    _write(fs, shard_file(root, RESOURCES, shard), avro.RESOURCE_SUMMARY, (log.summary for log in ordered))
    if reads is not None:
        rows = sorted(reads, key=lambda r: (r.resource_arn, r.hour, r.principal or "", r.origin_principal or ""))
        counts["read_rows"] = len(rows)
        counts["read_calls"] = sum(r.count for r in rows)
        _write(fs, shard_file(root, READS, shard), avro.RESOURCE_READS,
               (avro.encode(avro.RESOURCE_READS, reads_record(r)) for r in rows))
    return dict(counts)


def run_summary(*, run_id: str, identity_run: str | None, shards: int, reads: bool, event_files: int,
                tally: Tally, shard_counts: Iterable[Mapping[str, int]]) -> dict[str, Any]:
    """summary.json: what the run covered and how much of the write activity found a resource."""
    written: Counter[str] = Counter()
    for part in shard_counts:
        written.update(part)
    counts = tally.counts
    writes, unresolved = counts.get("write_events", 0), counts.get("write_unresolved", 0)
    top = sorted(tally.unresolved.items(), key=lambda item: (-item[1], item[0]))[:TOP_UNRESOLVED]
    summary: dict[str, Any] = {
        "run": run_id, "identity_run": identity_run, "schema_version": avro.SCHEMA_VERSION, "shards": shards,
        "event_files": event_files, "events": counts.get("events", 0),
        "write_events": writes, "write_attempts": counts.get("write_attempts", 0),
        "write_unresolved": unresolved, "write_unresolved_share": round(unresolved / writes, 6) if writes else 0.0,
        "top_unresolved": [{"event_source": s, "event_name": n, "count": c} for (s, n), c in top],
        "resources": written["resources"],
        "resources_by_type": {k.partition(":")[2]: v for k, v in sorted(written.items()) if k.startswith("type:")},
        "entries": written["entries"], "attempts": written["attempts"], "changing_entries": written["changing"],
        "attribution": {"joined_files": counts.get("joined_files", 0), "joined_events": counts.get("joined_events", 0),
                        "mismatched_files": counts.get("mismatched_files", 0)},
        "reads": None,
    }
    if reads:
        summary["reads"] = {"read_events": counts.get("read_events", 0),
                            "unresolved": counts.get("read_unresolved", 0),
                            "aggregates": written["read_rows"], "accesses": written["read_calls"]}
    return summary


def commit(fs: store.StoreFS, store_root: str, run_id: str, summary: dict[str, Any]) -> None:
    """Writes the run's summary, points readers at the run, then removes older runs."""
    derived.write_json(fs, f"{run_root(store_root, run_id)}/{SUMMARY}", summary)
    derived.commit(fs, store_root, HISTORY, run_id)


def identity_run(fs: store.StoreFS, store_root: str) -> str | None:
    """The store's committed identity run, if ``trailbeam attribute`` ran (the join's source)."""
    return derived.committed_run(fs, store_root, identitystore.IDENTITY)


# ---- reading (local stores) ---------------------------------------------------------------------------

def current_run(store_root: str) -> Path:
    """The folder of the committed history run; ``errors.StoreError`` when there is none."""
    return derived.current_run(store_root, HISTORY, made_by="histories")


def read_summary(store_root: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((current_run(store_root) / SUMMARY).read_text())
    return summary


def _read(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with open(path, "rb") as handle:
        yield from fastavro.reader(handle)


def _shard_path(store_root: str, folder: str, arn: str) -> Path:
    run = current_run(store_root)
    shards = json.loads((run / SUMMARY).read_text())["shards"]
    return Path(shard_file(str(run), folder, shard_of(arn, shards)))


def read_resource(store_root: str, arn: str) -> dict[str, Any] | None:
    """The ResourceSummary of a resource (any spelling of its ARN); None when it has no change log."""
    arn = canonical_arn(arn.strip())
    return next((r for r in _read(_shard_path(store_root, RESOURCES, arn)) if r["resourceArn"] == arn), None)


def read_resources(store_root: str) -> Iterator[dict[str, Any]]:
    """Every ResourceSummary, shard by shard."""
    for path in sorted((current_run(store_root) / RESOURCES).glob("part-*.avro")):
        yield from _read(path)


def read_changes(store_root: str, arn: str) -> list[dict[str, Any]]:
    """A resource's ResourceChange records in sequence order (empty when it has none)."""
    arn = canonical_arn(arn.strip())
    return [r for r in _read(_shard_path(store_root, CHANGES, arn)) if r["resourceArn"] == arn]


def read_reads(store_root: str, arn: str | None = None) -> Iterator[dict[str, Any]]:
    """ResourceReads records, of one resource or all (empty when the run did not aggregate reads)."""
    if arn is not None:
        arn = canonical_arn(arn.strip())
        yield from (r for r in _read(_shard_path(store_root, READS, arn)) if r["resourceArn"] == arn)
        return
    for path in sorted((current_run(store_root) / READS).glob("part-*.avro")):
        yield from _read(path)


# ---- questions ----------------------------------------------------------------------------------------

def state_from_json(value: Any) -> Any:
    """``to_json``'s output back into a state (FrozenMap, tuples, UNKNOWN), so states can be diffed."""
    if isinstance(value, dict):
        if value == UNKNOWN_JSON:
            return UNKNOWN
        return FrozenMap((key, state_from_json(item)) for key, item in value.items())
    if isinstance(value, list):
        return tuple(state_from_json(item) for item in value)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceState:
    """A resource's state at a moment, replayed from its change log."""

    arn: str
    type: str
    at: int                          # UTC micros
    entries: int                     # entries at or before ``at`` (attempts included)
    last: dict[str, Any] | None      # the last such ResourceChange record; None: none yet, all unknown
    state: Any                       # JSON value (projections.to_json form)


def _micros(value: Any) -> int:
    return timestamps.datetime_micros(value)


def _state_of(arn: str, kind: str, changes: list[dict[str, Any]], at: int) -> ResourceState:
    upto = [c for c in changes if _micros(c["eventTime"]) <= at]
    last = upto[-1] if upto else None
    state = jsonvalue.loads(last["stateAfter"]) if last else to_json(DEFAULT.for_type(kind).initial())
    return ResourceState(arn=arn, type=kind, at=at, entries=len(upto), last=last, state=state)


def _known(store_root: str, arn: str) -> tuple[str, dict[str, Any]]:
    arn = canonical_arn(arn.strip())
    resource = read_resource(store_root, arn)
    if resource is None:
        raise errors.InputError(f"{arn} has no change log in {store_root}: no write event touched it")
    return arn, resource


def log_of(store_root: str, arn: str) -> list[dict[str, Any]]:
    """A resource's ResourceChange records in sequence order.

    Raises:
        errors.StoreError: no history data; errors.InputError: the resource has no change log.
    """
    arn, _ = _known(store_root, arn)
    return read_changes(store_root, arn)


def state_at(store_root: str, arn: str, at: int) -> ResourceState:
    """The state after every entry at or before ``at`` (inclusive); every field unknown before the first.

    Raises:
        errors.StoreError: no history data; errors.InputError: the resource has no change log.
    """
    arn, resource = _known(store_root, arn)
    return _state_of(arn, resource["resourceType"], read_changes(store_root, arn), at)


def states_of_type(store_root: str, resource_type: str, at: int) -> list[ResourceState]:
    """The state at ``at`` of every resource of a type whose log starts at or before ``at``, by ARN.

    Raises:
        errors.StoreError: no history data; errors.InputError: no resource of that type has a change log.
    """
    of_type = [r for r in read_resources(store_root) if r["resourceType"] == resource_type]
    if not of_type:
        known = sorted(read_summary(store_root)["resources_by_type"])
        raise errors.InputError(f"no resource of type {resource_type!r} has a change log in {store_root} "
                                f"(types: {', '.join(known) or 'none'})")
    wanted = {r["resourceArn"] for r in of_type if _micros(r["firstEventTime"]) <= at}
    logs: dict[str, list[dict[str, Any]]] = {arn: [] for arn in wanted}
    for path in sorted((current_run(store_root) / CHANGES).glob("part-*.avro")):
        for record in _read(path):
            if record["resourceArn"] in logs:
                logs[record["resourceArn"]].append(record)
    return [_state_of(arn, resource_type, logs[arn], at) for arn in sorted(logs)]


def diff_between(store_root: str, arn: str, start: int, end: int) -> tuple[list[Change], list[dict[str, Any]]]:
    """What changed between the state at ``start`` and at ``end`` (both inclusive), and the entries between
    (eventTime in (start, end]).

    Raises:
        errors.StoreError, errors.InputError: as ``state_at``.
    """
    arn, resource = _known(store_root, arn)
    changes = read_changes(store_root, arn)
    before = _state_of(arn, resource["resourceType"], changes, start)
    after = _state_of(arn, resource["resourceType"], changes, end)
    between = [c for c in changes if start < _micros(c["eventTime"]) <= end]
    return diff(state_from_json(before.state), state_from_json(after.state)), between
