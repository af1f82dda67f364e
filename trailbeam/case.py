"""The case: what the incident report shows, gathered from an event store.

``gather`` reads a store that has been ingested (and, for the full picture, attributed and replayed into
resource histories) and returns the ``report.ReportData`` that ``report.render`` turns into HTML:

* **scope**: sources, accounts, regions, time range and counts from the store's run summaries, plus the
  focus asked for;
* **integrity**: the digest verification findings stored with ``verify --store`` (``store.read_integrity``),
  or "not verified";
* **findings**: ``trailbeam.detections`` over every event in the case window, and the identity dataset's
  credential signals (``detections.from_signals``). With a principal or resource focus, only the findings
  whose evidence the focus takes (or that name the principal);
* **timeline**: with a focus, the events it takes (a principal: as ``trailbeam activity`` matches it; a
  resource: the events naming it or something inside it). Without one, the case builds itself around
  its findings: the events behind every finding, every event of the origins behind the *involving*
  findings (``INVOLVING`` severities; all findings when there are none), and the events that touched a
  resource such a finding names within ``EXPOSURE_WINDOW`` after it (who read the bucket once it was
  public). At most ``max_events`` rows: the events behind findings first, then those nearest in time to
  a finding, with a note saying how many were left out;
* **identities**: per origin in the timeline (the busiest ``MAX_PICTURES``), the part of the identity graph
  its events' credentials come from (keys and session chains back to the origin, the roles they reached);
* **activity**: events per UTC hour of each origin in the timeline, over the whole case window;
* **changes**: the change logs (history dataset) of the resources findings name, cut to the entries whose
  events are in the timeline.

The store is read in passes, file by file, by ``trailbeam.casescan`` (in worker processes for large
stores): a survey of every event, a search for events touching exposed resources, and the decoding of
the chosen rows. Memory holds ~10 bytes per event plus the rows.
"""

from __future__ import annotations

import json
import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import networkx as nx

from trailbeam import (
    avro, casescan, charts, cloudtrail, derived, detections, errors, exports, graph, historystore, identitystore,
    jsonvalue, partitions, report, store, timestamps,
)
from trailbeam.projections.state import ABSENT_JSON, UNKNOWN_JSON
from trailbeam.resources import canonical_arn

__all__ = ["EXPOSURE_WINDOW", "INVOLVING", "MAX_PICTURES", "Case", "Focus", "build", "find", "gather",
           "finding_json"]

INVOLVING = ("high",)                      # severities whose origins and resources make the case
EXPOSURE_WINDOW = 24 * casescan.HOUR       # how long after a finding the events touching its resource are kept
MAX_PICTURES = 6
MAX_CHANGED_RESOURCES = 12
_PARALLEL_BYTES = 64 << 20                 # worker processes pay off on stores larger than this

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Focus:
    """What the case is about; nothing given: the whole store, built around its findings."""

    principal: str | None = None           # origin principal or key, or the ARN or key that signed
    resource: str | None = None            # any spelling of an ARN
    start: int | None = None               # UTC micros, [start, end)
    end: int | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise errors.InputError("the time window is empty: --start must be before --end")

    @property
    def narrows(self) -> bool:
        return self.principal is not None or self.resource is not None

    def describe(self) -> tuple[tuple[str, str], ...]:
        shown = [("principal", self.principal), ("resource", self.resource),
                 ("from", None if self.start is None else timestamps.format_micros(self.start)),
                 ("until", None if self.end is None else timestamps.format_micros(self.end))]
        return tuple((what, value) for what, value in shown if value is not None)

    def covers(self, micros: int) -> bool:
        return (self.start is None or micros >= self.start) and (self.end is None or micros < self.end)


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    report: report.ReportData
    findings: tuple[detections.Finding, ...]
    events: tuple[casescan.CaseEvent, ...]   # the timeline's events, in (eventTime, eventID) order
    counts: dict[str, int]                 # events surveyed, candidates for the timeline, rows, ...
    seconds: dict[str, float]              # time spent per phase: findings, timeline, report data

    def export_rows(self, integrity: Iterable[Mapping[str, Any]]) -> list[exports.ExportRow]:
        """The timeline for ``exports.write_rows``; ``integrity``: the store's findings (store.read_integrity)."""
        index = exports.IntegrityIndex(integrity)
        found = []
        for event in self.events:
            record = avro.decode(avro.EVENT, event.record)
            found.append(exports.ExportRow(
                event_time=event.row.time, event_id=event.row.event_id, event=cloudtrail.original_event(record),
                event_json=record["cloudTrailEvent"], attributed=event.attributed, source=record["source"],
                integrity=index.status(record["source"])))
        return found


