"""trailbeam.report: one self-contained, escaped, deterministic HTML file with a strict CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from html.parser import HTMLParser

import networkx as nx
import pytest

from trailbeam import charts, report, timestamps

T0 = timestamps.parse_micros("2026-03-03T03:12:07Z")
MINUTE = 60_000_000
HOSTILE = "<script>document.title='pwned'</script>"
HOSTILE_ATTR = "\"><img src=x onerror=\"document.title='pwned'\">"


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside <script> and <style> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.raw: dict[str, list[str]] = {"script": [], "style": []}
        self._inside: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in self.raw:
            self._inside = tag
            self.raw[tag].append("")

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == self._inside:
            self._inside = None

    def handle_data(self, data):
        if self._inside:
            self.raw[self._inside][-1] += data


def parsed(html_text: str) -> _Elements:
    elements = _Elements()
    elements.feed(html_text)
    elements.close()
    return elements


def graph(*labels: str) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    nodes = [f"user:{labels[0]}", *(f"role:{label}" for label in labels[1:])]
    for node, label in zip(nodes, labels):
        g.add_node(node, kind=node.partition(":")[0], label=label)
    for source, target in zip(nodes, nodes[1:]):
        g.add_edge(source, target, key="assumed", relation="assumed")
    return g


def row(i: int, **overrides) -> report.TimelineRow:
    values = dict(time=T0 + i * MINUTE, event_id=f"ev-{i:03d}", event_name=("AssumeRole", "StopLogging")[i % 2],
                  event_source="sts.amazonaws.com", account="111122223333", region="us-east-1",
                  principal="arn:aws:iam::111122223333:user/jenkins", origin="arn:aws:iam::111122223333:user/jenkins",
                  source_ip="203.0.113.7", user_agent="aws-cli/2.15", error_code=None, request='{"name":"siem"}')
    return report.TimelineRow(**{**values, **overrides})


def finding(**overrides) -> report.ReportFinding:
    values = dict(rule="logging-stopped", category="defense-evasion", severity="high", title="Trail stopped",
                  summary="StopLogging on siem", time=T0 + MINUTE, event_ids=("ev-001",),
                  resource="arn:aws:cloudtrail:us-east-1:111122223333:trail/siem",
                  principal="arn:aws:sts::111122223333:assumed-role/Org/x", origin="arn:aws:iam::111122223333:user/jenkins",
                  details=(("trail", "siem"),))
    return report.ReportFinding(**{**values, **overrides})


def data(**overrides) -> report.ReportData:
    values = dict(
        title="Case 42", generated="2026-03-05T00:00:00Z by trailbeam test",
        scope=report.Scope(sources=("/evidence/AWSLogs",), accounts=("111122223333",), regions=("us-east-1",),
                           first_event=T0, last_event=T0 + 9 * MINUTE, counts=(("events stored", 10),)),
        integrity=report.Integrity(status="not verified", summary="no digest files among the sources"),
        findings=(finding(),),
        identities=(report.IdentityPicture(title="jenkins", graph=graph("jenkins", "DeployAdmin")),),
        activity=(charts.Series(label="jenkins", counts={T0 - T0 % charts.HOUR: 10}),),
        changes=(report.ResourceHistory(
            arn="arn:aws:cloudtrail:us-east-1:111122223333:trail/siem", type="AWS::CloudTrail::Trail",
            entries=(report.ChangeEntry(time=T0 + MINUTE, event_id="ev-001", event_name="StopLogging",
                                        principal="arn:aws:sts::111122223333:assumed-role/Org/x", origin=None,
                                        applied=True, error_code=None,
                                        changes=(report.FieldChange(path="logging", before="true", after="false"),)),
                     )),),
        timeline=tuple(row(i, findings=("logging-stopped",) if i == 1 else ()) for i in range(10)),
    )
    return report.ReportData(**{**values, **overrides})


def hostile_data() -> report.ReportData:
    """Every attacker-influenced text carries markup."""
    rows = tuple(row(i, user_agent=HOSTILE, request=f'{{"x":"{HOSTILE_ATTR}"}}', principal=HOSTILE_ATTR,
                     origin=HOSTILE, event_name=HOSTILE, error_code=HOSTILE_ATTR, event_id=f"ev-{i}{HOSTILE_ATTR}")
                 for i in range(3))
    return data(
        title=HOSTILE,
        scope=report.Scope(sources=(HOSTILE,), accounts=(HOSTILE_ATTR,), regions=(HOSTILE,), first_event=T0,
                           last_event=T0, counts=((HOSTILE, 1),), focus=(("principal", HOSTILE_ATTR),)),
        integrity=report.Integrity(status="problems", summary=HOSTILE, counts=((HOSTILE, 1),), problems=(
            report.IntegrityProblem(severity="invalid", kind=HOSTILE, account=HOSTILE, region=None, trail=HOSTILE_ATTR,
                                    hour=T0, subject=HOSTILE, detail=HOSTILE_ATTR),)),
        findings=(finding(title=HOSTILE, summary=HOSTILE_ATTR, event_ids=(rows[0].event_id,), resource=HOSTILE,
                          principal=HOSTILE_ATTR, origin=HOSTILE, details=((HOSTILE, HOSTILE_ATTR),),
                          rule=HOSTILE_ATTR, category=HOSTILE, severity=HOSTILE_ATTR),),
        identities=(report.IdentityPicture(title=HOSTILE, graph=graph(HOSTILE, HOSTILE_ATTR), note=HOSTILE),),
        activity=(charts.Series(label=HOSTILE_ATTR, counts={T0: 3}),),
        changes=(report.ResourceHistory(arn=HOSTILE, type=HOSTILE_ATTR, note=HOSTILE, entries=(report.ChangeEntry(
            time=T0, event_id=rows[1].event_id, event_name=HOSTILE, principal=HOSTILE_ATTR, origin=HOSTILE,
            applied=False, error_code=HOSTILE, changes=(report.FieldChange(path=HOSTILE, before=HOSTILE_ATTR,
                                                                            after=HOSTILE),)),)),),
        timeline=rows, timeline_note=HOSTILE, notes=(HOSTILE_ATTR,), generated=HOSTILE)


# ---- structure ---------------------------------------------------------------------------------------------

def test_every_section_is_there_with_its_stable_id():
    ids = [attrs.get("id") for tag, attrs in parsed(report.render(data())).tags if tag == "section"]
    assert ids == ["scope", "integrity", "findings", "identities", "activity", "changes", "timeline"]


def test_findings_link_to_their_event_rows():
    elements = parsed(report.render(data()))
    row_ids = {attrs["id"] for tag, attrs in elements.tags if tag == "tr" and attrs.get("id", "").startswith("event-")}
    assert row_ids == {f"event-ev-{i:03d}" for i in range(10)}
    links = {attrs["href"] for tag, attrs in elements.tags if tag == "a" and attrs.get("href", "").startswith("#event-")}
    assert links == {"#event-ev-001"}


def test_rows_behind_findings_are_marked():
    elements = parsed(report.render(data()))
    marked = [attrs["id"] for tag, attrs in elements.tags if tag == "tr" and attrs.get("class") == "hit"]
    assert marked == ["event-ev-001"]


def test_an_event_missing_from_the_timeline_is_named_without_a_dangling_link():
    text = report.render(data(findings=(finding(event_ids=("ev-001", "not-in-timeline")),)))
    assert 'href="#event-not-in-timeline"' not in text
    assert "not-in-timeline" in text


def test_conflicting_copies_of_an_event_get_one_anchor():
    rows = (row(1), row(1, user_agent="other copy"))
    ids = [attrs["id"] for tag, attrs in parsed(report.render(data(timeline=rows))).tags
           if tag == "tr" and attrs.get("id", "").startswith("event-")]
    assert ids == ["event-ev-001", "event-ev-001-copy-1"]


def test_findings_are_ordered_by_severity_then_time():
    findings = (finding(severity="low", time=T0, title="c"), finding(severity="high", time=T0 + 2, title="b"),
                finding(severity="high", time=T0 + 1, title="a"))
    text = report.render(data(findings=findings))
    assert text.index(">a<") < text.index(">b<") < text.index(">c<")


@pytest.mark.parametrize(("status", "shown"), [("verified", "Evidence verified"),
                                                ("problems", "Evidence problems found"),
                                                ("not verified", "Not verified")], ids=["ok", "problems", "none"])
def test_integrity_status(status, shown):
    text = report.render(data(integrity=report.Integrity(status=status, summary="why")))
    assert f"{shown}: why" in text


def test_every_picture_has_its_own_arrow_marker():
    pictures = (report.IdentityPicture(title="a", graph=graph("a", "A")),
                report.IdentityPicture(title="b", graph=graph("b", "B")))
    text = report.render(data(identities=pictures))
    assert 'id="arrow-1"' in text and 'id="arrow-2"' in text and 'id="arrow"' not in text
    assert 'url(#arrow-2)' in text


def test_print_styles():
    assert "@media print" in report.render(data())


def test_the_same_data_gives_the_same_bytes_whatever_the_finding_order():
    findings = (finding(), finding(rule="b", severity="medium", event_ids=("ev-003",)))
    assert report.render(data(findings=findings)) == report.render(data(findings=findings[::-1]))


def test_empty_case():
    empty = data(findings=(), identities=(), activity=(), changes=(), timeline=(),
                 scope=replace(data().scope, first_event=None, last_event=None))
    text = report.render(empty)
    assert "No finding." in text and "no events" in text


# ---- self-contained and locked down -------------------------------------------------------------------------

def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_policy_allows_exactly_the_one_style_and_the_one_script():
    elements = parsed(report.render(data()))
    policies = [attrs["content"] for tag, attrs in elements.tags
                if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert len(policies) == 1
    directives = dict(d.strip().split(" ", 1) for d in policies[0].split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["img-src"] == "data:"
    assert len(elements.raw["style"]) == 1 and len(elements.raw["script"]) == 1
    assert directives["style-src"] == _sha(elements.raw["style"][0])
    assert directives["script-src"] == _sha(elements.raw["script"][0])


def test_nothing_is_fetched_from_anywhere():
    text = report.render(data())
    elements = parsed(text)
    for tag, attrs in elements.tags:
        for name, value in attrs.items():
            assert name not in ("src", "srcset", "action", "formaction", "data", "poster"), (tag, name)
            if name in ("href", "xlink:href"):
                assert value.startswith("#"), (tag, value)
    assert not re.search(r"@import|@font-face|https?://(?!www\.w3\.org/2000/svg\")", text)
    assert not re.findall(r"url\((?!#arrow-\d+\))", text)


def test_no_inline_handlers_or_style_attributes():
    for tag, attrs in parsed(report.render(data())).tags:
        assert not any(name.startswith("on") or name == "style" for name in attrs), (tag, attrs)


def test_hostile_values_are_inert():
    text = report.render(hostile_data())
    elements = parsed(text)
    assert len(elements.raw["script"]) == 1                       # only ours
    assert "pwned" not in elements.raw["script"][0]
    assert not [tag for tag, _ in elements.tags if tag == "img"]
    for tag, attrs in elements.tags:
        assert not any(name.startswith("on") or name == "style" for name in attrs), (tag, attrs)
    assert HOSTILE not in text and HOSTILE_ATTR not in text
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in text


def test_hostile_event_ids_stay_inside_their_attributes():
    elements = parsed(report.render(hostile_data()))
    row_ids = [attrs["id"] for tag, attrs in elements.tags if tag == "tr" and attrs.get("id", "").startswith("event-")]
    assert row_ids[0] == f"event-ev-0{HOSTILE_ATTR}"             # the whole value, as one attribute
    links = [attrs["href"] for tag, attrs in elements.tags if tag == "a"
             and attrs.get("href", "").startswith("#event-")]
    assert links == [f"#event-ev-0{HOSTILE_ATTR}", f"#event-ev-1{HOSTILE_ATTR}"]   # a finding, a change
