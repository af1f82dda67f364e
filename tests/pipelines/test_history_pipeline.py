"""End to end: the history pipeline over an ingested sample store, checked through the files it writes; and
the read aggregation on a hot bucket generated inside the pipeline."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import fastavro
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines import attribute as attribute_pipeline
from pipelines import history as history_pipeline
from pipelines import ingest as ingest_pipeline
from trailbeam import avro, avrofile, cloudtrail, errors, historystore, store, timestamps
from trailbeam.beam.history import AggregateReads
from trailbeam.changelog import HOUR, principal_of, read_accesses, written_resources
from trailbeam.resources import ResourceRef, is_write
from trailbeam.sample import write_sample

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("history-pipeline")
    write_sample(root / "trail", events=1200, seed=5)
    ingest_pipeline.run([f"--source={root / 'trail'}", f"--store={root / 'store'}", "--run_id=ingest-1"])
    attack = json.loads((root / "trail" / "ground-truth.json").read_text())["attack"]
    return {"root": root, "store": root / "store", "attack": attack}


def histories(store_root: Path, run_id: str, *extra: str) -> dict[str, Any]:
    return history_pipeline.run([f"--store={store_root}", f"--run_id={run_id}", *extra])


def read(path: Path) -> list[dict[str, Any]]:
    with open(path, "rb") as handle:
        return list(fastavro.reader(handle))


def changes(store_root: Path) -> list[dict[str, Any]]:
    run = historystore.current_run(str(store_root))
    return [r for path in sorted((run / "changes").glob("part-*.avro")) for r in read(path)]


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.avro"))}


def stored_events(store_root: Path) -> list[Any]:
    return [cloudtrail.original_event(r) for r in store.read_events(str(store_root))]


def test_one_entry_per_resource_and_write_event(sample: dict[str, Any]) -> None:
    summary = histories(sample["store"], "h-1")
    events = stored_events(sample["store"])
    expected = Counter((ref.arn, e["eventID"]) for e in events if is_write(e) for ref in written_resources(e))
    found = changes(sample["store"])
    assert Counter((r["resourceArn"], r["eventID"]) for r in found) == expected
    assert summary["entries"] == len(found) == sum(expected.values()) > 100
    assert summary["write_events"] == sum(is_write(e) for e in events)
    assert summary["events"] == len(events) == 1200 and summary["reads"] is None
    assert summary["resources"] == len({arn for arn, _ in expected}) == sum(summary["resources_by_type"].values())
    assert summary["identity_run"] is None and all(r["originPrincipal"] is None for r in found)


def test_logs_are_ordered_and_attempts_change_nothing(sample: dict[str, Any]) -> None:
    histories(sample["store"], "h-2")
    run = historystore.current_run(str(sample["store"]))
    assert sorted(p.name for p in (run / "changes").iterdir()) == [f"part-{s:05d}.avro" for s in range(16)]
    attempts = 0
    for path in sorted((run / "changes").glob("part-*.avro")):
        records = read(path)
        assert [(r["resourceArn"], r["sequence"]) for r in records] == sorted((r["resourceArn"], r["sequence"])
                                                                              for r in records)
        logs: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            logs.setdefault(record["resourceArn"], []).append(record)
        for log in logs.values():
            assert [r["sequence"] for r in log] == list(range(len(log)))
            assert [r["eventTime"] for r in log] == sorted(r["eventTime"] for r in log)
            for previous, record in zip([None, *log], log):
                if record["errorCode"] is None:
                    assert record["applied"]
                    continue
                attempts += 1
                assert record["applied"] is False and record["changes"] == []
                if previous is not None:
                    assert record["stateAfter"] == previous["stateAfter"]
    assert attempts == historystore.read_summary(str(sample["store"]))["attempts"] > 0


def test_the_attack_leaves_its_changes(sample: dict[str, Any]) -> None:
    histories(sample["store"], "h-3")
    attack, root = sample["attack"], str(sample["store"])
    backdoor = attack["backdoor"]
    log = historystore.log_of(root, backdoor["user"])
    assert [r["eventID"] for r in log][:2] == [backdoor["create_user_event_id"], backdoor["create_access_key_event_id"]]
    final = json.loads(historystore.read_resource(root, backdoor["user"])["finalState"])
    assert final["access_keys"] == {backdoor["access_key_id"]: "Active"} and final["login_profile"] is True
    bucket = json.loads(historystore.state_at(root, attack["public_bucket"], timestamps.parse_micros(attack["end"]))
                        .last["stateAfter"])
    assert bucket["policy"]["Statement"][0]["Principal"] == "*"


def resplit(source: Path, target: Path) -> None:
    """A copy of a store whose every event file is split in two (records alternate), as another ingest
    could have delivered the same events."""
    shutil.copytree(source / store.RUNS, target / store.RUNS)
    for path in sorted((source / store.EVENTS).rglob("*.avro")):
        encoded = [avro.encode(avro.EVENT, row) for row in read(path)]
        relative = path.relative_to(source)
        for part, name in enumerate((relative.name, relative.name.replace("ingest-1", "other-run"))):
            out = target / relative.parent / name
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "wb") as handle:
                avrofile.write_container(handle, schema_json=avro.writer_schema_json(avro.EVENT),
                                         records=encoded[part::2], seed=f"{name}/{part}")


def test_same_events_give_identical_files_however_they_are_split(sample: dict[str, Any], tmp_path: Path) -> None:
    histories(sample["store"], "same")
    first = digest(historystore.current_run(str(sample["store"])))
    histories(sample["store"], "other")
    assert sorted(p.name for p in (sample["store"] / "history").glob("run=*")) == ["run=other"]
    histories(sample["store"], "same")
    assert digest(historystore.current_run(str(sample["store"]))) == first
    resplit(sample["store"], tmp_path / "split")
    summary = histories(tmp_path / "split", "same")
    assert summary["event_files"] > len(store.event_files(str(sample["store"])))
    assert digest(historystore.current_run(str(tmp_path / "split"))) == first


def test_origins_come_from_the_identity_dataset(sample: dict[str, Any], tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(sample["store"], copy, ignore=shutil.ignore_patterns("history"))
    attribute_pipeline.run([f"--store={copy}", "--run_id=attr-1"])
    summary = histories(copy, "h-joined", "--reads")
    assert summary["identity_run"] == "attr-1"
    assert summary["attribution"] == {"joined_files": summary["event_files"], "joined_events": 1200,
                                      "mismatched_files": 0}
    found = changes(copy)
    assert found and all(r["originPrincipal"] and r["originKind"] for r in found)
    attack = sample["attack"]
    for record in historystore.log_of(str(copy), attack["backdoor"]["user"])[:4]:
        assert (record["originPrincipal"], record["originKind"]) == (attack["origin_principal"], "iam-user")
    reads = list(historystore.read_reads(str(copy), attack["public_bucket"]))
    outsider = f"{attack['attacker']['external_account']}:{attack['attacker']['external_principal_id']}"
    exfiltration = [s for s in attack["steps"] if s["principal"] == outsider]
    assert sum(r["count"] for r in reads if r["principal"] == outsider) == len(exfiltration) > 10
    assert summary["reads"]["aggregates"] == len(list(historystore.read_reads(str(copy))))


def test_not_a_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.StoreError):
        histories(tmp_path, "x")


# ---- a hot bucket: 200k reads, generated on the workers, combined without a group of events -----------

BUCKET = ResourceRef(arn="arn:aws:s3:::hot-exports", type="AWS::S3::Bucket", account=None, region=None)
START = timestamps.parse_micros("2026-03-03T00:00:00Z")
PER_SEED = 50_000
SEEDS = (1, 2, 3, 4, 5)


def get_objects(seed: int) -> Iterator[tuple[dict[str, Any], int, bool]]:
    """(GetObject event, eventTime micros, failed) for one seed: 3 callers over 6 hours, 2% denied."""
    rng = random.Random(seed)
    for n in range(PER_SEED):
        identity = {"type": "AWSAccount", "accountId": "999988887777", "principalId": f"AIDA{rng.randrange(3)}"}
        event = {"eventID": f"{seed}-{n:06d}", "eventName": "GetObject", "eventSource": "s3.amazonaws.com",
                 "userIdentity": identity, "requestParameters": {"bucketName": "hot-exports", "key": f"k{n}"}}
        yield event, START + rng.randrange(6 * HOUR), rng.random() < 0.02


class _GetObjectsFn(beam.DoFn):
    """A seed -> its reads of the hot bucket, as single-call aggregates (what the per-file step emits)."""

    def process(self, seed: int):
        for event, at, failed in get_objects(seed):
            for access in read_accesses(event, at, event["eventID"], failed=failed, refs=(BUCKET,)):
                yield access.key, access


def _row(access: Any) -> tuple[Any, ...]:
    return access.principal, access.hour, access.count, access.errors, len(access.evidence)


def test_a_hot_bucket_is_combined_not_grouped() -> None:
    expected: Counter[tuple[str | None, int]] = Counter()
    errors_: Counter[tuple[str | None, int]] = Counter()
    for seed in SEEDS:
        for event, at, failed in get_objects(seed):
            key = (principal_of(event), at - at % HOUR)
            expected[key] += 1
            errors_[key] += failed
    pipeline = BeamTestPipeline(runner="FnApiRunner")
    rows = (pipeline
            | "Seeds" >> beam.Create(list(SEEDS))
            | "Generate" >> beam.ParDo(_GetObjectsFn())
            | "Aggregate" >> AggregateReads()
            | "Rows" >> beam.Map(_row))
    assert_that(rows, equal_to([(p, h, n, errors_[(p, h)], 5) for (p, h), n in expected.items()]))
    assert sum(expected.values()) == 250_000 and len(expected) == 18

    grouping: list[str] = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node: Any) -> None:
            if isinstance(node.transform, beam.GroupByKey) and node.full_label.startswith("Aggregate/"):
                grouping.append(node.full_label)

    pipeline.visit(Visitor())
    assert grouping == ["Aggregate/MergePerKey/GroupByKey"]   # the combine's own, after workers pre-combine
    pipeline.run().wait_until_finish()


USER_PROJECTION = '''
from trailbeam.projections import Projection


def user_calls(state, event, ref):
    """Counts the successful calls on an IAM user: a projection a user could register."""
    calls = state.get("calls")
    return state.set("calls", (0 if not isinstance(calls, int) else calls) + 1)


USER_CALLS = Projection(resource_type="AWS::IAM::User", reducer=user_calls, fields=("calls",),
                        description="IAM user: number of successful calls")
'''


# In-process, and in two worker processes that cannot import the module: it must travel inside the job,
# as it must to Dataflow workers.
@pytest.mark.parametrize("module, runner", [
    ("my_projections", ()),
    ("my_shipped_projections", ("--direct_running_mode=multi_processing", "--direct_num_workers=2")),
], ids=["in-process", "worker-processes"])
def test_a_registered_projection_is_used_by_the_pipeline(module: str, runner: tuple[str, ...],
                                                          sample: dict[str, Any], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / f"{module}.py").write_text(USER_PROJECTION)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert str(tmp_path) not in os.environ.get("PYTHONPATH", "")
    histories(sample["store"], f"h-{module}", f"--projections={module}:USER_CALLS", *runner)
    root = str(sample["store"])
    user = sample["attack"]["backdoor"]["user"]
    log = historystore.log_of(root, user)
    applied = [r for r in log if r["applied"]]
    assert json.loads(historystore.read_resource(root, user)["finalState"]) == {"calls": len(applied)} != {}
    with pytest.raises(errors.InputError):
        histories(sample["store"], "h-bad", f"--projections={module}:NOTHING")
