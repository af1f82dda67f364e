"""``trailbeam collect`` and ``trailbeam verify`` end to end: offline bundles, plain copies, and S3."""

from __future__ import annotations

import json
from collections import Counter

import pytest

import digestchain
import s3server
from trailbeam import cli, collect, integrity, store, timestamps

HOURS = 5


def run_verify(source: str, capsys, *extra: str) -> tuple[int, dict]:
    code = cli.main(["verify", source, "--format", "json", *extra])
    return code, json.loads(capsys.readouterr().out)


def kinds(report: dict) -> set[tuple[str, str]]:
    return {(f["kind"], f["subject"].rsplit("/", 1)[-1]) for f in report["findings"] if f["severity"] != "ok"}


def window(bucket: digestchain.TrailBucket) -> list[str]:
    return ["--start", timestamps.format_micros(bucket.start), "--end", timestamps.format_micros(bucket.end)]


def test_an_untouched_bundle_verifies(tmp_path, capsys):
    bucket = digestchain.build_bucket(hours=HOURS)
    code, report = run_verify(str(digestchain.write_bundle(bucket, tmp_path)), capsys, *window(bucket))
    assert code == 0 and report["ok"] and not kinds(report)
    valid = {f["kind"] for f in report["findings"]}
    assert valid == {"digest_valid", "log_valid"}


TAMPERING = [
    ("log-byte-changed", lambda b: digestchain.change_log_byte(b, b.log_key("us-east-1", 2)),
     lambda b: {("log_modified", b.log_key("us-east-1", 2).rsplit("/", 1)[-1])}),
    ("log-deleted", lambda b: digestchain.delete(b, b.log_key("us-east-1", 1)),
     lambda b: {("log_missing", b.log_key("us-east-1", 1).rsplit("/", 1)[-1])}),
    ("digest-resigned", lambda b: digestchain.replace_signature(b, b.digest_key("us-east-1", 2)),
     None),
]


@pytest.mark.parametrize(("tamper", "expected"), [(t, e) for _, t, e in TAMPERING], ids=[n for n, _, _ in TAMPERING])
def test_tampering_in_a_bundle_is_found_and_named(tamper, expected, tmp_path, capsys):
    bucket = digestchain.build_bucket(hours=HOURS)
    tamper(bucket)
    code, report = run_verify(str(digestchain.write_bundle(bucket, tmp_path)), capsys, *window(bucket))
    assert code == 1 and not report["ok"]
    if expected is not None:
        assert expected(bucket) <= kinds(report)
    else:
        assert any(kind.startswith("digest_") for kind, _ in kinds(report))


def test_a_plain_copy_verifies_all_but_the_newest_signatures(tmp_path, capsys):
    bucket = digestchain.build_bucket(hours=HOURS)
    folder = digestchain.write_bundle(bucket, tmp_path / "copy", manifest=False)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(bucket.keys_document))
    code, report = run_verify(str(folder), capsys, "--public-keys", str(keys), *window(bucket))
    problems = kinds(report)
    assert {kind for kind, _ in problems} <= {"digest_unsigned", "log_unverified"}
    assert ("digest_unsigned", bucket.digest_key("us-east-1", bucket.last_hour).rsplit("/", 1)[-1]) in problems
    assert code == 1  # an unsigned digest cannot be trusted


def test_no_public_keys_is_a_usage_error(tmp_path, capsys):
    bucket = digestchain.build_bucket(hours=2)
    folder = digestchain.write_bundle(bucket, tmp_path, manifest=False)
    assert cli.main(["verify", str(folder)]) == 2
    assert "--public-keys" in capsys.readouterr().err


@pytest.mark.pipeline
def test_collect_and_verify_from_s3(s3_server, s3_env, tmp_path, capsys):
    bucket = digestchain.build_bucket(hours=HOURS)
    client = s3server.admin_client(s3_server)
    s3server.make_bucket(client, bucket.bucket)
    for key, data in bucket.objects.items():
        client.put_object(Bucket=bucket.bucket, Key=key, Body=data, Metadata=bucket.metadata.get(key, {}))
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(bucket.keys_document))
    endpoint = ["--s3-endpoint-url", s3_server]
    assert cli.main(["collect", f"s3://{bucket.bucket}", "--out", str(tmp_path / "bundle"), "--public-keys",
                     str(keys), *endpoint]) == 0
    assert "collected" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "bundle" / collect.MANIFEST).read_text())
    signed = [entry for key, entry in manifest["objects"].items() if "/CloudTrail-Digest/" in key]
    assert signed and all(entry["metadata"].get("signature") for entry in signed)
    code, report = run_verify(str(tmp_path / "bundle"), capsys, *window(bucket))
    assert code == 0 and report["ok"] and report["object_lock"]["locked"] == 0
    # Tamper in the bucket itself and verify online.
    log = bucket.log_key("us-east-1", 3)
    digestchain.change_log_byte(bucket, log)
    client.put_object(Bucket=bucket.bucket, Key=log, Body=bucket.objects[log])
    code, report = run_verify(f"s3://{bucket.bucket}", capsys, "--public-keys", str(keys), *endpoint, *window(bucket))
    assert code == 1 and ("log_modified", log.rsplit("/", 1)[-1]) in kinds(report)


