"""The ``trailbeam`` command end to end: argv in, exit code and output out."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import fixturedata
from trailbeam import cli, jsonvalue

pytestmark = pytest.mark.pipeline


def _stratus() -> list:
    return [r for path in sorted(fixturedata.STRATUS.glob("*.json")) for r in fixturedata.records_in(path)]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "store"
    assert cli.main(["ingest", str(fixturedata.STRATUS), "--out", str(out), "--run-id", "cli"]) == 0
    return out


def test_ingest_prints_a_balanced_summary(tmp_path, capsys):
    code = cli.main(["ingest", str(fixturedata.STRATUS), "--out", str(tmp_path / "s"), "--run-id", "r", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["balanced"] and summary["records"]["stored"] == len(_stratus())
    # LICENSE and NOTICE are not CloudTrail: quarantined, counted, and the run still succeeds.
    assert summary["files"]["quarantined"] == 2


def test_cat_prints_every_event_as_its_original_json(store, capsys):
    assert cli.main(["cat", "--store", str(store)]) == 0
    lines = capsys.readouterr().out.splitlines()
    printed = {(e := jsonvalue.loads(line))["eventID"]: e for line in lines}
    originals = {r["eventID"]: r for r in _stratus()}
    assert printed == originals


@pytest.mark.parametrize(("args", "expected"), [
    (["--start", "2024-11-30T08:43:17Z"], {"6e882b9d-2af8-4c67-b91f-aeac6a0e5e70"}),
    (["--start", "2024-11-30T08:43:17Z", "--end", "2024-11-30T08:43:17Z"], set()),
    (["--account", "742491224508", "--region", "ap-isob-east-1r"], None),
], ids=["start", "empty-window", "account-and-region"])
def test_cat_filters(store, capsys, args, expected):
    assert cli.main(["cat", "--store", str(store), *args]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    if expected is not None:
        assert {e["eventID"] for e in events} >= expected and (expected or not events)
    else:
        assert events and all(e["recipientAccountId"] == "742491224508" for e in events)


def test_stats_formats_agree(store, capsys):
    assert cli.main(["stats", "--store", str(store), "--format", "json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["events"] == len(_stratus())
    assert as_json["quarantined_files"] == 2
    assert sum(as_json["by"]["account"].values()) == as_json["events"]
    assert cli.main(["stats", "--store", str(store), "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["dimension", "value", "count"]
    assert ["total", "events", str(as_json["events"])] in rows
    assert cli.main(["stats", "--store", str(store)]) == 0
    assert "identity_type" in capsys.readouterr().out


def test_quarantine_lists_reasons(store, capsys):
    assert cli.main(["quarantine", "--store", str(store), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(Path(r["uri"]).name for r in rows) == ["LICENSE", "NOTICE"]
    assert {r["reason"] for r in rows} == {"invalid_json"}


def test_conflicts_make_ingest_exit_1(tmp_path, capsys):
    event = {"eventID": "e1", "eventTime": "2024-01-01T00:00:00Z", "eventSource": "s3.amazonaws.com",
             "eventName": "GetObject", "sourceIPAddress": "192.0.2.1"}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text(json.dumps([event]))
    (tmp_path / "in" / "b.json.gz").write_bytes(gzip.compress(json.dumps(
        {"Records": [{**event, "sourceIPAddress": "192.0.2.99"}]}).encode()))
    assert cli.main(["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "s")]) == 1
    assert "conflicting eventIDs           1" in capsys.readouterr().out


def test_strict_makes_quarantine_a_failure(tmp_path):
    (tmp_path / "bad.json").write_text("{")
    assert cli.main(["ingest", str(tmp_path / "bad.json"), "--out", str(tmp_path / "s")]) == 0
    assert cli.main(["ingest", str(tmp_path / "bad.json"), "--out", str(tmp_path / "s2"), "--strict"]) == 1


@pytest.mark.parametrize("argv", [
    ["ingest", "/no/such/folder", "--out", "x"],
    ["ingest", "."],
    ["cat", "--store", "/no/such/store"],
    ["cat", "--store", ".", "--start", "yesterday"],
    ["stats", "--store", ".", "--format", "xml"],
    ["frobnicate"],
    [],
], ids=["missing-source", "missing-out", "not-a-store", "bad-time", "bad-format", "unknown-command", "no-command"])
def test_usage_errors_exit_2_with_one_line(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    if argv:
        assert err.startswith("trailbeam: error:") and "\n" not in err


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "trailbeam.cli", "ingest", "--help"],
                            capture_output=True, text=True, check=True)
    assert "--out STORE" in result.stdout and "Apache Beam" in result.stdout


def truth_of(trail):
    return json.loads((trail / "ground-truth.json").read_text())


def test_sample_then_demo(tmp_path, capsys):
    assert cli.main(["sample", "--out", str(tmp_path / "trail"), "--events", "300", "--seed", "3"]) == 0
    assert "300 events" in capsys.readouterr().out
    truth = json.loads((tmp_path / "trail" / "ground-truth.json").read_text())
    assert truth["totals"]["unique_events"] == 300
    assert cli.main(["demo", "--out", str(tmp_path / "demo"), "--events", "400"]) == 0
    out = capsys.readouterr().out
    assert "yes: read = stored + duplicates + quarantined" in out and "identity_type" in out
    assert "events by basis" in out and "access-key" in out          # step 4: attribution ran
    origin = truth_of(tmp_path / "demo" / "trail")["attack"]["origin_principal"]
    assert f"trailbeam activity {origin} --store" in out
    assert (tmp_path / "demo" / "store" / "identity" / "CURRENT.json").exists()
    assert cli.main(["demo", "--out", str(tmp_path / "demo")]) == 2  # refuses to overwrite a store


def test_selectors_file_keeps_only_matching_events(tmp_path, capsys):
    selectors_file = tmp_path / "selectors.json"
    selectors_file.write_text(json.dumps({"AdvancedEventSelectors": [{"Name": "IAM writes", "FieldSelectors": [
        {"Field": "eventSource", "Equals": ["iam.amazonaws.com"]}, {"Field": "readOnly", "Equals": ["false"]}]}]}))
    code = cli.main(["ingest", str(fixturedata.STRATUS), "--out", str(tmp_path / "s"), "--json",
                     "--selectors", str(selectors_file)])
    summary = json.loads(capsys.readouterr().out)
    stored = [json.loads(line) for line in _cat(tmp_path / "s", capsys)]
    expected = [r for r in _stratus() if r["eventSource"] == "iam.amazonaws.com" and r["readOnly"] is False]
    assert code == 0 and summary["balanced"]
    assert sorted(e["eventID"] for e in stored) == sorted(r["eventID"] for r in expected)
    assert summary["records"]["filtered"] == len(_stratus()) - len(expected)


def _cat(store_dir, capsys) -> list[str]:
    assert cli.main(["cat", "--store", str(store_dir)]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("argv", [
    ["--selectors", "/no/such/selectors.json"],
    ["--s3_secret_access_key=abc"],
], ids=["missing-selectors-file", "secret-in-pipeline-options"])
def test_ingest_refuses_bad_filters_and_secrets(argv, tmp_path, capsys):
    assert cli.main(["ingest", str(fixturedata.STRATUS), "--out", str(tmp_path / "s"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trailbeam: error:") and "\n" not in err and "abc" not in err
