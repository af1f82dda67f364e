"""Same results on every runner: the whole chain (ingest, attribute, histories, findings, report, graph and
timeline exports) run once in-process and once with every Beam pipeline in two worker processes gives the
same files, byte for byte.

The input is the generated sample with its attack story, plus the evidence trouble a case meets: conflicting
copies of the attack's credential and write calls (in the original's partition and in another account's),
and files to quarantine. Conflicting copies share an eventID, so any choice among them that follows the
order workers deliver elements in (or Python's per-process set order) shows up here.

The only differences allowed are the fields of ``VARYING``, each compared after normalising just that field.
``test_ingest_pipeline.test_worker_processes_write_the_same_store`` checks the ingest step alone on a messy
trail the same way; this module checks what every later step makes of the store.
"""

from __future__ import annotations

import difflib
import fnmatch
import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from builders import run
from trailbeam.sample import DEV, write_sample

pytestmark = pytest.mark.pipeline

RUN_ID = "equivalence"
# `investigate --workers 2` alone would run ingest and attribute in two processes but histories in one (see
# trailbeam/cli/case.py): Beam's own flags reach every pipeline, and with them given, --workers only sets the
# case build's process pool.
WORKER_FLAGS = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")
RUNNERS = {"in-process": (), "two-processes": ("--workers", "2", *WORKER_FLAGS)}
PIPELINES = 3                                   # ingest, attribute, histories
# The attack calls copied with other content: sessions, grants and a resource change.
CONFLICTED_CALLS = ("AssumeRole", "CreateAccessKey", "CreateLoginProfile", "PutBucketPolicy")
EXPORTS = (("jsonl", "export.jsonl"), ("csv", "export.csv"), ("timesketch-jsonl", "export.timesketch.jsonl"),
           ("timesketch-csv", "export.timesketch.csv"), ("markdown", "export.md"), ("graphml", "export.graphml"))


# ---- what may differ ----------------------------------------------------------------------------------------

def _wall_clock(value: Any, tree: Path) -> Any:
    return "<wall clock>"


def _tree_path(value: Any, tree: Path) -> Any:
    """The value with each tree's own folder replaced: the rest of every path is still compared."""
    if isinstance(value, str):
        return value.replace(str(tree), "<tree>")
    if isinstance(value, list):
        return [_tree_path(v, tree) for v in value]
    return value


@dataclass(frozen=True)
class Varying:
    files: str                                  # glob, relative to the tree
    field: str                                  # JSON: dotted keys, '*' = every key or element; else a regex
    mask: Callable[[Any, Path], Any]
    reason: str


GENERATED = r"Generated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ by"      # the report's "Generated <UTC time> by trailbeam"
VARYING = (
    Varying("case.json", "stages.*.seconds", _wall_clock, "wall-clock time of each investigate stage"),
    Varying("case.json", "seconds", _wall_clock, "wall-clock total of those stages"),
    Varying("case.json", "case_seconds.*", _wall_clock, "wall-clock time of each step of the case build"),
    Varying("case.json", "report", _tree_path, "absolute path of the report, in each tree's own folder"),
    Varying("case.json", "stages.*.result", _tree_path, "the report stage names the files it wrote by path"),
    Varying("report.html", GENERATED, _wall_clock, "the report says when it was written"),
    Varying("exports/report.html", GENERATED, _wall_clock, "the report says when it was written"),
    Varying("exports/timeline/_runs/*/summary.json", "sources.*", _tree_path,
            "the timeline's source is each tree's own store"),
    Varying("exports/timeline/_runs/*/summary.json", "timeline.source_store", _tree_path,
            "the timeline's source is each tree's own store"),
    Varying("exports/timeline/_runs/*/timeline.json", "source_store", _tree_path,
            "the timeline's source is each tree's own store"),
    Varying("exports/timeline/_runs/*/files*.jsonl", "uri", _tree_path,
            "each line names an event file of each tree's own store"),
)


def _mask(node: Any, keys: list[str], change: Callable[[Any], Any]) -> int:
    """Replaces, in place, every value at ``keys`` by ``change(value)``; returns how many there were."""
    head, rest = keys[0], keys[1:]
    if isinstance(node, dict):
        slots: list[Any] = list(node) if head == "*" else [head] if head in node else []
    elif isinstance(node, list) and head == "*":
        slots = list(range(len(node)))
    else:
        return 0
    if rest:
        return sum(_mask(node[slot], rest, change) for slot in slots)
    for slot in slots:
        node[slot] = change(node[slot])
    return len(slots)


