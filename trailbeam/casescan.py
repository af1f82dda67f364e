"""One store event file as the case report reads it: its findings, its activity, and the rows it gives.

``trailbeam.case`` reads a store in three passes, file by file (in worker processes), and these are the
per-file halves:

1. ``survey``: every event in the case window once. Runs the event rules of ``trailbeam.detections``
   on the events some rule reads (decided from the encoded eventName/eventSource without decoding the
   rest; Insight events by their ``insightDetails``), counts events per (origin, UTC hour), and keeps,
   per event, its time and a small code for its origin, so that the case can later pick "every event of
   these origins" without reading the file again. It also locates given eventIDs (the evidence of
   credential signals) and the events a focus asks for (a principal, a resource).
2. ``touching``: the events that name a resource within time windows (a bucket read after it was made
   public): a byte search for the resource's name, confirmed by ``resources.resources_of``.
3. ``rows``: the chosen events, decoded, as ``report.TimelineRow`` s, with the identity-graph nodes of
   their credential chains (for the pictures).

Inputs are the bytes of one event file and of its AttributedEvent file (None without attribution);
outputs are small picklable records. The rule ``logging.trail-bucket`` needs the destination buckets of
*all* trails, which only the whole store knows: its calls come back in ``Survey.deferred`` and the case
runs the rule on them once every file has told its trail buckets.

Pure: stdlib, fastavro and trailbeam's pure modules.
"""

from __future__ import annotations

import io
import json
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fastavro

from trailbeam import avrofile, detections, jsonvalue, storescan
from trailbeam.attributed import AttributedReader, attributions_of
from trailbeam.projections.base import call_name, is_failed
from trailbeam.report import TimelineRow
from trailbeam.resources import resources_of

__all__ = ["HOUR", "OUTSIDE", "TRAIL_BUCKET", "CaseEvent", "Plan", "Survey", "needles", "rows", "survey", "touches", "touching"]

HOUR = 3_600_000_000
OUTSIDE = 0xFFFFFFFF            # origin code of an event outside the case window
_REQUEST_CHARS = 600            # characters of requestParameters shown in a row
TRAIL_BUCKET = "logging.trail-bucket"

# The eventNames some event rule reads (rules dispatch on the name without an API-version suffix), and the
# calls of the rule that must wait for every trail's bucket.
_NAMES = frozenset({name for rule in detections.RULES.values() for _, name in rule.calls}
                   | {"CreateTrail", "UpdateTrail", "DescribeTrails", "GetTrail"})     # trail_buckets_of reads these
_TRAIL_BUCKET_CALLS = frozenset(detections.RULES[TRAIL_BUCKET].calls)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What every file's survey looks for; small, so it travels to worker processes cheaply."""

    start: int | None = None                 # the case window, [start, end) UTC micros
    end: int | None = None
    principal: str | None = None             # focus: origin principal or key, or the ARN or key that signed
    resource: str | None = None              # focus: a canonical ARN
    wanted: frozenset[str] = frozenset()     # eventIDs to locate


@dataclass(frozen=True, slots=True, kw_only=True)
class Survey:
    """What one file told the survey."""

    events: int                              # events in the window
    findings: tuple[detections.Finding, ...]  # of every event rule but the trail-bucket rule
    deferred: tuple[tuple[dict[str, Any], dict[str, Any] | None], ...]   # (event, origin) of trail-bucket calls
    trail_buckets: frozenset[str]
    origins: tuple[str, ...]                 # distinct origin labels, indexed by ``codes``
    codes: array                             # per event: its origin's index, OUTSIDE when outside the window
    times: array                             # per event: eventTime, UTC micros
    activity: dict[tuple[str, int], int]     # (origin, hour) -> events
    located: dict[str, int]                  # eventID -> index: wanted events, and those of findings and deferred
    focus: tuple[tuple[int, str], ...]       # (index, eventID) of the events the focus takes


def needles(arn: str) -> tuple[bytes, ...]:
    """Lower-case texts an event naming ``arn`` holds: its last name, raw and as JSON escapes it (a cheap
    test before decoding). For ``arn:aws:s3:::bucket`` that is ``bucket``."""
    token = arn.replace(":", "/").rstrip("/").rpartition("/")[2].lower() or arn.lower()
    return tuple(sorted({token.encode(), jsonvalue.dumps(token)[1:-1]}))


