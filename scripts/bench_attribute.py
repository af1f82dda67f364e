"""Attribution benchmark: ``pipelines.attribute`` over an ingested store of the synthetic trail.

    python scripts/bench_attribute.py [--events 1000000] [--workers 2] [--check]

Reuses (or makes, with ``bench_ingest``'s generator and ingest) the store of a synthetic trail under
--cache, runs the attribution pipeline on the local runner in a child process and prints events/s, the
peak RSS of the process tree, and the run summary: sessions found, keys issued and used, events per basis,
temporary-credential events left unattributed and why. ``--check`` then reads the attributed events of
the trail's attack story back and counts how many reach the leaked principal. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import run_measured, trail_for  # noqa: E402


def store_for(events: int, cache: Path, workers: int) -> Path:
    trail = trail_for(events, cache)
    store = cache / f"store-{events}"
    if not (store / "_runs" / "bench" / "summary.json").exists():
        shutil.rmtree(store, ignore_errors=True)
        cmd = [sys.executable, "-m", "pipelines.ingest", f"--source={trail}", f"--store={store}", "--run_id=bench",
               "--runner=FnApiRunner"] + _workers(workers)
        seconds, _ = run_measured(cmd)
        print(f"  ingested {events:,} events in {seconds:.1f} s -> {store}")
    return store


def _workers(workers: int) -> list[str]:
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"] if workers > 1 else []


def check(store: Path, trail: Path) -> None:
    from trailbeam import identitystore

    attack = json.loads((trail / "ground-truth.json").read_text())["attack"]
    steps = {step["event_id"]: step for step in attack["steps"]}
    found = {r["eventID"]: r for r in identitystore.read_attributed(str(store)) if r["eventID"] in steps}
    reached = sum(1 for r in found.values() if r["originPrincipal"] == attack["origin_principal"])
    print(f"  attack steps: {len(steps)}, attributed to the leaked principal: {reached}, "
          f"found in the store: {len(found)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="trail size (default 1,000,000)")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--cache", default="/tmp/trailbeam-bench", help="where trails and stores go")
    parser.add_argument("--check", action="store_true", help="check the attack story's attribution afterwards")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"== attribution over {args.events:,} events")
    store = store_for(args.events, cache, args.workers)
    cmd = [sys.executable, "-m", "pipelines.attribute", f"--store={store}", "--run_id=bench",
           "--runner=FnApiRunner"] + _workers(args.workers)
    seconds, peak = run_measured(cmd)
    summary = json.loads((store / "identity" / "run=bench" / "summary.json").read_text())
    events = summary["events"]
    print(f"  attributed {events:,} events in {seconds:.1f} s = {events / seconds:,.0f} events/s, "
          f"peak RSS {peak / 1e6:,.0f} MB ({args.workers} worker{'s' if args.workers > 1 else ''})")
    print(json.dumps(summary, indent=2, sort_keys=True))
    if args.check:
        check(store, cache / f"trail-{args.events}")


if __name__ == "__main__":
    main()
