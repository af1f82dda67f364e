"""A skewed trail: one bucket takes most of the traffic, through one session that makes most of the calls.

On Dataflow a grouping key that grows with the input is a worker that runs out of memory. The pipelines
are run on the same background sample plus a hot session of N and of 4N calls, and their Beam metrics
show what the largest group of each grouping step held: nothing that belongs to one bucket, one session
or one resource may grow with the hot traffic, while the results still count every call.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from apache_beam.metrics.metric import MetricsFilter

from hottrail import ALICE, BUCKET, HOT_KEY, HOURS, POLICY_CHANGES, write_hot_trail
from pipelines import attribute, history, ingest
from trailbeam import historystore, identitystore
from trailbeam.beam import launch
from trailbeam.sample import write_sample

pytestmark = pytest.mark.pipeline

SMALL, LARGE = 1_000, 4_000       # the hot session's calls


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