def touches(event: Mapping[str, Any], arn: str) -> bool:
    """Whether the event names ``arn`` or something inside it (an object of a bucket) as a resource."""
    inside = arn + "/"
    return any(ref.arn == arn or ref.arn.startswith(inside) for ref in resources_of(event))


def _origins(attributed: bytes | None, located: storescan.Located, heads: Sequence[bytes]
             ) -> list[tuple[str, str | None]] | None:
    """(originPrincipal, originAccessKey) per event, or None when the file has no matching AttributedEvent file."""
    if attributed is None:
        return None
    found = attributions_of(attributed, heads, [located.event_id(index) for index in range(len(located))])
    return None if found is None else [(a["originPrincipal"], a["originAccessKey"]) for a in found]


def _is_candidate(name_source: bytes, names: dict[bytes, bool]) -> bool:
    """Whether some event rule reads calls of this encoded (eventName, eventSource); cached per file."""
    known = names.get(name_source)
    if known is None:
        known = names[name_source] = call_name({"eventName": storescan.optional_strings(name_source, 1)[0]}) in _NAMES
    return known


def _waits_for_buckets(event: Mapping[str, Any]) -> bool:
    return (event.get("eventSource"), call_name(event)) in _TRAIL_BUCKET_CALLS and not is_failed(event)


def survey(data: bytes, attributed: bytes | None, plan: Plan) -> Survey:
    """Surveys one store event file (a whole Avro container) and its AttributedEvent file (or None).

    Raises:
        ValueError: ``data`` is not a readable store event file.
    """
    located = storescan.locate(data)
    rows_of = list(located.rows())
    origins = _origins(attributed, located, [row[6] for row in rows_of])
    has_insights = b"insightDetails" in located.records
    resource_needles = needles(plan.resource) if plan.resource else ()
    names: dict[bytes, bool] = {}
    identities: dict[bytes, tuple[str | None, str | None]] = {}
    labels: dict[str, int] = {}
    codes, times = array("I"), array("q")
    activity: dict[tuple[str, int], int] = {}
    found: list[detections.Finding] = []
    deferred: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    buckets: set[str] = set()
    located_ids: dict[str, int] = {}
    focus: list[tuple[int, str]] = []
    events = 0
    for index, time, name_source, identity, _place, _failed, _head in rows_of:
        times.append(time)
        if (plan.start is not None and time < plan.start) or (plan.end is not None and time >= plan.end):
            codes.append(OUTSIDE)
            continue
        events += 1
        signer = identities.get(identity)
        if signer is None:
            _, arn, account, key = storescan.optional_strings(identity, 4)
            signer = identities[identity] = (arn, key)
        origin, origin_key = origins[index] if origins is not None else (signer[0] or signer[1] or "unknown", None)
        code = labels.setdefault(origin, len(labels))
        codes.append(code)
        hour = time - time % HOUR
        activity[origin, hour] = activity.get((origin, hour), 0) + 1
        if plan.wanted:
            event_id = located.event_id(index)
            if event_id in plan.wanted:
                located_ids[event_id] = index
        event = None
        if _is_candidate(name_source, names) or (has_insights and b"insightDetails" in located.scanned(index).record):
            event = storescan.original(located.scanned(index))
            origin_record = {"eventID": located.event_id(index), "originPrincipal": origin} if origins else None
            buckets |= detections.trail_buckets_of(event)
            hits = detections.detect_event(event, origin_record)      # no trail buckets: that rule waits
            found += hits
            if _waits_for_buckets(event):
                deferred.append((event, origin_record))
            if hits or _waits_for_buckets(event):
                located_ids[located.event_id(index)] = index
        if plan.principal is not None and plan.principal not in (origin, origin_key, *signer):
            continue
        if plan.resource is not None:
            record = located.scanned(index).record
            if not any(n in record.lower() for n in resource_needles):
                continue
            if event is None:
                event = storescan.original(located.scanned(index))
            if not touches(event, plan.resource):
                continue
        if plan.principal is not None or plan.resource is not None:
            focus.append((index, located.event_id(index)))
    return Survey(events=events, findings=tuple(found), deferred=tuple(deferred), trail_buckets=frozenset(buckets),
                  origins=tuple(labels), codes=codes, times=times, activity=activity, located=located_ids,
                  focus=tuple(focus))


