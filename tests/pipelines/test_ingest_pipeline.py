"""End to end: the ingest pipeline on a messy trail folder, checked through the store it writes."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path

import fastavro
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

import fixturedata
from pipelines import ingest as ingest_pipeline
from trailbeam import cloudtrail, jsonvalue, store
from trailbeam.beam import IngestCloudTrail, MatchSources
from trailbeam.beam.ingest import ShardSizes
from trailbeam.sources import to_patterns

pytestmark = pytest.mark.pipeline

ACCOUNT = "111122223333"
LOG_DIR = f"AWSLogs/o-exampleorg1/{ACCOUNT}/CloudTrail/us-east-1/2024/05/01"


def _gz(records: list[dict]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode(), mtime=0)


def _event(event_id: str, **overrides) -> dict:
    event = {"eventVersion": "1.09", "eventTime": "2024-05-01T10:00:00Z", "eventID": event_id,
             "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "awsRegion": "us-east-1",
             "recipientAccountId": ACCOUNT, "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIAEXAMPLE"},
             "readOnly": True, "requestParameters": None}
    event.update(overrides)
    return event


@pytest.fixture(scope="module")
def messy_trail(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """A trail with every kind of trouble; returns its folder and the events expected in the store."""
    root = tmp_path_factory.mktemp("trail")
    logs = root / LOG_DIR
    logs.mkdir(parents=True)
    real = [record for name, _, record in fixturedata.all_records() if name.startswith("aws.persistence")]
    (logs / "real.json.gz").write_bytes(_gz(real))
    # The same file delivered twice: every event in it is a duplicate.
    (logs / "redelivered.json.gz").write_bytes(_gz(real))
    # Two copies of one eventID that differ: a conflict, both kept.
    (logs / "a.json.gz").write_bytes(_gz([_event("conflict-1", sourceIPAddress="198.51.100.1")]))
    (logs / "b.json.gz").write_bytes(_gz([_event("conflict-1", sourceIPAddress="203.0.113.66")]))
    # A redacted account id that must be escaped in the partition path; an event from the day before.
    (logs / "odd.json.gz").write_bytes(_gz([_event("odd-account", recipientAccountId="XXXX/1"),
                                             _event("late", eventTime="2024-04-30T23:59:59Z")]))
    # A copy moved to another hour and account: the partitions differ, the conflict must still show.
    (logs / "moved-1.json.gz").write_bytes(_gz([_event("moved")]))
    (logs / "moved-2.json.gz").write_bytes(_gz([_event("moved", eventTime="2024-05-01T14:00:00Z",
                                                       recipientAccountId="444455556666")]))
    # An event without account or region read from two different places is still one event.
    placeless = {k: v for k, v in _event("placeless").items() if k not in ("recipientAccountId", "awsRegion")}
    (logs / "placeless.json.gz").write_bytes(_gz([placeless]))
    (root / "export.json").write_text(json.dumps([placeless]))
    # Bad input: each must be quarantined with its reason, the rest of the run unharmed.
    (logs / "corrupt.json.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    (logs / "trailing.json.gz").write_bytes(_gz([_event("trailing")]) + b"extra")
    (root / "notes.txt").write_text("not json at all")
    (root / "bad-items.json").write_text(json.dumps(
        [_event("ok-in-bad-file"), 42, {"eventTime": "2024-05-01T10:00:00Z"},
         _event("bad-time", eventTime="yesterday"), _event("no-name", eventName=None)]))
    digest_dir = root / f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/05/01"
    digest_dir.mkdir(parents=True)
    (digest_dir / f"{ACCOUNT}_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T110000Z.json.gz").write_bytes(
        gzip.compress(b'{"digestStartTime": "2024-05-01T10:00:00Z", "logFiles": []}', mtime=0))
    expected = {r["eventID"]: r for r in real}
    for event in (_event("odd-account", recipientAccountId="XXXX/1"),
                  _event("late", eventTime="2024-04-30T23:59:59Z"), _event("ok-in-bad-file"), placeless):
        expected[event["eventID"]] = event
    return root, expected


def _run(source: Path, out: Path, run_id: str = "test-run", extra: tuple[str, ...] = ()) -> dict:
    ingest_pipeline.run([f"--source={source}", f"--store={out}", f"--run_id={run_id}", *extra])
    return json.loads((out / "_runs" / run_id / "summary.json").read_text())


@pytest.fixture(scope="module")
def ingested(messy_trail, tmp_path_factory):
    source, _ = messy_trail
    out = tmp_path_factory.mktemp("store")
    return out, _run(source, out)


def _stored(out: Path) -> list[dict]:
    return list(store.read_events(str(out)))


def test_every_record_is_accounted_for(ingested, messy_trail):
    _, summary = ingested
    _, expected = messy_trail
    records = summary["records"]
    assert summary["balanced"]
    assert records["read"] == records["stored"] + records["duplicates"] + records["quarantined"]
    # expected unique events + both copies of each conflict
    assert records["stored"] == len(expected) + 4
    assert records["duplicates"] == len(expected) - 4 + 1  # the re-delivered real file, the placeless copy
    assert records["conflicts"] == 2
    assert records["quarantined"] == 4
    assert summary["files"]["quarantined"] == 3
    assert summary["files"]["kind_digest"] == 1


def test_stored_events_round_trip_to_the_original_json(ingested, messy_trail):
    out, _ = ingested
    _, expected = messy_trail
    stored = [r for r in _stored(out) if not r["conflict"]]
    assert {r["eventID"] for r in stored} == set(expected)
    assert len(stored) == len(expected)
    for record in stored:
        assert cloudtrail.original_event(record) == jsonvalue.loads(json.dumps(expected[record["eventID"]]))


def test_duplicates_keep_one_copy_from_the_first_source(ingested):
    out, _ = ingested
    real = [r for r in _stored(out) if r["source"]["uri"].endswith("real.json.gz")]
    again = [r for r in _stored(out) if r["source"]["uri"].endswith("redelivered.json.gz")]
    assert real and not again
    assert all(r["copies"] == 2 and not r["conflict"] for r in real)


def test_conflicting_copies_are_both_kept_and_flagged(ingested):
    out, _ = ingested
    copies = [r for r in _stored(out) if r["eventID"] == "conflict-1"]
    assert sorted(r["sourceIPAddress"] for r in copies) == ["198.51.100.1", "203.0.113.66"]
    assert all(r["conflict"] and r["copies"] == 2 for r in copies)
    assert sorted(Path(r["source"]["uri"]).name for r in copies) == ["a.json.gz", "b.json.gz"]


def test_copies_in_different_partitions_are_flagged_as_conflicts(ingested):
    out, _ = ingested
    copies = sorted((r for r in _stored(out) if r["eventID"] == "moved"), key=lambda r: r["recipientAccountId"])
    assert [r["recipientAccountId"] for r in copies] == [ACCOUNT, "444455556666"]
    assert all(r["conflict"] and r["copies"] == 2 for r in copies)


def test_identical_copies_from_different_places_are_one_event(ingested):
    out, _ = ingested
    copies = [r for r in _stored(out) if r["eventID"] == "placeless"]
    assert len(copies) == 1 and copies[0]["copies"] == 2 and not copies[0]["conflict"]
    assert "account=__HIVE_DEFAULT_PARTITION__/region=__HIVE_DEFAULT_PARTITION__" in str(
        next((out / "events").glob("account=__HIVE_DEFAULT_PARTITION__/*/*/*.avro")))


def test_partitions_follow_event_time_and_escape_account_ids(ingested):
    out, _ = ingested
    files = {str(p.relative_to(out)) for p in (out / "events").rglob("*.avro")}
    assert "events/account=XXXX%2F1/region=us-east-1/date=2024-05-01/part-10-test-run.avro" in files
    assert f"events/account={ACCOUNT}/region=us-east-1/date=2024-04-30/part-23-test-run.avro" in files
    assert not (out / "_runs" / "test-run" / "spill").exists()


def test_records_are_sorted_within_each_file(ingested):
    out, _ = ingested
    for path in (out / "events").rglob("*.avro"):
        with open(path, "rb") as handle:
            keys = [(r["eventTime"], r["eventID"]) for r in fastavro.reader(handle)]
        assert keys == sorted(keys), path


def test_quarantine_keeps_reason_location_and_payload(ingested, messy_trail):
    out, _ = ingested
    source, _ = messy_trail
    found = {(Path(r["uri"]).name, r["position"], r["reason"]): r for r in store.read_quarantine(str(out))}
    assert set(found) == {
        ("corrupt.json.gz", None, "corrupt_gzip"),
        ("trailing.json.gz", None, "gzip_trailing_data"),
        ("notes.txt", None, "invalid_json"),
        ("bad-items.json", 1, "not_an_object"),
        ("bad-items.json", 2, "missing_event_id"),
        ("bad-items.json", 3, "bad_event_time"),
        ("bad-items.json", 4, "missing_event_source_or_name"),
    }
    corrupt = found[("corrupt.json.gz", None, "corrupt_gzip")]
    data = (source / LOG_DIR / "corrupt.json.gz").read_bytes()
    assert corrupt["payload"] == data and corrupt["sha256"] == hashlib.sha256(data).hexdigest()
    assert json.loads(found[("bad-items.json", 3, "bad_event_time")]["payload"])["eventTime"] == "yesterday"


def test_provenance_points_at_the_exact_source_bytes(ingested, messy_trail):
    out, _ = ingested
    source, _ = messy_trail
    real = source / LOG_DIR / "real.json.gz"
    record = next(r for r in _stored(out) if r["source"]["uri"] == str(real))
    assert record["source"]["sha256"] == hashlib.sha256(real.read_bytes()).hexdigest()
    assert record["source"]["contentSha256"] == hashlib.sha256(gzip.decompress(real.read_bytes())).hexdigest()
    original = json.loads(gzip.decompress(real.read_bytes()))["Records"][record["source"]["position"]]
    assert original["eventID"] == record["eventID"]
    assert record["source"]["shape"] == "records" and record["source"]["ingestRun"] == "test-run"


def test_files_manifest_lists_every_input(ingested, messy_trail):
    out, _ = ingested
    source, _ = messy_trail
    reports = list(store.run_reports(str(out), "test-run"))
    assert [r["uri"] for r in reports] == sorted(str(p) for p in source.rglob("*") if p.is_file())
    # A small run fits one shard of the file list.
    assert [p.name for p in (out / "_runs" / "test-run").glob("files*.jsonl")] == ["files-00000.jsonl"]


def test_same_input_gives_byte_identical_store(messy_trail, ingested, tmp_path):
    source, _ = messy_trail
    first, _ = ingested
    second = tmp_path / "again"
    _run(source, second)

    def contents(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.avro"))}

    assert contents(first) == contents(second)


def test_composite_in_a_test_pipeline(messy_trail, tmp_path):
    source, expected = messy_trail
    out = tmp_path / "store"
    with BeamTestPipeline(runner="FnApiRunner") as pipeline:
        _ = (pipeline
             | MatchSources([str(source / LOG_DIR / "real.json.gz")])
             | IngestCloudTrail(store_root=str(out), run_id="tp", sources=["real"]))
    summary = json.loads((out / "_runs" / "tp" / "summary.json").read_text())
    assert summary["records"]["stored"] == len(expected) - 4 and summary["balanced"]


def test_invalid_options_are_rejected_before_running(tmp_path):
    from trailbeam import errors

    with pytest.raises(errors.InputError, match="--run_id"):
        ingest_pipeline.run([f"--source={tmp_path}", f"--store={tmp_path / 's'}", "--run_id=../escape"])
    with pytest.raises(errors.InputError, match="--source"):
        ingest_pipeline.run([f"--store={tmp_path / 's'}"])


def test_worker_processes_write_the_same_store(messy_trail, ingested, tmp_path):
    source, _ = messy_trail
    first, _ = ingested
    parallel = tmp_path / "parallel"
    _run(source, parallel, extra=("--direct_running_mode=multi_processing", "--direct_num_workers=2"))

    def contents(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes()
                for p in sorted(root.rglob("*")) if p.is_file() and p.name != "summary.json"}

    assert contents(parallel) == contents(first)


def _distribution(result, name: str):
    [found] = result.metrics().query(MetricsFilter().with_namespace("trailbeam.ingest").with_name(name))[
        "distributions"]
    return found.committed


def test_no_group_holds_the_whole_input_and_the_store_stays_the_same(messy_trail, ingested, tmp_path):
    """Tiny shards: every grouping step is split, and the events, file list and summary do not change."""
    source, _ = messy_trail
    first, summary = ingested
    out = tmp_path / "sharded"
    tiny = ShardSizes(min_id_shards=1, bytes_per_id_shard=64, files_per_report_shard=1,
                      bytes_per_quarantine_shard=64)
    with BeamTestPipeline(runner="FnApiRunner") as pipeline:
        _ = (pipeline
             | MatchSources(to_patterns([str(source)]))
             | IngestCloudTrail(store_root=str(out), run_id="test-run", sources=[str(source)], shard_sizes=tiny))
    ids, reports = _distribution(pipeline.result, "ids_per_shard"), _distribution(pipeline.result, "reports_per_shard")
    sources = [p for p in source.rglob("*") if p.is_file()]
    files, total_bytes = len(sources), sum(p.stat().st_size for p in sources)
    # Which shard each object's report and rejects go to follows from its URI (a stable hash), so the
    # groups are known exactly: none may hold every object.
    by_report_shard = Counter(store.uri_shard(report["uri"], tiny.shards(files=files, total_bytes=total_bytes).reports)
                              for report in store.run_reports(str(first), "test-run"))
    assert (reports.sum, reports.count, reports.max) == (files, len(by_report_shard), max(by_report_shard.values()))
    assert reports.max < files and reports.count > 1
    assert ids.sum >= summary["records"]["stored"] - summary["records"]["conflicts"] and ids.max <= ids.sum // 4
    quarantine = _distribution(pipeline.result, "quarantined_per_shard")
    assert quarantine.sum == summary["records"]["quarantined"] + summary["files"]["quarantined"]
    quarantine_shards = tiny.shards(files=files, total_bytes=total_bytes).quarantine
    rejected = Counter(store.uri_shard(record["uri"], quarantine_shards) for record in store.read_quarantine(str(first)))
    assert (quarantine.count, quarantine.max) == (len(rejected), max(rejected.values()))

    assert json.loads((out / "_runs" / "test-run" / "summary.json").read_text()) == summary
    assert len(list((out / "_runs" / "test-run").glob("files-*.jsonl"))) == reports.count
    assert sorted(store.run_reports(str(out), "test-run"), key=lambda r: r["uri"]) == list(
        store.run_reports(str(first), "test-run"))
    assert len(list((out / "quarantine" / "run=test-run").glob("part-*.avro"))) == quarantine.count

    def key(record: dict) -> tuple:
        return record["uri"], record["position"] or -1, record["reason"]
    assert sorted(store.read_quarantine(str(out)), key=key) == sorted(store.read_quarantine(str(first)), key=key)

    def events(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "events").rglob("*.avro"))}
    assert events(out) == events(first)
