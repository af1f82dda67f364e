"""A timeline in the formats other tools read: Timesketch JSONL and CSV, plain CSV and JSONL, Markdown, GraphML.

Input: ``ExportRow`` s (the original CloudTrail event, its AttributedEvent record or None, its provenance
and how integrity verification judged its source file), built from a selection by ``rows_from``.
Output: text written to a file object, deterministic (rows sorted by (eventTime, eventID); keys and
columns in one fixed order), so the same timeline always gives the same bytes.

Every row keeps its eventID and provenance (source object, position, SHA-256s) and says whether a
CloudTrail digest vouches for the content it came from (``integrity``, from the findings ``trailbeam
verify --store`` stored, joined on the content SHA-256 as ``trailbeam stats`` joins them):

``verified``        a trusted digest lists this content's SHA-256 (even if the bucket's copy changed since)
``modified``        no digest vouches for it, and verification found the source file modified
``not covered``     no digest vouches for it: verification found the source file in no digest
``not verified``    verification ran, but nothing it found concerns this content
``never verified``  the store holds no verification results

Columns (``COLUMNS``; Timesketch's rows start with ``message``, ``datetime`` (ISO 8601 UTC, ``Z``),
``timestamp`` (micros) and ``timestamp_desc``; plain JSONL rows end with the whole original ``event``):
the event's own fields, its attribution (origin, basis, confidence, session, chain), the ARNs it touched
(``resources.resources_of``), ``included`` (``selected``, or ``context``: in the timeline as the call a
session or key came from, or as its resource's change log) and its provenance and integrity.

CloudTrail values are attacker-controlled: CSV cells a spreadsheet would run are neutralised
(``tabular.csv_cell``), Markdown cells escape every character that could end a cell, start markup or
raw HTML, and GraphML goes through ``graph.write_graphml`` (XML-escaped). Pure: stdlib and trailbeam.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from trailbeam import cloudtrail, graph, tabular, timestamps
from trailbeam.integrity import LOG_MISSING, LOG_MODIFIED, LOG_NOT_COVERED, LOG_TRAILING_DATA, LOG_UNREADABLE, LOG_VALID
from trailbeam.resources import resources_of

if TYPE_CHECKING:
    from trailbeam.timeline import Picked

__all__ = ["COLUMNS", "FORMATS", "TIMESKETCH_COLUMNS", "ExportRow", "IntegrityIndex", "flatten", "message",
           "markdown_cell", "rows_from", "write_graphml", "write_rows"]

TIMESTAMP_DESC = "Event Time"
COLUMNS = ("event_time", "event_id", "event_name", "event_source", "aws_region", "account", "source_ip",
           "user_agent", "error_code", "read_only", "identity_type", "identity_arn", "access_key_id", "origin_kind",
           "origin_principal", "basis", "confidence", "session_arn", "chain", "resources", "included", "source_uri",
           "source_position", "source_sha256", "content_sha256", "ingest_run", "integrity")
TIMESKETCH_COLUMNS = ("message", "datetime", "timestamp", "timestamp_desc", *COLUMNS[1:])
# Findings whose SHA-256 a trusted digest vouches for, whatever became of the file since (as trailbeam stats).
_VOUCHED = (LOG_VALID, LOG_MODIFIED, LOG_MISSING, LOG_TRAILING_DATA, LOG_UNREADABLE)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportRow:
    """One event of a timeline, with what is known about it."""

    event_time: int                         # UTC micros
    event_id: str
    event: Any                              # the original CloudTrail event (cloudtrail.original_event)
    event_json: str                         # the same as stored: canonical JSON text
    attributed: Mapping[str, Any] | None    # its AttributedEvent record; None before `trailbeam attribute`
    source: Mapping[str, Any]               # TrailEvent.source: uri, sha256, contentSha256, position, ...
    integrity: str                          # see the module docstring
    context: bool = False                   # in the timeline only as lineage or change-log context


class IntegrityIndex:
    """How stored verification findings judge the content an event came from (module docstring)."""

    def __init__(self, findings: Iterable[Mapping[str, Any]]) -> None:
        self._ran = False
        self._vouched: set[str] = set()
        self._by_key: dict[str, str] = {}    # "AWSLogs/..." key of a log file -> the worst finding about it
        for finding in findings:
            self._ran = True
            if finding["sha256"] and finding["kind"] in _VOUCHED:
                self._vouched.add(finding["sha256"])
            key = _log_key(finding["subject"])
            if key and finding["kind"] in (LOG_MODIFIED, LOG_NOT_COVERED) and self._by_key.get(key) != LOG_MODIFIED:
                self._by_key[key] = finding["kind"]

    def status(self, source: Mapping[str, Any]) -> str:
        if not self._ran:
            return "never verified"
        if source.get("contentSha256") in self._vouched:
            return "verified"
        # An S3 subject (s3://bucket/AWSLogs/...) names the same object as a local copy's path ending in it.
        kind = self._by_key.get(_log_key(source.get("uri") or "") or "")
        return {LOG_MODIFIED: "modified", LOG_NOT_COVERED: "not covered"}.get(kind or "", "not verified")


def _log_key(uri: str) -> str | None:
    at = uri.find("AWSLogs/")
    return uri[at:] if at >= 0 else None


def rows_from(picked: Iterable[Picked], findings: Iterable[Mapping[str, Any]]) -> list[ExportRow]:
    """``timeline.Picked`` events -> export rows in (eventTime, eventID) order."""
    index = IntegrityIndex(findings)
    rows = []
    for item in picked:
        record = item.row
        rows.append(ExportRow(event_time=item.event_time, event_id=item.event_id,
                              event=cloudtrail.original_event(record), event_json=record["cloudTrailEvent"],
                              attributed=item.attributed, source=record["source"],
                              integrity=index.status(record["source"]), context=item.context))
    rows.sort(key=lambda r: (r.event_time, r.event_id, r.event_json))
    return rows


# ---- one row, flattened ---------------------------------------------------------------------------------

def _text(value: Any, *path: str) -> str | None:
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    if value is None or isinstance(value, (dict, list)):
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _short(text: str) -> str:
    """``arn:aws:iam::111122223333:role/Deploy`` -> ``111122223333:role/Deploy``; other text as it is."""
    parts = text.split(":", 5)
    return f"{parts[4]}:{parts[5]}" if len(parts) == 6 and parts[0] == "arn" and parts[4] else text


def _chain(record: Mapping[str, Any] | None) -> str | None:
    """``origin -> role -> role …`` (as ``trailbeam lineage`` shows it); granted credentials in brackets."""
    if record is None:
        return None
    steps = [_short(record["originPrincipal"])]
    steps += [f"[created by {event_id}]" for event_id in reversed(record.get("createdBy") or ())]
    steps += [_short(hop["roleArn"] or hop["assumedArn"] or hop["via"]) for hop in record.get("chain") or ()]
    return " -> ".join(steps)


def _resources(event: Any) -> list[str]:
    try:
        return [ref.arn for ref in resources_of(event)]
    except (TypeError, ValueError, AttributeError):    # a stored "event" that is not an object
        return []


def flatten(row: ExportRow) -> dict[str, Any]:
    """The useful fields of one event as a flat dict, keys in ``COLUMNS`` order."""
    event, record, source = row.event, row.attributed, row.source
    session = record.get("session") if record else None
    attributed = record or {}
    values = {
        "event_time": timestamps.format_micros(row.event_time), "event_id": row.event_id,
        "event_name": _text(event, "eventName"), "event_source": _text(event, "eventSource"),
        "aws_region": _text(event, "awsRegion"), "account": _text(event, "recipientAccountId"),
        "source_ip": _text(event, "sourceIPAddress"), "user_agent": _text(event, "userAgent"),
        "error_code": _text(event, "errorCode"), "read_only": _text(event, "readOnly"),
        "identity_type": _text(event, "userIdentity", "type"), "identity_arn": _text(event, "userIdentity", "arn"),
        "access_key_id": _text(event, "userIdentity", "accessKeyId"),
        "origin_kind": attributed.get("originKind"), "origin_principal": attributed.get("originPrincipal"),
        "basis": attributed.get("basis"), "confidence": attributed.get("confidence"),
        "session_arn": session["assumedArn"] if session else None, "chain": _chain(record),
        "resources": _resources(event), "included": "context" if row.context else "selected",
        "source_uri": source.get("uri"), "source_position": source.get("position"),
        "source_sha256": source.get("sha256"), "content_sha256": source.get("contentSha256"),
        "ingest_run": source.get("ingestRun"), "integrity": row.integrity,
    }
    return {column: values[column] for column in COLUMNS}


def message(row: ExportRow) -> str:
    """One human line: ``<who> <eventName> on <resource> from <ip>`` (+ failure), for Timesketch."""
    return _message(row, flatten(row))


def _message(row: ExportRow, flat: Mapping[str, Any]) -> str:
    who = flat["origin_principal"] or flat["identity_arn"] or _text(row.event, "userIdentity", "invokedBy") or "?"
    text = f"{who} {flat['event_name'] or '?'}"
    if flat["resources"]:
        more = len(flat["resources"]) - 1
        text += f" on {flat['resources'][0]}" + (f" (+{more} more)" if more else "")
    if flat["source_ip"]:
        text += f" from {flat['source_ip']}"
    if flat["error_code"]:
        text += f" failed: {flat['error_code']}"
    return text


def _timesketch(row: ExportRow) -> dict[str, Any]:
    flat = flatten(row)
    text = _message(row, flat)
    flat.pop("event_time")
    return {"message": text, "datetime": timestamps.format_micros(row.event_time), "timestamp": row.event_time,
            "timestamp_desc": TIMESTAMP_DESC, **flat}


# ---- writers --------------------------------------------------------------------------------------------

def _csv(out: IO[str], columns: Sequence[str], dicts: Iterable[Mapping[str, Any]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for values in dicts:
        writer.writerow([tabular.csv_cell(values[column]) for column in columns])


def _jsonl(out: IO[str], dicts: Iterable[Mapping[str, Any]]) -> None:
    for values in dicts:
        out.write(json.dumps(values, ensure_ascii=False) + "\n")


def _plain_jsonl(out: IO[str], rows: Iterable[ExportRow]) -> None:
    for row in rows:
        # The stored canonical text, spliced in as it is: exact numbers, no second serialisation.
        out.write(json.dumps(flatten(row), ensure_ascii=False)[:-1] + ', "event": ' + row.event_json + "}\n")


# Backslash escapes (CommonMark: any ASCII punctuation) keep these literal: no cell break, emphasis, code,
# link, raw HTML or entity; control characters (line breaks end a table row) become spaces.
_MARKDOWN_TABLE = str.maketrans({**{c: "\\" + c for c in "\\`*_{}[]<>()#|!~&$"},
                                 **{chr(c): " " for c in (*range(32), 127)}})
_MARKDOWN_COLUMNS = ("time", "event", "who", "chain", "source IP", "user agent", "resources", "error", "event ID",
                     "integrity")


def markdown_cell(value: Any) -> str:
    """Text safe in a Markdown (GFM) table cell: no cell break, no markup, no raw HTML; renders as written."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else " ".join(value) if isinstance(value, list) else str(value)
    return text.translate(_MARKDOWN_TABLE)