def touching(data: bytes, arn: str, windows: Iterable[tuple[int, int]]) -> list[int]:
    """Indices of the events of one file, within any of the [start, end) ``windows``, that touch ``arn``."""
    spans = sorted(windows)
    located = storescan.locate(data)
    tokens = needles(arn)
    if not any(token in located.records.lower() for token in tokens):
        return []
    found = []
    for index in range(len(located)):
        scanned = located.scanned(index)
        if not any(start <= scanned.event_time < end for start, end in spans):
            continue
        if not any(token in scanned.record.lower() for token in tokens):
            continue
        if touches(storescan.original(scanned), arn):
            found.append(index)
    return found


def _shortened(value: Any) -> str | None:
    if value is None:
        return None
    text = jsonvalue.dumps(value).decode()
    return text if len(text) <= _REQUEST_CHARS else text[:_REQUEST_CHARS - 1] + "\u2026"


def _chain_nodes(record: Mapping[str, Any] | None, key: str | None) -> list[str]:
    """Identity-graph nodes of the credentials behind an event: its key and its chain's sessions."""
    nodes = [f"key:{key}"] if key else []
    if record is not None:
        nodes += [f"session:{hop['issuedByEvent']}" for hop in record.get("chain") or ()]
    return nodes


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseEvent:
    """One event of the case's timeline."""

    row: TimelineRow                         # as the report shows it
    chain: tuple[str, ...]                   # identity-graph nodes of its credentials: its key, its sessions
    record: bytes                            # the encoded TrailEvent, as stored (for exports)
    attributed: dict[str, Any] | None        # its AttributedEvent record


def rows(data: bytes, attributed: bytes | None, picks: Mapping[int, str]) -> list[CaseEvent]:
    """The events at ``picks`` (index -> origin label) of one file and its AttributedEvent file (or None)."""
    located = storescan.locate(data)
    chains = _records_at(attributed, [row[6] for row in located.rows()], set(picks)) if attributed is not None else {}
    out = []
    for index in sorted(picks):
        event_id = located.event_id(index)
        event = storescan.original(located.scanned(index))
        identity = event.get("userIdentity") if isinstance(event.get("userIdentity"), dict) else {}
        principal = identity.get("arn") or ":".join(str(identity[k]) for k in ("accountId", "principalId")
                                                     if identity.get(k)) or identity.get("invokedBy")
        key = identity.get("accessKeyId") if isinstance(identity.get("accessKeyId"), str) else None
        row = TimelineRow(
            time=located.scanned(index).event_time, event_id=event_id,
            event_name=_text(event.get("eventName")), event_source=_text(event.get("eventSource")),
            account=_optional(event.get("recipientAccountId")), region=_optional(event.get("awsRegion")),
            principal=_optional(principal), origin=picks[index], source_ip=_optional(event.get("sourceIPAddress")),
            user_agent=_optional(event.get("userAgent")), error_code=_optional(event.get("errorCode")),
            request=_shortened(event.get("requestParameters")))
        out.append(CaseEvent(row=row, chain=tuple(_chain_nodes(chains.get(index), key)),
                             record=located.scanned(index).record, attributed=chains.get(index)))
    return out


def _records_at(attributed: bytes, heads: Sequence[bytes], indices: set[int]) -> dict[int, dict[str, Any]]:
    """The AttributedEvent records at ``indices`` of one file."""
    walked = AttributedReader.read(attributed, heads)
    if walked is not None:
        return {index: walked.record(index) for index in indices}
    container = avrofile.read_container(attributed)
    schema = fastavro.parse_schema(json.loads(container.schema_json))
    found: dict[int, dict[str, Any]] = {}
    ordered = sorted(indices)
    first = 0
    for count, block in container.blocks:
        at = bisect_left(ordered, first)
        if at < len(ordered) and ordered[at] < first + count:
            buffer = io.BytesIO(block)
            for index in range(first, first + count):
                record = fastavro.schemaless_reader(buffer, schema, None)
                if index in indices:
                    found[index] = record
        first += count
    return found


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else jsonvalue.dumps(value).decode())


def _optional(value: Any) -> str | None:
    return None if value is None else _text(value)
