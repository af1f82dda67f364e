"""Timelines: a filtered, ordered, attributed selection of an event store, written as an event store.

A responder asks "everything this principal did", "this session and what it led to", "every call on this
bucket", "everything from that network". ``select`` answers with the store's events (exact record bytes,
their AttributedEvent when ``trailbeam attribute`` ran), and ``write_timeline`` writes them as a store of
their own, so every command that reads a store reads a timeline (``stats``, ``cat``, ``activity``,
``lineage``, ``attribute``, ``histories``, ``export``, ``replay``)::

    OUT/events/account=…/region=…/date=…/part-HH-<timeline>.avro  TrailEvent, the source records' exact bytes,
                                                                  one file per partition-hour, (eventTime, eventID)
    OUT/_runs/<timeline>/summary.json, files-*.jsonl              as store.commit writes them: one "input" per
                                                                  source event file; read = stored + filtered
    OUT/_runs/<timeline>/timeline.json                            the selection, counts, the context eventIDs
    OUT/integrity/verification=<id>/part-00000.avro               the store's findings on these events' files
    OUT/identity/run=<timeline>/…, CURRENT.json                   the identity dataset cut to the timeline

**Context events.** A timeline must answer as the store does for what it covers: ``trailbeam attribute``
on it must link its events as on the whole store, ``trailbeam histories`` must rebuild the same states.
So every selection also takes in, as *context*, the calls that issued each session of its events' chains
and granted the long-term credentials they descend from (an AttributedEvent names them all: its chain back
to the origin and its ``createdBy`` grants, those of the chain's own credentials included), and a resource
selection takes in the resource's whole change log (every write touching it, whatever the other
criteria). Not covered: an event attributed with low confidence because several sessions fitted its
session name may find only one of them in the timeline, and be linked there.

Criteria combine with AND: ``principal`` (origin principal or key, or the ARN/key that signed; as
``trailbeam activity``), ``session`` (issuing eventID or assumed-role ARN: the session's calls and those of
sessions chained from it), ``access_key`` (calls signed with it or descending from it), ``resource`` (any
spelling of its ARN), ``source_ip`` (exact text or CIDR), ``start``/``end`` (eventTime, UTC micros,
[start, end)) and CloudTrail event ``selectors``. The first three need the identity dataset.

Cost: two passes over the store's files (``storescan``: records are not decoded unless a criterion needs
it); AttributedEvent blocks are decoded only when they hold the principal, session or key asked for, or an
event to take. Memory grows with the selection's positions and ids, the distinct credential uses and one
partition-hour of records. Pure.
"""

from __future__ import annotations

import functools
import hashlib
import io
import ipaddress
import json
import re
import shutil
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import fastavro

from trailbeam import (
    avro, avrofile, changelog, derived, errors, historystore, identityreport, identitystore, partitions,
    store, storescan, summary, timestamps, usage,
)
from trailbeam.attribution import Grant, build_indexes
from trailbeam.eventcodec import string_bytes
from trailbeam.integrity import Finding
from trailbeam.resources import canonical_arn, is_write, resources_of
from trailbeam.selectors import EventFilter
from trailbeam.sessions import Session

__all__ = ["IdentitySubset", "Picked", "Selection", "identity_subset", "select", "write_timeline"]

MANIFEST = "timeline.json"
_SHAPE = "trailbeam-store"       # files-*.jsonl shape of a source event file


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """Which events a timeline holds; every criterion given must hold (AND). See the module docstring."""

    principal: str | None = None
    session: str | None = None
    access_key: str | None = None
    resource: str | None = None
    source_ip: str | None = None
    start: int | None = None
    end: int | None = None
    selectors: EventFilter | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise errors.InputError("the time window is empty: start must be before end")
        _network(self.source_ip)            # a malformed CIDR fails here, not mid-scan

    @property
    def needs_identity(self) -> bool:
        return any((self.principal, self.session, self.access_key))

    @property
    def is_everything(self) -> bool:
        return self == Selection()

    def describe(self) -> dict[str, Any]:
        """JSON-ready: the criteria given (times ISO 8601 UTC)."""
        found: dict[str, Any] = {k: v for k in ("principal", "session", "access_key", "resource", "source_ip")
                                 if (v := getattr(self, k)) is not None}
        found |= {k: timestamps.format_micros(v) for k in ("start", "end") if (v := getattr(self, k)) is not None}
        if self.selectors is not None:
            found["selectors"] = self.selectors.describe()
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Picked:
    """One event of a selection."""

    event_time: int                        # UTC micros
    event_id: str
    record: bytes                          # the encoded TrailEvent, exactly as stored
    attributed: dict[str, Any] | None      # its AttributedEvent (fastavro dict); None without identity data
    partition: str                         # account=…/region=…/date=…
    hour: int
    source_file: str                       # the store event file it came from
    context: bool                          # included only to keep the timeline self-contained

    @property
    def row(self) -> dict[str, Any]:
        """The whole TrailEvent record, decoded."""
        return avro.decode(avro.EVENT, self.record)


