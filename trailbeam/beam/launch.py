"""Running a pipeline the way every trailbeam composition root does: local by default, to the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions


def run_pipeline(build: Callable[[beam.Pipeline, PipelineOptions], Any], argv: list[str] | None) -> PipelineOptions:
    """Parses ``argv``, builds the pipeline with ``build`` (which validates before anything runs), runs it
    and waits for it; returns the options, for the caller to find what the run wrote.

    The default runner is the in-process FnApiRunner: Beam's DirectRunner would first try to download
    the Prism runner (offline it fails, online it silently runs elsewhere).
    """
    options = PipelineOptions(argv)
    if options.view_as(StandardOptions).runner is None:
        options.view_as(StandardOptions).runner = "FnApiRunner"
    pipeline = beam.Pipeline(options=options)
    build(pipeline, options)
    pipeline.run().wait_until_finish()
    return options
