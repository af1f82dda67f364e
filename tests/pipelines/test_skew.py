"""A skewed trail: one bucket takes most of the traffic, through one session that makes most of the calls.

On Dataflow a grouping key that grows with the input is a worker that runs out of memory. The pipelines
are run on the same background sample plus a hot session of N and of 4N calls, and their Beam metrics
show what the largest group of each grouping step held: nothing that belongs to one bucket, one session
or one resource may grow with the hot traffic, while the results still count every call.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from apache_beam.metrics.metric import MetricsFilter

from pipelines import attribute, history, ingest
from trailbeam import historystore, identitystore, timestamps
from trailbeam.beam import launch
from trailbeam.sample import write_sample

pytestmark = pytest.mark.pipeline

ACCOUNT = "111122223333"
REGION = "us-east-1"
BUCKET = "hot-exports"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Exporter"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
HOT_KEY = "ASIAHOTSESSION000001"
START = timestamps.parse_micros("2026-03-03T01:00:00Z")
HOURS = 3
POLICY_CHANGES = 5        # the bucket's own writes: its change log, whatever the object traffic
OBJECTS_READ = 40
PER_FILE = 400
SMALL, LARGE = 1_000, 4_000


def _iso(micros: int) -> str:
    return timestamps.format_micros(micros)


def _hot_identity() -> dict[str, Any]:
    return {"type": "AssumedRole", "principalId": "AROAEXPORTER:bulk-copy", "accountId": ACCOUNT,
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Exporter/bulk-copy", "accessKeyId": HOT_KEY,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE, "accountId": ACCOUNT},
                               "attributes": {"creationDate": _iso(START), "mfaAuthenticated": "false"}}}


def _record(n: int, at: int, name: str, identity: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"eventVersion": "1.09", "userIdentity": identity, "eventTime": _iso(at), "eventName": name,
            "awsRegion": REGION, "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.30",
            "eventID": f"00000000-0000-4000-8000-{n:012d}", "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT, **more}


def hot_records(calls: int) -> Iterator[dict[str, Any]]:
    """Alice assumes Exporter, then the session reads and writes objects of one bucket over three hours
    (every 10th call a new object) and changes the bucket's policy a few times."""
    alice = {"type": "IAMUser", "principalId": "AIDAALICE", "arn": ALICE, "accountId": ACCOUNT,
             "accessKeyId": "AKIAALICE00000000001", "userName": "alice"}
    yield _record(0, START, "AssumeRole", alice, eventSource="sts.amazonaws.com", readOnly=True,
                  managementEvent=True, eventCategory="Management",
                  requestParameters={"roleArn": ROLE, "roleSessionName": "bulk-copy"},
                  responseElements={"credentials": {"accessKeyId": HOT_KEY, "expiration": "Mar 3, 2026, 5:00:00 AM"},
                                    "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Exporter/bulk-copy",
                                                        "assumedRoleId": "AROAEXPORTER:bulk-copy"}})
    step = HOURS * 3_600_000_000 // calls
    for n in range(1, calls + 1):
        at = START + n * step
        write = n % 10 == 0
        key = f"incoming/{n:06d}.csv" if write else f"exports/{n % OBJECTS_READ:03d}.csv"
        yield _record(n, at, "PutObject" if write else "GetObject", _hot_identity(), eventSource="s3.amazonaws.com",
                      readOnly=not write, managementEvent=False, eventCategory="Data",
                      requestParameters={"bucketName": BUCKET, "key": key},
                      resources=[{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{BUCKET}/{key}"},
                                 {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{BUCKET}"}])
    for n in range(POLICY_CHANGES):
        yield _record(calls + 1 + n, START + n * 600_000_000 + 1, "PutBucketPolicy", _hot_identity(),
                      eventSource="s3.amazonaws.com", readOnly=False, managementEvent=True,
                      eventCategory="Management",
                      requestParameters={"bucketName": BUCKET, "policy": {"Version": "2012-10-17", "n": n}})


def write_hot_trail(folder: Path, calls: int) -> None:
    records = sorted(hot_records(calls), key=lambda record: record["eventTime"])
    day = folder / "AWSLogs" / ACCOUNT / "CloudTrail" / REGION / "2026" / "03" / "03"
    day.mkdir(parents=True)
    for index in range(0, len(records), PER_FILE):
        chunk = records[index:index + PER_FILE]
        stamp = chunk[0]["eventTime"][:16].replace("-", "").replace(":", "")
        name = f"{ACCOUNT}_CloudTrail_{REGION}_{stamp}Z_{index // PER_FILE:04d}.json.gz"
        (day / name).write_bytes(gzip.compress(json.dumps({"Records": chunk}).encode(), mtime=0))


def run(module: ModuleType, *argv: str) -> dict[str, int]:
    """Runs a pipeline as its composition root does; returns the max of each of its distributions."""
    _, pipeline = launch.prepare(module.build, list(argv))
    result = pipeline.run()
    result.wait_until_finish()
    found = result.metrics().query(MetricsFilter())["distributions"]
    return {metric.key.metric.name: metric.committed.max for metric in found if metric.committed is not None}


@pytest.fixture(scope="module")
def background(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("skew-background")
    write_sample(folder, events=400, seed=11, org_id=None)
    return folder


@pytest.fixture(scope="module")
def runs(background: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    """The three pipelines over the background plus a hot session of SMALL and of LARGE calls."""
    found = {}
    for calls in (SMALL, LARGE):
        root = tmp_path_factory.mktemp(f"skew-{calls}")
        write_hot_trail(root / "hot", calls)
        store = str(root / "store")
        metrics = run(ingest, f"--source={background}", f"--source={root / 'hot'}", f"--store={store}",
                      "--run_id=skew")
        metrics |= run(attribute, f"--store={store}", "--run_id=skew")
        metrics |= run(history, f"--store={store}", "--run_id=skew", "--reads")
        found[calls] = {"store": store, "metrics": metrics}
    return found


def test_no_group_of_one_bucket_or_session_grows_with_its_traffic(runs: dict[int, dict[str, Any]]) -> None:
    small, large = runs[SMALL]["metrics"], runs[LARGE]["metrics"]
    # One resource's change log: the bucket keeps its own writes; its objects' traffic is not its group.
    assert small["touches_per_resource"] == large["touches_per_resource"] >= POLICY_CHANGES
    # Attribution's one gathering step holds sessions and distinct uses, not the session's calls.
    assert small["finish_sessions"] == large["finish_sessions"]
    assert small["finish_uses"] == large["finish_uses"]


def test_the_hot_bucket_is_still_counted_call_for_call(runs: dict[int, dict[str, Any]]) -> None:
    for calls, run_ in runs.items():
        store = run_["store"]
        bucket = f"arn:aws:s3:::{BUCKET}"
        policy_log = historystore.read_changes(store, bucket)
        assert [change["eventName"] for change in policy_log] == ["PutBucketPolicy"] * POLICY_CHANGES
        reads = [row for row in historystore.read_reads(store) if row["resourceArn"].startswith(bucket)]
        gets = calls - calls // 10
        assert sum(row["count"] for row in reads if row["resourceArn"] == bucket) == gets
        # Aggregated per resource, principal, origin and hour: rows do not grow with the calls.
        assert len([row for row in reads if row["resourceArn"] == bucket]) == HOURS
        assert {row["originPrincipal"] for row in reads} == {ALICE}
        hot = [use for use in identitystore.read_uses(store) if use.credential == HOT_KEY]
        assert len(hot) == 1 and hot[0].count == calls + POLICY_CHANGES and hot[0].origin_principal == ALICE