# ---- criteria -------------------------------------------------------------------------------------------

def _network(text: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if text is None or "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise errors.InputError(f"source IP {text!r} is neither an address nor a CIDR network") from None


def _ip_matches(wanted: str, network: Any, ip: str | None) -> bool:
    if ip is None:
        return False
    if network is None:
        return ip == wanted
    try:
        return ipaddress.ip_address(ip) in network
    except ValueError:                     # service names (ec2.amazonaws.com) are in no network
        return False


def _resource_needles(arn: str) -> tuple[bytes, ...]:
    """Lower-case texts an event naming ``arn`` holds: its last name (for an account, its id), raw and as
    JSON escapes it. A cheap test before decoding; the history dataset's change log backs it up."""
    parts = arn.split(":", 5)
    token = parts[4] if len(parts) == 6 and parts[5] == "root" else re.split(r"[/:]", arn)[-1] or arn
    token = token.lower()
    return tuple({token.encode(), json.dumps(token)[1:-1].encode()})


def _identity_matches(selection: Selection, record: Mapping[str, Any]) -> bool:
    hops = record.get("chain") or ()
    if selection.principal is not None and selection.principal not in (
            record["originPrincipal"], record["originAccessKey"], record["identityArn"], record["accessKeyId"]):
        return False
    if selection.session is not None and record["identityArn"] != selection.session and not any(
            selection.session in (hop["issuedByEvent"], hop["assumedArn"]) for hop in hops):
        return False
    return selection.access_key is None or selection.access_key in (
        record["accessKeyId"], record["originAccessKey"], *(hop["accessKeyId"] for hop in hops))


def _lineage(record: Mapping[str, Any]) -> list[str]:
    """The issuing and granting calls an attribution rests on."""
    return [hop["issuedByEvent"] for hop in record.get("chain") or ()] + list(record.get("createdBy") or ())


# ---- reading AttributedEvent files ----------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _parsed(schema_json: str) -> Any:
    return fastavro.parse_schema(json.loads(schema_json))


class _Attributed:
    """One AttributedEvent file (a whole container); a block is decoded the first time one of its records
    is asked for."""

    def __init__(self, data: bytes) -> None:
        container = avrofile.read_container(data)
        self._schema = _parsed(container.schema_json)
        self._blocks = container.blocks
        self._starts = [0]
        for count, _ in container.blocks:
            self._starts.append(self._starts[-1] + count)
        self.count = self._starts[-1]
        self._decoded: dict[int, list[dict[str, Any]]] = {}

    def record(self, index: int) -> dict[str, Any]:
        block = bisect_right(self._starts, index) - 1
        if block not in self._decoded:
            count, data = self._blocks[block]
            buffer = io.BytesIO(data)
            reader = avro.parsed_schemas()[avro.ATTRIBUTED]
            # Read through the current schema, so an older file's records get the fields added since.
            self._decoded[block] = [cast(dict[str, Any], fastavro.schemaless_reader(buffer, self._schema, reader))
                                    for _ in range(count)]
        return self._decoded[block][index - self._starts[block]]

    def holding(self, text: str) -> Iterator[int]:
        """Indices of the records in blocks that hold ``text`` as a whole string field (as Avro encodes it)."""
        needle = string_bytes(text)
        for block, (count, data) in enumerate(self._blocks):
            if needle in data:
                yield from range(self._starts[block], self._starts[block] + count)


@dataclass(frozen=True, slots=True)
class _Source:
    root: Path
    identity: Path | None                  # the committed identity run's folder
    known_context: frozenset[str]          # a timeline's own context events (marked again when re-selected)

    @classmethod
    def open(cls, store_root: str) -> _Source:
        root = store.check_store(store_root)
        run = derived.committed_run(store.LOCAL, str(root), identitystore.IDENTITY)
        known: set[str] = set()
        for path in sorted(root.glob(f"{store.RUNS}/*/{MANIFEST}")):
            known.update(json.loads(path.read_text())["context_event_ids"])
        return cls(root, None if run is None else root / identitystore.IDENTITY / f"run={run}", frozenset(known))

    def attributed(self, event_file: Path, events: int) -> _Attributed | None:
        """The AttributedEvent file of one event file; None when attribution did not cover it."""
        if self.identity is None:
            return None
        path = self.identity / identitystore.ATTRIBUTED / event_file.relative_to(self.root / store.EVENTS)
        if not path.exists():
            return None
        found = _Attributed(path.read_bytes())
        if found.count != events:
            raise errors.StoreError(f"{path} does not match its event file: run `trailbeam attribute` again")
        return found


def _record_of(attributed: _Attributed | None, index: int, event_id: str) -> dict[str, Any] | None:
    if attributed is None:
        return None
    record = attributed.record(index)
    if record["eventID"] != event_id:
        raise errors.StoreError(f"the identity dataset is out of step with the events at {event_id}: run "
                                "`trailbeam attribute` again")
    return record


# ---- selecting ------------------------------------------------------------------------------------------

def _matches_in(located: storescan.Located, attributed: _Attributed | None, selection: Selection,
                source: _Source) -> dict[int, bool]:
    """index -> context? for the events of one file the selection takes (before lineage)."""
    indices: Any = range(len(located))
    if selection.resource is not None:
        arn = canonical_arn(selection.resource.strip())
        needles = _resource_needles(arn)
        lowered = located.records.lower()
        if not any(needle in lowered for needle in needles):
            return {}
        indices = [i for i in indices if any(n in located.scanned(i).record.lower() for n in needles)]
    elif selection.needs_identity:
        needle = selection.principal or selection.session or selection.access_key or ""
        indices = sorted(set(attributed.holding(needle))) if attributed is not None else []
    network = _network(selection.source_ip)
    found: dict[int, bool] = {}
    for index in indices:
        scanned = located.scanned(index)
        event = None
        if selection.resource is not None:
            event = storescan.original(scanned)
            if arn not in {ref.arn for ref in resources_of(event)}:
                continue
        time = scanned.event_time
        core = ((selection.start is None or time >= selection.start) and (selection.end is None or time < selection.end)
                and (selection.source_ip is None or _ip_matches(
                    selection.source_ip, network, storescan.optional_strings(scanned.place, 3)[1])))
        if core and selection.needs_identity:
            record = _record_of(attributed, index, scanned.event_id)
            core = record is not None and _identity_matches(selection, record)
        if core and selection.selectors is not None:
            event = event if event is not None else storescan.original(scanned)
            core = selection.selectors.matches(event)
        if core:
            found[index] = selection.is_everything and scanned.event_id in source.known_context
        elif event is not None and is_write(event) and arn in {ref.arn for ref in changelog.written_resources(event)}:
            found[index] = True            # the resource's change log (as `trailbeam histories` makes it), whole
    return found


def _hour_of(path: Path) -> int:
    return int(path.name[len("part-"):len("part-") + 2])


@dataclass(frozen=True, slots=True)
class _Group:
    partition: str
    hour: int
    picked: list[Picked]
    reports: list[dict[str, Any]]          # one per source event file (files-*.jsonl rows)


def _groups(store_root: str, selection: Selection) -> Iterator[_Group]:
    """The selection, one partition-hour at a time (partition order), each sorted by (eventTime, eventID)."""
    source = _Source.open(store_root)
    files = store.event_files(store_root)
    if selection.needs_identity and source.identity is None:
        raise errors.StoreError(f"{store_root} has no identity data yet: run `trailbeam attribute --store "
                                f"{store_root}` first (selecting by principal, session or key needs it)")
    # Pass 1: positions of the matching events, and the calls their attributions rest on (lineage).
    positions: dict[Path, dict[int, bool]] = {}
    wanted: set[str] = set()
    for path in files:
        located = storescan.locate(path.read_bytes())
        attributed = source.attributed(path, len(located)) if selection.needs_identity else None
        positions[path] = found = _matches_in(located, attributed, selection, source)
        if found and attributed is None:
            attributed = source.attributed(path, len(located))
        for index in found:
            record = _record_of(attributed, index, located.event_id(index))
            wanted.update(_lineage(record) if record is not None else ())
    if selection.resource is not None and (source.root / historystore.HISTORY / derived.CURRENT).exists():
        wanted.update(r["eventID"] for r in historystore.read_changes(store_root, selection.resource))
    # Pass 2: the records, grouped per partition-hour.
    group: _Group | None = None
    for path in files:
        data = path.read_bytes()
        located = storescan.locate(data)
        partition, hour = path.parent.relative_to(source.root / store.EVENTS).as_posix(), _hour_of(path)
        if group is not None and (group.partition, group.hour) != (partition, hour):
            yield _sorted(group)
            group = None
        group = group or _Group(partition, hour, [], [])
        found = positions[path]
        picks = [i for i in range(len(located)) if i in found or located.event_id(i) in wanted]
        attributed = source.attributed(path, len(located)) if picks else None
        for index in picks:
            scanned = located.scanned(index)
            group.picked.append(Picked(event_time=scanned.event_time, event_id=scanned.event_id,
                                       record=scanned.record, partition=partition, hour=hour, source_file=str(path),
                                       attributed=_record_of(attributed, index, scanned.event_id),
                                       context=found.get(index, True)))
        group.reports.append({
            "uri": str(path), "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "content_sha256": None,
            "etag": None, "kind": "other", "shape": _SHAPE, "records": len(located), "events": len(picks),
            "filtered": len(located) - len(picks), "quarantined": 0, "rejected": False})
    if group is not None:
        yield _sorted(group)


def _sorted(group: _Group) -> _Group:
    group.picked.sort(key=lambda p: (p.event_time, p.event_id, p.record))
    return group


def select(store_root: str, selection: Selection) -> Iterator[Picked]:
    """The events of a local store that ``selection`` takes, plus their context events (module docstring).

    Events come a partition-hour at a time, in partition order, each partition-hour sorted by (eventTime,
    eventID): sort them for one chronological order across partitions.

    Raises:
        errors.StoreError: not a store; a principal, session or key selection on a store without identity
            data; an identity dataset out of step with the events.
    """
    for group in _groups(store_root, selection):
        yield from group.picked


# ---- the identity dataset of a selection ----------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class IdentitySubset:
    """The identity dataset cut to a set of events: what ``trailbeam attribute`` finds in them."""

    sessions: tuple[Session, ...]          # issued by the events
    grants: tuple[Grant, ...]              # granted by the events
    issuers: tuple[tuple[int, str, bytes], ...]   # (eventTime, eventID, AttributedEvent) of those calls
    uses: tuple[usage.CredentialUse, ...]  # credential uses of the events, aggregated
    counts: dict[str, int]                 # events per basis, confidence, reason, flag (identityreport)


class _Tally:
    """Credential uses and attribution counts of AttributedEvent records, as the attribute pipeline counts."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.uses: list[usage.CredentialUse] = []
        self.counts: dict[str, int] = {}

    def add(self, record: Mapping[str, Any]) -> None:
        self.ids.add(record["eventID"])
        time = timestamps.datetime_micros(record["eventTime"])
        self.uses.append(usage.use_of(
            credential=record["accessKeyId"] or record["identityArn"] or record["originPrincipal"],
            principal_arn=record["identityArn"], account=record["recipientAccountId"],
            source_ip=record["sourceIPAddress"], user_agent=record["userAgent"], origin_kind=record["originKind"],
            origin_principal=record["originPrincipal"], event_time=time, event_id=record["eventID"],
            failed=record["errorCode"] is not None))
        if len(self.uses) > 4096:          # merge as we go: uses are few, events many
            self.uses = usage.merge_all(self.uses)
        keys = ["events", f"basis:{record['basis']}", f"confidence:{record['confidence']}",
                *(f"flag:{flag}" for flag in record.get("flags") or ())]
        if record["reason"] is not None:
            keys.append(f"reason:{record['reason']}")
        if record["session"] is not None or (record["accessKeyId"] or "").startswith("ASIA"):
            keys.append("temporary")
            if record["basis"] == "none" or record["confidence"] == "low":
                keys.append("temporary-unattributed")
        for key in keys:
            self.counts[key] = self.counts.get(key, 0) + 1

    def subset(self, store_root: str) -> IdentitySubset:
        ids = self.ids
        issuers = identitystore.read_issuers(store_root)
        return IdentitySubset(
            sessions=tuple(s for s in identitystore.read_sessions(store_root) if s.issued_by_event in ids),
            grants=tuple(g for g in identitystore.read_grants(store_root) if g.event_id in ids),
            issuers=tuple((timestamps.datetime_micros(r["eventTime"]), i, avro.encode(avro.ATTRIBUTED, r))
                          for i, r in sorted(issuers.items()) if i in ids),
            uses=tuple(usage.merge_all(self.uses)), counts=dict(sorted(self.counts.items())))


def identity_subset(store_root: str, records: Iterable[Mapping[str, Any]]) -> IdentitySubset:
    """The identity dataset of a local store cut to the events whose AttributedEvent ``records`` are given."""
    tally = _Tally()
    for record in records:
        tally.add(record)
    return tally.subset(store_root)


# ---- writing a timeline ---------------------------------------------------------------------------------

def _check_out(out_root: str) -> None:
    out = Path(out_root)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise errors.InputError(f"{out_root} exists and is not an empty folder: a timeline is written into a "
                                "new one")


def _copy_integrity(store_root: str, out_root: str, hashes: set[str]) -> int:
    """The store's findings on the timeline's source files (by content SHA-256), and those about no file."""
    kept: dict[str, list[Finding]] = {}
    fields = Finding.__dataclass_fields__
    for record in store.read_integrity(store_root):
        if record["sha256"] is None or record["sha256"] in hashes:
            values = {k: v for k, v in record.items() if k in fields}
            values["hour"] = None if record["hour"] is None else timestamps.datetime_micros(record["hour"])
            kept.setdefault(record["verification"], []).append(Finding(**values))
    for verification, findings in sorted(kept.items()):
        store.write_integrity(out_root, verification, findings)
    return sum(map(len, kept.values()))


def write_timeline(store_root: str, selection: Selection, out_root: str, *, timeline_id: str,
                   codec: str = "zstandard") -> dict[str, Any]:
    """Writes the selection as a new event store at ``out_root`` (layout in the module docstring).

    Returns:
        The timeline's summary: the run summary ``store.commit`` wrote, with a ``timeline`` section.

    Raises:
        errors.InputError: ``out_root`` exists and is not empty; errors.StoreError: as ``select``.
    """
    _check_out(out_root)
    staging = store.staging_root(out_root, timeline_id)
    identity_root = identitystore.run_root(out_root, timeline_id)
    source = _Source.open(store_root)
    reports: list[dict[str, Any]] = []
    written: list[dict[str, Any]] = []
    context: list[str] = []
    hashes: set[str] = set()
    tally = _Tally()
    complete = source.identity is not None          # so far, every event has its AttributedEvent
    for group in _groups(store_root, selection):
        reports += group.reports
        if not group.picked:
            continue
        key = f"{group.partition}#{group.hour}"
        with store.LOCAL.create(store.partition_file(staging, key, timeline_id)) as out:
            avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.EVENT),
                                     records=(p.record for p in group.picked), codec=codec,
                                     seed=f"{timeline_id}/{key}",
                                     metadata={"trailbeam.schema.version": str(avro.SCHEMA_VERSION)})
        picked, rows = group.picked, [p.row for p in group.picked]
        written.append({"key": key, "path": store.partition_file(out_root, key, timeline_id),
                        **partitions.parse_partition_path(group.partition), "read": len(picked), "stored": len(picked),
                        "duplicates": 0, "conflicts": sum(row["conflict"] for row in rows),
                        "first": picked[0].event_time, "last": picked[-1].event_time})
        context += [p.event_id for p in picked if p.context]
        hashes.update(row["source"]["contentSha256"] for row in rows)
        records = [p.attributed for p in picked if p.attributed is not None]
        complete = complete and len(records) == len(picked)
        if complete:                       # the identity run is invisible until committed: write as we go
            path = f"{identity_root}/{identitystore.ATTRIBUTED}/{group.partition}/part-{group.hour:02d}-{timeline_id}"
            identitystore.write_encoded(store.LOCAL, f"{path}.avro", avro.ATTRIBUTED,
                                        (avro.encode(avro.ATTRIBUTED, r) for r in records))
            for record in records:
                tally.add(record)
    findings = _copy_integrity(store_root, out_root, hashes)
    identity_run = None
    if complete and written:
        identity_run = timeline_id
        subset = tally.subset(store_root)
        identityreport.write_run(store.LOCAL, out_root, timeline_id, sessions=subset.sessions, grants=subset.grants,
                                 indexes=build_indexes(subset.sessions, subset.grants), uses=subset.uses,
                                 issuers=subset.issuers, counts=subset.counts, event_files=len(written))
        identitystore.commit(store.LOCAL, out_root, timeline_id)
    elif Path(identity_root).exists():      # some events have no attribution: no identity data, rather than wrong
        shutil.rmtree(Path(out_root) / identitystore.IDENTITY)
    events = sum(p["stored"] for p in written)
    details = {"source_store": str(source.root.resolve()), "selection": selection.describe(), "events": events,
               "context_events": len(context), "integrity_findings": findings, "identity_run": identity_run}
    run = summary.summarize(run_id=timeline_id, sources=[str(source.root.resolve())], reports=reports,
                            partitions=written, quarantine=[])
    run["timeline"] = details
    derived.write_json(store.LOCAL, f"{out_root.rstrip('/')}/{store.RUNS}/{timeline_id}/{MANIFEST}",
                       {**details, "context_event_ids": sorted(set(context))})
    store.commit(out_root, timeline_id, run, reports)
    return run
