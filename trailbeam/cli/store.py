"""Store commands: ingest, sample, demo, cat, stats, quarantine."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from trailbeam import errors, store, summary, tabular, timestamps
from trailbeam.cli.common import (
    UsageError, add_aws_role, add_filters, add_format, add_store, add_workers, flag_time, is_local, worker_args,
)
from trailbeam.cli.identity import render_attribution
from trailbeam.sources import local_size

_SHAPES = ("auto", "records", "array", "single", "jsonl", "concatenated", "lookup-events", "eventbridge",
           "cloudwatch-subscription", "cloudwatch-export", "cloudwatch-filter")


def add_commands(commands: Any) -> None:
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
    add_workers(ingest, "inputs")
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
    remote = ingest.add_argument_group("S3 (credentials come from the standard AWS chain: environment, profile, role; "
                                       "or on Google Cloud from --aws-role-arn)")
    remote.add_argument("--s3-endpoint-url", help="S3-compatible endpoint (default: AWS)")
    remote.add_argument("--s3-region", help="bucket region (default: from the AWS configuration)")
    add_aws_role(remote)
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
    add_store(cat)
    add_filters(cat)
    cat.set_defaults(handler=_cat)

    stats = commands.add_parser("stats", help="summarise an event store")
    add_store(stats)
    add_format(stats)
    stats.set_defaults(handler=_stats)

    quarantine = commands.add_parser("quarantine", help="list quarantined input with its reasons")
    add_store(quarantine)
    add_format(quarantine)
    quarantine.set_defaults(handler=_quarantine)



def add_demo(commands: Any) -> None:
    demo = commands.add_parser("demo", help="sample -> investigate (ingest ... report) on bundled synthetic data",
                               description="The main job on embedded defaults: write the synthetic sample trail "
                               "with its attack story, run trailbeam investigate on it with the local runner "
                               "(ingest, verify, attribute, histories, findings, timeline, HTML report) and "
                               "summarise the store.")
    demo.add_argument("--out", default="demo", metavar="DIR",
                      help="folder for trail/, store/ and report.html (default ./demo)")
    demo.add_argument("--events", type=int, default=5000)
    demo.set_defaults(handler=_demo)




# ---- ingest ----

def _ingest(args: argparse.Namespace, beam_args: list[str]) -> int:
    flags = {"accounts": args.accounts, "regions": args.regions, "org_id": args.org_id, "start": args.start,
             "end": args.end, "selectors": args.selectors, "event_source": args.event_source,
             "s3_endpoint_url": args.s3_endpoint_url, "s3_region_name": args.s3_region,
             "aws_role_arn": args.aws_role_arn, "aws_web_identity_audience": args.aws_web_identity_audience,
             "sts_endpoint_url": args.sts_endpoint_url}
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
    argv += worker_args(workers, local_size(sources), beam_args)
    with tempfile.TemporaryDirectory(prefix="trailbeam-progress-") as progress_dir:
        if progress:
            argv.append(f"--progress_dir={progress_dir}")
        with _ProgressLine(progress_dir if progress else None):
            finished = pipeline.run([*argv, *beam_args])
    summaries = [s for s in store.run_summaries(out) if s["run_id"] == finished] if is_local(out) else []
    if not summaries:
        raise errors.StoreError(f"the run {finished} left no summary in {out}")
    return summaries[0]





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

    start = timestamps.to_datetime(flag_time(args.start, "--start") or 0)
    written = sample.write_sample(args.out, events=args.events, seed=args.seed, start=start, days=args.days)
    print(f"wrote {written.records:,} records ({written.unique_events:,} events, {written.duplicates:,} "
          f"duplicate deliveries) in {written.files:,} files under {written.out_dir}")
    print(f"accounts {', '.join(written.accounts)}; regions {', '.join(written.regions)}; "
          f"{written.start} .. {written.end}")
    print(f"ground truth: {written.ground_truth}")
    return 0


def _demo(args: argparse.Namespace, beam_args: list[str]) -> int:
    from trailbeam import identitystore, sample
    from trailbeam.cli.case import REPORT, investigate

    out = Path(args.out)
    trail, store_dir = out / "trail", out / "store"
    if store_dir.exists():
        raise UsageError(f"{store_dir} exists already; choose another --out or remove it")
    written = sample.write_sample(trail, events=args.events)
    print(f"sample: {written.records:,} records in {written.files:,} files under {trail}")
    # The logs only: ground-truth.json beside them is the answer key, not evidence.
    print(f"\n$ trailbeam investigate {trail / 'AWSLogs'} --out {out}")
    code = investigate([str(trail / "AWSLogs")], str(out), beam_args=beam_args)
    print(f"\n# the ingest run\n{summary.render(store.run_summaries(str(store_dir))[-1])}")
    print(f"\n# what {store_dir} holds\n{_render_stats(str(store_dir), 'table')}")
    print(f"\n# attribution of every event to its session chain and origin ({store_dir}/identity/)\n"
          f"{render_attribution(identitystore.read_summary(str(store_dir)))}")
    attack = json.loads(Path(written.ground_truth).read_text())["attack"]
    print(f"\nThe trail hides an attack (answer key: {written.ground_truth}). Its events:")
    end = timestamps.format_micros(timestamps.parse_micros(attack["end"]) + 1_000_000)  # --end is exclusive
    print(f"  trailbeam cat --store {store_dir} --start {attack['start']} --end {end} "
          f"--account {attack['account']}")
    print("Who was behind them, through which roles:")
    print(f"  trailbeam activity {attack['origin_principal']} --store {store_dir}")
    print(f"  trailbeam identities --store {store_dir}")
    print(f"  trailbeam findings --store {store_dir}")
    print(f"\nThe incident report, one self-contained HTML file: {(out / REPORT).resolve()}")
    return code


# ---- reading commands ----

def _cat(args: argparse.Namespace, _: list[str]) -> int:
    records = store.read_events(args.store, accounts=set(args.account) if args.account else None,
                                regions=set(args.region) if args.region else None,
                                start=flag_time(args.start, "--start"), end=flag_time(args.end, "--end"))
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


