"""Ingest CloudTrail into a trailbeam event store.

    python -m pipelines.ingest --source PATH_OR_GLOB_OR_S3 [--source ...] --store STORE [Beam options]

S3 sources (``s3://bucket[/prefix]``) are listed by trailbeam itself, pruned to the accounts,
regions and days asked for (``--accounts --regions --org_id --start --end``); endpoint and region
come from ``--s3_endpoint_url`` / ``--s3_region_name``. Credentials come from boto3's standard chain or,
with ``--aws_role_arn`` (on Dataflow), from the workers' Google identity exchanged with STS
(``trailbeam.webidentity``); never from pipeline options. Any other Beam option passes through. The
default runner is the in-process FnApiRunner.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from trailbeam import avrofile, errors, readers, s3, s3paths, selectors, store, timestamps
from trailbeam.beam import IngestCloudTrail, ListS3Objects, MatchSources
from trailbeam.beam.filesystem import BEAM_FS
from trailbeam.beam.launch import main, run_pipeline
from trailbeam.beam.options import IngestOptions, launcher_s3_settings, s3_settings
from trailbeam.sources import split_names, to_patterns

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def default_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def check_run_id(run_id: str) -> None:
    """Run ids name folders and files in the store: refuse anything else before a pipeline runs."""
    if not _RUN_ID.match(run_id):
        raise errors.InputError(f"--run_id {run_id!r}: use letters, digits, '.', '_' and '-'")


_time = timestamps.flag_time




def validated(options: PipelineOptions) -> IngestOptions:
    """Checks the ingest flags on the launcher, before anything runs."""
    ingest = options.view_as(IngestOptions)
    if not ingest.source:
        raise errors.InputError("give at least one --source")
    if not ingest.store:
        raise errors.InputError("give --store")
    if ingest.run_id is None:
        ingest.run_id = default_run_id()
    check_run_id(ingest.run_id)
    if ingest.input_format not in ("auto", *readers.SHAPES):
        raise errors.InputError(f"--input_format {ingest.input_format!r}: choose auto or one of "
                                f"{', '.join(readers.SHAPES)}")
    if ingest.codec not in avrofile.CODECS:
        raise errors.InputError(f"--codec {ingest.codec!r}: choose one of {', '.join(avrofile.CODECS)}")
    return ingest


def event_filter(ingest: IngestOptions) -> selectors.EventFilter:
    """The run's filter: the selectors file AND the simple flags (--write_only, --event_source, --start/--end)."""
    chosen = selectors.load_selectors(ingest.selectors) if ingest.selectors else selectors.ALL
    simple = selectors.simple_filter(write_only=bool(ingest.write_only), event_sources=split_names(ingest.event_source) or (),
                                     start=_time(ingest.start, "--start"), end=_time(ingest.end, "--end"))
    return selectors.both(chosen, simple)


def build(pipeline: beam.Pipeline, options: PipelineOptions):
    """Wires the ingest; returns the PCollection holding the run summary."""
    ingest = validated(options)
    sources = list(ingest.source)
    local = [source for source in sources if not source.startswith("s3://")]
    remote = [source for source in sources if source.startswith("s3://")]
    branches = []
    if local:
        branches.append(pipeline | "MatchSources" >> MatchSources(to_patterns(local)))
    settings = None
    if remote:
        settings = s3_settings(options)                   # the workers'
        launcher = launcher_s3_settings(options, settings)
        client = s3.make_client(launcher)
        tasks = []
        for source in remote:
            s3.check_bucket(launcher, s3paths.parse_s3_uri(source).bucket)
            tasks += s3.plan(client, source=source, accounts=split_names(ingest.accounts), regions=split_names(ingest.regions),
                             org_id=ingest.org_id, start=_time(ingest.start, "--start"),
                             end=_time(ingest.end, "--end"), today=datetime.now(timezone.utc).date())
        branches.append(pipeline | "ListS3" >> ListS3Objects(tasks, settings))
    objects = branches[0] if len(branches) == 1 else tuple(branches) | "AllObjects" >> beam.Flatten()
    store_root = ingest.store.rstrip("/")
    earlier_report_files = store.earlier_report_files(store_root, BEAM_FS)
    return objects | "Ingest" >> IngestCloudTrail(
        store_root=store_root, run_id=ingest.run_id, sources=sources, shape=ingest.input_format,
        codec=ingest.codec, progress_dir=ingest.progress_dir, keep=event_filter(ingest),
        earlier_report_files=earlier_report_files, s3_settings=settings)


def run(argv: list[str] | None = None) -> str:
    """Runs one ingest and returns its run id (the summary is in <store>/_runs/<run id>/ once the run
    ends; a flex-template launch returns as soon as the job is written)."""
    options = run_pipeline(build, argv)
    return options.view_as(IngestOptions).run_id


if __name__ == "__main__":
    print(main(run))
