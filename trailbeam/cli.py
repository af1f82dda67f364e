"""The ``trailbeam`` command: thin subcommands over the library and the pipelines.

Conventions shared by every subcommand: commands that read a store take ``--store``, commands that
write take ``--out``, query commands take ``--format table|json|csv``, times are ISO 8601 UTC.
Exit codes: 0 success, 1 a check found problems (e.g. conflicting copies of an event), 2 usage or
input errors, with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from trailbeam import __version__, errors, store, summary, tabular, timestamps
from trailbeam.sources import local_size, split_names

_LOGGER = logging.getLogger(__name__)
_PARALLEL_BYTES = 100 << 20
_SHAPES = ("auto", "records", "array", "single", "jsonl", "concatenated", "lookup-events", "eventbridge",
           "cloudwatch-subscription", "cloudwatch-export", "cloudwatch-filter")


class _UsageError(errors.TrailbeamError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit code is 2 as well; keep one line
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="trailbeam", description="AWS CloudTrail forensics: ingest, inspect and "
                     "investigate CloudTrail logs with Apache Beam.")
    parser.add_argument("--version", action="version", version=f"trailbeam {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log Beam's progress messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    ingest = commands.add_parser(
        "ingest", help="ingest CloudTrail files into an event store",
        description="Ingest CloudTrail logs (S3-delivered .json.gz, JSON arrays/lines, LookupEvents, "
        "EventBridge, CloudWatch Logs) into an Avro event store, deduplicated by eventID. Options this "
        "command does not know are passed to Apache Beam (e.g. --runner=DataflowRunner ...).")
    ingest.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="file, folder or glob; other filesystems through Beam (gs://, s3://) when installed")
    ingest.add_argument("--out", required=True, metavar="STORE", help="event store to write into")
    ingest.add_argument("--format", default="auto", choices=_SHAPES, help="input shape (default: detect per file)")
    ingest.add_argument("--run-id", help="name of this run (default: the UTC start time)")
    ingest.add_argument("--codec", default="zstandard", choices=("zstandard", "deflate", "null"),
                        help="Avro codec (default zstandard; deflate for readers without zstandard)")
    ingest.add_argument("--workers", type=int, default=None,
                        help="local worker processes (default: one per CPU for inputs over 100 MB, else 1 "
                             "in-process; 0: one per CPU)")
    ingest.add_argument("--json", action="store_true", help="print the run summary as JSON")
    where = ingest.add_argument_group("what to read (S3 listing is pruned to it; the time window filters events too)")
    where.add_argument("--accounts", help="comma-separated account ids (default: discover)")
    where.add_argument("--regions", help="comma-separated regions (default: discover)")
    where.add_argument("--org-id", help="organization trail folder, o-... (default: all found)")
    where.add_argument("--start", help="first eventTime to keep (ISO 8601 UTC)")
    where.add_argument("--end", help="keep events before this eventTime (ISO 8601 UTC)")
    what = ingest.add_argument_group("which events to keep (the others are counted as filtered)")
    what.add_argument("--selectors", metavar="FILE",
                      help="CloudTrail event selectors, e.g. the output of aws cloudtrail get-event-selectors")
    what.add_argument("--write-only", action="store_true", help="only events that are not readOnly")
    what.add_argument("--event-source", help="comma-separated eventSources, e.g. iam.amazonaws.com,sts.amazonaws.com")
    remote = ingest.add_argument_group("S3 (credentials come from the standard AWS chain: environment, profile, role)")
    remote.add_argument("--s3-endpoint-url", help="S3-compatible endpoint (default: AWS)")
    remote.add_argument("--s3-region", help="bucket region (default: from the AWS configuration)")
    ingest.add_argument("--strict", action="store_true", help="exit 1 when anything was quarantined")
    ingest.set_defaults(handler=_ingest)

    sample = commands.add_parser("sample", help="write a synthetic trail with an attack story",
                                 description="Write a realistic synthetic CloudTrail trail in the S3 "
                                 "layout, with an embedded attack story and ground-truth.json.")
    sample.add_argument("--out", required=True, metavar="DIR")
    sample.add_argument("--events", type=int, default=5000, help="about this many unique events")
    sample.add_argument("--seed", type=int, default=7)
    sample.add_argument("--days", type=int, default=3)
    sample.add_argument("--start", default="2026-03-02", help="first day (ISO 8601 UTC)")
    sample.set_defaults(handler=_sample)

    cat = commands.add_parser("cat", help="print stored events as their original CloudTrail JSON",
                              description="Print stored events, one original CloudTrail JSON object per "
                              "line, in partition then (eventTime, eventID) order.")
    _add_store(cat)
    _add_filters(cat)
    cat.set_defaults(handler=_cat)

    stats = commands.add_parser("stats", help="summarise an event store")
    _add_store(stats)
    _add_format(stats)
    stats.set_defaults(handler=_stats)

    quarantine = commands.add_parser("quarantine", help="list quarantined input with its reasons")
    _add_store(quarantine)
    _add_format(quarantine)
    quarantine.set_defaults(handler=_quarantine)

    collect_cmd = commands.add_parser(
        "collect", help="copy a trail's logs and digests out of S3 as an offline evidence bundle",
        description="Copy log and digest objects under their keys into a folder, with a manifest of each "
        "digest's signature metadata, every object's ETag and Object Lock state, and the CloudTrail public "
        "keys, so that trailbeam verify FOLDER needs no network.")
    collect_cmd.add_argument("source", metavar="S3_URI", help="s3://bucket[/prefix]")
    collect_cmd.add_argument("--out", required=True, metavar="FOLDER", help="a new folder for the bundle")
    _add_trail_scope(collect_cmd)
    collect_cmd.add_argument("--public-keys", metavar="FILE",
                             help="aws cloudtrail list-public-keys output to include (default: ask CloudTrail)")
    collect_cmd.set_defaults(handler=_collect)

    verify = commands.add_parser(
        "verify", help="verify CloudTrail digest chains and log files (exit 1 when anything is invalid)",
        description="Verify digest signatures and chains and the log files they list, in an evidence bundle "
        "or plain copy (FOLDER) or straight from S3 (s3://...). Reports what was modified, deleted, added, "
        "moved, re-signed or left uncovered, per account, region, trail and hour.")
    verify.add_argument("source", metavar="SOURCE", help="evidence folder, or s3://bucket[/prefix]")
    _add_trail_scope(verify)
    verify.add_argument("--public-keys", metavar="FILE", help="aws cloudtrail list-public-keys output")
    verify.add_argument("--all", action="store_true", help="list valid files too, not only problems")
    verify.add_argument("--object-lock", action="store_true",
                        help="also report objects not under S3 Object Lock retention or legal hold")
    verify.add_argument("--out", metavar="FILE", help="also write the full report as JSON")
    verify.add_argument("--store", metavar="PATH",
                        help="also store the findings in this event store, so that its events from verified "
                             "log files are known (joined on the content SHA-256 recorded at ingest)")
    _add_format(verify)
    verify.set_defaults(handler=_verify)

    demo = commands.add_parser("demo", help="sample -> ingest -> stats -> attribute on bundled synthetic data",
                               description="The main job on embedded defaults: write the synthetic "
                               "sample trail, ingest it with the local runner, summarise the store.")
    demo.add_argument("--out", default="demo", metavar="DIR", help="folder for trail/ and store/ (default ./demo)")
    demo.add_argument("--events", type=int, default=5000)
    demo.set_defaults(handler=_demo)
    _add_identity_commands(commands)
    _add_history_commands(commands)
    return parser


def _add_trail_scope(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accounts", help="comma-separated account ids (default: all found)")
    parser.add_argument("--regions", help="comma-separated regions (default: all found)")
    parser.add_argument("--org-id", help="organization trail folder, o-... (default: all found)")
    parser.add_argument("--start", help="from this delivery time (ISO 8601 UTC)")
    parser.add_argument("--end", help="until this delivery time (ISO 8601 UTC)")
    parser.add_argument("--s3-endpoint-url", help="S3-compatible endpoint (default: AWS)")
    parser.add_argument("--s3-region", help="bucket region (default: from the AWS configuration)")


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, metavar="PATH", help="event store to read")


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", default="table", choices=tabular.FORMATS)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", help="from this eventTime (ISO 8601 UTC, inclusive)")
    parser.add_argument("--end", help="until this eventTime (ISO 8601 UTC, exclusive)")
    parser.add_argument("--account", action="append", help="only this account (repeatable)")
    parser.add_argument("--region", action="append", help="only this region (repeatable)")


_time = timestamps.flag_time


# ---- ingest ----

def _ingest(args: argparse.Namespace, beam_args: list[str]) -> int:
    flags = {"accounts": args.accounts, "regions": args.regions, "org_id": args.org_id, "start": args.start,
             "end": args.end, "selectors": args.selectors, "event_source": args.event_source,
             "s3_endpoint_url": args.s3_endpoint_url, "s3_region_name": args.s3_region}
    options = [f"--{name}={value}" for name, value in flags.items() if value]
    if args.write_only:
        options.append("--write_only")
    run_summary = run_ingest(args.sources, args.out, shape=args.format, run_id=args.run_id, codec=args.codec,
                             workers=args.workers, beam_args=[*options, *beam_args], progress=sys.stderr.isatty())
    print(json.dumps(run_summary, indent=2, sort_keys=True) if args.json else summary.render(run_summary))
    # Conflicting copies and objects modified since an earlier ingest are evidence of tampering.
    problems = (run_summary["records"]["conflicts"] or run_summary["files"].get("modified", 0)
                or not run_summary["balanced"])
    quarantined = run_summary["records"]["quarantined"] or run_summary["files"].get("quarantined", 0)
    return 1 if problems or (args.strict and quarantined) else 0


def run_ingest(sources: list[str], out: str, *, shape: str = "auto", run_id: str | None = None,
               codec: str = "zstandard", workers: int | None = None, beam_args: Sequence[str] = (),
               progress: bool = False) -> dict[str, Any]:
    """Runs the ingest pipeline locally (or wherever beam_args send it) and returns the run summary."""
    from pipelines import ingest as pipeline  # Beam is imported only by commands that run pipelines

    argv = [*(f"--source={s}" for s in sources), f"--store={out}", f"--input_format={shape}", f"--codec={codec}"]
    if run_id:
        argv.append(f"--run_id={run_id}")
    argv += _worker_args(workers, local_size(sources), beam_args)
    with tempfile.TemporaryDirectory(prefix="trailbeam-progress-") as progress_dir:
        if progress:
            argv.append(f"--progress_dir={progress_dir}")
        with _ProgressLine(progress_dir if progress else None):
            finished = pipeline.run([*argv, *beam_args])
    summaries = [s for s in store.run_summaries(out) if s["run_id"] == finished] if _is_local(out) else []
    if not summaries:
        raise errors.StoreError(f"the run {finished} left no summary in {out}")
    return summaries[0]


def _worker_args(workers: int | None, size: int, beam_args: Sequence[str]) -> list[str]:
    """Local worker processes for a pipeline over ``size`` bytes of input (0: one per CPU)."""
    if workers is None:
        # Worker processes cost a few seconds to start and pay off only on larger inputs.
        workers = 0 if size > _PARALLEL_BYTES else 1
    if workers != 1 and not any(a.startswith(("--direct_running_mode", "--runner")) for a in beam_args):
        return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    return []


def _is_local(path: str) -> bool:
    return "://" not in path


class _ProgressLine:
    """Prints files, records and rate on one stderr line while a local pipeline runs."""

    def __init__(self, folder: str | None):
        self._folder = folder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _ProgressLine:
        if self._folder:
            self._started = time.monotonic()
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._folder:
            self._stop.set()
            self._thread.join()
            self._show()
            sys.stderr.write("\n")

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._show()

    def _show(self) -> None:
        totals = {"files": 0, "records": 0, "bytes": 0}
        for path in Path(self._folder or ".").glob("*.json"):
            try:
                counts = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # being replaced right now
            for key in totals:
                totals[key] += counts.get(key, 0)
        elapsed = max(time.monotonic() - self._started, 1e-6)
        sys.stderr.write(f"\r  parsed {totals['files']:,} files, {totals['records']:,} records "
                         f"({totals['bytes'] / 1e6:,.1f} MB), {totals['records'] / elapsed:,.0f} records/s, "
                         f"{elapsed:,.0f} s ")
        sys.stderr.flush()


# ---- sample, demo ----

def _sample(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import sample

    start = timestamps.to_datetime(_time(args.start, "--start") or 0)
    written = sample.write_sample(args.out, events=args.events, seed=args.seed, start=start, days=args.days)
    print(f"wrote {written.records:,} records ({written.unique_events:,} events, {written.duplicates:,} "
          f"duplicate deliveries) in {written.files:,} files under {written.out_dir}")
    print(f"accounts {', '.join(written.accounts)}; regions {', '.join(written.regions)}; "
          f"{written.start} .. {written.end}")
    print(f"ground truth: {written.ground_truth}")
    return 0


def _demo(args: argparse.Namespace, beam_args: list[str]) -> int:
    from trailbeam import sample

    out = Path(args.out)
    trail, store_dir = out / "trail", out / "store"
    if store_dir.exists():
        raise _UsageError(f"{store_dir} exists already; choose another --out or remove it")
    written = sample.write_sample(trail, events=args.events)
    print(f"1. sample: {written.records:,} records in {written.files:,} files under {trail}")
    print(f"2. ingest into {store_dir}")
    # The logs only: ground-truth.json beside them is the answer key, not evidence.
    run_summary = run_ingest([str(trail / "AWSLogs")], str(store_dir), beam_args=beam_args,
                             progress=sys.stderr.isatty())
    print(summary.render(run_summary))
    print(f"3. stats of {store_dir}")
    print(_render_stats(str(store_dir), "table"))
    print(f"4. attribute every event to its session chain and origin ({store_dir}/identity/)")
    from pipelines import attribute as attribute_pipeline

    print(_render_attribution(attribute_pipeline.run([f"--store={store_dir}", *beam_args])))
    attack = json.loads(Path(written.ground_truth).read_text())["attack"]
    print(f"\nThe trail hides an attack (answer key: {written.ground_truth}). Its events:")
    end = timestamps.format_micros(timestamps.parse_micros(attack["end"]) + 1_000_000)  # --end is exclusive
    print(f"  trailbeam cat --store {store_dir} --start {attack['start']} --end {end} "
          f"--account {attack['account']}")
    print("Who was behind them, through which roles:")
    print(f"  trailbeam activity {attack['origin_principal']} --store {store_dir}")
    print(f"  trailbeam identities --store {store_dir}")
    print(f"  trailbeam signals --store {store_dir}")
    return 0


# ---- evidence ----



def _json_file(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        document: dict[str, Any] = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise _UsageError(f"cannot read {path}: {err}") from None
    return document


def _collect_into(args: argparse.Namespace, folder: str):  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    from trailbeam import collect, s3

    settings = s3.S3Settings(endpoint_url=args.s3_endpoint_url, region=args.s3_region)
    return collect.collect(args.source, folder, settings=settings, today=datetime.now(timezone.utc).date(),
                           accounts=split_names(args.accounts), regions=split_names(args.regions), org_id=args.org_id,
                           start=_time(args.start, "--start"), end=_time(args.end, "--end"),
                           public_keys=_json_file(args.public_keys))


def _collect(args: argparse.Namespace, _: list[str]) -> int:
    if not args.source.startswith("s3://"):
        raise _UsageError("collect reads from S3: give s3://bucket[/prefix]")
    done = _collect_into(args, args.out)
    print(f"collected {done.logs:,} log files and {done.digests:,} digests ({done.bytes / 1e6:,.1f} MB) into "
          f"{done.folder}; {done.public_keys} public keys; {done.locked:,} objects under Object Lock")
    return 0


def _verify(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import evidence

    keys = _json_file(args.public_keys)
    window = {"start": _time(args.start, "--start"), "end": _time(args.end, "--end")}
    if args.source.startswith("s3://"):
        with tempfile.TemporaryDirectory(prefix="trailbeam-verify-") as folder:
            _collect_into(args, folder)
            verified = evidence.verify_folder(folder, public_keys=keys, **window)
    else:
        verified = evidence.verify_folder(args.source, public_keys=keys, **window)
    report = verified.report
    if args.out:
        Path(args.out).write_text(report.to_json())
    if args.store:
        store.check_store(args.store)
        verification = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = store.write_integrity(args.store, verification, report.findings)
        print(f"findings stored in {path}", file=sys.stderr)
    _print_verification(verified, args)
    # Log files with no valid digest at all prove nothing, even when no single finding is invalid.
    return 0 if report.ok and report.of_kind("digest_valid") else 1


def _print_verification(verified: Any, args: argparse.Namespace) -> None:
    report = verified.report
    shown = [f for f in report.findings if args.all or f.severity != "ok"]
    if args.format == "json":
        document = json.loads(report.to_json())
        document["object_lock"] = verified.object_lock
        print(json.dumps(document, indent=2, sort_keys=True))
    else:
        rows = [(f.severity, f.kind, f.account, f.region, f.trail,
                 timestamps.format_micros(f.hour) if f.hour is not None else None, f.subject, f.detail)
                for f in shown]
        print(tabular.render(("severity", "kind", "account", "region", "trail", "hour", "subject", "detail"),
                             rows, args.format))
        if args.format == "table":
            counts: dict[str, int] = {}
            for finding in report.findings:
                counts[finding.kind] = counts.get(finding.kind, 0) + 1
            print("\n" + ", ".join(f"{kind}: {n:,}" for kind, n in sorted(counts.items())))
            if not report.of_kind("digest_valid"):
                print("NOTHING VERIFIED: no valid digest (is log file validation enabled for the trail?)")
            else:
                print("evidence verified: no problems" if report.ok else "EVIDENCE PROBLEMS FOUND (see above)")
            if args.object_lock and verified.object_lock is not None:
                lock = verified.object_lock
                print(f"Object Lock: {lock['locked']:,} of {lock['objects']:,} objects under retention or legal hold")
            elif args.object_lock:
                print("Object Lock: unknown for a plain copy (collect from S3 to record it)")


# ---- reading commands ----

def _cat(args: argparse.Namespace, _: list[str]) -> int:
    records = store.read_events(args.store, accounts=set(args.account) if args.account else None,
                                regions=set(args.region) if args.region else None,
                                start=_time(args.start, "--start"), end=_time(args.end, "--end"))
    out = sys.stdout
    for record in records:
        out.write(record["cloudTrailEvent"])
        out.write("\n")
    return 0


def _render_stats(store_root: str, fmt: str) -> str:
    from trailbeam import stats

    files = [str(path) for path in store.event_files(store_root)]
    runs, findings = store.run_summaries(store_root), store.read_integrity(store_root)
    if len(files) < 8:
        collected = stats.merged(map(stats.count_file, files), runs, findings)
    else:
        # Decoding dominates: count files on every core.
        with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
            collected = stats.merged(pool.map(stats.count_file, files, chunksize=4), runs, findings)
    if fmt == "json":
        return json.dumps(collected.to_json(), indent=2)
    return tabular.render(("dimension", "value", "count"), collected.rows(), fmt)


def _stats(args: argparse.Namespace, _: list[str]) -> int:
    print(_render_stats(args.store, args.format))
    return 0


def _quarantine(args: argparse.Namespace, _: list[str]) -> int:
    rows = [(r["ingestRun"], r["reason"], r["uri"], r["position"], r["eventID"], r["detail"], len(r["payload"]))
            for r in store.read_quarantine(args.store)]
    print(tabular.render(("run", "reason", "uri", "position", "eventID", "detail", "payload_bytes"), rows,
                         args.format))
    return 0


# ---- identity: attribute, then ask who assumed, where from, what was done ----

_GRAPH_FORMATS = {".graphml": "graphml", ".json": "json", ".svg": "svg"}


def _add_identity_commands(commands: Any) -> None:
    attribute = commands.add_parser(
        "attribute", help="attribute every stored event to its session chain and origin",
        description="Link every event of an event store to the session that made it, the chain of sessions "
        "and grants behind it, and its origin principal; write the identity dataset (sessions, grants, "
        "credential uses, signals, graph) into the store. Options this command does not know are passed "
        "to Apache Beam.")
    _add_store(attribute)
    attribute.add_argument("--run-id", help="name of this run (default: the UTC start time)")
    attribute.add_argument("--json", action="store_true", help="print the run summary as JSON")
    attribute.add_argument("--workers", type=int, default=None,
                           help="local worker processes (default: one per CPU for stores over 100 MB, else 1 "
                                "in-process; 0: one per CPU)")
    attribute.set_defaults(handler=_attribute)

    who = commands.add_parser("who-assumed", help="every session of a role: who reached it, how, from where")
    who.add_argument("role", metavar="ROLE_ARN", help="role ARN, or an assumed-role ARN of the role")
    _add_store(who)
    _add_window(who, "issued")
    _add_format(who)
    who.set_defaults(handler=_who_assumed)

    lineage = commands.add_parser("lineage", help="where a key, session or event came from, hop by hop",
                                  description="Trace an access key id, a session ARN or an eventID back to "
                                  "its origin, with the event linking each hop.")
    lineage.add_argument("target", metavar="KEY_ID|SESSION_ARN|EVENT_ID")
    _add_store(lineage)
    _add_format(lineage)
    lineage.set_defaults(handler=_lineage)

    activity = commands.add_parser("activity", help="everything an origin did through all its sessions",
                                   description="A timeline of the events whose origin is PRINCIPAL, or that "
                                   "were signed by PRINCIPAL (an access key id or an ARN).")
    activity.add_argument("principal", metavar="PRINCIPAL")
    _add_store(activity)
    _add_window(activity, "eventTime")
    _add_format(activity)
    activity.set_defaults(handler=_activity)

    identities = commands.add_parser("identities", help="origins, roles, cross-account hops, longest chains, "
                                     "unlinked sessions")
    _add_store(identities)
    _add_format(identities)
    identities.set_defaults(handler=_identities)

    signals = commands.add_parser("signals", help="credential-misuse signals found by the last attribution")
    _add_store(signals)
    _add_format(signals)
    signals.set_defaults(handler=_signals)

    graph = commands.add_parser("graph", help="write the identity graph (GraphML, node-link JSON or SVG)",
                                description="Write the whole identity graph, one origin's tree, or everyone "
                                "who reached a role.")
    _add_store(graph)
    graph.add_argument("--out", required=True, metavar="FILE", help="file to write (.graphml, .json or .svg)")
    which = graph.add_mutually_exclusive_group()
    which.add_argument("--origin", metavar="PRINCIPAL", help="only what this principal or key led to")
    which.add_argument("--role", metavar="ROLE_ARN", help="only this role and everyone who reached it")
    graph.add_argument("--graph-format", choices=sorted(set(_GRAPH_FORMATS.values())),
                       help="default: from the --out suffix")
    graph.add_argument("--max-nodes", type=int, default=150, help="nodes drawn at most in an SVG (default 150)")
    graph.set_defaults(handler=_graph)


def _add_window(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--start", help=f"from this {what} time (ISO 8601 UTC, inclusive)")
    parser.add_argument("--end", help=f"until this {what} time (ISO 8601 UTC, exclusive)")


def _iso(micros: int | None) -> str | None:
    return None if micros is None else timestamps.format_micros(micros)


def _attribute(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines import attribute as pipeline  # Beam is imported only by commands that run pipelines

    argv = [f"--store={args.store}", *([f"--run_id={args.run_id}"] if args.run_id else [])]
    size = sum(path.stat().st_size for path in store.event_files(args.store)) if _is_local(args.store) else 0
    run_summary = pipeline.run([*argv, *_worker_args(args.workers, size, beam_args), *beam_args])
    print(json.dumps(run_summary, indent=2, sort_keys=True) if args.json else _render_attribution(run_summary))
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items(), key=lambda c: (-c[1], c[0]))) or "-"


def _render_attribution(run: dict[str, Any]) -> str:
    """The attribution summary as the table the CLI prints."""
    temporary, unattributed = run["temporary_credential_events"], run["temporary_unattributed"]
    rows = [
        ("run", run["run"]),
        ("events attributed", f"{run['events']:,} in {run['event_files']:,} event files"),
        ("sessions found", f"{run['sessions']:,} ({_counts(run['sessions_by_call'])})"),
        ("keys issued", f"{run['keys_issued']:,}"),
        ("temporary keys used", f"{run['keys_used']:,} ({run['keys_used_and_issued']:,} issued in the trail, "
                                f"{run['keys_used_not_issued']:,} not)"),
        ("long-term credentials granted", f"{run['grants']:,}"),
        ("events by basis", _counts(run["events_by_basis"])),
        ("events by confidence", _counts(run["events_by_confidence"])),
        ("temporary-credential events", f"{temporary:,} ({unattributed:,} unattributed or low confidence)"),
        ("why events stay unattributed", _counts(run["unattributed_reasons"])),
        ("flags", _counts(run["flags"])),
        ("signals", f"{run['signals']:,} (trailbeam signals --store ...)"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _who_assumed(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import identities

    found = identities.load_who_assumed(args.store, args.role, start=_time(args.start, "--start"),
                                        end=_time(args.end, "--end"))
    columns = ("time", "via", "role", "session", "origin_kind", "origin", "chain", "source_ip", "user_agent",
               "account", "cross_account", "basis", "confidence", "event_id")
    rows = [(_iso(r.time), r.via, r.role_arn, r.session_name, r.origin_kind, r.origin_principal, r.chain,
             r.source_ip, r.user_agent, r.account, r.cross_account, r.basis, r.confidence, r.event_id)
            for r in found]
    print(tabular.render(columns, rows, args.format))
    return 0


def _hop_json(hop: Any) -> dict[str, Any]:
    return {"relation": hop.relation, "time": _iso(hop.time), "event_id": hop.event_id, "call": hop.call,
            "caller": hop.caller, "target": hop.target, "key": hop.key, "account": hop.account,
            "source_ip": hop.source_ip, "user_agent": hop.user_agent, "basis": hop.basis,
            "confidence": hop.confidence, "flags": list(hop.flags)}


def _lineage(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import identities

    found = identities.load_lineage(args.store, args.target)
    if args.format == "json":
        print(json.dumps({"target": found.target, "kind": found.kind, "traces": [
            {"origin": {"kind": t.origin_kind, "principal": t.origin_principal, "access_key": t.origin_access_key},
             "chain": t.text, "hops": [_hop_json(h) for h in t.hops]} for t in found.traces]}, indent=2))
        return 0
    columns = ("trace", "relation", "time", "call", "caller", "target", "key", "account", "source_ip", "basis",
               "confidence", "flags", "event_id")
    rows: list[tuple[Any, ...]] = []
    for number, trace in enumerate(found.traces, 1):
        rows.append((number, "origin", None, trace.origin_kind, trace.origin_principal, None,
                     trace.origin_access_key, None, None, None, None, None, None))
        rows += [(number, h.relation, _iso(h.time), h.call, h.caller, h.target, h.key, h.account, h.source_ip,
                  h.basis, h.confidence, " ".join(h.flags), h.event_id) for h in trace.hops]
    print(tabular.render(columns, rows, args.format))
    if args.format == "table":
        print("\n" + "\n".join(f"trace {n}: {tabular.table_cell(t.text)}" for n, t in enumerate(found.traces, 1)))
    return 0


def _activity(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import identities

    found = identities.load_activity(args.store, args.principal, start=_time(args.start, "--start"),
                                     end=_time(args.end, "--end"))
    columns = ("time", "event_name", "event_source", "account", "region", "source_ip", "user_agent", "error",
               "credential", "session", "role", "basis", "confidence", "event_id")
    rows = [(_iso(a.time), a.event_name, a.event_source, a.account, a.region, a.source_ip, a.user_agent, a.error,
             a.credential, a.session_name, a.role_arn, a.basis, a.confidence, a.event_id) for a in found]
    print(tabular.render(columns, rows, args.format))
    return 0


_SECTIONS = (("origins", "origins"), ("roles", "roles"), ("cross_account", "cross-account hops"),
             ("longest_chains", "longest chains"), ("unlinked_sessions", "unlinked sessions"))


def _identities(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import identities

    found = identities.load_overview(args.store)
    if args.format == "json":
        print(json.dumps(found, indent=2))
        return 0
    run = found["summary"]
    parts = [f"# identity run {run.get('run')}: {run.get('sessions', 0):,} sessions, {run.get('keys_issued', 0):,} "
             f"keys issued, {run.get('events', 0):,} events, {run.get('signals', 0):,} signals"]
    for key, title in _SECTIONS:
        entries = found[key]
        columns = list(entries[0]) if entries else ["none"]
        parts.append(f"# {title}\n" + tabular.render(columns, [list(e.values()) for e in entries], args.format))
    print("\n\n".join(parts))
    return 0


def _signals(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import identitystore

    found = identitystore.read_signals(args.store)
    if args.format == "json":
        print(json.dumps(found, indent=2))
        return 0
    # A table shows how much evidence there is; CSV carries the eventIDs themselves.
    evidence = "events" if args.format == "table" else "event_ids"
    columns = ("first_seen", "last_seen", "severity", "kind", "principal", "credential", "summary", evidence)
    rows = [(s["first_seen"], s["last_seen"], s["severity"], s["kind"], s["principal"], s["credential"],
             s["summary"], len(s["event_ids"]) if args.format == "table" else " ".join(s["event_ids"]))
            for s in found]
    print(tabular.render(columns, rows, args.format))
    return 0


def _graph(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import graph, graphsvg, identitystore

    fmt = args.graph_format or _GRAPH_FORMATS.get(Path(args.out).suffix.lower())
    if fmt is None:
        raise _UsageError(f"cannot tell the format from {args.out!r}: use .graphml, .json or .svg, or give "
                          "--graph-format")
    if args.max_nodes < 1:
        raise _UsageError("--max-nodes must be at least 1")
    chosen = whole = graph.build_graph(identitystore.read_sessions(args.store), identitystore.read_uses(args.store),
                                       identitystore.read_grants(args.store))
    title = "identity graph"
    asked = args.origin or args.role
    if asked:
        node = graph.node_for_principal(whole, asked)
        if node is None:
            raise errors.InputError(f"{asked!r} is not in the identity graph")
        chosen = graph.origin_tree(whole, node) if args.origin else graph.reaching(whole, node)
        title = f"origin tree of {asked}" if args.origin else f"who reached {asked}"
    if fmt == "graphml":
        graph.write_graphml(chosen, args.out)
    elif fmt == "json":
        Path(args.out).write_text(json.dumps(graph.to_node_link(chosen), indent=2, sort_keys=True) + "\n")
    else:
        Path(args.out).write_text(graphsvg.render_svg(chosen, title=title, max_nodes=args.max_nodes))
    print(f"wrote {chosen.number_of_nodes():,} nodes and {chosen.number_of_edges():,} edges to {args.out}")
    return 0


# ---- histories: replay every resource, then ask what changed, when, by whom ----

def _add_history_commands(commands: Any) -> None:
    histories = commands.add_parser(
        "histories", help="replay every resource's write events into its change log",
        description="Find the resources every write event touched, replay each resource's events through its "
        "projection and write the history dataset (change logs with diffs and states, resource summaries, "
        "optionally read aggregates) into the store. Origins come from the identity dataset when `trailbeam "
        "attribute` ran first. Options this command does not know are passed to Apache Beam.")
    _add_store(histories)
    histories.add_argument("--reads", action="store_true",
                           help="also aggregate read and data access per (resource, principal, origin, hour)")
    histories.add_argument("--run-id", help="name of this run (default: the UTC start time)")
    histories.add_argument("--projections", action="append", metavar="MODULE:NAME",
                           help="your own projections (a Projection, a list of them or a Registry); repeatable")
    histories.add_argument("--json", action="store_true", help="print the run summary as JSON")
    histories.set_defaults(handler=_histories)

    history = commands.add_parser("history", help="a resource's change log, with what each call changed",
                                  description="Every write call on a resource in replay order: who, from where, "
                                  "what it changed; failed calls are listed as attempts.")
    history.add_argument("arn", metavar="ARN", help="the resource's ARN, as AWS or you write it")
    _add_store(history)
    _add_format(history)
    history.set_defaults(handler=_history)

    state = commands.add_parser("state", help="a resource's state at a moment (or every resource of a type)",
                                description="The state replayed from the change log up to TIME, inclusive. "
                                "Fields no event showed are unknown. With --type: every resource of the type "
                                "whose change log starts at or before TIME.")
    state.add_argument("arn", metavar="ARN", nargs="?", help="the resource's ARN")
    state.add_argument("--type", metavar="TYPE", help="every resource of this type, e.g. AWS::IAM::User")
    _add_store(state)
    state.add_argument("--at", required=True, metavar="TIME", help="ISO 8601 UTC, inclusive")
    _add_format(state)
    state.set_defaults(handler=_state)

    diff = commands.add_parser("diff", help="what changed on a resource between two moments",
                               description="The fields whose value differs between the state at --from and the "
                               "state at --to (both inclusive), and the calls in between.")
    diff.add_argument("arn", metavar="ARN", help="the resource's ARN")
    _add_store(diff)
    diff.add_argument("--from", dest="start", required=True, metavar="TIME", help="ISO 8601 UTC")
    diff.add_argument("--to", dest="end", required=True, metavar="TIME", help="ISO 8601 UTC")
    _add_format(diff)
    diff.set_defaults(handler=_diff)


def _histories(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines import history as pipeline  # Beam is imported only by commands that run pipelines

    argv = [f"--store={args.store}", *([f"--run_id={args.run_id}"] if args.run_id else []),
            *(["--reads"] if args.reads else []), *(f"--projections={p}" for p in args.projections or ()),
            *beam_args]
    run_summary = pipeline.run(argv)
    print(json.dumps(run_summary, indent=2, sort_keys=True) if args.json else _render_histories(run_summary))
    return 0


def _render_histories(run: dict[str, Any]) -> str:
    """The history summary as the table the CLI prints."""
    unresolved = ", ".join(f"{u['event_source']} {u['event_name']} {u['count']:,}" for u in run["top_unresolved"])
    rows = [
        ("run", run["run"]),
        ("events read", f"{run['events']:,} in {run['event_files']:,} event files"),
        ("write events", f"{run['write_events']:,} ({run['write_attempts']:,} failed: kept as attempts)"),
        ("write events without a resource", f"{run['write_unresolved']:,} ({run['write_unresolved_share']:.1%})"
                                            + (f": {unresolved}" if unresolved else "")),
        ("resources", f"{run['resources']:,} ({_counts(run['resources_by_type'])})"),
        ("change-log entries", f"{run['entries']:,} ({run['changing_entries']:,} changed a field, "
                               f"{run['attempts']:,} attempts)"),
        ("origins joined", f"{run['attribution']['joined_events']:,} events" if run["identity_run"]
         else "none (run `trailbeam attribute` first to name the origin of every call)"),
    ]
    if run["reads"] is not None:
        reads = run["reads"]
        rows.append(("read aggregates", f"{reads['aggregates']:,} from {reads['read_events']:,} read events "
                                        f"({reads['unresolved']:,} without a resource)"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _shown(value: Any) -> str:
    """A JSON value for a table or CSV cell: compact, with the unknown and absent markers as bare words."""
    from trailbeam import jsonvalue
    from trailbeam.projections.state import ABSENT_JSON, UNKNOWN_JSON

    if value == UNKNOWN_JSON:
        return "unknown"
    if value == ABSENT_JSON:
        return "absent"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{_shown(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_shown(item) for item in value) + "]"
    return jsonvalue.dumps(value).decode()


def _path(path: Sequence[str]) -> str:
    head, *rest = path or ("<state>",)
    return head + "".join(f"[{json.dumps(part)}]" for part in rest)


def _record_time(value: Any) -> str:
    return timestamps.format_micros(timestamps.datetime_micros(value))


def _entry_json(record: dict[str, Any]) -> dict[str, Any]:
    from trailbeam import jsonvalue

    return {"sequence": record["sequence"], "time": _record_time(record["eventTime"]), "event_id": record["eventID"],
            "event_name": record["eventName"], "event_source": record["eventSource"], "applied": record["applied"],
            "error_code": record["errorCode"], "principal": record["principal"],
            "origin_principal": record["originPrincipal"], "origin_kind": record["originKind"],
            "source_ip": record["sourceIPAddress"], "user_agent": record["userAgent"],
            "changes": [{"path": c["path"], "before": jsonvalue.loads(c["before"]),
                         "after": jsonvalue.loads(c["after"])} for c in record["changes"]],
            "state_after": jsonvalue.loads(record["stateAfter"])}


def _result(entry: dict[str, Any]) -> str:
    return "applied" if entry["applied"] else f"failed: {entry['error_code']}"


def _history(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import historystore

    entries = [_entry_json(r) for r in historystore.log_of(args.store, args.arn)]
    if args.format == "json":
        print(json.dumps(entries, indent=2, default=str))
        return 0
    columns = ("time", "event_name", "result", "principal", "origin", "source_ip", "user_agent", "changes",
               "event_id")
    rows = [(e["time"], e["event_name"], _result(e), e["principal"], e["origin_principal"], e["source_ip"],
             e["user_agent"], "; ".join(f"{_path(c['path'])}: {_shown(c['before'])} -> {_shown(c['after'])}"
                                        for c in e["changes"]), e["event_id"]) for e in entries]
    print(tabular.render(columns, rows, args.format))
    return 0


def _state_json(found: Any) -> dict[str, Any]:
    last = found.last
    return {"resource": found.arn, "type": found.type, "at": _iso(found.at), "entries": found.entries,
            "last_event": None if last is None else {"time": _record_time(last["eventTime"]),
                                                     "event_id": last["eventID"], "event_name": last["eventName"]},
            "state": found.state}


def _state(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import historystore

    if (args.arn is None) == (args.type is None):
        raise _UsageError("give either an ARN or --type TYPE")
    at = _time(args.at, "--at")
    assert at is not None
    if args.type:
        found = historystore.states_of_type(args.store, args.type, at)
        if args.format == "json":
            print(json.dumps([_state_json(s) for s in found], indent=2, default=str))
        else:
            rows = [(s.arn, field, _shown(value)) for s in found for field, value in s.state.items()]
            print(tabular.render(("resource", "field", "value"), rows, args.format))
        return 0
    one = historystore.state_at(args.store, args.arn, at)
    if args.format == "json":
        print(json.dumps(_state_json(one), indent=2, default=str))
        return 0
    if args.format == "table":
        last = one.last
        print(f"# {tabular.table_cell(one.arn)} ({one.type}) at {_iso(at)}: " + (
            "no change-log entry yet, every field unknown" if last is None else
            f"after {one.entries:,} entries, the last {last['eventName']} at {_record_time(last['eventTime'])} "
            f"({last['eventID']})"))
    print(tabular.render(("field", "value"), [(f, _shown(v)) for f, v in one.state.items()], args.format))
    return 0


def _diff(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import historystore
    from trailbeam.resources import canonical_arn

    start, end = _time(args.start, "--from"), _time(args.end, "--to")
    assert start is not None and end is not None
    if start > end:
        raise _UsageError("--from must not be after --to")
    changes, between = historystore.diff_between(args.store, args.arn, start, end)
    entries = [_entry_json(r) for r in between]
    if args.format == "json":
        print(json.dumps({"resource": canonical_arn(args.arn.strip()), "from": _iso(start),
                          "to": _iso(end), "changes": [{"path": list(c.path), "before": c.before, "after": c.after}
                                                       for c in changes],
                          "entries": [{k: e[k] for k in ("time", "event_id", "event_name", "applied", "error_code",
                                                         "principal", "origin_principal")} for e in entries]},
                         indent=2, default=str))
        return 0
    print(tabular.render(("field", "before", "after"),
                         [(_path(c.path), _shown(c.before), _shown(c.after)) for c in changes], args.format))
    if args.format == "table":
        print(f"\n# {len(entries):,} change-log entries after {_iso(start)} up to {_iso(end)}")
        if entries:
            print(tabular.render(("time", "event_name", "result", "principal", "event_id"),
                                 [(e["time"], e["event_name"], _result(e), e["principal"], e["event_id"])
                                  for e in entries], "table"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if extra and args.command not in ("ingest", "demo", "attribute", "histories"):
            raise _UsageError(f"unrecognized arguments: {' '.join(extra)}")
        logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                            format="%(levelname)s %(name)s: %(message)s")
        code: int = args.handler(args, extra)
        return code
    except errors.TrailbeamError as err:
        print(f"trailbeam: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `trailbeam cat ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
