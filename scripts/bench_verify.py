"""Verification benchmark: how fast log files are hashed for digest checks, against the floor.

    python scripts/bench_verify.py [--events 200000]

Hashes every log file of a synthetic trail the way ``trailbeam verify`` does (streaming gunzip +
SHA-256 of the content, trailing-data check) and prints MB/s of uncompressed content, beside the floor:
``gzip.decompress`` + ``hashlib.sha256`` of the whole file with no checks. Then verifies a signed
48-hour, two-region test chain end to end. Verification should be bound by SHA-256 and gunzip.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()

    from trailbeam import integrity, sample

    with tempfile.TemporaryDirectory(prefix="trailbeam-bench-verify-") as work:
        sample.write_sample(work, events=args.events, seed=3)
        files = [path.read_bytes() for path in sorted(Path(work).glob("AWSLogs/**/*.json.gz"))]
    content = sum(len(gzip.decompress(data)) for data in files)
    started = time.perf_counter()
    for data in files:
        hashlib.sha256(gzip.decompress(data)).hexdigest()
    floor = time.perf_counter() - started
    started = time.perf_counter()
    for data in files:
        integrity.log_hash("bucket", "key", data)
    ours = time.perf_counter() - started
    megabytes = content / 1e6
    print(f"{len(files):,} log files, {megabytes:,.0f} MB uncompressed")
    print(f"  gunzip + SHA-256 floor: {megabytes / floor:,.0f} MB/s")
    print(f"  trailbeam log_hash:     {megabytes / ours:,.0f} MB/s ({ours / floor:.2f}x the floor)")

    sys.path.insert(0, str(ROOT / "tests"))
    import digestchain  # the signed test chain builder

    bucket = digestchain.build_bucket(regions=("us-east-1", "eu-west-1"), hours=48)
    size = sum(len(data) for data in bucket.objects.values())
    started = time.perf_counter()
    report = bucket.verify(start=bucket.start, end=bucket.end)
    seconds = time.perf_counter() - started
    print(f"signed chain: {len(report.of_kind('digest_valid')):,} digests, {len(report.of_kind('log_valid')):,} "
          f"log files ({size / 1e6:.1f} MB) verified in {seconds:.2f} s; ok={report.ok}")


if __name__ == "__main__":
    main()
