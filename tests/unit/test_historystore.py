"""Tests of trailbeam.historystore: records round trip through the shard files, readers find a resource by any
spelling of its ARN, and states and diffs at a moment come back as the replay gives them."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import fastavro
import pytest

from test_changelog import STRATUS, by_resource, store_file
from trailbeam import errors, historystore, jsonvalue, store, timestamps
from trailbeam.changelog import ReadAccess, Tally, changelog_file, resource_log
from trailbeam.history import state_at as replayed_state_at
from trailbeam.projections import DEFAULT, UNKNOWN, FrozenMap, diff, to_json
from trailbeam.projections.state import UNKNOWN_JSON

USER = "arn:aws:iam::229654561268:user/malicious-iam-user"
SHARDS = 4


def logs() -> dict[str, Any]:
    touches = by_resource(changelog_file(store_file(STRATUS)).touches)
    return {arn: resource_log(arn, group) for arn, group in touches.items()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store with a committed history run of the Stratus records (and a few read aggregates)."""
    root = tmp_path_factory.mktemp("historystore")
    (root / store.RUNS).mkdir()
    by_arn = logs()
    encoded = [historystore.encode_log(ref, entries) for ref, entries in by_arn.values()]
    random.Random(1).shuffle(encoded)                    # shards sort whatever order logs arrive in
    reads = [ReadAccess(resource_arn=USER, resource_type="AWS::IAM::User", principal=p, origin_principal=None,
                        hour=h * 3_600_000_000, count=2, errors=0, first_seen=h * 3_600_000_000,
                        last_seen=h * 3_600_000_000 + 5, evidence=((h * 3_600_000_000, f"r{h}{p}"),))
             for h in (2, 1) for p in ("b", "a")]
    counts = [historystore.write_shard(store.LOCAL, str(root), "one", shard,
                                       [log for log in encoded if historystore.shard_of(log.arn, SHARDS) == shard],
                                       [r for r in reads if historystore.shard_of(r.resource_arn, SHARDS) == shard])
              for shard in range(SHARDS)]
    summary = historystore.run_summary(run_id="one", identity_run=None, shards=SHARDS, reads=True, event_files=1,
                                       tally=Tally(counts={"write_events": 4, "write_unresolved": 1},
                                                   unresolved={("x", "Y"): 1}), shard_counts=counts)
    historystore.commit(store.LOCAL, str(root), "one", summary)
    return {"root": str(root), "logs": by_arn, "summary": summary}


def read(path: Path) -> list[dict[str, Any]]:
    with open(path, "rb") as handle:
        return list(fastavro.reader(handle))


def test_every_shard_has_its_files_sorted(built: dict[str, Any]) -> None:
    run = historystore.current_run(built["root"])
    for shard in range(SHARDS):
        changes = read(run / "changes" / f"part-{shard:05d}.avro")
        assert [(c["resourceArn"], c["sequence"]) for c in changes] == sorted((c["resourceArn"], c["sequence"])
                                                                              for c in changes)
        assert {historystore.shard_of(c["resourceArn"], SHARDS) for c in changes} <= {shard}
        resources = read(run / "resources" / f"part-{shard:05d}.avro")
        assert [r["resourceArn"] for r in resources] == sorted({c["resourceArn"] for c in changes})
        reads = read(run / "reads" / f"part-{shard:05d}.avro")
        assert [(r["resourceArn"], r["hour"], r["principal"]) for r in reads] == sorted(
            (r["resourceArn"], r["hour"], r["principal"]) for r in reads)


def test_change_records_round_trip(built: dict[str, Any]) -> None:
    for arn, (ref, entries) in built["logs"].items():
        found = historystore.read_changes(built["root"], arn)
        assert found == [{**historystore.change_record(ref, e), "eventTime": timestamps.to_datetime(
            e.change.event_time)} for e in entries]
        [summary] = [r for r in historystore.read_resources(built["root"]) if r["resourceArn"] == arn]
        assert summary == historystore.read_resource(built["root"], arn)
        assert (summary["entries"], summary["finalState"], summary["lastEventID"]) == (
            len(entries), entries[-1].state_after, entries[-1].change.event_id)


def test_summary_counts(built: dict[str, Any]) -> None:
    summary = built["summary"]
    assert summary["resources"] == len(built["logs"]) == sum(summary["resources_by_type"].values())
    assert summary["entries"] == sum(len(entries) for _, entries in built["logs"].values())
    assert summary["write_unresolved_share"] == 0.25
    assert summary["top_unresolved"] == [{"event_source": "x", "event_name": "Y", "count": 1}]
    assert summary["reads"]["aggregates"] == 4 and summary["reads"]["accesses"] == 8
    assert historystore.read_summary(built["root"]) == summary


@pytest.mark.parametrize("spelling", [USER, f" {USER} ", "arn:aws:iam::229654561268:user/some/path/malicious-iam-user"])
def test_a_resource_is_found_by_any_spelling_of_its_arn(built: dict[str, Any], spelling: str) -> None:
    assert [c["eventName"] for c in historystore.log_of(built["root"], spelling)] == [
        "CreateUser", "AttachUserPolicy", "CreateAccessKey"]
    assert [r["evidence"] for r in historystore.read_reads(built["root"], spelling)] == [
        ["r1a"], ["r1b"], ["r2a"], ["r2b"]]


def at(text: str) -> int:
    return timestamps.parse_micros(text)


