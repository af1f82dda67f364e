"""Ingest CloudTrail into a trailbeam event store.

    python -m pipelines.ingest --source PATH_OR_GLOB [--source ...] --store STORE [Beam options]

Any Beam runner option passes through (e.g. --runner=DataflowRunner ...). The default runner is the
in-process FnApiRunner.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from trailbeam import avrofile, errors, readers
from trailbeam.beam import IngestCloudTrail, MatchSources
from trailbeam.beam.options import IngestOptions
from trailbeam.sources import to_patterns

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def default_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def validated(options: PipelineOptions) -> IngestOptions:
    """Checks the ingest flags on the launcher, before anything runs."""
    ingest = options.view_as(IngestOptions)
    if not ingest.source:
        raise errors.InputError("give at least one --source")
    if not ingest.store:
        raise errors.InputError("give --store")
    if ingest.run_id is None:
        ingest.run_id = default_run_id()
    if not _RUN_ID.match(ingest.run_id):
        raise errors.InputError(f"--run_id {ingest.run_id!r}: use letters, digits, '.', '_' and '-'")
    if ingest.input_format not in ("auto", *readers.SHAPES):
        raise errors.InputError(f"--input_format {ingest.input_format!r}: choose auto or one of "
                                f"{', '.join(readers.SHAPES)}")
    if ingest.codec not in avrofile.CODECS:
        raise errors.InputError(f"--codec {ingest.codec!r}: choose one of {', '.join(avrofile.CODECS)}")
    return ingest


def build(pipeline: beam.Pipeline, ingest: IngestOptions):
    """Wires the ingest; returns the PCollection holding the run summary."""
    return (pipeline
            | "MatchSources" >> MatchSources(to_patterns(ingest.source))
            | "Ingest" >> IngestCloudTrail(store_root=ingest.store.rstrip("/"), run_id=ingest.run_id,
                                           sources=list(ingest.source), shape=ingest.input_format,
                                           codec=ingest.codec, progress_dir=ingest.progress_dir))


def run(argv: list[str] | None = None) -> str:
    """Runs one ingest and returns its run id (the summary is in <store>/_runs/<run id>/)."""
    options = PipelineOptions(argv)
    if options.view_as(StandardOptions).runner is None:
        options.view_as(StandardOptions).runner = "FnApiRunner"
    ingest = validated(options)
    with beam.Pipeline(options=options) as pipeline:
        build(pipeline, ingest)
    return ingest.run_id


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    try:
        run_id = run(sys.argv[1:])
    except errors.TrailbeamError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(run_id)
