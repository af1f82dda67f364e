"""End to end: the attribution pipeline over an ingested sample store, checked through the files it writes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import fastavro
import pytest

from pipelines import attribute as attribute_pipeline
from pipelines import ingest as ingest_pipeline
from trailbeam import errors, identitystore, store
from trailbeam.sample import write_sample

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("attribute-pipeline")
    write_sample(root / "trail", events=1200, seed=5)
    ingest_pipeline.run([f"--source={root / 'trail'}", f"--store={root / 'store'}", "--run_id=ingest-1"])
    return root / "store"


def attribute(store_root: Path, run_id: str, *extra: str) -> dict[str, Any]:
    return attribute_pipeline.run([f"--store={store_root}", f"--run_id={run_id}", *extra])


def read(path: Path) -> list[dict[str, Any]]:
    with open(path, "rb") as handle:
        return list(fastavro.reader(handle))


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_event_file_gets_its_attributed_file_in_the_same_order(sample_store: Path) -> None:
    summary = attribute(sample_store, "a-1")
    run = identitystore.current_run(str(sample_store))
    assert run.name == "run=a-1"
    event_files = store.event_files(str(sample_store))
    assert summary["event_files"] == len(event_files) > 1
    total = 0
    for path in event_files:
        events = read(path)
        attributed = read(run / "attributed" / path.relative_to(sample_store / "events"))
        assert [r["eventID"] for r in attributed] == [e["eventID"] for e in events]
        assert [r["eventTime"] for r in attributed] == [e["eventTime"] for e in events]
        total += len(events)
    assert summary["events"] == total == sum(summary["events_by_basis"].values())
    assert summary["sessions"] == len(identitystore.read_sessions(str(sample_store))) > 10
    assert summary["keys_used_and_issued"] > 0 and summary["temporary_unattributed"] == 0


def test_identity_files_read_back(sample_store: Path) -> None:
    attribute(sample_store, "a-2")
    root = str(sample_store)
    sessions = identitystore.read_sessions(root)
    issuers = identitystore.read_issuers(root)
    assert {s.issued_by_event for s in sessions} <= set(issuers)
    uses = identitystore.read_uses(root)
    assert sum(u.count for u in uses) == identitystore.read_summary(root)["events"]
    assert [u.key for u in uses] == sorted(u.key for u in uses) or len(uses) > 0
    assert identitystore.read_signals(root) == sorted(identitystore.read_signals(root),
                                                      key=lambda s: (s["first_seen"], s["kind"]))


def test_a_new_run_replaces_the_old_one_and_same_input_gives_same_bytes(sample_store: Path) -> None:
    attribute(sample_store, "same")
    first = digest(identitystore.current_run(str(sample_store)))
    attribute(sample_store, "other")
    runs = sorted(p.name for p in (sample_store / "identity").glob("run=*"))
    assert runs == ["run=other"]
    attribute(sample_store, "same")
    assert digest(identitystore.current_run(str(sample_store))) == first


def test_not_a_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.StoreError):
        attribute(tmp_path, "x")
