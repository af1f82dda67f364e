"""Attribute every event of an event store to its session, chain and origin (the identity dataset).

    python -m pipelines.attribute --store STORE [--run_id ID] [Beam options]

Reads ``STORE/events/``, writes ``STORE/identity/run=<id>/`` (see ``trailbeam.identitystore``) and
commits it as the store's current identity data. Prints the run summary as JSON. The default runner is
the in-process FnApiRunner; any Beam option passes through.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from trailbeam import derived, errors, identitystore, store
from trailbeam.beam.filesystem import BEAM_FS
from trailbeam.beam.launch import job_only, run_pipeline
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


def run(argv: list[str] | None = None) -> dict[str, Any] | None:
    """Runs the attribution; returns the committed run's summary."""
    options = run_pipeline(build, argv)
    if job_only(options):
        return None                                       # a template launch: the job has not run yet
    scope = options.view_as(IngestOptions)
    return derived.read_json(BEAM_FS, f"{identitystore.run_root(scope.store, scope.run_id)}/{identitystore.SUMMARY}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    try:
        result = run(sys.argv[1:])
    except errors.TrailbeamError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    if result is not None:
        print(json.dumps(result, indent=2, sort_keys=True))
