"""What every ``trailbeam`` subcommand shares: the usage error, the common flags, worker choice."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from trailbeam import errors, store, tabular, timestamps

PARALLEL_BYTES = 100 << 20


class UsageError(errors.TrailbeamError):
    pass


def add_trail_scope(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accounts", help="comma-separated account ids (default: all found)")
    parser.add_argument("--regions", help="comma-separated regions (default: all found)")
    parser.add_argument("--org-id", help="organization trail folder, o-... (default: all found)")
    parser.add_argument("--start", help="from this delivery time (ISO 8601 UTC)")
    parser.add_argument("--end", help="until this delivery time (ISO 8601 UTC)")
    parser.add_argument("--s3-endpoint-url", help="S3-compatible endpoint (default: AWS)")
    parser.add_argument("--s3-region", help="bucket region (default: from the AWS configuration)")


def add_aws_role(parser: Any) -> None:
    """``--aws-role-arn`` and its companions, on a parser or an argument group."""
    parser.add_argument("--aws-role-arn", help="AWS role to assume with the Google identity of the VM or Dataflow "
                        "workers (STS AssumeRoleWithWebIdentity) instead of the standard AWS credential chain")
    parser.add_argument("--aws-web-identity-audience", help="audience of the Google ID token (default: trailbeam)")
    parser.add_argument("--sts-endpoint-url", help="STS endpoint for --aws-role-arn (default: AWS, in --s3-region)")


def add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, metavar="PATH", help="event store to read")


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", default="table", choices=tabular.FORMATS)


def add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", help="from this eventTime (ISO 8601 UTC, inclusive)")
    parser.add_argument("--end", help="until this eventTime (ISO 8601 UTC, exclusive)")
    parser.add_argument("--account", action="append", help="only this account (repeatable)")
    parser.add_argument("--region", action="append", help="only this region (repeatable)")


flag_time = timestamps.flag_time


def add_workers(parser: argparse.ArgumentParser, what: str) -> None:
    """``--workers``, for a command whose size is that of its ``what`` (inputs, stores)."""
    parser.add_argument("--workers", type=int, default=None,
                        help=f"local worker processes (default: one per CPU for {what} over 100 MB, else 1 "
                             "in-process; 0: one per CPU)")


def store_worker_args(store_root: str, workers: int | None, beam_args: Sequence[str]) -> list[str]:
    """``worker_args`` for a pipeline over a store's event files (remote stores: as for small ones)."""
    size = sum(path.stat().st_size for path in store.event_files(store_root)) if is_local(store_root) else 0
    return worker_args(workers, size, beam_args)


def worker_args(workers: int | None, size: int, beam_args: Sequence[str]) -> list[str]:
    """Local worker processes for a pipeline over ``size`` bytes of input (0: one per CPU)."""
    if workers is None:
        # Worker processes cost a few seconds to start and pay off only on larger inputs.
        workers = 0 if size > PARALLEL_BYTES else 1
    if workers != 1 and not any(a.startswith(("--direct_running_mode", "--runner")) for a in beam_args):
        return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    return []


def is_local(path: str) -> bool:
    return "://" not in path



def add_window(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--start", help=f"from this {what} time (ISO 8601 UTC, inclusive)")
    parser.add_argument("--end", help=f"until this {what} time (ISO 8601 UTC, exclusive)")


def iso(micros: int | None) -> str | None:
    return None if micros is None else timestamps.format_micros(micros)



def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items(), key=lambda c: (-c[1], c[0]))) or "-"