def _normalised(data: bytes, rules: list[Varying], tree: Path, hits: dict[Varying, int]) -> str:
    """The file's text with the rules' fields masked (JSON keeps its key order); counts each rule's hits."""
    text = data.decode("utf-8")
    for rule in rules:
        change: Callable[[Any], Any] = lambda value, rule=rule: rule.mask(value, tree)  # noqa: E731
        if rule.files.endswith(".jsonl"):
            lines = [json.loads(line) for line in text.splitlines()]
            hits[rule] += sum(_mask(line, rule.field.split("."), change) for line in lines)
            text = "".join(json.dumps(line) + "\n" for line in lines)
        elif rule.files.endswith(".json"):
            document = json.loads(text)
            hits[rule] += _mask(document, rule.field.split("."), change)
            text = json.dumps(document, indent=2)
        else:
            text, found = re.subn(rule.field, lambda match, rule=rule: str(rule.mask(match[0], tree)), text)
            hits[rule] += found
    return text


# ---- the two runs ---------------------------------------------------------------------------------------------

def _records(path: Path) -> list[dict[str, Any]]:
    return json.loads(gzip.decompress(path.read_bytes()))["Records"]


def _gz(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress(json.dumps({"Records": records}).encode(), mtime=0)


def _write_trouble(trail: Path, out: Path) -> dict[str, Any]:
    """Conflicting copies of the attack's calls and files to quarantine, in ``out``; returns the attack."""
    attack = json.loads((trail / "ground-truth.json").read_text())["attack"]
    wanted = {step["event_id"] for step in attack["steps"] if step["event_name"] in CONFLICTED_CALLS}
    originals = sorted((r for path in sorted(trail.rglob("*.json.gz")) for r in _records(path)
                        if r["eventID"] in wanted), key=lambda r: r["eventID"])
    assert {r["eventID"] for r in originals} == wanted
    out.mkdir()
    # Same partition as the original: another address and principalId (so the grants' creators differ too).
    (out / "conflicts.json.gz").write_bytes(_gz([
        {**r, "sourceIPAddress": "192.0.2.99", "userIdentity": {**r["userIdentity"], "principalId": "AROAX:copy"}}
        for r in originals]))
    # Another account's partition: the copies meet only when the whole store is gathered.
    (out / "moved.json.gz").write_bytes(_gz([{**r, "sourceIPAddress": "192.0.2.98", "recipientAccountId": DEV}
                                             for r in originals]))
    (out / "corrupt.json.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    (out / "items.json").write_text(json.dumps([42, {"eventTime": "2026-03-03T00:00:00Z"}]))
    return attack


def _run_chain(sources: list[str], tree: Path, flags: tuple[str, ...], origin: str) -> int:
    """investigate, then every export of the store it wrote, into ``tree``; returns investigate's exit code."""
    code, out, err = run("investigate", *sources, "--out", str(tree), f"--run_id={RUN_ID}", *flags)
    assert code in (0, 1), out + err
    store, exports = str(tree / "store"), tree / "exports"
    exports.mkdir()
    commands = [
        ("graph", "--store", store, "--out", str(exports / "identity.graphml")),
        ("graph", "--store", store, "--out", str(exports / "identity.json")),
        ("graph", "--store", store, "--out", str(exports / "identity.svg")),
        ("graph", "--store", store, "--out", str(exports / "origin.json"), "--origin", origin),
        ("timeline", "--store", store, "--out", str(exports / "timeline"), "--id", RUN_ID, "--principal", origin),
        ("report", "--store", store, "--out", str(exports / "report.html"), "--principal", origin),
        *(("export", "--store", store, "--out", str(exports / name), "--as", fmt) for fmt, name in EXPORTS),
    ]
    for command in commands:
        assert run(*command)[0] == 0, command
    for fmt in ("json", "csv"):
        found, printed, err = run("findings", "--store", store, "--format", fmt)
        assert found == 0, err
        (exports / f"findings.{fmt}").write_text(printed)
    return code


@dataclass(frozen=True)
class Chains:
    trees: dict[str, Path]
    codes: dict[str, int]
    modes: dict[str, list[tuple[str, int]]]     # (running mode, workers) of each Beam pipeline run


@pytest.fixture(scope="module")
def chains(tmp_path_factory) -> Chains:
    root = tmp_path_factory.mktemp("equivalence")
    write_sample(root / "trail", events=800, seed=3)
    attack = _write_trouble(root / "trail", root / "trouble")
    sources = [str(root / "trail" / "AWSLogs"), str(root / "trouble")]
    modes: dict[str, list[tuple[str, int]]] = {}
    codes = {}
    original = FnApiRunner.run_pipeline
    with pytest.MonkeyPatch.context() as patch:
        for name, flags in RUNNERS.items():
            seen = modes[name] = []

            def spied(runner, pipeline, options, seen=seen):
                direct = options.view_as(DirectOptions)
                seen.append((direct.direct_running_mode, direct.direct_num_workers))
                return original(runner, pipeline, options)

            patch.setattr(FnApiRunner, "run_pipeline", spied)
            codes[name] = _run_chain(sources, root / name, flags, attack["origin_principal"])
    return Chains(trees={name: root / name for name in RUNNERS}, codes=codes, modes=modes)


def _files(tree: Path) -> dict[str, Path]:
    return {str(path.relative_to(tree)): path for path in sorted(tree.rglob("*"))}


def _rules(name: str) -> list[Varying]:
    return [rule for rule in VARYING if fnmatch.fnmatchcase(name, rule.files)]


# ---- the tests ------------------------------------------------------------------------------------------------

def test_every_pipeline_ran_on_its_runner(chains):
    assert chains.modes == {"in-process": [("in_memory", 1)] * PIPELINES,
                            "two-processes": [("multi_processing", 2)] * PIPELINES}


def test_the_input_reaches_every_part_of_the_store(chains):
    """The comparison means something only if the chain met conflicts, quarantine, identities and histories."""
    tree = chains.trees["in-process"]
    summary = json.loads((tree / "store" / "_runs" / RUN_ID / "summary.json").read_text())
    assert summary["records"]["conflicts"] > 0 and summary["records"]["quarantined"] > 0
    assert chains.codes == {name: 1 for name in RUNNERS}         # conflicting copies are evidence of tampering
    identity = json.loads((tree / "store" / "identity" / f"run={RUN_ID}" / "summary.json").read_text())
    history = json.loads((tree / "store" / "history" / f"run={RUN_ID}" / "summary.json").read_text())
    assert identity["sessions"] > 0 and identity["grants"] > 0 and identity["signals"] > 0
    assert history["entries"] > 0
    for part in ("events", "quarantine", "_runs", "identity", "history"):
        assert any((tree / "store" / part).rglob("*.*")), part
    assert json.loads((tree / "findings.json").read_text())


def test_both_trees_hold_the_same_files(chains):
    first, second = (_files(tree) for tree in chains.trees.values())
    assert sorted(first) == sorted(second)


def test_every_file_is_byte_identical_but_for_the_varying_fields(chains):
    (_, first), (_, second) = chains.trees.items()
    files, other = _files(first), _files(second)
    hits = {tree: {rule: 0 for rule in VARYING} for tree in (first, second)}
    different = []
    for name, path in files.items():
        if path.is_dir() or name not in other:
            continue
        ours, theirs = path.read_bytes(), other[name].read_bytes()
        rules = _rules(name)
        if not rules:
            if ours != theirs:
                different.append(name)
            continue
        ours_text = _normalised(ours, rules, first, hits[first])
        theirs_text = _normalised(theirs, rules, second, hits[second])
        if ours_text != theirs_text:
            diff = difflib.unified_diff(ours_text.splitlines(), theirs_text.splitlines(), lineterm="", n=1)
            different.append(f"{name} (after masking {', '.join(r.field for r in rules)}):\n"
                             + "\n".join(line[:300] for line in list(diff)[:20]))
    assert not different, "differ between the runners:\n" + "\n".join(different)
    # A rule that masks nothing in a tree is stale: it must go rather than hide a future difference.
    assert [(tree.name, rule.files, rule.field) for tree, found in hits.items() for rule, n in found.items()
            if n == 0] == []
