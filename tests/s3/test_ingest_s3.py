"""``trailbeam ingest s3://...`` end to end against moto's S3 over HTTP, through the fault proxy."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

import s3server
from trailbeam import cli, layout, sample, store

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def trail(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trail")
    sample.write_sample(root, events=600, seed=5, days=2)
    (root / "ground-truth.json").unlink()  # the bucket holds logs only
    return root


def _ingest(out: Path, *args: str) -> tuple[int, dict]:
    code = cli.main(["ingest", *args, "--out", str(out), "--json"])
    summary = max(store.run_summaries(str(out)), key=lambda s: s["run_id"]) if (out / "_runs").exists() else {}
    return code, summary


def _events(out: Path) -> Counter:
    return Counter((r["eventID"], r["cloudTrailEvent"]) for r in store.read_events(str(out)))


@pytest.fixture
def bucket(s3_server, s3_env, trail, request) -> str:
    name = f"trail-{request.node.name.replace('_', '-')[:40].lower().strip('-')}"
    s3server.upload_tree(s3server.admin_client(s3_server), name, trail)
    return name


def test_a_bucket_ingests_like_the_same_files_on_disk(bucket, trail, fault_proxy, tmp_path, capsys):
    code, remote = _ingest(tmp_path / "s3", f"s3://{bucket}", "--s3-endpoint-url", fault_proxy.url,
                           "--run-id", "r1")
    assert code == 0, capsys.readouterr().err
    code, local = _ingest(tmp_path / "local", str(trail), "--run-id", "r1")
    assert remote["records"] == local["records"] and remote["balanced"]
    assert _events(tmp_path / "s3") == _events(tmp_path / "local")
    reports = list(store.run_reports(str(tmp_path / "s3"), "r1"))
    assert reports and all(r["uri"].startswith(f"s3://{bucket}/AWSLogs/") and r["etag"] for r in reports)


def test_one_account_region_and_day_lists_only_their_prefixes(bucket, trail, fault_proxy, tmp_path, s3_server):
    keys = [str(p.relative_to(trail)) for p in trail.rglob("*.json.gz")]
    account, region = layout.locate(keys[0]).account, "eu-west-1"
    code, summary = _ingest(tmp_path / "s3", f"s3://{bucket}", "--s3-endpoint-url", fault_proxy.url,
                            "--accounts", account, "--regions", region,
                            "--start", "2026-03-03T00:00:00Z", "--end", "2026-03-03T06:00:00Z")
    assert code == 0 and summary["balanced"]
    listings = fault_proxy.listings()   # (prefix, delimiter, start_after)
    objects = [(prefix, start_after) for prefix, delimiter, start_after in listings if not delimiter]
    # Only folder discovery (delimiter listings) above the account; objects only under it, that region,
    # and the window's days (the day before only from its last minutes: delivery lags events).
    assert all(delimiter == "/" for prefix, delimiter, _ in listings if f"/{account}/" not in prefix)
    assert objects and all(f"/{account}/CloudTrail" in prefix and f"/{region}/2026/03/0" in prefix
                           for prefix, _ in objects), objects
    for prefix, start_after in objects:
        if prefix.endswith("/2026/03/02/"):
            assert start_after and start_after.startswith(prefix) and "_20260302T2" in start_after
        else:
            assert prefix.endswith("/2026/03/03/")
    stored = list(store.read_events(str(tmp_path / "s3")))
    assert stored and all(r["recipientAccountId"] == account and r["awsRegion"] == region for r in stored)
    assert all("2026-03-03T00:00:00" <= r["eventTime"].isoformat() < "2026-03-03T06:00:00" for r in stored)


def test_reruns_read_only_new_objects_and_report_modified_ones(bucket, trail, fault_proxy, tmp_path, s3_server):
    out, source = tmp_path / "s3", f"s3://{bucket}"
    _, first = _ingest(out, source, "--s3-endpoint-url", fault_proxy.url, "--run-id", "r1")
    before = _events(out)
    client = s3server.admin_client(s3_server)
    key = sorted(str(p.relative_to(trail)) for p in trail.rglob("*.json.gz"))[0]
    # The bucket grows by one object that re-delivers an event already stored, plus a new one.
    body = json.loads(gzip.decompress((trail / key).read_bytes()))
    new_event = {**body["Records"][0], "eventID": "brand-new-event"}
    grown = key.replace(".json.gz", "_later.json.gz")
    client.put_object(Bucket=bucket, Key=grown, Body=json.dumps({"Records": [body["Records"][0], new_event]}))
    fault_proxy.reset()
    code, second = _ingest(out, source, "--s3-endpoint-url", fault_proxy.url, "--run-id", "r2")
    assert code == 0
    assert second["files"]["already_ingested"] == first["files"]["read"]
    assert fault_proxy.count("GetObject") == 1          # unchanged objects are skipped by ETag, unread
    assert (second["records"]["stored"], second["records"]["duplicates"]) == (1, 1)
    assert _events(out) - before == Counter({(r["eventID"], r["cloudTrailEvent"]): 1
                                             for r in store.read_events(str(out)) if r["eventID"] == "brand-new-event"})
    # Someone rewrites an ingested object: reported, exit 1, stored events untouched.
    client.put_object(Bucket=bucket, Key=key, Body=b'{"Records": []}')
    code, third = _ingest(out, source, "--s3-endpoint-url", fault_proxy.url, "--run-id", "r3")
    assert code == 1 and third["files"]["modified"] == 1
    assert sum(_events(out).values()) == sum(before.values()) + 1
    [modified] = [r for r in store.read_quarantine(str(out)) if r["ingestRun"] == "r3"]
    assert modified["reason"] == "modified_since_ingest" and modified["uri"] == f"s3://{bucket}/{key}"


def test_faults_lose_nothing_and_double_nothing(bucket, trail, fault_proxy, tmp_path):
    keys = sorted(str(p.relative_to(trail)) for p in trail.rglob("*.json.gz"))
    fault_proxy.rules.slow_down(keys[0], times=2)
    fault_proxy.rules.internal_error(keys[1], times=1)
    fault_proxy.rules.reset_connection(keys[2], times=1)
    fault_proxy.rules.truncate(keys[3], times=1)
    fault_proxy.rules.vanish(keys[4])
    fault_proxy.rules.slow_down(None, times=1)  # a throttled listing
    code, summary = _ingest(tmp_path / "s3", f"s3://{bucket}", "--s3-endpoint-url", fault_proxy.url)
    assert code == 0 and summary["balanced"]
    [gone] = list(store.read_quarantine(str(tmp_path / "s3")))
    assert (gone["reason"], gone["uri"]) == ("vanished", f"s3://{bucket}/{keys[4]}")
    # Exactly the events of the same files on disk without the one that vanished.
    survivors = tmp_path / "survivors"
    shutil.copytree(trail, survivors)
    (survivors / keys[4]).unlink()
    _ingest(tmp_path / "local", str(survivors))
    assert _events(tmp_path / "s3") == _events(tmp_path / "local")
    assert max(_events(tmp_path / "s3").values()) == 1


@pytest.mark.parametrize("args", [
    ["--s3-endpoint-url", "http://127.0.0.1:9"],
    ["--s3-endpoint-url", "{proxy}", "--regions", "us-east-1"],
], ids=["endpoint-unreachable", "no-such-bucket"])
def test_configuration_errors_fail_fast_with_one_line(args, s3_env, fault_proxy, tmp_path, capsys):
    import time

    source = "s3://no-such-bucket-here" if "{proxy}" in args else "s3://whatever"
    args = [a.replace("{proxy}", fault_proxy.url) for a in args]
    started = time.monotonic()
    assert cli.main(["ingest", source, "--out", str(tmp_path / "s"), *args]) == 2
    assert time.monotonic() - started < 15
    err = capsys.readouterr().err.strip()
    assert err.startswith("trailbeam: error:") and "\n" not in err
