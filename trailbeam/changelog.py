"""Resource change logs, in two steps that each see a bounded part of the store.

1. Per event file (``changelog_file``): every write event becomes one ``Touch`` per resource it touched
   (``resources.resources_of``), carrying the members of the event that replay needs; failed calls are
   kept (attempts are evidence). With ``reads=True`` the other events are folded into ``ReadAccess``
   aggregates per (resource, principal, origin, UTC hour), so that a bucket read millions of times
   leaves a few rows per principal and hour. Write events no resource could be found for are counted
   per (eventSource, eventName), as ``resources.coverage`` counts them.
2. Per resource (``resource_log``): its touches, in any order and from any files, replayed through its
   projection (``history.build_history``) into ``Entry`` rows in replay order, each with the state after it.

The origin of each event comes from the identity dataset when ``trailbeam attribute`` ran: its
AttributedEvent file for an event file holds the same events in the same order. The join is checked
eventID by eventID and dropped for the whole file when they disagree (origins stay null).

Which events are writes: ``resources.is_write`` on the decoded event. Events whose ``readOnly`` column is
true are reads without being decoded (unless read aggregates are wanted).

Pure: stdlib, fastavro and trailbeam's pure modules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from heapq import nsmallest
from typing import Any

from trailbeam import jsonvalue, storescan
from trailbeam.attributed import attributions_of
from trailbeam.history import ResourceChange, history_steps
from trailbeam.projections import DEFAULT, Registry, to_json
from trailbeam.projections.base import text
from trailbeam.resources import ResourceRef, is_write, resources_of

__all__ = ["EVIDENCE", "HOUR", "Entry", "FileChangelog", "ReadAccess", "ReadKey", "Tally", "Touch", "changelog_file",
           "merge_reads", "merge_tallies", "minimal_event", "principal_of", "read_accesses",
           "resource_log", "written_resources"]

EVIDENCE = 5                   # eventIDs kept per read aggregate: the earliest, by (eventTime, eventID)
HOUR = 3_600_000_000           # micros

# The members of an event that replay and the change log read (projections: requestParameters,
# responseElements, errorCode, eventName...; history: the caller, IP, user agent). The rest of the event
# stays in the store; a custom projection that reads other members needs them added here.
_KEPT = ("eventTime", "eventID", "eventName", "eventSource", "eventType", "eventCategory", "awsRegion",
         "recipientAccountId", "readOnly", "errorCode", "errorMessage", "sourceIPAddress", "userAgent",
         "requestParameters", "responseElements")
_KEPT_IDENTITY = ("type", "arn", "accountId", "principalId", "invokedBy", "userName", "accessKeyId")

# AttributedEvent read through a reader schema of three fields: fastavro skips the rest.
Origin = tuple[str | None, str | None]          # (originPrincipal, originKind)
ReadKey = tuple[str, str, str, int]             # resource ARN, principal or "", origin or "", hour (micros)


@dataclass(frozen=True, slots=True, kw_only=True)
class Touch:
    """One write event on one resource, as it travels to the resource's group."""

    ref: ResourceRef
    event_time: int                  # UTC micros
    event_id: str
    event: bytes                     # canonical JSON of minimal_event(event)
    origin_principal: str | None
    origin_kind: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadAccess:
    """Read or data access to one resource by one principal (and origin) in one UTC hour, aggregated."""

    resource_arn: str
    resource_type: str
    principal: str | None
    origin_principal: str | None
    hour: int                        # start of the UTC hour, micros
    count: int
    errors: int                      # failed calls
    first_seen: int
    last_seen: int
    evidence: tuple[tuple[int, str], ...]   # (eventTime, eventID) of the earliest EVIDENCE calls, sorted

    @property
    def key(self) -> ReadKey:
        return self.resource_arn, self.principal or "", self.origin_principal or "", self.hour


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    """Counts of the per-file step, summed over files with ``merge_tallies``.

    ``counts`` keys: events, write_events, write_attempts, write_unresolved, touches, read_events,
    read_unresolved, joined_files, joined_events, mismatched_files.
    """

    counts: Mapping[str, int]
    unresolved: Mapping[tuple[str, str], int]     # (eventSource, eventName) -> write events without a resource


