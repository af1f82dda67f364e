"""Tests of trailbeam.exports: every format read back and compared with the selected events, Timesketch's required
fields on every row, hostile values neutralised (CSV) or escaped (Markdown), integrity statuses, determinism."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from test_timeline import ALICE, BY_ID, EVENTS, event, make_store, source_of, user
from trailbeam import exports, tabular, timeline, timestamps
from trailbeam.exports import ExportRow, IntegrityIndex
from trailbeam.timeline import Selection

HOSTILE_UA = '=HYPERLINK("http://evil.example/x","open me")'
HOSTILE = [
    event("h1-formula", "2024-11-30T11:00:00Z", {**user("mallory", "AKIAMALLORY"), "arn": "@SUM(1+1)"}, "s3",
          "GetObject", ip="192.0.2.66", userAgent=HOSTILE_UA,
          params={"bucketName": "exports", "key": "=cmd|' /C calc'!A0", "note": "+1-1"}),
    event("h2-control", "2024-11-30T11:00:01Z", user("mallory", "AKIAMALLORY"), "iam", "ListUsers",
          userAgent="\t-2+3", errorCode="-AccessDenied", errorMessage="\r=1+1"),
    event("h3-markdown", "2024-11-30T11:00:02Z", user("mallory", "AKIAMALLORY"), "iam", "ListRoles",
          userAgent="a | b `code` <script>alert(1)</script> [x](javascript:alert(1)) *em* &amp; \\ line\nbreak"),
]


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_store(tmp_path_factory.mktemp("exports") / "store", [*EVENTS, *HOSTILE])


@pytest.fixture(scope="module")
def rows(store_root: str) -> list[ExportRow]:
    return exports.rows_from(timeline.select(store_root, Selection()), [])


def written(rows: list[ExportRow], fmt: str) -> str:
    out = io.StringIO()
    exports.write_rows(out, rows, fmt, title="case | 42")
    return out.getvalue()


def test_rows_are_in_time_order_with_their_facts(rows: list[ExportRow]) -> None:
    assert [r.event_id for r in rows] == [e["eventID"] for e in sorted(
        [*EVENTS, *HOSTILE], key=lambda e: (timestamps.parse_micros(e["eventTime"]), e["eventID"]))]
    for row in rows:
        assert row.event == (BY_ID.get(row.event_id) or next(h for h in HOSTILE if h["eventID"] == row.event_id))
        assert (row.source["uri"], row.source["contentSha256"]) == source_of(row.event_id)
        assert row.attributed is not None and row.integrity == "never verified"


@pytest.mark.parametrize("fmt", ["csv", "timesketch-csv"])
def test_csv_reads_back_as_the_events(rows: list[ExportRow], fmt: str) -> None:
    text = written(rows, fmt)
    found = list(csv.DictReader(io.StringIO(text)))
    columns = exports.TIMESKETCH_COLUMNS if fmt.startswith("timesketch") else exports.COLUMNS
    assert text.splitlines()[0].split(",") == list(columns)
    assert [r["event_id"] for r in found] == [r.event_id for r in rows]
    for row, cells in zip(rows, found):
        flat = exports.flatten(row)
        assert {k: cells[k] for k in flat if k in cells} == {k: tabular.csv_cell(v) for k, v in flat.items()
                                                             if k in cells}
        assert json.loads(cells["resources"]) == flat["resources"]


def test_jsonl_reads_back_with_the_original_event(rows: list[ExportRow]) -> None:
    lines = written(rows, "jsonl").splitlines()
    assert len(lines) == len(rows)
    for row, line in zip(rows, lines):
        found = json.loads(line)
        assert found.pop("event") == row.event
        assert found == exports.flatten(row)
        assert list(found) == list(exports.COLUMNS)


def parsed_datetime(text: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", text), text
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0
    return moment


@pytest.mark.parametrize("fmt", ["timesketch-jsonl", "timesketch-csv"])
def test_timesketch_required_fields_on_every_row(rows: list[ExportRow], fmt: str) -> None:
    text = written(rows, fmt)
    found = ([json.loads(line) for line in text.splitlines()] if fmt.endswith("jsonl")
             else list(csv.DictReader(io.StringIO(text))))
    assert len(found) == len(rows)
    for row, item in zip(rows, found):
        assert item["message"] and item["timestamp_desc"] == "Event Time"
        moment = parsed_datetime(item["datetime"])
        assert timestamps.datetime_micros(moment) == row.event_time == int(item["timestamp"])
        assert item["event_id"] == row.event_id and item["integrity"] == row.integrity
    as_json = [json.loads(line) for line in written(rows, "timesketch-jsonl").splitlines()]
    assert all(list(item)[:4] == ["message", "datetime", "timestamp", "timestamp_desc"] for item in as_json)
    assert {k: v for k, v in as_json[0].items() if k not in ("message", "datetime", "timestamp", "timestamp_desc")
            } == {k: v for k, v in exports.flatten(rows[0]).items() if k != "event_time"}


FORMULA = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("fmt", ["csv", "timesketch-csv"])
def test_csv_neutralises_formula_cells(rows: list[ExportRow], fmt: str) -> None:
    found = list(csv.DictReader(io.StringIO(written(rows, fmt))))
    for cells in found:
        for column, cell in cells.items():
            assert not cell.startswith(FORMULA) or re.fullmatch(r"-?\d+", cell), (column, cell)
    by_id = {cells["event_id"]: cells for cells in found}
    assert by_id["h1-formula"]["user_agent"] == "'" + HOSTILE_UA
    assert by_id["h1-formula"]["identity_arn"] == "'@SUM(1+1)"
    assert by_id["h2-control"]["user_agent"] == "'\t-2+3" and by_id["h2-control"]["error_code"] == "'-AccessDenied"
    if fmt == "timesketch-csv":
        assert by_id["h1-formula"]["message"] == ("'@SUM(1+1) GetObject on arn:aws:s3:::exports (+1 more) "
                                                  "from 192.0.2.66")


def test_jsonl_keeps_hostile_values_exactly(rows: list[ExportRow]) -> None:
    found = {json.loads(line)["event_id"]: json.loads(line) for line in written(rows, "jsonl").splitlines()}
    assert found["h1-formula"]["event"]["requestParameters"]["key"] == "=cmd|' /C calc'!A0"
    assert found["h1-formula"]["user_agent"] == HOSTILE_UA


_UNESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def markdown_rows(text: str) -> list[list[str]]:
    """The body rows of the table, split on unescaped pipes, cells unescaped."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [re.split(r"(?<!\\)\|", line)[1:-1] for line in lines[2:]]
    return [[_UNESCAPE.sub(r"\1", cell.strip()) for cell in row] for row in cells]


