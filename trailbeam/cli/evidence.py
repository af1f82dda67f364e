"""Evidence commands: collect a trail out of S3, verify digests and log files."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from trailbeam import store, tabular, timestamps
from trailbeam.cli.common import UsageError, add_aws_role, add_format, add_trail_scope, flag_time
from trailbeam.sources import split_names


def add_commands(commands: Any) -> None:
    collect_cmd = commands.add_parser(
        "collect", help="copy a trail's logs and digests out of S3 as an offline evidence bundle",
        description="Copy log and digest objects under their keys into a folder, with a manifest of each "
        "digest's signature metadata, every object's ETag and Object Lock state, and the CloudTrail public "
        "keys, so that trailbeam verify FOLDER needs no network.")
    collect_cmd.add_argument("source", metavar="S3_URI", help="s3://bucket[/prefix]")
    collect_cmd.add_argument("--out", required=True, metavar="FOLDER", help="a new folder for the bundle")
    add_trail_scope(collect_cmd)
    add_aws_role(collect_cmd)
    collect_cmd.add_argument("--public-keys", metavar="FILE",
                             help="aws cloudtrail list-public-keys output to include (default: ask CloudTrail)")
    collect_cmd.set_defaults(handler=_collect)

    verify = commands.add_parser(
        "verify", help="verify CloudTrail digest chains and log files (exit 1 when anything is invalid)",
        description="Verify digest signatures and chains and the log files they list, in an evidence bundle "
        "or plain copy (FOLDER) or straight from S3 (s3://...). Reports what was modified, deleted, added, "
        "moved, re-signed or left uncovered, per account, region, trail and hour.")
    verify.add_argument("source", metavar="SOURCE", help="evidence folder, or s3://bucket[/prefix]")
    add_trail_scope(verify)
    add_aws_role(verify)
    verify.add_argument("--public-keys", metavar="FILE", help="aws cloudtrail list-public-keys output")
    verify.add_argument("--all", action="store_true", help="list valid files too, not only problems")
    verify.add_argument("--object-lock", action="store_true",
                        help="also report objects not under S3 Object Lock retention or legal hold")
    verify.add_argument("--out", metavar="FILE", help="also write the full report as JSON")
    verify.add_argument("--store", metavar="PATH",
                        help="also store the findings in this event store, so that its events from verified "
                             "log files are known (joined on the content SHA-256 recorded at ingest)")
    add_format(verify)
    verify.set_defaults(handler=_verify)



# ---- evidence ----



def _json_file(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        document: dict[str, Any] = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read {path}: {err}") from None
    return document


def _collect_into(args: argparse.Namespace, folder: str):  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    from trailbeam import collect, s3

    settings = s3.S3Settings(endpoint_url=args.s3_endpoint_url, region=args.s3_region, role_arn=args.aws_role_arn,
                             web_identity_audience=args.aws_web_identity_audience,
                             sts_endpoint_url=args.sts_endpoint_url)
    return collect.collect(args.source, folder, settings=settings, today=datetime.now(timezone.utc).date(),
                           accounts=split_names(args.accounts), regions=split_names(args.regions), org_id=args.org_id,
                           start=flag_time(args.start, "--start"), end=flag_time(args.end, "--end"),
                           public_keys=_json_file(args.public_keys))


def _collect(args: argparse.Namespace, _: list[str]) -> int:
    if not args.source.startswith("s3://"):
        raise UsageError("collect reads from S3: give s3://bucket[/prefix]")
    done = _collect_into(args, args.out)
    print(f"collected {done.logs:,} log files and {done.digests:,} digests ({done.bytes / 1e6:,.1f} MB) into "
          f"{done.folder}; {done.public_keys} public keys; {done.locked:,} objects under Object Lock")
    return 0


def _verify(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import evidence

    keys = _json_file(args.public_keys)
    window = {"start": flag_time(args.start, "--start"), "end": flag_time(args.end, "--end")}
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