def _markdown(out: IO[str], rows: Sequence[ExportRow], title: str) -> None:
    out.write(f"# {markdown_cell(title)}\n\n{len(rows):,} events")
    if rows:
        first, last = (timestamps.format_micros(rows[i].event_time) for i in (0, -1))
        out.write(f", {first} to {last}")
    out.write(".\n\n| " + " | ".join(_MARKDOWN_COLUMNS) + " |\n|" + "---|" * len(_MARKDOWN_COLUMNS) + "\n")
    for row in rows:
        flat = flatten(row)
        event = f"{flat['event_source'] or '?'} {flat['event_name'] or '?'}"
        cells = (flat["event_time"], event + (" (context)" if row.context else ""),
                 flat["origin_principal"] or flat["identity_arn"], flat["chain"], flat["source_ip"],
                 flat["user_agent"], flat["resources"], flat["error_code"], flat["event_id"], flat["integrity"])
        out.write("| " + " | ".join(markdown_cell(cell) for cell in cells) + " |\n")


FORMATS: dict[str, Callable[[IO[str], Sequence[ExportRow], str], None]] = {
    "timesketch-jsonl": lambda out, rows, _: _jsonl(out, map(_timesketch, rows)),
    "timesketch-csv": lambda out, rows, _: _csv(out, TIMESKETCH_COLUMNS, map(_timesketch, rows)),
    "csv": lambda out, rows, _: _csv(out, COLUMNS, map(flatten, rows)),
    "jsonl": lambda out, rows, _: _plain_jsonl(out, rows),
    "markdown": _markdown,
}


def write_rows(out: IO[str], rows: Sequence[ExportRow], fmt: str, *, title: str = "trailbeam timeline") -> None:
    """Writes ``rows`` in one of ``FORMATS`` (GraphML is ``write_graphml``: it draws identities, not rows).

    Raises:
        ValueError: an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}, graphml")
    FORMATS[fmt](out, rows, title)


def write_graphml(out: IO[bytes], sessions: Iterable[Any], uses: Iterable[Any], grants: Iterable[Any]) -> int:
    """The identity subgraph of a timeline (``timeline.identity_subset``) as GraphML; returns its node count."""
    drawn = graph.build_graph(sessions, uses, grants)
    graph.write_graphml(drawn, out)
    return int(drawn.number_of_nodes())
