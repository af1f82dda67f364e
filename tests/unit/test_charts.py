"""trailbeam.charts: the activity chart is well-formed SVG, escaped, deterministic, and scales its columns."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from trailbeam import charts, timestamps

HOUR = charts.HOUR
T0 = timestamps.parse_micros("2026-03-03T00:00:00Z")
SVG = "{http://www.w3.org/2000/svg}"


def series(label: str, *hours_counts: tuple[int, int]) -> charts.Series:
    return charts.Series(label=label, counts={T0 + h * HOUR: n for h, n in hours_counts})


def bars(svg: str) -> list[ET.Element]:
    return [r for r in ET.fromstring(svg).iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]


def test_one_bar_per_busy_hour_with_a_tooltip_naming_the_count():
    svg = charts.activity_svg([series("alice", (0, 3), (5, 1))])
    found = bars(svg)
    assert len(found) == 2
    tips = [r.find(f"{SVG}title").text for r in found]
    assert tips == ["alice, 2026-03-03 00:00 UTC: 3 events", "alice, 2026-03-03 05:00 UTC: 1 event"]


def test_each_row_is_scaled_to_its_own_peak():
    svg = charts.activity_svg([series("busy", (0, 1000)), series("quiet", (1, 2))])
    heights = sorted(float(r.get("height")) for r in bars(svg))
    assert heights[0] == heights[1]                     # both peaks fill their row


def test_rows_keep_their_order_and_the_rest_is_summed_into_one():
    many = [series(f"origin-{i:02d}", (0, i + 1)) for i in range(15)]
    svg = charts.activity_svg(many, max_series=4)
    labels = [t.text for g in ET.fromstring(svg).iter(f"{SVG}g") for t in g.findall(f"{SVG}text")[:1]]
    assert labels == ["origin-00", "origin-01", "origin-02", "12 other origins"]
    other = [r for r in bars(svg) if r.find(f"{SVG}title").text.startswith("12 other origins")]
    assert other[0].find(f"{SVG}title").text.endswith(f"{sum(range(4, 16))} events")


def test_long_labels_keep_their_end():
    svg = charts.activity_svg([series("arn:aws:iam::529104638271:user/jenkins-deployer", (0, 1))])
    labels = [t.text for g in ET.fromstring(svg).iter(f"{SVG}g") for t in g.findall(f"{SVG}text")[:1]]
    assert labels[0].startswith("\u2026") and labels[0].endswith(":user/jenkins-deployer")


@pytest.mark.parametrize(("span_hours", "hours_per_column"), [(24, 1), (180, 1), (181, 2), (24 * 30, 6),
                                                               (24 * 400, 168)],
                         ids=["a day", "180 h", "181 h", "a month", "over a year"])
def test_hours_are_grouped_when_the_range_is_long(span_hours, hours_per_column):
    svg = charts.activity_svg([series("x", (0, 1), (span_hours - 1, 1))])
    assert f"columns of {hours_per_column} hour" in svg


def test_markers_are_drawn_with_their_label():
    svg = charts.activity_svg([series("x", (0, 1), (10, 1))],
                              markers=[charts.Marker(time=T0 + 5 * HOUR, label="high: trail stopped")])
    lines = [line for line in ET.fromstring(svg).iter(f"{SVG}line") if line.get("class") == "marker"]
    assert len(lines) == 1
    assert lines[0].find(f"{SVG}title").text == "2026-03-03T05:00:00Z high: trail stopped"


def test_hostile_labels_are_escaped_and_the_svg_stays_well_formed():
    hostile = '<script>alert(1)</script>"\'&\x00\x1b'
    svg = charts.activity_svg([series(hostile, (0, 1))], title=hostile,
                              markers=[charts.Marker(time=T0, label=hostile)])
    ET.fromstring(svg)                                  # parses: nothing unbalanced, no raw control characters
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", svg)


def test_no_scripts_styles_or_external_references():
    svg = charts.activity_svg([series("x", (0, 1))])
    assert not re.search(r"<script|style=|href=|url\(", svg)


def test_the_same_input_gives_the_same_bytes():
    rows = [series("b", (3, 1), (0, 2)), series("a", (1, 2), (2, 1))]
    shuffled = [charts.Series(label=s.label, counts=dict(reversed(s.counts.items()))) for s in rows]
    assert charts.activity_svg(rows) == charts.activity_svg(shuffled)


def test_no_events():
    svg = charts.activity_svg([series("idle")])
    assert "no events" in svg
    ET.fromstring(svg)
