"""Running a pipeline the way every trailbeam composition root does: local by default, to the end."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions, PipelineOptions, S3Options, SetupOptions, StandardOptions,
)

from trailbeam import errors

Build = Callable[[beam.Pipeline, PipelineOptions], Any]
T = TypeVar("T")
# Beam's own S3 options for keys: Dataflow stores every pipeline option in the job, readable by anyone
# who can view it. trailbeam's pipelines refuse them.
_SECRETS = ("s3_access_key_id", "s3_secret_access_key", "s3_session_token")


def prepare(build: Build, argv: list[str] | None) -> tuple[PipelineOptions, beam.Pipeline]:
    """Parses ``argv`` and builds the pipeline with ``build`` (which validates before anything runs).

    Raises:
        errors.InputError: AWS keys among the options, or what ``build`` refuses.

    The default runner is the in-process FnApiRunner: Beam's DirectRunner would first try to download
    the Prism runner (offline it fails, online it silently runs elsewhere). Every function workers run
    lives in an importable module, so the main session is never pickled (on Dataflow Beam would
    otherwise pickle and stage the launcher's ``__main__``).
    """
    options = PipelineOptions(argv)
    if any(getattr(options.view_as(S3Options), name, None) for name in _SECRETS):
        raise errors.InputError("AWS credentials do not belong in pipeline options (a Dataflow job shows them): "
                                "use the standard AWS chain locally, --aws_role_arn on Dataflow")
    if options.view_as(StandardOptions).runner is None:
        options.view_as(StandardOptions).runner = "FnApiRunner"
    if options.view_as(SetupOptions).save_main_session is None:
        options.view_as(SetupOptions).save_main_session = False
    pipeline = beam.Pipeline(options=options)
    build(pipeline, options)
    return options, pipeline


def job_only(options: PipelineOptions) -> bool:
    """True when running writes a Dataflow job for someone else to start: a flex-template launch (whose
    launcher passes ``--template_location``). Nothing has run when ``run`` returns, so the launcher must
    neither wait nor read what the job will write."""
    return bool(options.view_as(GoogleCloudOptions).template_location)


def run_pipeline(build: Build, argv: list[str] | None) -> PipelineOptions:
    """Prepares the pipeline, runs it and waits for it (unless ``job_only``); returns the options, for the
    caller to find what the run wrote."""
    options, pipeline = prepare(build, argv)
    result = pipeline.run()
    if not job_only(options):
        result.wait_until_finish()
    return options


def main(run: Callable[[list[str]], T]) -> T:
    """A composition root as a command (``python -m pipelines.X``): runs ``run`` on the command line's
    arguments and returns its result; a refused input is one line on stderr and exit code 2."""
    logging.basicConfig(level=logging.WARNING)
    try:
        return run(sys.argv[1:])
    except errors.TrailbeamError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