def test_logs_without_any_digest_are_not_verified(tmp_path, capsys):
    bucket = digestchain.build_bucket(hours=3)
    for key in [key for key in bucket.objects if "/CloudTrail-Digest/" in key]:
        digestchain.delete(bucket, key)
    code = cli.main(["verify", str(digestchain.write_bundle(bucket, tmp_path)), *window(bucket)])
    assert code == 1 and "NOTHING VERIFIED" in capsys.readouterr().out


@pytest.mark.pipeline
def test_stored_findings_mark_events_from_verified_files(tmp_path, capsys):
    bucket = digestchain.build_bucket(hours=HOURS)
    folder = digestchain.write_bundle(bucket, tmp_path / "bundle")
    store_dir = tmp_path / "store"
    assert cli.main(["ingest", str(folder / "AWSLogs"), "--out", str(store_dir)]) == 0
    capsys.readouterr()
    assert cli.main(["stats", "--store", str(store_dir), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["events_from_verified_files"] == -1
    digestchain.change_log_byte(bucket, bucket.log_key("us-east-1", 2))
    digestchain.write_bundle(bucket, folder)  # the copy is tampered with after ingest
    assert cli.main(["verify", str(folder), "--store", str(store_dir), *window(bucket)]) == 1
    capsys.readouterr()
    assert cli.main(["stats", "--store", str(store_dir), "--format", "json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    # Ingested before the copy was altered: every event's content is what the digests vouch for.
    assert stats["events_from_verified_files"] == stats["events"] > 0
    # Ingested from the altered copy: those events are not vouched for.
    again = tmp_path / "store2"
    assert cli.main(["ingest", str(folder / "AWSLogs"), "--out", str(again)]) == 0
    assert cli.main(["verify", str(folder), "--store", str(again), *window(bucket)]) == 1
    capsys.readouterr()
    assert cli.main(["stats", "--store", str(again), "--format", "json"]) == 0
    altered = json.loads(capsys.readouterr().out)
    tampered = [r for r in store.read_events(str(again)) if r["source"]["uri"].endswith(bucket.log_key("us-east-1", 2))]
    assert tampered and altered["events_from_verified_files"] == altered["events"] - len(tampered)


@pytest.mark.pipeline
@pytest.mark.parametrize("tamper", [None, lambda b: digestchain.change_log_byte(b, b.log_key("us-east-1", 2)),
                                    lambda b: digestchain.delete(b, b.digest_key("us-east-1", 3))],
                         ids=["untouched", "log-modified", "digest-deleted"])
def test_the_verify_pipeline_reports_what_verify_reports(tamper, tmp_path, capsys):
    from pipelines import verify as verify_pipeline

    bucket = digestchain.build_bucket(regions=("us-east-1", "eu-west-1"), hours=HOURS)
    if tamper is not None:
        tamper(bucket)
    folder = digestchain.write_bundle(bucket, tmp_path / "bundle")
    code, expected = run_verify(str(folder), capsys, *window(bucket))
    ok = verify_pipeline.run([f"--source={folder}", f"--report={tmp_path / 'report.json'}",
                              f"--start={timestamps.format_micros(bucket.start)}",
                              f"--end={timestamps.format_micros(bucket.end)}"])
    report = json.loads((tmp_path / "report.json").read_text())
    assert ok is (code == 0) and report["findings"] == expected["findings"]


@pytest.mark.pipeline
def test_the_verify_pipeline_reads_s3(s3_server, s3_env, tmp_path, capsys, monkeypatch):
    from pipelines import verify as verify_pipeline

    monkeypatch.setattr(digestchain, "BUCKET", "trail-verify-pipeline")
    bucket = digestchain.build_bucket(hours=HOURS)
    client = s3server.admin_client(s3_server)
    s3server.make_bucket(client, bucket.bucket)
    digestchain.delete(bucket, bucket.log_key("us-east-1", 1))
    for key, data in bucket.objects.items():
        client.put_object(Bucket=bucket.bucket, Key=key, Body=data, Metadata=bucket.metadata.get(key, {}))
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(bucket.keys_document))
    ok = verify_pipeline.run([f"--source=s3://{bucket.bucket}", f"--report={tmp_path / 'report.json'}",
                              f"--public_keys={keys}", f"--s3_endpoint_url={s3_server}",
                              f"--start={timestamps.format_micros(bucket.start)}",
                              f"--end={timestamps.format_micros(bucket.end)}"])
    report = json.loads((tmp_path / "report.json").read_text())
    assert not ok and {f["kind"] for f in report["findings"] if f["severity"] == "invalid"} == {"log_missing"}


@pytest.mark.pipeline
def test_object_lock_state_is_collected_and_reported(s3_server, s3_env, tmp_path, capsys, monkeypatch):
    from datetime import datetime, timedelta, timezone

    monkeypatch.setattr(digestchain, "BUCKET", "trail-object-lock")
    bucket = digestchain.build_bucket(hours=2)
    client = s3server.admin_client(s3_server)
    client.create_bucket(Bucket=bucket.bucket, ObjectLockEnabledForBucket=True)
    keys = sorted(bucket.objects)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    for index, key in enumerate(keys):
        lock = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until} if index % 2 == 0 else {}
        client.put_object(Bucket=bucket.bucket, Key=key, Body=bucket.objects[key],
                          Metadata=bucket.metadata.get(key, {}), **lock)
    public_keys = tmp_path / "keys.json"
    public_keys.write_text(json.dumps(bucket.keys_document))
    assert cli.main(["collect", f"s3://{bucket.bucket}", "--out", str(tmp_path / "bundle"), "--public-keys",
                     str(public_keys), "--s3-endpoint-url", s3_server]) == 0
    capsys.readouterr()
    cli.main(["verify", str(tmp_path / "bundle"), "--object-lock", *window(bucket)])
    locked = (len(keys) + 1) // 2
    assert f"Object Lock: {locked:,} of {len(keys):,} objects under retention or legal hold" in capsys.readouterr().out


@pytest.mark.pipeline
def test_the_verify_pipeline_judges_one_scope_at_a_time(tmp_path, capsys, monkeypatch):
    """2 accounts x 2 regions, tampered in three scopes and without any digest in the fourth: the pipeline's
    report is ``trailbeam verify``'s, and no Judge call holds more than one (account, region)'s objects."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines import verify as verify_pipeline

    east, west = "us-east-1", "eu-west-1"
    whole = digestchain.TrailBucket(bucket=digestchain.BUCKET, regions=(east, west), last_hour=HOURS - 1)
    for account in ("111122223333", "444455556666"):
        monkeypatch.setattr(digestchain, "ACCOUNT", account)   # build_bucket and add_log name keys with it
        part = digestchain.build_bucket(regions=(east, west), hours=HOURS)
        if account == "111122223333":
            digestchain.change_log_byte(part, part.log_key(east, 2))
            digestchain.add_log(part, west, 3)
        else:
            digestchain.replace_signature(part, part.digest_key(east, 1))
            for key in part.digests[west].values():   # a scope of log files only
                digestchain.delete(part, key)
        whole.objects.update(part.objects)
        whole.metadata.update(part.metadata)
    folder = digestchain.write_bundle(whole, tmp_path / "bundle")
    code = cli.main(["verify", str(folder), "--out", str(tmp_path / "expected.json"), *window(whole)])
    capsys.readouterr()
    options = PipelineOptions([
        "--runner=FnApiRunner", f"--source={folder}", f"--report={tmp_path / 'report.json'}",
        f"--start={timestamps.format_micros(whole.start)}", f"--end={timestamps.format_micros(whole.end)}"])
    pipeline = beam.Pipeline(options=options)
    verify_pipeline.build(pipeline, options)   # as pipelines.verify.run does, keeping the result for its metrics
    result = pipeline.run()
    result.wait_until_finish()

    expected = json.loads((tmp_path / "expected.json").read_text())
    assert code == 1 and json.loads((tmp_path / "report.json").read_text()) == expected
    assert {kind for kind, _ in kinds(expected)} >= {"log_modified", "log_not_covered", "digest_forged"}
    query = MetricsFilter().with_namespace("trailbeam.verify").with_name("scope_objects")
    (sizes,) = result.metrics().query(query)["distributions"]
    per_scope = Counter(integrity.scope_of(key) for key in whole.objects)
    assert len(per_scope) == 4 and (sizes.committed.count, sizes.committed.sum) == (4, len(whole.objects))
    assert sizes.committed.max == max(per_scope.values()) < len(whole.objects)