def test_state_at_is_the_replayed_state(built: dict[str, Any]) -> None:
    ref, _ = built["logs"][USER]
    events = [e for e in STRATUS if e["eventID"] in {c["eventID"] for c in historystore.read_changes(built["root"], USER)}]
    for moment in ("2024-08-01T13:33:27Z", "2024-08-01T13:33:28Z", "2030-01-01T00:00:00Z"):
        found = historystore.state_at(built["root"], USER, at(moment))
        assert found.state == to_json(replayed_state_at(ref, events, at(moment))), moment
    before = historystore.state_at(built["root"], USER, at("2024-08-01T13:33:27Z"))
    assert before.last is None and before.entries == 0 and all(v == UNKNOWN_JSON for v in before.state.values())
    inclusive = historystore.state_at(built["root"], USER, at("2024-08-01T13:33:28Z"))   # all three in this second
    assert inclusive.entries == 3 and inclusive.last["eventName"] == "CreateAccessKey"


def test_diff_between_moments(built: dict[str, Any]) -> None:
    changes, between = historystore.diff_between(built["root"], USER, at("2024-08-01T00:00:00Z"),
                                                 at("2024-08-02T00:00:00Z"))
    assert [c["eventName"] for c in between] == ["CreateUser", "AttachUserPolicy", "CreateAccessKey"]
    by_path = {c.path: c for c in changes}
    assert by_path[("exists",)].before == UNKNOWN_JSON and by_path[("exists",)].after is True
    assert by_path[("attached_policies",)].after == {"arn:aws:iam::aws:policy/AdministratorAccess": True}
    same, none = historystore.diff_between(built["root"], USER, at("2024-08-02T00:00:00Z"), at("2025-01-01T00:00:00Z"))
    assert (same, none) == ([], [])


def test_states_of_type(built: dict[str, Any]) -> None:
    users = historystore.states_of_type(built["root"], "AWS::IAM::User", at("2030-01-01T00:00:00Z"))
    expected = sorted(arn for arn, (ref, _) in built["logs"].items() if ref.type == "AWS::IAM::User")
    assert [s.arn for s in users] == expected and USER in expected
    assert historystore.states_of_type(built["root"], "AWS::IAM::User", at("2000-01-01T00:00:00Z")) == []
    with pytest.raises(errors.InputError, match="types: AWS::"):
        historystore.states_of_type(built["root"], "AWS::Nothing::Here", at("2030-01-01T00:00:00Z"))


def test_states_survive_their_json_form() -> None:
    """diff over states read back from JSON equals diff over the replayed states (unknowns, partial sets)."""
    for arn, (ref, entries) in logs().items():
        states = [historystore.state_from_json(jsonvalue.loads(e.state_after)) for e in entries]
        initial = DEFAULT.for_type(ref.type).initial()
        assert historystore.state_from_json(to_json(initial)) == initial
        for before, after, entry in zip([initial, *states], states, entries):
            assert tuple(diff(before, after)) == entry.change.changes, arn
            assert to_json(after) == jsonvalue.loads(entry.state_after)
    assert historystore.state_from_json({"a": {"$unknown": True}, "b": [1, {"c": 2}]}) == FrozenMap(
        {"a": UNKNOWN, "b": (1, FrozenMap({"c": 2}))})


@pytest.mark.parametrize(("arn", "shards", "expected"), [
    ("arn:aws:s3:::acme-prod-customer-exports", 16, 14),
    ("arn:aws:iam::229654561268:user/malicious-iam-user", 16, 3),
    ("arn:aws:iam::229654561268:user/malicious-iam-user", 1, 0),
])
def test_shards_are_stable(arn: str, shards: int, expected: int) -> None:
    """A stable hash, the same in every process (never Python's salted hash())."""
    assert historystore.shard_of(arn, shards) == expected


def test_unknown_arn_and_missing_data_are_reported(built: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(errors.InputError, match="no change log"):
        historystore.state_at(built["root"], "arn:aws:iam::229654561268:user/nobody", 0)
    (tmp_path / store.RUNS).mkdir()
    with pytest.raises(errors.StoreError, match="no history data yet"):
        historystore.log_of(str(tmp_path), USER)
    with pytest.raises(errors.StoreError, match="not a trailbeam event store"):
        historystore.read_summary(str(tmp_path / "elsewhere"))


def test_a_commit_replaces_older_runs_and_finds_the_identity_run(tmp_path: Path) -> None:
    (tmp_path / store.RUNS).mkdir()
    root = str(tmp_path)
    assert historystore.identity_run(store.LOCAL, root) is None
    (tmp_path / "identity").mkdir()
    (tmp_path / "identity" / "CURRENT.json").write_text('{"run": "attr-1"}')
    assert historystore.identity_run(store.LOCAL, root) == "attr-1"
    tally = Tally(counts={}, unresolved={})
    for run_id in ("a", "b"):
        historystore.write_shard(store.LOCAL, root, run_id, 0, [], None)
        historystore.commit(store.LOCAL, root, run_id, historystore.run_summary(
            run_id=run_id, identity_run=None, shards=1, reads=False, event_files=0, tally=tally, shard_counts=[]))
    assert sorted(p.name for p in (tmp_path / "history").iterdir()) == ["CURRENT.json", "run=b"]
    assert sorted(p.name for p in (tmp_path / "history" / "run=b").iterdir()) == ["changes", "resources", "summary.json"]
    assert historystore.read_summary(root)["reads"] is None and list(historystore.read_reads(root)) == []


@pytest.mark.parametrize("store_bytes, shards", [
    (0, historystore.SHARDS),
    (155 << 20, historystore.SHARDS),                                  # 1M events: the default
    (historystore.SHARDS * historystore.STORE_BYTES_PER_SHARD, historystore.SHARDS),
    (historystore.SHARDS * historystore.STORE_BYTES_PER_SHARD + 1, historystore.SHARDS + 1),
    (2 << 40, 8192),                                                   # ~13 billion events
])
def test_shards_grow_with_the_store_so_no_shard_does(store_bytes: int, shards: int) -> None:
    assert historystore.shards_for(store_bytes) == shards