def test_markdown_table_escapes_every_cell(rows: list[ExportRow]) -> None:
    text = written(rows, "markdown")
    assert text.startswith("# case \\| 42\n") and f"{len(rows)} events" in text
    assert "<script>" not in text and "](" not in text and "`code`" not in text
    table = markdown_rows(text)
    assert len(table) == len(rows) and all(len(cells) == 10 for cells in table)
    by_id = {cells[8]: cells for cells in table}
    assert list(by_id) == [r.event_id for r in rows]
    hostile = next(h for h in HOSTILE if h["eventID"] == "h3-markdown")
    assert by_id["h3-markdown"][1:3] == ["iam.amazonaws.com ListRoles", ALICE.replace("alice", "mallory")]
    assert by_id["h3-markdown"][5] == hostile["userAgent"].replace("\n", " ")     # escaped, then read back
    assert by_id["h1-formula"][5] == HOSTILE_UA and by_id["e07-read"][6] == "arn:aws:s3:::exports " \
        "arn:aws:s3:::exports/a.csv"


@pytest.mark.parametrize(("value", "expected"), [
    ("plain text", "plain text"), ("a|b", "a\\|b"), ("`x`", "\\`x\\`"), ("<b>&", "\\<b\\>\\&"),
    ("[t](u)", "\\[t\\]\\(u\\)"), ("line\r\nbreak\t", "line  break "), (None, ""), (["a", "b|c"], "a b\\|c"),
], ids=["plain", "pipe", "backtick", "html", "link", "control", "none", "list"])
def test_markdown_cell(value: Any, expected: str) -> None:
    assert exports.markdown_cell(value) == expected


def test_output_does_not_depend_on_selection_order(store_root: str, rows: list[ExportRow]) -> None:
    shuffled = list(timeline.select(store_root, Selection()))
    random.Random(3).shuffle(shuffled)
    again = exports.rows_from(shuffled, [])
    for fmt in exports.FORMATS:
        assert written(again, fmt) == written(rows, fmt), fmt


def test_unknown_format_is_refused(rows: list[ExportRow]) -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        written(rows, "xlsx")


