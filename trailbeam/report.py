"""The incident report: one self-contained HTML file rendered from a ``ReportData`` model.

A responder opens the file offline, mails it, attaches it to a ticket or prints it, so it makes no
request of any kind (no CDN, fonts or images by URL) and carries a strict Content-Security-Policy:
``default-src 'none'``, the one inline ``<style>`` and the one inline ``<script>`` allowed by their
SHA-256 hashes, images only as ``data:``. Nearly everything shown comes from CloudTrail and is
attacker-controlled (user agents, request parameters, session names, even ARNs), so every value goes
through ``html.escape``; the only markup not written here is the SVG of ``trailbeam.graphsvg`` and
``trailbeam.charts``, which escape their own text. The script is a constant: it reads the DOM, never
data, so nothing from the trail can reach it as code. No element carries a ``style`` attribute (the
policy would block it).

Sections, each with a stable id: ``scope``, ``integrity``, ``findings`` (each linking to the
``#event-<eventID>`` rows of its events), ``identities`` (SVG pictures of the identity chains
involved), ``activity`` (an SVG chart per origin), ``changes`` (resource changes with before/after
values) and ``timeline`` (one row per event, sortable by its column headers, filterable with a text box;
``#filter=WORDS`` in the URL sets the filter on load, so a link or a headless browser can use it).
``@media print`` turns the page into a document. The same data always gives the same bytes.

Input: ``ReportData`` (built by ``trailbeam.case.gather`` from a store, or by hand). Output: ``render``
returns the HTML text.

Pure: stdlib, networkx, ``trailbeam.graphsvg`` and ``trailbeam.charts``.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx

from trailbeam import charts, graphsvg, timestamps
from trailbeam.graph import xml_safe

__all__ = ["CSP", "ChangeEntry", "FieldChange", "IdentityPicture", "Integrity", "IntegrityProblem",
           "ReportData", "ReportFinding", "ResourceHistory", "Scope", "TimelineRow", "SEVERITY_ORDER", "render"]

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
_MAX_EVENT_LINKS = 12          # event links shown per finding; the rest are counted
_OPEN_EVENT_LINKS = 3          # of which shown unfolded
_FOLDED = ("low", "info")      # finding severities listed folded away
_MARKED = ("critical", "high")  # finding severities marked on the activity chart
_MAX_ENTRIES = 60              # change-log entries shown per resource
_MAX_PROBLEMS = 300            # integrity problems listed
_GRAPH_NODES = 80              # nodes drawn per identity picture


# ---- the data model ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """What the case covers."""

    sources: tuple[str, ...]                   # what was ingested
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    first_event: int | None                    # UTC micros
    last_event: int | None
    counts: tuple[tuple[str, int], ...]        # (what, count), shown in this order
    focus: tuple[tuple[str, str], ...] = ()    # (what, value): the principal, resource or window asked for


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrityProblem:
    severity: str
    kind: str
    account: str | None
    region: str | None
    trail: str | None
    hour: int | None                           # UTC micros
    subject: str | None
    detail: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Integrity:
    """Digest verification results; ``status`` is "verified", "problems" or "not verified"."""

    status: str
    summary: str
    counts: tuple[tuple[str, int], ...] = ()   # finding kind -> count
    problems: tuple[IntegrityProblem, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportFinding:
    """One finding as the report shows it (the fields of ``trailbeam.detections.Finding``)."""

    rule: str
    category: str
    severity: str
    title: str
    summary: str
    time: int                                  # UTC micros
    event_ids: tuple[str, ...]
    resource: str | None = None
    principal: str | None = None
    origin: str | None = None
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityPicture:
    """An identity (sub)graph of ``trailbeam.graph`` to draw, with a heading."""

    title: str
    graph: nx.MultiDiGraph
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldChange:
    path: str
    before: str                                # display text (compact JSON, "unknown", "absent")
    after: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeEntry:
    time: int
    event_id: str
    event_name: str
    principal: str | None
    origin: str | None
    applied: bool
    error_code: str | None
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceHistory:
    arn: str
    type: str
    entries: tuple[ChangeEntry, ...]
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineRow:
    time: int
    event_id: str
    event_name: str
    event_source: str
    account: str | None
    region: str | None
    principal: str | None                      # who signed the call (userIdentity)
    origin: str | None                         # who was behind it (attribution)
    source_ip: str | None
    user_agent: str | None
    error_code: str | None
    request: str | None                        # requestParameters as compact JSON, possibly shortened
    findings: tuple[str, ...] = ()             # rules of the findings this event is evidence of


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportData:
    title: str
    scope: Scope
    integrity: Integrity
    findings: tuple[ReportFinding, ...]
    identities: tuple[IdentityPicture, ...]
    activity: tuple[charts.Series, ...]
    changes: tuple[ResourceHistory, ...]
    timeline: tuple[TimelineRow, ...]
    generated: str | None = None               # e.g. "2026-03-05T10:00:00Z by trailbeam 0.1.0"
    timeline_note: str | None = None           # e.g. why rows were left out
    notes: tuple[str, ...] = ()                # shown under the title


# ---- the constant parts: style, script and the policy that allows exactly them ----------------------------

_STYLE = """
:root { --ink: #1b1b1b; --muted: #5f6368; --line: #d9d9d9; --band: #f4f6f8; --bad: #b00020; --warn: #9a6700;
        --ok: #1e7b34; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
header { padding: 18px 28px 8px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 22px; }
nav { position: sticky; top: 0; z-index: 2; background: #fff; border-bottom: 1px solid var(--line);
      padding: 6px 28px; }
nav a { margin-right: 16px; color: #0b57d0; text-decoration: none; }
main { padding: 0 28px 40px; }
section { margin-top: 26px; }
h2 { font-size: 18px; border-bottom: 2px solid var(--ink); padding-bottom: 3px; }
h3 { font-size: 15px; margin: 18px 0 6px; word-break: break-all; }
.muted, .note { color: var(--muted); }
.note { font-style: italic; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: var(--band); }
td { overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
#timeline-table td { overflow-wrap: normal; white-space: nowrap; }
#timeline-table td.wrap { white-space: normal; overflow-wrap: anywhere; min-width: 14em; max-width: 32em; }
.nowrap { white-space: nowrap; }
table.findings td.who { width: 30%; }
details.minor > summary { margin: 10px 0; font-weight: 600; cursor: pointer; }
code, .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; word-break: break-all; }
.sev { display: inline-block; min-width: 64px; padding: 1px 6px; border-radius: 3px; color: #fff;
       font-size: 12px; text-align: center; }
.sev-critical { background: #6a0014; } .sev-high { background: var(--bad); } .sev-medium { background: #c25e00; }
.sev-low { background: #52606d; } .sev-info { background: #8a939b; }
.status { padding: 8px 12px; border-radius: 4px; font-weight: 600; }
.status-verified { background: #e6f4ea; color: var(--ok); }
.status-problems { background: #fce8e6; color: var(--bad); }
.status-not-verified { background: #fef7e0; color: var(--warn); }
.picture { overflow: auto; border: 1px solid var(--line); margin-bottom: 12px; }
.picture svg { display: block; }
del { background: #fce8e6; text-decoration: line-through; }
ins { background: #e6f4ea; text-decoration: none; }
ul.changes { margin: 0; padding-left: 16px; }
.filter { display: flex; gap: 12px; align-items: center; margin: 8px 0; }
.filter input { width: 360px; padding: 4px 8px; font: inherit; }
#timeline-table { font-size: 12px; }
#timeline-table th button { all: unset; cursor: pointer; font-weight: 600; }
#timeline-table th[aria-sort=ascending] button::after { content: " \\25B2"; }
#timeline-table th[aria-sort=descending] button::after { content: " \\25BC"; }
#timeline-table tr.hit { background: #fff4e5; }
#timeline-table tr:target { outline: 2px solid var(--bad); background: #ffe9a8; }
tr[hidden] { display: none; }
@media print {
  nav, .filter { display: none; }
  body { font-size: 10pt; }
  header, main { padding: 0; }
  section { break-inside: auto; }
  h2, h3 { break-after: avoid; }
  tr { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .picture { overflow: visible; border: none; }
  .picture svg, svg.chart { max-width: 100%; height: auto; }
  .scroll { overflow: visible; }
  #timeline-table { font-size: 7pt; }
  #timeline-table td, #timeline-table td.wrap { white-space: normal; overflow-wrap: anywhere; min-width: 0; }
  #timeline-table th button::after { content: ""; }
}
"""

_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("timeline-table");
  var box = document.getElementById("filter");
  var shown = document.getElementById("shown");
  if (!table || !box || !shown) { return; }
  var body = table.tBodies[0];
  var items = Array.prototype.map.call(body.rows, function (row, index) {
    return { row: row, index: index, text: row.textContent.toLowerCase() };
  });
  function apply() {
    var words = box.value.toLowerCase().split(/\\s+/).filter(function (word) { return word !== ""; });
    var count = 0;
    items.forEach(function (item) {
      var hit = words.every(function (word) { return item.text.indexOf(word) !== -1; });
      if (hit) { item.row.removeAttribute("hidden"); count += 1; } else { item.row.setAttribute("hidden", ""); }
    });
    shown.textContent = count + " of " + items.length + " events shown";
    table.setAttribute("data-filter", box.value);
  }
  function fromHash() {
    var hash = window.location.hash;
    var value;
    if (hash.indexOf("#filter=") === 0) {
      value = hash.slice(8).replace(/\\+/g, " ");
      try { value = decodeURIComponent(value); } catch (ignored) { /* keep it as written */ }
      box.value = value;
      apply();
    } else if (hash.indexOf("#event-") === 0) {
      var target = document.getElementById(hash.slice(1));
      if (target && target.hasAttribute("hidden")) { box.value = ""; apply(); target.scrollIntoView(); }
    }
  }
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (head, column) {
    var button = head.querySelector("button");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var ascending = head.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (other) { other.removeAttribute("aria-sort"); });
      head.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var keyed = items.map(function (item) {
        var cell = item.row.cells[column];
        return { item: item, key: cell.getAttribute("data-sort") || cell.textContent };
      });
      keyed.sort(function (a, b) {
        if (a.key !== b.key) { return (a.key < b.key ? -1 : 1) * (ascending ? 1 : -1); }
        return a.item.index - b.item.index;
      });
      var fragment = document.createDocumentFragment();
      keyed.forEach(function (entry) { fragment.appendChild(entry.item.row); });
      body.appendChild(fragment);
    });
  });
  box.addEventListener("input", apply);
  window.addEventListener("hashchange", fromHash);
  apply();
  fromHash();
}());
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


CSP = (f"default-src 'none'; style-src '{_sha256(_STYLE)}'; script-src '{_sha256(_SCRIPT)}'; img-src data:; "
       "base-uri 'none'; form-action 'none'")


# ---- small pieces -----------------------------------------------------------------------------------------

def _e(value: object) -> str:
    """Any value -> escaped text for element content or a quoted attribute; None -> empty."""
    return "" if value is None else html.escape(xml_safe(str(value)), quote=True)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _time(micros: int | None) -> str:
    return "" if micros is None else timestamps.format_micros(micros)


def _severity(severity: str) -> str:
    known = severity if severity in SEVERITY_ORDER else "info"
    return f'<span class="sev sev-{known}">{_e(severity)}</span>'


def _severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def _row(cells: Iterable[str], attrs: str = "") -> str:
    return f"<tr{attrs}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _table(headers: Sequence[str], rows: Iterable[str], attrs: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _event_id(event_id: str) -> str:
    return f"event-{event_id}"


# ---- sections ---------------------------------------------------------------------------------------------

def _scope(scope: Scope) -> str:
    facts = [("sources", "<br>".join(_e(s) for s in scope.sources) or "none"),
             ("accounts", _e(", ".join(scope.accounts)) or "none"),
             ("regions", _e(", ".join(scope.regions)) or "none"),
             ("time range", f"{_e(_time(scope.first_event))} \u2013 {_e(_time(scope.last_event))} (UTC)"
              if scope.first_event is not None else "no events")]
    facts += [(f"focus: {what}", _e(value)) for what, value in scope.focus]
    listing = "".join(f"<dt>{_e(name)}</dt><dd>{value}</dd>" for name, value in facts)
    counts = _table(("what", "count"), (_row((_e(what), f"{n:,}")) for what, n in scope.counts))
    return f'<section id="scope"><h2>Scope</h2><dl class="facts">{listing}</dl>{counts}</section>'


_STATUS_TEXT = {"verified": "Evidence verified", "problems": "Evidence problems found",
                "not verified": "Not verified"}


def _integrity(integrity: Integrity) -> str:
    status = integrity.status if integrity.status in _STATUS_TEXT else "not verified"
    parts = [f'<section id="integrity"><h2>Evidence integrity</h2>'
             f'<p class="status status-{status.replace(" ", "-")}">{_STATUS_TEXT[status]}: '
             f"{_e(integrity.summary)}</p>"]
    if integrity.counts:
        parts.append(_table(("finding", "count"), (_row((_e(k), f"{n:,}")) for k, n in integrity.counts)))
    if integrity.problems:
        shown = integrity.problems[:_MAX_PROBLEMS]
        parts.append("<h3>Problems</h3>" + _table(
            ("severity", "kind", "account", "region", "trail", "hour", "file", "detail"),
            (_row((_e(p.severity), _e(p.kind), _e(p.account), _e(p.region), _e(p.trail), _e(_time(p.hour)),
                   f'<span class="mono">{_e(p.subject)}</span>', _e(p.detail))) for p in shown)))
        if len(integrity.problems) > len(shown):
            parts.append(f'<p class="note">{len(integrity.problems) - len(shown):,} more problems not listed '
                         "(trailbeam verify lists them all).</p>")
    parts.append("</section>")
    return "".join(parts)


def _event_links(event_ids: Sequence[str], in_timeline: set[str]) -> str:
    links = [f'<a href="#{_e(_event_id(i))}" class="mono">{_e(i)}</a>' if i in in_timeline
             else f'<span class="mono">{_e(i)}</span>' for i in event_ids[:_MAX_EVENT_LINKS]]
    shown = "<br>".join(links[:_OPEN_EVENT_LINKS])
    if len(links) > _OPEN_EVENT_LINKS:
        shown += (f"<details><summary>{len(event_ids) - _OPEN_EVENT_LINKS:,} more</summary>"
                  + "<br>".join(links[_OPEN_EVENT_LINKS:]) + "</details>")
    more = len(event_ids) - len(links)
    return shown + (f"<div class=\"muted\">and {more:,} more</div>" if more > 0 else "")


def _finding_rows(findings: Sequence[ReportFinding], in_timeline: set[str], first: int) -> str:
    rows = []
    for number, f in enumerate(findings, first):
        details = "".join(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in f.details)
        who = "".join(f"<div><span class=\"muted\">{label}</span> {_e(value)}</div>"
                      for label, value in (("principal", f.principal), ("origin", f.origin),
                                           ("resource", f.resource)) if value)
        rows.append(
            f'<tr id="finding-{number}"><td>{_severity(f.severity)}</td><td class="nowrap mono">{_e(_time(f.time))}'
            f"</td><td><strong>{_e(f.title)}</strong><div>{_e(f.summary)}</div>"
            f'<div class="muted">{_e(f.category)} \u00b7 <span class="mono">{_e(f.rule)}</span></div>'
            + (f'<details><summary>details</summary><dl class="facts">{details}</dl></details>' if details else "")
            + f'</td><td class="who">{who}</td><td class="nowrap">{_event_links(f.event_ids, in_timeline)}</td></tr>')
    return _table(("severity", "time (UTC)", "finding", "who and what", "events"), rows, ' class="findings"')


def _findings(findings: Sequence[ReportFinding], in_timeline: set[str]) -> str:
    if not findings:
        return '<section id="findings"><h2>Key findings</h2><p>No finding.</p></section>'
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    tally = ", ".join(f"{counts[s]:,} {_e(s)}" for s in sorted(counts, key=lambda s: (_severity_rank(s), s)))
    # Leads of low severity are many on a busy trail: folded away below the ones to read first.
    major = [f for f in findings if f.severity not in _FOLDED]
    minor = [f for f in findings if f.severity in _FOLDED]
    parts = [f'<section id="findings"><h2>Key findings</h2><p>{_count(len(findings), "finding")}: {tally}. '
             "Each links to its events in the timeline below.</p>"]
    if major:
        parts.append(_finding_rows(major, in_timeline, 1))
    if minor:
        table = _finding_rows(minor, in_timeline, len(major) + 1)
        parts.append(f'<details class="minor"{" open" if not major else ""}><summary>'
                     f'{_count(len(minor), "finding")} of low severity</summary>{table}</details>')
    parts.append("</section>")
    return "".join(parts)


def _identities(pictures: Sequence[IdentityPicture]) -> str:
    parts = ['<section id="identities"><h2>Identity chains involved</h2>']
    if not pictures:
        parts.append("<p>No identity chain to draw (run attribution, or no finding names an origin).</p>")
    for number, picture in enumerate(pictures, 1):
        svg = graphsvg.render_svg(picture.graph, title=picture.title, max_nodes=_GRAPH_NODES)
        # Every picture defines the same arrow marker; give each its own id so references stay local.
        svg = svg.replace('id="arrow"', f'id="arrow-{number}"').replace('"url(#arrow)"', f'"url(#arrow-{number})"')
        parts.append(f"<h3>{_e(picture.title)}</h3>"
                     + (f'<p class="note">{_e(picture.note)}</p>' if picture.note else "")
                     + f'<div class="picture">{svg}</div>')
    parts.append("</section>")
    return "".join(parts)


def _activity(series: Sequence[charts.Series], findings: Sequence[ReportFinding]) -> str:
    markers = [charts.Marker(time=f.time, label=f"{f.severity}: {f.title}") for f in findings
               if f.severity in _MARKED]
    chart = charts.activity_svg(series, title="events per hour, by origin", markers=markers)
    return (f'<section id="activity"><h2>Activity over time</h2><p class="muted">Events per hour of the origins '
            f"in the timeline; dashed red lines mark the findings of {' and '.join(_MARKED[::-1])} severity.</p>"
            f'<div class="picture">{chart}</div></section>')


def _changes(histories: Sequence[ResourceHistory], in_timeline: set[str]) -> str:
    parts = ['<section id="changes"><h2>Resource changes</h2>']
    if not histories:
        parts.append("<p>No resource change to show (run histories, or no finding names a resource).</p>")
    for history in histories:
        shown = history.entries[:_MAX_ENTRIES]
        rows = []
        for entry in shown:
            result = "applied" if entry.applied else f"failed: {entry.error_code or 'error'}"
            changes = "".join(f'<li><span class="mono">{_e(c.path)}</span>: <del>{_e(c.before)}</del> \u2192 '
                              f"<ins>{_e(c.after)}</ins></li>" for c in entry.changes)
            event = (f'<a href="#{_e(_event_id(entry.event_id))}" class="mono">{_e(entry.event_id)}</a>'
                     if entry.event_id in in_timeline else f'<span class="mono">{_e(entry.event_id)}</span>')
            rows.append(_row((_e(_time(entry.time)), _e(entry.event_name), _e(result),
                              _e(entry.principal) + (f'<div class="muted">origin {_e(entry.origin)}</div>'
                                                     if entry.origin else ""),
                              f'<ul class="changes">{changes}</ul>' if changes else '<span class="muted">none</span>',
                              event)))
        parts.append(f'<h3><span class="mono">{_e(history.arn)}</span> <span class="muted">({_e(history.type)})'
                     f"</span></h3>" + (f'<p class="note">{_e(history.note)}</p>' if history.note else "")
                     + _table(("time (UTC)", "call", "result", "who", "before \u2192 after", "event"), rows))
        if len(history.entries) > len(shown):
            parts.append(f'<p class="note">{len(history.entries) - len(shown):,} more entries not shown '
                         f"(trailbeam history {_e(history.arn)} lists them all).</p>")
    parts.append("</section>")
    return "".join(parts)


_TIMELINE_COLUMNS = ("time (UTC)", "event", "source", "account", "region", "principal", "origin", "source IP",
                     "user agent", "error", "request parameters", "findings")


def _timeline(rows: Sequence[TimelineRow], note: str | None) -> str:
    head = "".join(f'<th scope="col"><button type="button">{_e(name)}</button></th>' for name in _TIMELINE_COLUMNS)
    body = []
    seen: dict[str, int] = {}
    for row in rows:
        copies = seen.get(row.event_id, 0)
        seen[row.event_id] = copies + 1
        # Conflicting copies of one event share its eventID; only the first copy gets the anchor.
        anchor = _event_id(row.event_id) if copies == 0 else f"{_event_id(row.event_id)}-copy-{copies}"
        marked = ' class="hit"' if row.findings else ""
        time = _time(row.time)
        body.append(
            f'<tr id="{_e(anchor)}"{marked}><td data-sort="{_e(time)} {_e(row.event_id)}" class="mono">{_e(time)}'
            f'</td><td><strong>{_e(row.event_name)}</strong><div class="muted mono">{_e(row.event_id)}</div></td>'
            f"<td>{_e(row.event_source)}</td><td>{_e(row.account)}</td><td>{_e(row.region)}</td>"
            f'<td class="wrap">{_e(row.principal)}</td><td class="wrap">{_e(row.origin)}</td>'
            f'<td>{_e(row.source_ip)}</td><td class="wrap">{_e(row.user_agent)}</td><td>{_e(row.error_code)}</td>'
            f'<td class="wrap"><code>{_e(row.request)}</code></td><td>{_e(" ".join(row.findings))}</td></tr>')
    return ('<section id="timeline"><h2>Timeline</h2>'
            + (f'<p class="note">{_e(note)}</p>' if note else "")
            + '<div class="filter"><label for="filter">Filter</label><input id="filter" type="search" '
            'placeholder="words that every shown row contains, e.g. AssumeRole 203.0.113" autocomplete="off">'
            f'<span id="shown" class="muted">{len(rows):,} events</span></div>'
            f'<div class="scroll"><table id="timeline-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
            "</tbody></table></div></section>")


def render(data: ReportData) -> str:
    """The report as one HTML document (UTF-8 text); the same data always gives the same text."""
    in_timeline = {row.event_id for row in data.timeline}
    findings = sorted(data.findings, key=lambda f: (_severity_rank(f.severity), f.time, f.rule, f.event_ids))
    nav = "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in (
        ("scope", "Scope"), ("integrity", "Integrity"), ("findings", f"Findings ({len(findings):,})"),
        ("identities", "Identities"), ("activity", "Activity"), ("changes", "Changes"),
        ("timeline", f"Timeline ({len(data.timeline):,})")))
    notes = "".join(f'<p class="note">{_e(note)}</p>' for note in data.notes)
    generated = f'<p class="muted">Generated {_e(data.generated)}</p>' if data.generated else ""
    return "".join((
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(data.title)}</title><style>{_STYLE}</style></head>\n<body>",
        f"<header><h1>{_e(data.title)}</h1>{generated}{notes}</header><nav>{nav}</nav><main>\n",
        _scope(data.scope), "\n", _integrity(data.integrity), "\n", _findings(findings, in_timeline), "\n",
        _identities(data.identities), "\n", _activity(data.activity, findings), "\n",
        _changes(data.changes, in_timeline), "\n", _timeline(data.timeline, data.timeline_note),
        f"\n</main><script>{_SCRIPT}</script></body></html>\n",
    ))
