"""Investigation benchmark: ``trailbeam investigate`` on a synthetic trail, stage by stage.

    python scripts/bench_investigate.py [--events 1000000] [--workers 2] [--cache /tmp/trailbeam-bench]

Generates (or reuses, under --cache) a trail with the sample generator (``bench_ingest.trail_for``), runs
``trailbeam investigate`` on it in a child process, and prints the total time, the time of every stage
(ingest, verify, attribute, histories, findings and timeline, report; from the case's ``case.json``), events/s
and the peak RSS summed over the whole process tree (``bench_ingest.run_measured``), against the targets of
60 s and 2 GB for a million events. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import run_measured, trail_for  # noqa: E402

TARGET_SECONDS, TARGET_RSS = 60.0, 2e9              # for 1M events on this 2-core machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="trail size (default 1,000,000)")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes of every stage")
    parser.add_argument("--cache", default="/tmp/trailbeam-bench", help="where trails and cases go")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"== investigate over {args.events:,} events")
    trail = trail_for(args.events, cache)
    records = json.loads((trail / "ground-truth.json").read_text())["totals"]["records"]
    case = cache / f"case-{args.events}"
    shutil.rmtree(case, ignore_errors=True)
    cmd = [sys.executable, "-m", "trailbeam.cli", "investigate", str(trail / "AWSLogs"), "--out", str(case),
           "--workers", str(args.workers)]
    seconds, peak = run_measured(cmd)
    summary = json.loads((case / "case.json").read_text())
    width = max(len(stage["stage"]) for stage in summary["stages"])
    for stage in summary["stages"]:
        print(f"  {stage['stage']:<{width}}  {stage['seconds']:7.1f} s  {stage['result']}")
    for phase, phase_seconds in summary["case_seconds"].items():
        print(f"    {phase:<{width - 2}}  {phase_seconds:7.1f} s")
    report_mb = Path(summary["report"]).stat().st_size / 1e6
    print(f"  total {seconds:.1f} s (stages {summary['seconds']:.1f} s, the rest is start-up) for {records:,} "
          f"records = {records / seconds:,.0f} records/s; peak RSS {peak / 1e6:,.0f} MB; report {report_mb:,.1f} MB")
    scale = 1_000_000 / args.events
    print(f"  target for 1M events: <= {TARGET_SECONDS:.0f} s and <= {TARGET_RSS / 1e9:.0f} GB"
          + (f" (this run, scaled linearly to 1M: {seconds * scale:.0f} s)" if args.events != 1_000_000 else ""))
    print(json.dumps({"events": args.events, "records": records, "workers": args.workers, "seconds": seconds,
                      "peak_rss_mb": peak / 1e6, "report_mb": report_mb, "stages": summary["stages"],
                      "case_seconds": summary["case_seconds"], "counts": summary["counts"]}, indent=2))


if __name__ == "__main__":
    main()