def test_graphml_draws_the_selection_identities(store_root: str, tmp_path: Path) -> None:
    picked = list(timeline.select(store_root, Selection(principal=ALICE)))
    subset = timeline.identity_subset(store_root, [p.attributed for p in picked])
    path = tmp_path / "alice.graphml"
    with open(path, "wb") as out:
        nodes = exports.write_graphml(out, subset.sessions, subset.uses, subset.grants)
    drawn = nx.read_graphml(path)
    assert drawn.number_of_nodes() == nodes
    assert {"key:AKIAALICE", "session:e01-assume", "session:e02-hop", "key:AKIABACKDOOR"} <= set(drawn.nodes)
    assert not any("AKIACAROL" in node or "mallory" in node for node in drawn.nodes)


# ---- integrity ------------------------------------------------------------------------------------------

def finding(kind: str, subject: str, sha256: str | None) -> dict[str, Any]:
    return {"kind": kind, "subject": subject, "sha256": sha256}


LOG = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/11/30/f.json.gz"


@pytest.mark.parametrize(("findings", "source", "expected"), [
    ([], {"uri": f"s3://b/{LOG}", "contentSha256": "c1"}, "never verified"),
    ([finding("log_valid", f"s3://b/{LOG}", "c1")], {"uri": f"/copy/{LOG}", "contentSha256": "c1"}, "verified"),
    # the digest vouches for this content, though the bucket's copy changed since
    ([finding("log_modified", f"s3://b/{LOG}", "c1")], {"uri": f"s3://b/{LOG}", "contentSha256": "c1"}, "verified"),
    ([finding("log_modified", f"s3://b/{LOG}", "c0")], {"uri": f"/copy/{LOG}", "contentSha256": "c1"}, "modified"),
    ([finding("log_not_covered", f"s3://b/{LOG}", None)], {"uri": f"s3://b/{LOG}", "contentSha256": "c1"},
     "not covered"),
    ([finding("log_valid", "s3://b/other", "c9"), finding("digest_missing", "s3://b/d", None)],
     {"uri": f"s3://b/{LOG}", "contentSha256": "c1"}, "not verified"),
    ([finding("log_valid", "s3://b/other", "c9")], {"uri": "lookup-events.json", "contentSha256": "c1"},
     "not verified"),
], ids=["never", "valid", "vouched-then-modified", "modified", "not-covered", "other-files", "not-in-layout"])
def test_integrity_status(findings: list[dict[str, Any]], source: dict[str, Any], expected: str) -> None:
    assert IntegrityIndex(findings).status(source) == expected


def test_rows_carry_the_integrity_status(store_root: str) -> None:
    _, content = source_of("e05-policy")
    found = exports.rows_from(timeline.select(store_root, Selection(principal=ALICE)),
                              [finding("log_valid", "s3://trail/x", content)])
    assert {r.event_id: r.integrity for r in found}["e05-policy"] == "verified"
    assert {r.integrity for r in found if r.event_id != "e05-policy"} == {"not verified"}


@pytest.mark.parametrize(("attributed", "overrides", "expected"), [
    ({"originPrincipal": ALICE}, {}, f"{ALICE} PutBucketPolicy on arn:aws:s3:::exports from 203.0.113.5"),
    (None, {}, "arn:aws:sts::111122223333:assumed-role/Admin/hop PutBucketPolicy on arn:aws:s3:::exports "
               "from 203.0.113.5"),
    (None, {"errorCode": "AccessDenied", "sourceIPAddress": None},
     "arn:aws:sts::111122223333:assumed-role/Admin/hop PutBucketPolicy on arn:aws:s3:::exports failed: AccessDenied"),
    (None, {"requestParameters": None, "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}},
     "ec2.amazonaws.com PutBucketPolicy from 203.0.113.5"),
], ids=["attributed", "signer", "failed", "service-no-resource"])
def test_message(attributed: dict[str, Any] | None, overrides: dict[str, Any], expected: str) -> None:
    original = {**BY_ID["e05-policy"], **overrides}
    record = None if attributed is None else {"originKind": "iam-user", "basis": "access-key", "confidence": "high",
                                              "session": None, "chain": [], "createdBy": [], **attributed}
    row = ExportRow(event_time=1, event_id="e05-policy", event=original, event_json=json.dumps(original),
                    attributed=record, source={}, integrity="never verified")
    assert exports.message(row) == expected


def test_datetime_is_utc_with_z() -> None:
    original = BY_ID["e05-policy"]
    row = ExportRow(event_time=timestamps.parse_micros("2024-11-30T08:03:00.250Z"), event_id="x", event=original,
                    event_json="{}", attributed=None, source={}, integrity="never verified")
    [line] = written([row], "timesketch-jsonl").splitlines()
    assert parsed_datetime(json.loads(line)["datetime"]) == datetime(2024, 11, 30, 8, 3, 0, 250000,
                                                                     tzinfo=timezone.utc)
