"""Small SVG charts for the incident report: activity over time, one row of bars per origin.

Input: ``Series`` (a label and event counts per UTC hour, keyed by the hour's start in microseconds) and
optional ``Marker`` s (moments worth pointing at, e.g. findings). Output: one ``<svg>`` element as text,
to be inlined in the HTML report or saved as a file. Like ``trailbeam.graphsvg`` it carries no scripts,
no CSS and no external references, and every text that comes from the data (origin names are
attacker-influenced CloudTrail fields) is escaped. Colours and sizes are presentation attributes, which
a strict Content-Security-Policy allows. The same input gives the same bytes.

Rows come in the order given (the caller puts first what matters). Hours are grouped into wider columns
(2, 3, 6, 12 hours, a day, ...) when the range would need more than ``max_columns`` of them; each row is
scaled to its own busiest column, whose count is printed beside it, so a quiet attacker next to a busy CI
robot still shows.

Pure: stdlib and ``trailbeam.graph.xml_safe``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from trailbeam import timestamps
from trailbeam.graph import xml_safe

__all__ = ["HOUR", "Marker", "Series", "activity_svg"]

HOUR = 3_600_000_000                  # micros
_BUCKET_HOURS = (1, 2, 3, 6, 12, 24, 48, 168, 336, 720)
_LABEL_W, _PLOT_W, _COUNT_W = 250, 720, 70
_ROW_H, _BAR_H, _TOP, _AXIS_H = 30, 22, 40, 46
_LABEL_CHARS = 34
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf")
_MARKER = "#c00000"


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """One row of the chart: event counts per UTC hour (hour start in micros -> count)."""

    label: str
    counts: Mapping[int, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Marker:
    """A moment drawn as a vertical line across every row, e.g. a finding."""

    time: int                         # UTC micros
    label: str


def _text(value: object, limit: int | None = None) -> str:
    """Data -> escaped text, safe in element content and in quoted attributes, in HTML and in XML. Shortened
    text keeps its end: the end of an ARN or a federated subject names it (``…:user/jenkins-deployer``)."""
    text = xml_safe(str(value))
    if limit is not None and len(text) > limit:
        text = "\u2026" + text[len(text) - limit + 1:]
    return html.escape(text, quote=True)


def _events(n: int) -> str:
    return f"{n:,} event" if n == 1 else f"{n:,} events"


def _hour(micros: int) -> int:
    return micros - micros % HOUR


def _bucket_hours(span_hours: int, max_columns: int) -> int:
    for hours in _BUCKET_HOURS:
        if span_hours <= hours * max_columns:
            return hours
    return -(-span_hours // max_columns)


def _when(micros: int, hours: int) -> str:
    start = timestamps.format_micros(micros)[:16].replace("T", " ")
    return f"{start} UTC" if hours == 1 else f"{start} UTC + {hours} h"


def _ticks(first: int, columns: int, hours: int, column_w: float) -> list[tuple[float, str]]:
    """(x, label) for axis ticks, at least 70 px apart: at UTC midnights (labelled MM-DD) when the range spans
    days and a column is at most a day, else at column starts (labelled MM-DD HH:MM)."""
    span = columns * hours * HOUR
    x_of = column_w / (hours * HOUR)                   # pixels per microsecond
    if hours <= 24 and span > 24 * HOUR:
        step = 24 * HOUR * -(-70 // max(1, int(24 * HOUR * x_of)))
        moment = first + (-first) % (24 * HOUR)        # the first midnight at or after ``first``
        return [((t - first) * x_of, timestamps.format_micros(t)[5:10]) for t in range(moment, first + span, step)]
    every = -(-70 // max(1, int(column_w)))
    return [(i * column_w, timestamps.format_micros(first + i * hours * HOUR)[5:16].replace("T", " "))
            for i in range(0, columns, every)]


def activity_svg(series: Sequence[Series], *, title: str = "activity per origin", markers: Sequence[Marker] = (),
                 max_series: int = 12, max_columns: int = 180) -> str:
    """Draws event counts over time, one row of bars per series.

    Args:
        series: the rows, drawn in this order; past ``max_series - 1`` rows the rest are summed into one
            "other" row. Empty series are left out.
        title: drawn above the chart.
        markers: vertical lines (with tooltips) at these moments, e.g. findings.
        max_series: rows drawn at most (at least 2).
        max_columns: columns at most; hours are grouped into wider columns beyond.

    Returns:
        The SVG element as text; the same input always gives the same text.
    """
    rows = [(s.label, {_hour(h): n for h, n in s.counts.items() if n}) for s in series]
    rows = [r for r in rows if r[1]]
    if len(rows) > max(2, max_series):
        kept, rest = rows[:max(2, max_series) - 1], rows[max(2, max_series) - 1:]
        other: dict[int, int] = {}
        for _, counts in rest:
            for hour, n in counts.items():
                other[hour] = other.get(hour, 0) + n
        rows = [*kept, (f"{len(rest)} other origins", other)]
    width = _LABEL_W + _PLOT_W + _COUNT_W
    height = _TOP + max(len(rows), 1) * _ROW_H + _AXIS_H
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img">',
           f"<title>{_text(title)}</title>",
           f'<rect width="{width}" height="{height}" fill="#fff"/>',
           f'<text x="4" y="20" font-size="15" font-weight="bold">{_text(title)}</text>']
    if not rows:
        out.append(f'<text x="4" y="{_TOP + 16}">no events</text></svg>')
        return "\n".join(out) + "\n"
    hours_seen = [hour for _, counts in rows for hour in counts] + [_hour(m.time) for m in markers]
    first, last = min(hours_seen), max(hours_seen)
    hours = _bucket_hours((last - first) // HOUR + 1, max_columns)
    columns = (last - first) // (hours * HOUR) + 1
    column_w = _PLOT_W / columns
    plot_bottom = _TOP + len(rows) * _ROW_H
    for index, (label, counts) in enumerate(rows):
        buckets: dict[int, int] = {}
        for hour, n in counts.items():
            column = (hour - first) // (hours * HOUR)
            buckets[column] = buckets.get(column, 0) + n
        peak, total = max(buckets.values()), sum(buckets.values())
        y = _TOP + index * _ROW_H
        colour = _PALETTE[index % len(_PALETTE)]
        out.append(f'<g class="series"><title>{_text(label)}: {_events(total)}</title>'
                   f'<text x="4" y="{y + _BAR_H - 6}">{_text(label, _LABEL_CHARS)}</text>'
                   f'<line x1="{_LABEL_W}" y1="{y + _BAR_H}" x2="{_LABEL_W + _PLOT_W}" y2="{y + _BAR_H}" '
                   f'stroke="#ccc"/>'
                   f'<text x="{_LABEL_W + _PLOT_W + 6}" y="{y + _BAR_H - 6}" fill="#555">max {peak:,}</text>')
        for column in sorted(buckets):
            n = buckets[column]
            bar = max(1.0, _BAR_H * n / peak)
            x = _LABEL_W + column * column_w
            out.append(f'<rect x="{x:.1f}" y="{y + _BAR_H - bar:.1f}" width="{max(column_w - 1, 1):.1f}" '
                       f'height="{bar:.1f}" fill="{colour}"><title>{_text(label)}, '
                       f'{_text(_when(first + column * hours * HOUR, hours))}: {_events(n)}</title></rect>')
        out.append("</g>")
    for x, label in _ticks(first, columns, hours, column_w):
        out.append(f'<line x1="{_LABEL_W + x:.1f}" y1="{plot_bottom}" x2="{_LABEL_W + x:.1f}" '
                   f'y2="{plot_bottom + 5}" stroke="#333"/>'
                   f'<text x="{_LABEL_W + x:.1f}" y="{plot_bottom + 18}" text-anchor="middle" fill="#333">'
                   f"{_text(label)}</text>")
    out.append(f'<text x="{_LABEL_W}" y="{plot_bottom + 36}" fill="#555">UTC, columns of {hours} '
               f'hour{"s" if hours > 1 else ""} from {_text(_when(first, 1))}</text>')
    for marker in sorted(markers, key=lambda m: (m.time, m.label)):
        x = _LABEL_W + (marker.time - first) / (hours * HOUR) * column_w
        out.append(f'<line class="marker" x1="{x:.1f}" y1="{_TOP - 4}" x2="{x:.1f}" y2="{plot_bottom}" '
                   f'stroke="{_MARKER}" stroke-width="1" stroke-dasharray="3,2"><title>'
                   f"{_text(timestamps.format_micros(marker.time))} {_text(marker.label)}</title></line>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