# ---- files and workers ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _File:
    events: str                            # the event file
    attributed: str | None                 # its AttributedEvent file, when attribution covered it


def _files(store_root: str, focus: Focus) -> list[_File]:
    root = store.check_store(store_root)
    paths = store.event_files(store_root, start_day=_day(focus.start), end_day=_day(focus.end))
    run = derived.committed_run(store.LOCAL, str(root), identitystore.IDENTITY)
    found = []
    for path in paths:
        attributed = None
        if run is not None:
            candidate = (root / identitystore.IDENTITY / f"run={run}" / identitystore.ATTRIBUTED
                         / path.relative_to(root / store.EVENTS))
            attributed = str(candidate) if candidate.exists() else None
        found.append(_File(str(path), attributed))
    return found


def _day(micros: int | None) -> str | None:
    return None if micros is None else timestamps.format_micros(micros)[:10]


def _read(path: str | None) -> bytes | None:
    return None if path is None else Path(path).read_bytes()


def _survey_job(job: tuple[_File, casescan.Plan]) -> casescan.Survey:
    file, plan = job
    return casescan.survey(Path(file.events).read_bytes(), _read(file.attributed), plan)


def _touching_job(job: tuple[_File, str, tuple[tuple[int, int], ...]]) -> list[int]:
    file, arn, windows = job
    return casescan.touching(Path(file.events).read_bytes(), arn, windows)


def _rows_job(job: tuple[_File, dict[int, str]]) -> list[casescan.CaseEvent]:
    file, picks = job
    return casescan.rows(Path(file.events).read_bytes(), _read(file.attributed), picks)


