"""Tests of trailbeam.stats: per-file counts merge into exactly the counts of one pass."""

from __future__ import annotations

import json

import pytest

from pipelines import ingest as ingest_pipeline
from trailbeam import stats, store

import fixturedata


@pytest.mark.pipeline
def test_counting_files_apart_gives_the_counts_of_one_pass(tmp_path):
    ingest_pipeline.run([f"--source={fixturedata.STRATUS}", f"--store={tmp_path}", "--run_id=r"])
    runs = store.run_summaries(str(tmp_path))
    files = [str(path) for path in store.event_files(str(tmp_path))]
    assert len(files) > 8
    one_pass = stats.collect(store.read_events(str(tmp_path)), runs)
    apart = stats.merged(map(stats.count_file, files), runs)
    assert apart.to_json() == one_pass.to_json()
    assert one_pass.to_json()["events"] == 310 and one_pass.to_json()["events_from_verified_files"] == -1
    vouched = stats.merged(map(stats.count_file, files), runs, [
        {"kind": "log_valid", "sha256": next(iter(apart.by_content)), "severity": "ok"}])
    assert 0 < vouched.to_json()["events_from_verified_files"] < 310
    assert json.dumps(apart.rows())
