"""Attribute every event of an event store to its session, chain and origin (the identity dataset).

    python -m pipelines.attribute --store STORE [--run_id ID] [Beam options]

Reads ``STORE/events/``, writes ``STORE/identity/run=<id>/`` (see ``trailbeam.identitystore``) and
commits it as the store's current identity data. Prints the run summary as JSON. The default runner is
the in-process FnApiRunner; any Beam option passes through.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from trailbeam import derived, errors, identitystore, store
from trailbeam.beam.filesystem import BEAM_FS
from trailbeam.beam.launch import job_only, main, run_pipeline
from trailbeam.beam.identity import AttributeStore
from trailbeam.beam.options import IngestOptions
from pipelines.ingest import check_run_id, default_run_id


def validated(options: PipelineOptions) -> IngestOptions:
    scope = options.view_as(IngestOptions)                # --store and --run_id, shared with ingest
    if not scope.store:
        raise errors.InputError("give --store")
    scope.run_id = scope.run_id or default_run_id()
    check_run_id(scope.run_id)
    return scope


def event_files(store_root: str) -> list[tuple[str, int]]:
    """(path, size) of every event file of the store, sorted by path."""
    files = BEAM_FS.match_sizes(f"{store_root.rstrip('/')}/{store.EVENTS}/account=*/region=*/date=*/*.avro")
    if not files and not BEAM_FS.exists(f"{store_root.rstrip('/')}/{store.RUNS}"):
        raise errors.StoreError(f"{store_root} is not a trailbeam event store (no {store.RUNS}/ folder)")
    return files


def build(pipeline: beam.Pipeline, options: PipelineOptions):
    scope = validated(options)
    files = [path for path, _ in event_files(scope.store)]
    return (pipeline
            | "EventFiles" >> beam.Create(files)
            | "AttributeStore" >> AttributeStore(store_root=scope.store, run_id=scope.run_id,
                                                 event_files=len(files)))


def committed_summary(options: PipelineOptions, run_root: Callable[[str, str], str]) -> dict[str, Any] | None:
    """The summary a derived-dataset run (identity, history) wrote under ``run_root(store, run id)``; None
    after a template launch, whose job has not run yet."""
    if job_only(options):
        return None
    scope = options.view_as(IngestOptions)
    return derived.read_json(BEAM_FS, f"{run_root(scope.store, scope.run_id)}/{derived.SUMMARY}")


def run(argv: list[str] | None = None) -> dict[str, Any] | None:
    """Runs the attribution; returns the committed run's summary."""
    return committed_summary(run_pipeline(build, argv), identitystore.run_root)


if __name__ == "__main__":
    summary = main(run)
    if summary is not None:
        print(json.dumps(summary, indent=2, sort_keys=True))
