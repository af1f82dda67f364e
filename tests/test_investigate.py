"""``trailbeam investigate`` end to end on the sample's attack story, and ``report`` / ``findings`` on its store:
the findings name every tampering, persistence and exposure step, and the report's timeline lists every step
of the story in order. Also: digests among the sources are verified into the case."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import fastavro
import pytest

import digestchain
from builders import run
from trailbeam import casescan, collect, detections, identitystore, store
from trailbeam.sample import write_sample

pytestmark = pytest.mark.pipeline

# The categories of calls an attacker makes to stay and to hide, and what they expose.
CATEGORIES = ("logging-tampering", "persistence", "exposure")


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> tuple[dict, Path, str]:
    """(ground truth's attack, case folder, investigate's output) for a 1,500-event sample."""
    root = tmp_path_factory.mktemp("investigate")
    written = write_sample(root / "trail", events=1500, seed=11)
    code, out, err = run("investigate", str(root / "trail" / "AWSLogs"), "--out", str(root / "case"))
    assert code == 0, out + err
    return json.loads(Path(written.ground_truth).read_text())["attack"], root / "case", out


def _timeline_ids(html: str) -> list[str]:
    section = html[html.index('<section id="timeline">'):]
    return re.findall(r'<tr id="event-([^"]+)"', section)


def test_prints_every_stage_with_its_time_and_the_report(story):
    _, case_dir, out = story
    for stage in ("ingest", "verify", "attribute", "histories", "findings and timeline", "report", "total"):
        assert re.search(rf"^{stage}\s+[\d,.]+\s", out, re.MULTILINE), stage
    assert f"report: {(case_dir / 'report.html').resolve()}" in out
    assert "not verified: no CloudTrail digest files" in out


def test_findings_name_every_tampering_persistence_and_exposure_step(story):
    attack, case_dir, _ = story
    calls = {call for rule in detections.RULES.values() if rule.category in CATEGORIES for call in rule.calls}
    steps = [s for s in attack["steps"] if (s["event_source"], s["event_name"]) in calls and not s["error_code"]]
    assert {s["event_name"] for s in steps} >= {"StopLogging", "PutEventSelectors", "CreateAccessKey",
                                                  "AttachUserPolicy", "CreateLoginProfile", "PutBucketPolicy",
                                                  "DeleteBucketPublicAccessBlock"}
    findings = json.loads((case_dir / "findings.json").read_text())
    evidence = {event_id: f for f in findings for event_id in f["event_ids"]}
    for step in steps:
        assert step["event_id"] in evidence, step["event_name"]
        assert evidence[step["event_id"]]["category"] in CATEGORIES
        assert evidence[step["event_id"]]["origin"] == attack["origin_principal"]


def test_the_timeline_lists_every_step_of_the_story_in_order(story):
    attack, case_dir, _ = story
    listed = _timeline_ids((case_dir / "report.html").read_text())
    steps = [s["event_id"] for s in attack["steps"]]            # ground truth lists them in time order
    assert set(steps) <= set(listed)
    positions = [listed.index(event_id) for event_id in steps]
    assert positions == sorted(positions)


def test_the_timeline_export_carries_the_same_events(story):
    _, case_dir, _ = story
    with open(case_dir / "timeline.csv", newline="") as handle:
        exported = [row["event_id"] for row in csv.DictReader(handle)]
    assert exported == _timeline_ids((case_dir / "report.html").read_text())


def test_the_report_pictures_the_attackers_chain_and_the_changes(story):
    attack, case_dir, _ = story
    html = (case_dir / "report.html").read_text()
    identities = html[html.index('<section id="identities">'):html.index('<section id="activity">')]
    assert f"credentials of {attack['origin_principal']}" in identities
    assert "OrgAutomationRole" in identities and "<svg" in identities
    changes = html[html.index('<section id="changes">'):html.index('<section id="timeline">')]
    assert attack["public_bucket"] in changes and attack["backdoor"]["user"] in changes
    assert "<del>" in changes and "<ins>" in changes


def test_report_focused_on_the_backdoor_user(story, tmp_path):
    attack, case_dir, _ = story
    backdoor = attack["backdoor"]["user"]
    code, out, err = run("report", "--store", str(case_dir / "store"), "--out", str(tmp_path / "r.html"),
                         "--principal", backdoor)
    assert code == 0, err
    html = (tmp_path / "r.html").read_text()
    later = [s["event_id"] for s in attack["steps"] if s["phase"] == "backdoor_use"]
    assert set(_timeline_ids(html)) >= set(later)
    assert attack["steps"][0]["event_id"] not in _timeline_ids(html)      # the leaked key's discovery calls
    assert "persistence.access-key-for-other-user" in html                # findings about the user are kept


def test_report_focused_on_a_window(story, tmp_path):
    attack, case_dir, _ = story
    code, _, err = run("report", "--store", str(case_dir / "store"), "--out", str(tmp_path / "r.html"),
                       "--start", attack["start"], "--end", "2026-03-03T03:20:00Z", "--max-events", "10")
    assert code == 0, err
    html = (tmp_path / "r.html").read_text()
    listed = _timeline_ids(html)
    assert len(listed) == 10 and "are not shown (at most 10)" in html
    stop = next(s for s in attack["steps"] if s["event_name"] == "StopLogging")["event_id"]
    assert stop in listed                                         # evidence of a finding comes first
    assert "PutBucketPolicy" not in html.partition('<section id="findings">')[2].partition("</section>")[0]


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_findings_command(story, fmt):
    _, case_dir, _ = story
    code, out, err = run("findings", "--store", str(case_dir / "store"), "--format", fmt)
    assert code == 0, err
    if fmt == "json":
        assert {f["rule"] for f in json.loads(out)} >= {"logging.stop-logging", "exposure.public-bucket-policy"}
    elif fmt == "csv":
        rows = list(csv.DictReader(out.splitlines()))
        assert rows and all(row["event_ids"] for row in rows)
    else:
        assert "logging.stop-logging" in out


def test_usage_errors(tmp_path):
    assert run("report", "--store", str(tmp_path), "--out", str(tmp_path / "r.html"))[0] == 2      # not a store
    code, _, err = run("investigate", str(tmp_path), "--out", str(tmp_path / "c"), "--max-events", "0")
    assert code == 2 and "--max-events" in err


# ---- evidence integrity ----

def write_bundle(bucket: digestchain.TrailBucket, folder: Path) -> Path:
    """The bucket as ``trailbeam collect`` leaves it: objects under their keys, and the manifest."""
    for key, data in bucket.objects.items():
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(data)
    objects = {key: {"etag": f'"{len(data)}"', "size": len(data), "last_modified": None,
                     "metadata": bucket.metadata.get(key, {}),
                     "object_lock": {"mode": None, "retain_until": None, "legal_hold": None}}
               for key, data in bucket.objects.items()}
    (folder / collect.MANIFEST).write_text(json.dumps({
        "format": collect.FORMAT, "source": f"s3://{bucket.bucket}", "bucket": bucket.bucket, "objects": objects,
        "public_keys": bucket.keys_document}))
    return folder


def test_digests_among_the_sources_are_verified_into_the_report(tmp_path):
    bucket = digestchain.build_bucket(hours=3)
    folder = write_bundle(bucket, tmp_path / "evidence")
    code, out, err = run("investigate", str(folder / "AWSLogs"), "--out", str(tmp_path / "case"))
    assert code == 0, out + err
    assert "3 valid digests, 0 invalid findings" in out
    html = (tmp_path / "case" / "report.html").read_text()
    assert "Evidence verified: 3 digests and" in html


def test_tampered_evidence_makes_investigate_exit_1(tmp_path):
    bucket = digestchain.build_bucket(hours=3)
    digestchain.change_log_byte(bucket, bucket.log_key("us-east-1", 1))
    folder = write_bundle(bucket, tmp_path / "evidence")
    code, out, err = run("investigate", str(folder), "--out", str(tmp_path / "case"))
    assert code == 1, out + err
    html = (tmp_path / "case" / "report.html").read_text()
    assert "Evidence problems found" in html and "log_modified" in html


def test_rows_carry_their_attributed_records_exactly(story):
    """casescan reads AttributedEvent files by their shared attribution bytes; the records must be fastavro's."""
    _, case_dir, _ = story
    root = case_dir / "store"
    attributed_root = identitystore.current_run(str(root)) / identitystore.ATTRIBUTED
    for path in store.event_files(str(root))[:25]:
        attributed = (attributed_root / path.relative_to(root / "events")).read_bytes()
        expected = list(fastavro.reader(io.BytesIO(attributed)))
        picked = casescan.rows(path.read_bytes(), attributed, {index: "o" for index in range(len(expected))})
        assert [event.attributed for event in picked] == expected
