"""Verify a trail's digests and log files as a Beam pipeline (large ranges, or Dataflow).

    python -m pipelines.verify --source s3://bucket[/prefix] | EVIDENCE_FOLDER --report REPORT.json \\
        [--public_keys FILE] [--accounts ...] [--regions ...] [--start ...] [--end ...] [Beam options]

The same findings as ``trailbeam verify``; log files are hashed on workers in parallel. Exit code 1
when anything is invalid.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from trailbeam import collect, errors, s3, s3paths, timestamps
from trailbeam.beam import ListS3Objects, MatchSources
from trailbeam.beam.launch import job_only, main, run_pipeline
from trailbeam.beam.options import IngestOptions, VerifyOptions, launcher_s3_settings, s3_settings
from trailbeam.beam.verify import VerifyEvidence
from trailbeam.sources import split_names




def _json(path: str) -> dict:
    try:
        with FileSystems.open(path) as handle:
            return json.loads(handle.read())
    except (OSError, ValueError) as err:
        raise errors.InputError(f"cannot read {path}: {err}") from None


def build(pipeline: beam.Pipeline, options: PipelineOptions):
    verify = options.view_as(VerifyOptions)
    scope = options.view_as(IngestOptions)  # --source, --accounts, --regions, --org_id, --start, --end
    if not scope.source or len(scope.source) != 1 or not verify.report:
        raise errors.InputError("give one --source and --report")
    source = scope.source[0]
    start, end = timestamps.flag_time(scope.start, "--start"), timestamps.flag_time(scope.end, "--end")
    keys = _json(verify.public_keys) if verify.public_keys else None
    if source.startswith("s3://") and not keys:
        raise errors.InputError("give --public_keys (aws cloudtrail list-public-keys output)")
    if source.startswith("s3://"):
        settings = s3_settings(options)                   # the workers'
        launcher = launcher_s3_settings(options, settings)
        bucket = s3paths.parse_s3_uri(source).bucket
        s3.check_bucket(launcher, bucket)
        tasks = s3.plan(s3.make_client(launcher), source=source, accounts=split_names(scope.accounts),
                        regions=split_names(scope.regions), org_id=scope.org_id, start=start, end=end,
                        today=datetime.now(timezone.utc).date(), kinds=(s3paths.LOG_KIND, s3paths.DIGEST_KIND))
        objects = pipeline | "ListS3" >> ListS3Objects(tasks, settings)
        evidence = VerifyEvidence(root="", bucket=bucket, public_keys=keys, s3_settings=settings,
                                  start=start, end=end)
    else:
        root = str(Path(source).resolve())
        manifest = collect.load_manifest(root)
        signatures = {key: entry.get("metadata", {}) for key, entry in manifest["objects"].items()}
        objects = pipeline | "MatchEvidence" >> MatchSources([f"{root}/AWSLogs/**"])
        evidence = VerifyEvidence(root=root, bucket=manifest["bucket"], public_keys=keys or manifest["public_keys"],
                                  signatures=signatures, start=start, end=end)
    return (objects
            | "Verify" >> evidence
            | "WriteReport" >> beam.io.WriteToText(verify.report, shard_name_template="", num_shards=1))


def run(argv: list[str] | None = None) -> bool | None:
    """Runs the verification; returns True when nothing is invalid (None for a flex-template launch,
    which only writes the job: the report comes when it has run)."""
    options = run_pipeline(build, argv)
    if job_only(options):
        return None
    report = _json(options.view_as(VerifyOptions).report)
    return bool(report["ok"])


if __name__ == "__main__":
    sys.exit(1 if main(run) is False else 0)