def _map(function: Callable[[Any], T], jobs: Sequence[Any], workers: int) -> list[T]:
    if workers <= 1 or len(jobs) < 4:
        return [function(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, jobs, chunksize=max(1, len(jobs) // (workers * 8))))


def _workers(files: Sequence[_File], workers: int | None) -> int:
    if workers is not None:
        return workers or (os.cpu_count() or 1)
    size = sum(os.path.getsize(f.events) for f in files)
    return (os.cpu_count() or 1) if size > _PARALLEL_BYTES else 1


# ---- findings ---------------------------------------------------------------------------------------------

def _signals(store_root: str) -> list[dict[str, Any]]:
    try:
        return identitystore.read_signals(store_root)
    except errors.StoreError:              # no identity dataset: no credential signals
        return []


@dataclass(frozen=True, slots=True)
class _Surveyed:
    files: list[_File]
    surveys: list[casescan.Survey]
    findings: list[detections.Finding]
    workers: int


def _survey(store_root: str, focus: Focus, workers: int | None) -> _Surveyed:
    files = _files(store_root, focus)
    signal_findings = [f for f in detections.from_signals(_signals(store_root)) if focus.covers(f.time)]
    plan = casescan.Plan(start=focus.start, end=focus.end, principal=focus.principal,
                         resource=canonical_arn(focus.resource.strip()) if focus.resource else None,
                         wanted=frozenset(i for f in signal_findings for i in f.event_ids))
    chosen = _workers(files, workers)
    surveys = _map(_survey_job, [(file, plan) for file in files], chosen)
    found = [f for survey in surveys for f in survey.findings]
    buckets = frozenset().union(*(survey.trail_buckets for survey in surveys))
    for survey in surveys:
        for event, origin in survey.deferred:
            found += [f for f in detections.detect_event(event, origin, trail_buckets=buckets)
                      if f.rule == casescan.TRAIL_BUCKET]
    found += signal_findings
    if focus.narrows:
        taken = {event_id for survey in surveys for _, event_id in survey.focus}
        found = [f for f in found if taken.intersection(f.event_ids)
                 or (focus.principal is not None and focus.principal in (f.principal, f.origin, f.resource))]
    return _Surveyed(files, surveys, detections.sort_findings(found), chosen)


def find(store_root: str, *, focus: Focus = Focus(), workers: int | None = None) -> list[detections.Finding]:
    """The findings of a local store within the focus (see the module docstring), in ``sort_findings`` order.

    Raises:
        errors.StoreError: not a store.
    """
    return _survey(store_root, focus, workers).findings


def finding_json(finding: detections.Finding) -> dict[str, Any]:
    """A finding as JSON (time ISO 8601 UTC, details as an object)."""
    return {"rule": finding.rule, "category": finding.category, "severity": finding.severity,
            "title": finding.title, "summary": finding.summary, "time": timestamps.format_micros(finding.time),
            "event_ids": list(finding.event_ids), "resource": finding.resource, "principal": finding.principal,
            "origin": finding.origin, "details": dict(finding.details)}


# ---- choosing the timeline --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, order=True)
class _Candidate:
    rank: int                              # 0: evidence of a finding; 1: anything else
    distance: int                          # micros to the nearest finding
    time: int
    file: int
    index: int


def _involving(findings: Sequence[detections.Finding]) -> list[detections.Finding]:
    return [f for f in findings if f.severity in INVOLVING] or list(findings)


def _exposure_windows(findings: Iterable[detections.Finding], focus: Focus) -> dict[str, list[tuple[int, int]]]:
    windows: dict[str, list[tuple[int, int]]] = {}
    for finding in findings:
        if finding.resource is not None:
            end = finding.time + EXPOSURE_WINDOW
            windows.setdefault(finding.resource, []).append((finding.time, end if focus.end is None
                                                             else min(end, focus.end)))
    return windows


def _candidates(surveyed: _Surveyed, focus: Focus) -> list[_Candidate]:
    findings = surveyed.findings
    times = sorted(f.time for f in findings)

    def distance(micros: int) -> int:
        at = bisect_left(times, micros)
        return min((abs(times[i] - micros) for i in (at - 1, at) if 0 <= i < len(times)), default=0)

    evidence = {event_id for f in findings for event_id in f.event_ids}
    chosen: dict[tuple[int, int], _Candidate] = {}

    def take(file: int, index: int, rank: int) -> None:
        key = (file, index)
        time = surveyed.surveys[file].times[index]
        if key not in chosen or chosen[key].rank > rank:
            chosen[key] = _Candidate(rank, distance(time), time, file, index)

    for number, survey in enumerate(surveyed.surveys):
        for event_id, index in survey.located.items():
            if event_id in evidence:
                take(number, index, 0)
        if focus.narrows:
            for index, _ in survey.focus:
                take(number, index, 1)
    if not focus.narrows:
        involving = _involving(findings)
        origins = {f.origin or f.principal for f in involving} - {None}
        for number, survey in enumerate(surveyed.surveys):
            codes = {code for code, label in enumerate(survey.origins) if label in origins}
            if codes:
                for index, code in enumerate(survey.codes):
                    if code in codes:
                        take(number, index, 1)
        for arn, windows in sorted(_exposure_windows(involving, focus).items()):
            days = {_day(t) for start, end in windows
                    for t in range(start - start % (24 * casescan.HOUR), end, 24 * casescan.HOUR)}
            jobs = [(number, (file, arn, tuple(windows))) for number, file in enumerate(surveyed.files)
                    if partitions.parse_partition_path(file.events.rpartition("/events/")[2]).get("date") in days]
            hits = _map(_touching_job, [job for _, job in jobs], surveyed.workers)
            for (number, _), indices in zip(jobs, hits):
                for index in indices:
                    take(number, index, 1)
    return sorted(chosen.values())


# ---- identities, changes, activity ------------------------------------------------------------------------

def _identity_graph(store_root: str) -> nx.MultiDiGraph | None:
    try:
        return graph.build_graph(identitystore.read_sessions(store_root), identitystore.read_uses(store_root),
                                 identitystore.read_grants(store_root))
    except errors.StoreError:
        return None


def _chain_picture(whole: nx.MultiDiGraph, origin: str, nodes: Iterable[str]) -> nx.MultiDiGraph | None:
    """The credentials behind some events: ``nodes`` (keys, sessions), everything they came from (back to the
    origin), and the roles and keys the sessions among them assumed and held."""
    keep: set[str] = set()
    start = graph.node_for_principal(whole, origin)
    if start is not None:
        keep.add(start)
    for node in nodes:
        if node in whole:
            keep |= {node, *nx.ancestors(whole, node)}
    for node in list(keep):
        keep |= {target for _, target, relation in whole.out_edges(node, keys=True) if relation in ("assumed", "holds")}
    return nx.MultiDiGraph(whole.subgraph(keep)) if len(keep) > 1 else None


def _pictures(store_root: str, events: Sequence[casescan.CaseEvent],
              findings: Sequence[detections.Finding], focus: Focus) -> tuple[report.IdentityPicture, ...]:
    whole = _identity_graph(store_root)
    if whole is None:
        return ()
    weight: dict[str, int] = {}
    nodes: dict[str, set[str]] = {}
    for event in events:
        origin = event.row.origin
        if origin is not None:
            weight[origin] = weight.get(origin, 0) + 1
            nodes.setdefault(origin, set()).update(event.chain)
    involved = {f.origin for f in _involving(findings)} & set(weight) if not focus.narrows else set()
    if involved:                           # the origins behind the findings that make the case, not every lead
        weight = {origin: n for origin, n in weight.items() if origin in involved}
    pictures = []
    for origin in sorted(weight, key=lambda o: (-weight[o], o)):
        picture = _chain_picture(whole, origin, sorted(nodes.get(origin, ())))
        if picture is not None:
            pictures.append(report.IdentityPicture(
                title=f"credentials of {origin}", graph=picture,
                note="Keys and session chains behind this origin's events in the timeline, back to the origin."))
        if len(pictures) == MAX_PICTURES:
            break
    return tuple(pictures)


def _shown(value: Any) -> str:
    """A JSON value of the history dataset as compact text, its unknown and absent markers as bare words."""
    if value == UNKNOWN_JSON:
        return "unknown"
    if value == ABSENT_JSON:
        return "absent"
    text = jsonvalue.dumps(value).decode()
    return text if len(text) <= 400 else text[:399] + "\u2026"


def _path(path: Sequence[str]) -> str:
    head, *rest = path or ("<state>",)
    return head + "".join(f"[{json.dumps(part)}]" for part in rest)


def _changes(store_root: str, arns: Sequence[str], in_timeline: set[str], focus: Focus
             ) -> tuple[report.ResourceHistory, ...]:
    try:
        historystore.current_run(store_root)
    except errors.StoreError:
        return ()
    found = []
    for arn in arns:
        summary = historystore.read_resource(store_root, arn)
        if summary is None:
            continue
        log = historystore.read_changes(store_root, arn)
        kept = [c for c in log if c["eventID"] in in_timeline
                and focus.covers(timestamps.datetime_micros(c["eventTime"]))]
        entries = tuple(report.ChangeEntry(
            time=timestamps.datetime_micros(c["eventTime"]), event_id=c["eventID"], event_name=c["eventName"],
            principal=c["principal"], origin=c["originPrincipal"], applied=c["applied"], error_code=c["errorCode"],
            changes=tuple(report.FieldChange(path=_path(d["path"]), before=_shown(jsonvalue.loads(d["before"])),
                                             after=_shown(jsonvalue.loads(d["after"]))) for d in c["changes"]))
            for c in kept)
        others = len(log) - len(kept)
        found.append(report.ResourceHistory(
            arn=arn, type=summary["resourceType"], entries=entries,
            note=f"{others:,} other entries of its change log are outside the case (trailbeam history ARN)"
            if others else ""))
    return tuple(found)


def _activity(surveys: Sequence[casescan.Survey], origins: set[str], first: set[str]) -> tuple[charts.Series, ...]:
    """Events per hour of ``origins``: those in ``first`` (behind the findings that make the case) first, each
    group busiest first."""
    counts: dict[str, dict[int, int]] = {}
    for survey in surveys:
        for (origin, hour), n in survey.activity.items():
            if origin in origins:
                per_hour = counts.setdefault(origin, {})
                per_hour[hour] = per_hour.get(hour, 0) + n
    order = sorted(counts, key=lambda o: (o not in first, -sum(counts[o].values()), o))
    return tuple(charts.Series(label=origin, counts=counts[origin]) for origin in order)


# ---- scope and integrity ----------------------------------------------------------------------------------

_COUNTED = (("events stored", "stored"), ("records read", "read"), ("duplicate deliveries dropped", "duplicates"),
            ("records quarantined", "quarantined"), ("records filtered out", "filtered"),
            ("conflicting copies", "conflicts"))


def _scope(store_root: str, focus: Focus, extra: Sequence[tuple[str, int]]) -> report.Scope:
    runs = store.run_summaries(store_root)
    firsts = [timestamps.parse_micros(r["first_event"]) for r in runs if r.get("first_event")]
    lasts = [timestamps.parse_micros(r["last_event"]) for r in runs if r.get("last_event")]
    counts = [(label, sum(r["records"].get(key, 0) for r in runs)) for label, key in _COUNTED]
    counts.insert(2, ("files read", sum(r["files"].get("read", 0) for r in runs)))
    return report.Scope(
        sources=tuple(sorted({s for r in runs for s in r.get("sources", ())})),
        accounts=tuple(sorted({a for r in runs for a in r.get("accounts", ())})),
        regions=tuple(sorted({g for r in runs for g in r.get("regions", ())})),
        first_event=min(firsts, default=None), last_event=max(lasts, default=None),
        counts=(*counts, *extra), focus=focus.describe())


def _integrity(store_root: str) -> report.Integrity:
    records = list(store.read_integrity(store_root))
    if not records:
        return report.Integrity(status="not verified", summary=(
            "no digest verification is stored with these events: nothing proves the logs are what CloudTrail "
            "delivered (give the digest files with the logs, or run trailbeam verify --store)"))
    counts: dict[str, int] = {}
    for record in records:
        counts[record["kind"]] = counts.get(record["kind"], 0) + 1
    problems = tuple(report.IntegrityProblem(
        severity=r["severity"], kind=r["kind"], account=r["account"], region=r["region"], trail=r["trail"],
        hour=None if r["hour"] is None else timestamps.datetime_micros(r["hour"]), subject=r["subject"],
        detail=r["detail"]) for r in records if r["severity"] != "ok")
    verifications = ", ".join(sorted({r["verification"] for r in records}))
    invalid = sum(1 for p in problems if p.severity == "invalid")
    if invalid:
        status, summary = "problems", f"{invalid:,} invalid findings (verification {verifications})"
    elif counts.get("digest_valid"):
        status = "verified"
        summary = (f"{counts['digest_valid']:,} digests and {counts.get('log_valid', 0):,} log files valid "
                   f"(verification {verifications})" + (f"; {len(problems):,} warnings" if problems else ""))
    else:
        status, summary = "not verified", f"no valid digest among the stored findings (verification {verifications})"
    return report.Integrity(status=status, summary=summary, counts=tuple(sorted(counts.items())), problems=problems)


# ---- the whole case ---------------------------------------------------------------------------------------

def _report_finding(f: detections.Finding) -> report.ReportFinding:
    return report.ReportFinding(rule=f.rule, category=f.category, severity=f.severity, title=f.title,
                                summary=f.summary, time=f.time, event_ids=f.event_ids, resource=f.resource,
                                principal=f.principal, origin=f.origin, details=f.details)


def _chosen(candidates: list[_Candidate], max_events: int) -> list[_Candidate]:
    if len(candidates) <= max_events:
        return candidates
    return sorted(candidates)[:max_events]           # evidence first, then the nearest to a finding


def _rows(surveyed: _Surveyed, chosen: Sequence[_Candidate]) -> list[casescan.CaseEvent]:
    rules: dict[str, list[str]] = {}
    for finding in surveyed.findings:
        for event_id in finding.event_ids:
            if finding.rule not in rules.setdefault(event_id, []):
                rules[event_id].append(finding.rule)
    picks: dict[int, dict[int, str]] = {}
    for candidate in chosen:
        survey = surveyed.surveys[candidate.file]
        picks.setdefault(candidate.file, {})[candidate.index] = survey.origins[survey.codes[candidate.index]]
    jobs = [(surveyed.files[number], picked) for number, picked in sorted(picks.items())]
    found = [replace(event, row=replace(event.row, findings=tuple(rules[event.row.event_id])))
             if event.row.event_id in rules else event
             for events in _map(_rows_job, jobs, surveyed.workers) for event in events]
    return sorted(found, key=lambda e: (e.row.time, e.row.event_id, e.record))


def _iter_arns(findings: Iterable[detections.Finding], focus: Focus) -> Iterator[str]:
    if focus.resource is not None:
        yield canonical_arn(focus.resource.strip())
    for finding in findings:
        if finding.resource is not None:
            yield finding.resource


def build(store_root: str, *, focus: Focus = Focus(), max_events: int = 20_000, title: str | None = None,
          generated: str | None = None, workers: int | None = None) -> Case:
    """The case of a local store: the report's data and the findings (see the module docstring).

    Args:
        focus: a principal, resource and/or time window; nothing: the whole store, around its findings.
        max_events: timeline rows at most.
        title: the report's title (default: from the focus).
        generated: shown under the title, e.g. the time and the trailbeam version.
        workers: worker processes (None: one per CPU for stores over 64 MB, else in-process; 0: one per CPU).

    Raises:
        errors.StoreError: not a store.
    """
    if max_events < 1:
        raise errors.InputError("max_events must be at least 1")
    clock = time.perf_counter()
    surveyed = _survey(store_root, focus, workers)
    seconds = {"findings": time.perf_counter() - clock}
    clock = time.perf_counter()
    candidates = _candidates(surveyed, focus)
    chosen = _chosen(candidates, max_events)
    events = _rows(surveyed, chosen)
    seconds["timeline"] = time.perf_counter() - clock
    clock = time.perf_counter()
    timeline = tuple(event.row for event in events)
    in_timeline = {row.event_id for row in timeline}
    note = None
    if len(chosen) < len(candidates):
        note = (f"{len(candidates) - len(chosen):,} of {len(candidates):,} events of the case are not shown (at most "
                f"{max_events:,}): those behind findings come first, then those nearest in time to a finding.")
    arns = list(dict.fromkeys(_iter_arns(_involving(surveyed.findings), focus)))[:MAX_CHANGED_RESOURCES]
    counts = {"events in the case window": sum(s.events for s in surveyed.surveys), "findings": len(surveyed.findings),
              "events of the case": len(candidates), "events in the timeline": len(timeline)}
    data = report.ReportData(
        title=title or _title(focus), generated=generated,
        scope=_scope(store_root, focus, tuple(counts.items())),
        integrity=_integrity(store_root),
        findings=tuple(_report_finding(f) for f in surveyed.findings),
        identities=_pictures(store_root, events, surveyed.findings, focus),
        activity=_activity(surveyed.surveys, {row.origin for row in timeline if row.origin is not None},
                           {f.origin or f.principal or "" for f in _involving(surveyed.findings)}),
        changes=_changes(store_root, arns, in_timeline, focus),
        timeline=timeline, timeline_note=note, notes=_notes(store_root))
    seconds["report data"] = time.perf_counter() - clock
    return Case(report=data, findings=tuple(surveyed.findings), events=tuple(events), counts=counts, seconds=seconds)


def _title(focus: Focus) -> str:
    if focus.principal is not None:
        return f"Incident report: {focus.principal}"
    if focus.resource is not None:
        return f"Incident report: {focus.resource}"
    return "Incident report"


def _notes(store_root: str) -> tuple[str, ...]:
    root = store.check_store(store_root)
    notes = []
    if derived.committed_run(store.LOCAL, str(root), identitystore.IDENTITY) is None:
        notes.append("No identity data: origins, chains and credential signals are missing (run trailbeam "
                     "attribute).")
    if derived.committed_run(store.LOCAL, str(root), historystore.HISTORY) is None:
        notes.append("No history data: resource changes are missing (run trailbeam histories).")
    return tuple(notes)


def gather(store_root: str, *, principal: str | None = None, resource: str | None = None, start: int | None = None,
           end: int | None = None, max_events: int = 20_000, title: str | None = None, generated: str | None = None,
           workers: int | None = None) -> report.ReportData:
    """The report's data for a local store (``build`` with a ``Focus`` of these values)."""
    focus = Focus(principal=principal, resource=resource, start=start, end=end)
    return build(store_root, focus=focus, max_events=max_events, title=title, generated=generated,
                 workers=workers).report
