"""Case commands: investigate (the whole job, sources to report), report, findings."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from trailbeam import __version__, errors, store, tabular
from trailbeam.cli.common import UsageError, add_format, add_store, flag_time, is_local, worker_args
from trailbeam.report import SEVERITY_ORDER
from trailbeam.sources import local_size

T = TypeVar("T")

REPORT = "report.html"
FINDINGS = "findings.json"
TIMELINE = "timeline.csv"
SUMMARY = "case.json"            # stages, their times, counts: for scripts and benchmarks


def add_commands(commands: Any) -> None:
    investigate = commands.add_parser(
        "investigate", help="the whole job: ingest, verify, attribute, histories, findings, timeline, report",
        description="Ingest SOURCE... into CASE_DIR/store, verify CloudTrail digests when the sources hold them, "
        "attribute every event to its origin, replay resource histories, run the detections and write "
        "CASE_DIR/report.html (one self-contained HTML file), findings.json, timeline.csv and case.json (stage "
        "times). Runs locally; options this command does not know are passed to Apache Beam (every pipeline "
        "step takes them). Exit 1 "
        "when integrity verification or ingest found problems (tampered, missing or conflicting evidence).")
    investigate.add_argument("sources", nargs="+", metavar="SOURCE", help="file, folder or glob of CloudTrail logs")
    investigate.add_argument("--out", required=True, metavar="CASE_DIR", help="folder for the case (created)")
    investigate.add_argument("--public-keys", metavar="FILE",
                             help="aws cloudtrail list-public-keys output, to verify digests of a plain copy")
    investigate.add_argument("--workers", type=int, default=None,
                             help="local worker processes (default: one per CPU for inputs over 100 MB)")
    _add_focus(investigate)
    investigate.set_defaults(handler=_investigate)

    report = commands.add_parser("report", help="write the HTML incident report of a store",
                                 description="Write the self-contained HTML incident report of a store that "
                                 "has been ingested (and, for the full picture, attributed and replayed with "
                                 "trailbeam histories).")
    add_store(report)
    report.add_argument("--out", required=True, metavar="FILE", help="HTML file to write")
    _add_focus(report)
    report.set_defaults(handler=_report)

    findings = commands.add_parser("findings", help="the detections' findings over a store",
                                   description="Run the built-in detections over every event of a store and turn "
                                   "its credential signals into findings (trailbeam attribute first, for origins "
                                   "and signals).")
    add_store(findings)
    for flag, text in (("--principal", "only findings about this origin principal, key or signer"),
                       ("--resource", "only findings about this resource ARN")):
        findings.add_argument(flag, help=text)
    findings.add_argument("--start", help="from this eventTime (ISO 8601 UTC, inclusive)")
    findings.add_argument("--end", help="until this eventTime (ISO 8601 UTC, exclusive)")
    add_format(findings)
    findings.set_defaults(handler=_findings)


def _add_focus(parser: argparse.ArgumentParser) -> None:
    focus = parser.add_argument_group("focus (default: the whole store, built around its findings)")
    focus.add_argument("--principal", help="an origin principal (ARN, <provider>:<subject>) or key, or the ARN or "
                       "key that signed: its events, through all its sessions")
    focus.add_argument("--resource", metavar="ARN", help="a resource: the events that touched it")
    focus.add_argument("--start", help="from this eventTime (ISO 8601 UTC, inclusive)")
    focus.add_argument("--end", help="until this eventTime (ISO 8601 UTC, exclusive)")
    focus.add_argument("--max-events", type=int, default=20_000, help="timeline rows at most (default 20,000)")
    focus.add_argument("--title", help="the report's title")


def _focus(args: argparse.Namespace) -> Any:
    from trailbeam import case

    return case.Focus(principal=args.principal, resource=args.resource, start=flag_time(args.start, "--start"),
                      end=flag_time(args.end, "--end"))


def _generated() -> str:
    return f"{datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')} by trailbeam {__version__}"


def _check_max(args: argparse.Namespace) -> None:
    if args.max_events < 1:
        raise UsageError("--max-events must be at least 1")


# ---- investigate ----

@dataclass
class _Stages:
    """Runs the stages of a job, printing each as it ends, and keeps their times for the summary."""

    done: list[tuple[str, float, str]]

    def run(self, name: str, step: Callable[[], tuple[T, str]]) -> T:
        print(f"{len(self.done) + 1}. {name} ...", flush=True)
        started = time.perf_counter()
        result, outcome = step()
        seconds = time.perf_counter() - started
        self.done.append((name, seconds, outcome))
        print(f"   {outcome} ({seconds:,.1f} s)", flush=True)
        return result

    def table(self) -> str:
        rows = [(name, f"{seconds:,.1f}", outcome) for name, seconds, outcome in self.done]
        rows.append(("total", f"{sum(s for _, s, _ in self.done):,.1f}", ""))
        return tabular.render(("stage", "seconds", "result"), rows, "table")


def _verification_roots(sources: Sequence[str]) -> list[Path]:
    """The folders above ``AWSLogs/`` of the local sources that hold CloudTrail digest files."""
    roots: set[Path] = set()
    for source in sources:
        if not is_local(source) or any(ch in source for ch in "*?["):
            continue
        path = Path(source).resolve()
        parts = path.parts
        root = Path(*parts[:parts.index("AWSLogs")]) if "AWSLogs" in parts else path
        if root.is_dir() and next(root.glob("AWSLogs/**/CloudTrail-Digest/**/*.json.gz"), None) is not None:
            roots.add(root)
    return sorted(roots)


def _verify(sources: Sequence[str], store_dir: str, public_keys: str | None, focus: Any
            ) -> tuple[bool, str]:
    """Verifies the digests among the sources into the store; (problems found?, what happened)."""
    from trailbeam import evidence

    roots = _verification_roots(sources)
    if not roots:
        return False, "not verified: no CloudTrail digest files among the local sources"
    keys = json.loads(Path(public_keys).read_text()) if public_keys else None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    outcomes, problems = [], False
    for number, root in enumerate(roots, 1):
        try:
            verified = evidence.verify_folder(root, public_keys=keys, start=focus.start, end=focus.end)
        except errors.InputError as err:
            outcomes.append(f"{root}: not verified ({err})")
            continue
        report = verified.report
        store.write_integrity(store_dir, f"{stamp}-{number}" if len(roots) > 1 else stamp, report.findings)
        valid = len(report.of_kind("digest_valid"))
        bad = sum(1 for f in report.findings if f.severity == "invalid")
        problems = problems or bad > 0 or valid == 0
        outcomes.append(f"{root}: {valid:,} valid digests, {bad:,} invalid findings"
                        + ("" if valid else " (NOTHING VERIFIED)"))
    return problems, "; ".join(outcomes)


def _investigate(args: argparse.Namespace, beam_args: list[str]) -> int:
    _check_max(args)
    return investigate(args.sources, args.out, focus=_focus(args), public_keys=args.public_keys,
                       workers=args.workers, max_events=args.max_events, title=args.title, beam_args=beam_args)


def investigate(sources: Sequence[str], out_dir: str, *, focus: Any = None, public_keys: str | None = None,
                workers: int | None = None, max_events: int = 20_000, title: str | None = None,
                beam_args: Sequence[str] = ()) -> int:
    """The whole job, printing each stage as it ends and then their times: ingest into OUT/store, verify the
    digests among the sources into it, attribute, replay histories, then findings, timeline and report into OUT.
    Returns the exit code: 1 when verification or ingest found problems."""
    from pipelines import attribute as attribute_pipeline
    from pipelines import history as history_pipeline
    from trailbeam import case
    from trailbeam.cli.store import run_ingest

    focus = focus or case.Focus()
    out = Path(out_dir)
    store_dir = str(out / "store")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    stages = _Stages([])
    pipeline_args = [*worker_args(workers, local_size(sources), beam_args), *beam_args]

    def ingest() -> tuple[bool, str]:
        run = run_ingest(list(sources), store_dir, workers=workers, beam_args=beam_args, progress=sys.stderr.isatty())
        records, files = run["records"], run["files"]
        problems = bool(records["conflicts"] or files.get("modified", 0) or not run["balanced"])
        return problems, (f"{records['stored']:,} events stored from {files['read']:,} files "
                          f"({records['duplicates']:,} duplicates, {records['quarantined']:,} quarantined, "
                          f"{records['conflicts']:,} conflicting)")

    def attribute() -> tuple[None, str]:
        run = attribute_pipeline.run([f"--store={store_dir}", *pipeline_args])
        return None, f"{run['events']:,} events attributed, {run['sessions']:,} sessions, {run['signals']:,} signals"

    def histories() -> tuple[None, str]:
        # In one process: with worker processes the local runner holds the grouped write events twice
        # (1M events: 81 s instead of ~97 s, but 3.6 GB instead of ~2 GB for the whole tree).
        run = history_pipeline.run([f"--store={store_dir}", *beam_args])
        return None, f"{run['resources']:,} resources, {run['entries']:,} change-log entries"

    def findings_and_timeline() -> tuple[Any, str]:
        built = case.build(store_dir, focus=focus, max_events=max_events, title=title, generated=_generated(),
                           workers=workers)
        by_severity: dict[str, int] = {}
        for finding in built.findings:
            by_severity[finding.severity] = by_severity.get(finding.severity, 0) + 1
        severities = ", ".join(f"{by_severity[s]:,} {s}" for s in SEVERITY_ORDER if s in by_severity)
        return built, (f"{len(built.findings):,} findings ({severities or 'none'}), "
                       f"{len(built.report.timeline):,} events in the timeline")

    ingest_problems = stages.run("ingest", ingest)
    integrity_problems = stages.run("verify", lambda: _verify(sources, store_dir, public_keys, focus))
    stages.run("attribute", attribute)
    stages.run("histories", histories)
    built = stages.run("findings and timeline", findings_and_timeline)
    written = stages.run("report", lambda: _write_case(built, out, store_dir))
    code = 1 if ingest_problems or integrity_problems else 0
    (out / SUMMARY).write_text(json.dumps({
        "report": str(written), "exit_code": code, "ingest_problems": ingest_problems,
        "integrity_problems": integrity_problems, "counts": built.counts,
        "stages": [{"stage": name, "seconds": round(seconds, 3), "result": result}
                   for name, seconds, result in stages.done],
        "case_seconds": {name: round(seconds, 3) for name, seconds in built.seconds.items()},
        "seconds": round(sum(seconds for _, seconds, _ in stages.done), 3)}, indent=2) + "\n")
    print("\n" + stages.table())
    print(f"\nreport: {written}")
    return code


def _write_case(built: Any, out: Path, store_dir: str) -> tuple[Path, str]:
    from trailbeam import case, exports, report

    path = out / REPORT
    path.write_text(report.render(built.report), encoding="utf-8")
    (out / FINDINGS).write_text(json.dumps([case.finding_json(f) for f in built.findings], indent=2) + "\n")
    with open(out / TIMELINE, "w", encoding="utf-8", newline="") as handle:
        exports.write_rows(handle, built.export_rows(store.read_integrity(store_dir)), "csv")
    return path.resolve(), f"{path}, {out / FINDINGS}, {out / TIMELINE}, {out / SUMMARY}"


# ---- report, findings ----

def _report(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import case, report

    _check_max(args)
    built = case.build(args.store, focus=_focus(args), max_events=args.max_events, title=args.title,
                       generated=_generated())
    Path(args.out).write_text(report.render(built.report), encoding="utf-8")
    print(f"wrote the report ({len(built.findings):,} findings, {len(built.report.timeline):,} events in the "
          f"timeline) to {args.out}")
    return 0


def _findings(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import case

    found = case.find(args.store, focus=_focus(args))
    if args.format == "json":
        print(json.dumps([case.finding_json(f) for f in found], indent=2))
        return 0
    # A table shows how much evidence there is; CSV carries the eventIDs themselves.
    evidence = "events" if args.format == "table" else "event_ids"
    rows = [(case.finding_json(f)["time"], f.severity, f.rule, f.principal, f.origin, f.resource, f.summary,
             len(f.event_ids) if args.format == "table" else " ".join(f.event_ids)) for f in found]
    print(tabular.render(("time", "severity", "rule", "principal", "origin", "resource", "summary", evidence), rows,
                         args.format))
    return 0