@dataclass(frozen=True, slots=True, kw_only=True)
class FileChangelog:
    """What one event file contributes to the change logs and read aggregates."""

    touches: tuple[Touch, ...]       # in file order; one per (write event, resource)
    reads: tuple[ReadAccess, ...]    # this file's aggregates (merge across files with merge_reads)
    tally: Tally


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One entry of a resource's change log."""

    change: ResourceChange           # history's row; ``origin`` and ``principal`` filled in here
    sequence: int                    # position in the resource's replay order, from 0
    origin_kind: str | None
    state_after: str                 # canonical JSON of projections.to_json(state after the entry)


# ---- one event file -----------------------------------------------------------------------------------

def principal_of(event: Mapping[str, Any]) -> str | None:
    """The caller: ``userIdentity.arn``; else ``accountId:principalId`` (another account), else ``invokedBy``."""
    identity = event.get("userIdentity")
    arn = text(identity, "arn")
    if arn is not None:
        return arn
    account, principal_id = text(identity, "accountId"), text(identity, "principalId")
    if account and principal_id:
        return f"{account}:{principal_id}"
    return text(identity, "invokedBy")


def minimal_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The members of ``event`` that replay needs (``_KEPT``; ``userIdentity`` cut to the caller's names)."""
    kept = {key: event[key] for key in _KEPT if key in event}
    identity = event.get("userIdentity")
    if isinstance(identity, Mapping):
        kept["userIdentity"] = {key: identity[key] for key in _KEPT_IDENTITY if key in identity}
    return kept


def _joined(events: Sequence[storescan.Scanned], attributed: bytes | None) -> list[Origin] | None:
    """Origins aligned with ``events``, or None when there is no attributed file or it does not match."""
    if attributed is None:
        return None
    found = attributions_of(attributed, [event.head for event in events], [event.event_id for event in events])
    return None if found is None else [(a["originPrincipal"], a["originKind"]) for a in found]


def read_accesses(event: Mapping[str, Any], event_time: int, event_id: str, *, failed: bool,
                  origin_principal: str | None = None, refs: Iterable[ResourceRef] | None = None
                  ) -> list[ReadAccess]:
    """One read event as single-call aggregates, one per resource it touched (``refs``: resources_of)."""
    principal = principal_of(event)
    hour = event_time - event_time % HOUR
    return [ReadAccess(resource_arn=ref.arn, resource_type=ref.type, principal=principal,
                       origin_principal=origin_principal, hour=hour, count=1, errors=int(failed),
                       first_seen=event_time, last_seen=event_time, evidence=((event_time, event_id),))
            for ref in (resources_of(event) if refs is None else refs)]


def merge_reads(a: ReadAccess, b: ReadAccess) -> ReadAccess:
    """Two aggregates of one key as one (associative and commutative: a Beam combiner uses it)."""
    return replace(a, resource_type=min(a.resource_type, b.resource_type), count=a.count + b.count,
                   errors=a.errors + b.errors, first_seen=min(a.first_seen, b.first_seen),
                   last_seen=max(a.last_seen, b.last_seen),
                   evidence=tuple(nsmallest(EVIDENCE, set(a.evidence) | set(b.evidence))))


def written_resources(event: Mapping[str, Any]) -> tuple[ResourceRef, ...]:
    """The resources whose change logs a write event belongs to: ``resources_of``, except that a data
    event's container (CloudTrail names the bucket of every object call) is left out when the event names a
    resource inside it. The bucket's log keeps the bucket's own calls, and one busy bucket's millions of
    PutObject calls never become one group."""
    refs = resources_of(event)
    if event.get("managementEvent") is not False and event.get("eventCategory") != "Data":
        return refs
    inner = [ref.arn for ref in refs]
    return tuple(ref for ref in refs if not any(arn.startswith(ref.arn + "/") for arn in inner))


def changelog_file(data: bytes, attributed: bytes | None = None, *, reads: bool = False) -> FileChangelog:
    """What one store event file (a whole Avro container) contributes to change logs and read aggregates.

    Args:
        data: the event file.
        attributed: its AttributedEvent file from the identity dataset, if there is one.
        reads: also aggregate the events that are not writes (each is then decoded).

    Raises:
        ValueError: ``data`` is not a readable store event file.
    """
    events = list(storescan.locate(data))
    origins = _joined(events, attributed)
    counts: Counter[str] = Counter(events=len(events), joined_files=int(origins is not None),
                                   joined_events=len(events) if origins is not None else 0,
                                   mismatched_files=int(attributed is not None and origins is None))
    unresolved: Counter[tuple[str, str]] = Counter()
    touches: list[Touch] = []
    aggregates: dict[ReadKey, ReadAccess] = {}
    for index, scanned in enumerate(events):
        if scanned.read_only is True and not reads:
            continue
        event = storescan.original(scanned)
        origin_principal, origin_kind = origins[index] if origins is not None else (None, None)
        write = is_write(event)
        if not write and not reads:
            continue
        refs = written_resources(event) if write else resources_of(event)
        if write:
            counts["write_events"] += 1
            counts["write_attempts"] += scanned.failed
            if not refs:
                unresolved[(text(event, "eventSource") or "", text(event, "eventName") or "")] += 1
                continue
            encoded = jsonvalue.dumps(minimal_event(event))
            touches.extend(Touch(ref=ref, event_time=scanned.event_time, event_id=scanned.event_id, event=encoded,
                                 origin_principal=origin_principal, origin_kind=origin_kind) for ref in refs)
        else:
            counts["read_events"] += 1
            counts["read_unresolved"] += not refs
            for access in read_accesses(event, scanned.event_time, scanned.event_id, failed=scanned.failed,
                                        origin_principal=origin_principal, refs=refs):
                known = aggregates.get(access.key)
                aggregates[access.key] = access if known is None else merge_reads(known, access)
    counts["write_unresolved"] = sum(unresolved.values())
    counts["touches"] = len(touches)
    return FileChangelog(touches=tuple(touches), reads=tuple(aggregates[key] for key in sorted(aggregates)),
                         tally=Tally(counts=dict(sorted(counts.items())), unresolved=dict(unresolved)))


def merge_tallies(tallies: Iterable[Tally]) -> Tally:
    """The sum of per-file tallies."""
    counts: Counter[str] = Counter()
    unresolved: Counter[tuple[str, str]] = Counter()
    for tally in tallies:
        counts.update(tally.counts)
        unresolved.update(tally.unresolved)
    return Tally(counts=dict(sorted(counts.items())), unresolved=dict(sorted(unresolved.items())))


# ---- one resource -------------------------------------------------------------------------------------

def _chosen_ref(arn: str, touches: Sequence[Touch]) -> ResourceRef:
    """The resource's ref: the type most events gave it (ties: the smallest), its smallest account/region."""
    types = Counter(t.ref.type for t in touches)
    kind = min(types, key=lambda name: (-types[name], name))
    return min((t.ref for t in touches if t.ref.type == kind), key=lambda r: (r.account or "", r.region or ""))


def _state_json(state: Any) -> str:
    return jsonvalue.dumps(to_json(state)).decode()


def resource_log(arn: str, touches: Iterable[Touch], *, registry: Registry = DEFAULT) -> tuple[ResourceRef, list[Entry]]:
    """One resource's change log from its touches (any order, copies allowed): its ref and entries.

    Copies of one eventID are logged once, as ``history.build_history`` replays them: the copy with the
    smallest canonical JSON, whose origin is kept (ties: the smallest origin).
    """
    touches = list(touches)
    ref = _chosen_ref(arn, touches)
    chosen: dict[str, Touch] = {}
    for touch in touches:
        kept = chosen.get(touch.event_id)
        if kept is None or (touch.event, touch.origin_principal or "", touch.origin_kind or "") < (
                kept.event, kept.origin_principal or "", kept.origin_kind or ""):
            chosen[touch.event_id] = touch
    events = [jsonvalue.loads(touch.event) for touch in chosen.values()]
    entries = []
    for sequence, (change, event, state) in enumerate(history_steps(ref, events, registry=registry)):
        touch = chosen[change.event_id]
        change = replace(change, origin=touch.origin_principal, principal=principal_of(event))
        entries.append(Entry(change=change, sequence=sequence, origin_kind=touch.origin_kind,
                             state_after=_state_json(state)))
    return ref, entries
