"""Replay every resource of an event store into its change log (the history dataset).

    python -m pipelines.history --store STORE [--run_id ID] [--reads] [--history_shards N] [Beam options]

Reads ``STORE/events/`` (joined to ``STORE/identity/`` when ``pipelines.attribute`` ran), writes
``STORE/history/run=<id>/`` (see ``trailbeam.historystore``) and commits it as the store's current history
data. Prints the run summary as JSON. The default runner is the in-process FnApiRunner.
"""

from __future__ import annotations

import json
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from trailbeam import errors, historystore
from trailbeam.beam.filesystem import BEAM_FS
from trailbeam.beam.launch import main, run_pipeline
from trailbeam.beam.history import BuildHistories, HistoryOptions, load_projections
from pipelines.attribute import committed_summary, event_files, validated


def build(pipeline: beam.Pipeline, options: PipelineOptions):
    scope = validated(options)                            # --store and --run_id, shared with ingest
    history = options.view_as(HistoryOptions)
    if history.history_shards is not None and history.history_shards < 1:
        raise errors.InputError("--history_shards must be at least 1")
    try:
        registry = load_projections(history.projections or ())
    except ValueError as err:
        raise errors.InputError(f"--projections: {err}") from None
    sized = event_files(scope.store)
    files = [path for path, _ in sized]
    shards = history.history_shards or historystore.shards_for(sum(size for _, size in sized))
    return (pipeline
            | "EventFiles" >> beam.Create(files)
            | "BuildHistories" >> BuildHistories(store_root=scope.store, run_id=scope.run_id,
                                                 identity_run=historystore.identity_run(BEAM_FS, scope.store),
                                                 reads=history.reads, shards=shards,
                                                 event_files=len(files), registry=registry))


def run(argv: list[str] | None = None) -> dict[str, Any] | None:
    """Builds the histories; returns the committed run's summary."""
    return committed_summary(run_pipeline(build, argv), historystore.run_root)


if __name__ == "__main__":
    summary = main(run)
    if summary is not None:
        print(json.dumps(summary, indent=2, sort_keys=True))
