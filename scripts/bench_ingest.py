"""Ingest benchmark: trailbeam's local Beam ingest against DuckDB on the same files.

    python scripts/bench_ingest.py --events 1000000 [--events 200000 ...] [--workers 2]

For each size it generates a synthetic trail with the sample generator (cached under --cache),
ingests it with the local runner in a child process, and prints events/s, uncompressed MB/s and the
peak RSS summed over the whole process tree (sampled every 0.1 s); then, on the same files, DuckDB's
``read_json`` -> Parquet conversion as the reference, and the ratio. Figures, not assertions: speed
targets are judged by people reading this output, not by the test suite.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tree_rss_bytes(root_pid: int) -> int:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            pass
    return total


def run_measured(cmd: list[str]) -> tuple[float, int]:
    """Runs a command; returns (seconds, peak RSS of its process tree in bytes)."""
    peak = 0
    started = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.1):
            peak = max(peak, _tree_rss_bytes(child.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = child.wait()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"command failed with exit code {code}: {' '.join(cmd)}")
    return elapsed, peak


def trail_for(events: int, cache: Path) -> Path:
    from trailbeam import sample

    trail = cache / f"trail-{events}"
    if not (trail / "ground-truth.json").exists():
        shutil.rmtree(trail, ignore_errors=True)
        started = time.perf_counter()
        sample.write_sample(trail, events=events, compresslevel=6)
        print(f"  generated {events:,} events in {time.perf_counter() - started:.1f} s -> {trail}")
    return trail


def log_files(trail: Path) -> list[Path]:
    return sorted(trail.glob("AWSLogs/**/*.json.gz"))


def uncompressed_bytes(files: list[Path]) -> int:
    total = 0
    for path in files:
        with gzip.open(path) as handle:
            while chunk := handle.read(1 << 20):
                total += len(chunk)
    return total


def duckdb_seconds(files: list[Path], out: Path) -> float:
    import duckdb

    listing = ", ".join(f"'{path}'" for path in files)
    started = time.perf_counter()
    connection = duckdb.connect()
    connection.execute(f"SET temp_directory='{out.parent}'")
    connection.execute(
        f"COPY (SELECT unnest(Records, recursive := false) AS r FROM read_json([{listing}], "
        f"maximum_object_size=1000000000)) TO '{out}' (FORMAT parquet)")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, action="append", help="trail size(s); default 1,000,000")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes for the ingest")
    parser.add_argument("--cache", default="/tmp/trailbeam-bench", help="where trails and stores go")
    parser.add_argument("--skip-duckdb", action="store_true")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    results = []
    for events in args.events or [1_000_000]:
        print(f"== {events:,} events")
        trail = trail_for(events, cache)
        files = log_files(trail)
        truth = json.loads((trail / "ground-truth.json").read_text())
        records = truth["totals"]["records"]
        size = uncompressed_bytes(files)
        store = cache / f"store-{events}"
        shutil.rmtree(store, ignore_errors=True)
        cmd = [sys.executable, "-m", "pipelines.ingest", f"--source={trail}", f"--store={store}",
               "--run_id=bench", "--runner=FnApiRunner"]
        if args.workers > 1:
            cmd += ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]
        seconds, peak = run_measured(cmd)
        summary = json.loads((store / "_runs" / "bench" / "summary.json").read_text())
        assert summary["balanced"] and summary["records"]["read"] == records, summary["records"]
        row = {"events": events, "records": records, "files": len(files), "uncompressed_mb": size / 1e6,
               "seconds": seconds, "events_per_s": records / seconds, "mb_per_s": size / 1e6 / seconds,
               "peak_rss_mb": peak / 1e6,
               "store_mb": sum(p.stat().st_size for p in store.rglob("*.avro")) / 1e6}
        print(f"  trailbeam: {records:,} records, {len(files):,} files, {size / 1e6:,.0f} MB uncompressed "
              f"in {seconds:.1f} s = {row['events_per_s']:,.0f} events/s, {row['mb_per_s']:,.1f} MB/s, "
              f"peak RSS {row['peak_rss_mb']:,.0f} MB, store {row['store_mb']:,.0f} MB "
              f"({args.workers} worker{'s' if args.workers > 1 else ''})")
        if not args.skip_duckdb:
            parquet = cache / f"duckdb-{events}.parquet"
            duck = duckdb_seconds(files, parquet)
            parquet.unlink(missing_ok=True)
            row["duckdb_events_per_s"] = records / duck
            row["ratio_vs_duckdb"] = row["events_per_s"] / row["duckdb_events_per_s"]
            print(f"  duckdb read_json -> parquet: {duck:.1f} s = {row['duckdb_events_per_s']:,.0f} events/s; "
                  f"trailbeam / duckdb = {row['ratio_vs_duckdb']:.2f}")
        results.append(row)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
