"""Incremental ingest: re-runs add only what is new, notice modified evidence, survive interruption."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.pipeline import PipelineVisitor

from pipelines import ingest as ingest_pipeline
from trailbeam import cli, store
from trailbeam.beam import launch

pytestmark = pytest.mark.pipeline

LOGS = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01"


def _event(event_id: str, minute: int, **members) -> dict:
    return {"eventVersion": "1.09", "eventTime": f"2024-05-01T10:{minute:02d}:00Z", "eventID": event_id,
            "eventSource": "iam.amazonaws.com", "eventName": "ListUsers", "awsRegion": "us-east-1",
            "recipientAccountId": "111122223333", "readOnly": True, **members}


def _write(root: Path, name: str, events: list[dict]) -> Path:
    path = root / LOGS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": events}).encode(), mtime=0))
    return path


def _run(source: Path, out: Path, run_id: str, *extra: str) -> dict:
    ingest_pipeline.run([f"--source={source}", f"--store={out}", f"--run_id={run_id}", *extra])
    return json.loads((out / "_runs" / run_id / "summary.json").read_text())


def _events(out: Path) -> list[tuple[str, str]]:
    return sorted((r["eventID"], r["cloudTrailEvent"]) for r in store.read_events(str(out)))


def test_a_rerun_on_a_grown_trail_adds_only_the_new_events(tmp_path):
    trail, out = tmp_path / "trail", tmp_path / "store"
    _write(trail, "a.json.gz", [_event("e1", 1), _event("e2", 2)])
    first = _run(trail, out, "r1")
    assert first["records"]["stored"] == 2
    # The bucket grows: a new file, which also re-delivers e2 (CloudTrail may).
    _write(trail, "b.json.gz", [_event("e2", 2), _event("e3", 3)])
    second = _run(trail, out, "r2")
    assert second["files"]["already_ingested"] == 1 and second["files"]["read"] == 2
    assert second["records"] == {**second["records"], "read": 2, "stored": 1, "duplicates": 1, "conflicts": 0}
    assert [event_id for event_id, _ in _events(out)] == ["e1", "e2", "e3"]
    # Nothing new: nothing read, nothing stored.
    third = _run(trail, out, "r3")
    assert (third["records"]["read"], third["files"]["already_ingested"]) == (0, 2)
    assert [event_id for event_id, _ in _events(out)] == ["e1", "e2", "e3"]


def test_an_object_modified_after_ingest_is_reported_and_its_events_are_kept(tmp_path, capsys):
    trail, out = tmp_path / "trail", tmp_path / "store"
    _write(trail, "a.json.gz", [_event("e1", 1, sourceIPAddress="192.0.2.10")])
    _run(trail, out, "r1")
    before = _events(out)
    _write(trail, "a.json.gz", [_event("e1", 1, sourceIPAddress="203.0.113.99")])  # tampered in place
    code = cli.main(["ingest", str(trail), "--out", str(out), "--run-id", "r2"])
    assert code == 1
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines() if "MODIFIED" in line] == ["1"]
    summary = json.loads((out / "_runs" / "r2" / "summary.json").read_text())
    assert summary["files"]["modified"] == 1 and summary["records"]["stored"] == 0
    assert _events(out) == before
    [record] = [r for r in store.read_quarantine(str(out)) if r["ingestRun"] == "r2"]
    assert record["reason"] == "modified_since_ingest" and b"203.0.113.99" in gzip.decompress(record["payload"])


def test_an_interrupted_run_rerun_gives_exactly_the_events_of_a_clean_run(tmp_path):
    trail, clean, interrupted = tmp_path / "trail", tmp_path / "clean", tmp_path / "interrupted"
    _write(trail, "a.json.gz", [_event("e1", 1), _event("e2", 2)])
    _write(trail, "b.json.gz", [_event("e3", 3)])
    _run(trail, clean, "r1")
    _run(trail, interrupted, "r1")
    # Killed after its files were moved into place but before its manifest was written...
    (interrupted / "_runs" / "r1" / "summary.json").unlink()
    # ...and another killed before it committed anything.
    shutil.copytree(interrupted / "events", interrupted / "_runs" / "r0" / "staging" / "events")
    again = _run(trail, interrupted, "r2")
    assert again["records"]["duplicates"] == 3 and again["records"]["stored"] == 0
    assert _events(interrupted) == _events(clean)


def test_filtered_events_are_counted_not_stored(tmp_path):
    trail, out = tmp_path / "trail", tmp_path / "store"
    _write(trail, "a.json.gz", [_event("read", 1), _event("write", 2, readOnly=False, eventName="CreateUser"),
                                _event("late", 59, readOnly=False)])
    summary = _run(trail, out, "r1", "--write_only", "--end=2024-05-01T10:30:00Z")
    assert summary["records"]["filtered"] == 2 and summary["records"]["stored"] == 1 and summary["balanced"]
    assert [event_id for event_id, _ in _events(out)] == ["write"]


class _Graph(PipelineVisitor):
    """Each transform's side inputs (by producing transform) and the values of each Create."""

    def __init__(self):
        self.side_inputs: dict[str, list[str]] = {}
        self.created: dict[str, list] = {}

    def enter_composite_transform(self, node):
        if isinstance(node.transform, beam.Create):  # a composite: Impulse, then its values
            self.created[node.full_label] = list(node.transform.values)

    def visit_transform(self, node):
        if node.side_inputs:
            self.side_inputs[node.full_label] = [side.pvalue.producer.full_label for side in node.side_inputs]


def test_earlier_reports_meet_their_objects_in_a_join_not_in_a_side_input(tmp_path):
    trail, out = tmp_path / "trail", tmp_path / "store"
    _write(trail, "a.json.gz", [_event("e1", 1)])
    _write(trail, "b.json.gz", [_event("e2", 2)])
    _run(trail, out, "r1")
    _run(trail, out, "r2")
    _, pipeline = launch.prepare(ingest_pipeline.build, [f"--source={trail}", f"--store={out}", "--run_id=r3"])
    graph = _Graph()
    pipeline.visit(graph)
    # The launcher hands over one path per earlier file-list part, not the reports in them...
    assert graph.created["Ingest/EarlierRuns"] == list(enumerate(store.earlier_report_files(str(out))))
    assert [path.rsplit("/", 2)[1] for _, path in graph.created["Ingest/EarlierRuns"]] == ["r1", "r2"]
    assert not any(isinstance(value, dict) for values in graph.created.values() for value in values)
    # ...and ParseFiles' only side input is the run's shard plan: each object meets its earlier report
    # through the join by URI.
    [plan] = [side for label, sides in graph.side_inputs.items() if label.startswith("Ingest/ParseFiles/")
              for side in sides]
    assert plan.startswith("Ingest/PlanShards/")
    assert not any(label.startswith(("Ingest/EarlierRuns", "Ingest/ReadEarlierReports"))
                   for labels in graph.side_inputs.values() for label in labels)
