"""S3 read benchmark: ingest N objects from a local S3 server, and the same files from local disk.

    python scripts/bench_s3.py [--objects 2000] [--workers 1]

Starts moto's S3 server on 127.0.0.1 in this process, uploads the first N log files of a synthetic
trail, then runs the ingest pipeline twice in child processes (S3 source, then the same files on
local disk) and prints objects/s, events/s and the ratio. The S3 server shares this machine's cores
with the pipeline, so the figure is pessimistic for real S3.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _ingest(source: str, store: Path, workers: int, env: dict[str, str], extra: list[str]) -> tuple[float, float]:
    """Runs one ingest in a child process; returns (wall seconds, CPU seconds of the child)."""
    cmd = [sys.executable, "-m", "pipelines.ingest", f"--source={source}", f"--store={store}", "--run_id=bench",
           "--runner=FnApiRunner", *extra]
    if workers > 1:
        cmd += ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    started, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    from trailbeam import sample

    work = Path(tempfile.mkdtemp(prefix="trailbeam-bench-s3-"))
    try:
        trail = work / "trail"
        sample.write_sample(trail, events=max(40 * args.objects, 1000), seed=11)
        files = sorted(trail.glob("AWSLogs/**/*.json.gz"))[:args.objects]
        local = work / "local"
        for path in files:
            target = local / path.relative_to(trail)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}
        os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="bench-trail")
        for path in files:
            client.upload_file(str(path), "bench-trail", str(path.relative_to(trail)))

        server_cpu = time.process_time()  # moto serves from threads of this process
        s3_seconds, s3_cpu = _ingest("s3://bench-trail/", work / "store-s3", args.workers, env,
                             [f"--s3_endpoint_url={endpoint}", "--s3_region_name=us-east-1"])
        server_cpu = time.process_time() - server_cpu
        local_seconds, local_cpu = _ingest(str(local), work / "store-local", args.workers, env, [])
        server.stop()

        s3_summary = json.loads((work / "store-s3" / "_runs" / "bench" / "summary.json").read_text())
        local_summary = json.loads((work / "store-local" / "_runs" / "bench" / "summary.json").read_text())
        assert s3_summary["records"] == local_summary["records"], (s3_summary["records"], local_summary["records"])
        records = s3_summary["records"]["read"]
        result = {
            "objects": len(files), "records": records, "workers": args.workers,
            "s3_seconds": s3_seconds, "s3_objects_per_s": len(files) / s3_seconds, "s3_events_per_s": records / s3_seconds,
            "local_seconds": local_seconds, "local_objects_per_s": len(files) / local_seconds,
            "local_events_per_s": records / local_seconds, "s3_time_over_local": s3_seconds / local_seconds,
            "s3_server_cpu_seconds": server_cpu, "s3_ingest_cpu_seconds": s3_cpu, "local_ingest_cpu_seconds": local_cpu,
            "s3_cpu_over_local": s3_cpu / local_cpu,
        }
        print(f"S3 (local moto server): {len(files):,} objects, {records:,} records in {s3_seconds:.1f} s = "
              f"{result['s3_objects_per_s']:,.0f} objects/s, {result['s3_events_per_s']:,.0f} events/s")
        print(f"local disk:             {len(files):,} objects, {records:,} records in {local_seconds:.1f} s = "
              f"{result['local_objects_per_s']:,.0f} objects/s, {result['local_events_per_s']:,.0f} events/s")
        print(f"S3 time / local time = {result['s3_time_over_local']:.2f} (target <= 2); the local S3 server "
              f"itself used {server_cpu:.1f} s of CPU on the same {os.cpu_count()} cores")
        print(f"ingest CPU: S3 {s3_cpu:.1f} s, local {local_cpu:.1f} s: ratio {s3_cpu / local_cpu:.2f} "
              f"(what the ratio would be against a remote S3 that answers without using these cores)")
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
