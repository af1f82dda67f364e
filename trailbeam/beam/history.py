"""Resource histories of a whole event store as a pipeline: the history dataset of ``trailbeam.historystore``.

Shape of the data, and what each grouping step holds at worst::

    event files --Reshuffle--> Changelog (one file at a time: changelog.changelog_file)
        touches (resource ARN, Touch) --GroupByKey(resource ARN)--> resource_log --> (shard, EncodedLog)
        reads ((ARN, principal, origin, hour), ReadAccess) --CombinePerKey--> (shard, ReadAccess)
        tallies --CombineGlobally(sum)--> one Tally
    (shard, EncodedLog | ReadAccess) --CoGroupByKey(shard)--> write_shard: changes/, resources/, reads/
    Tally + shard counts --Finish--> summary.json, CURRENT.json

- ``Changelog`` holds one event file (and its AttributedEvent file).
- ``GroupByResource`` (key: a resource's canonical ARN) holds every write event of one resource,
  attempts included, in minimal form (``changelog.minimal_event``, a few hundred bytes to a few KB). A
  data event (PutObject, DeleteObject) counts for its object only, not for the bucket CloudTrail also
  names (``changelog.written_resources``), so the worst case is the resource with the most write calls of
  its own (a role or bucket reconfigured all day), not a bucket's object traffic.
  ``history.build_history`` sorts the whole group in memory.
- ``AggregateReads`` (key: resource ARN, principal, origin, UTC hour) is a combine: workers pre-aggregate
  before the shuffle, so a bucket read millions of times never forms a group of events; a key's
  accumulator is one ``ReadAccess`` (five evidence ids). Keys grow with resources x principals x hours.
- ``GroupByShard`` (key: ``historystore.shard_of(ARN)``, ``--history_shards`` of them) holds the encoded
  change logs, summaries and read aggregates of ~1/shards of the resources; at worst one hot resource's
  whole encoded log lands in one shard. Each shard writes its own three files, sorted.
- ``Finish`` holds one counter per shard and the summed tallies (per-call counts of unresolved writes).

``HistoryOptions`` (``--reads``, ``--history_shards``) sit beside the composites they configure.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
# Beam's own copy of cloudpickle: the one that pickles this pipeline's functions (the default pickler).
from apache_beam.internal.cloudpickle import cloudpickle
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from trailbeam import changelog, historystore, identitystore
from trailbeam.beam.filesystem import BEAM_FS
from trailbeam.beam.options import SWITCH
from trailbeam.changelog import ReadAccess, Tally, Touch
from trailbeam.projections import DEFAULT, Registry, load_registry

_NAMESPACE = "trailbeam.history"


class HistoryOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--reads", **SWITCH,
                            help="Also aggregate read and data access per (resource, principal, origin, hour).")
        parser.add_argument("--projections", action="append", default=None,
                            help="Extra resource projections, module:attribute (a Projection, a list of them or "
                                 "a Registry); repeatable. The module travels to the workers inside the job.")
        parser.add_argument("--history_shards", type=int, default=None,
                            help="Files per dataset folder; a resource's change log, summary and reads share one "
                                 f"shard (default: one per {historystore.STORE_BYTES_PER_SHARD >> 20} MiB of stored "
                                 f"events, at least {historystore.SHARDS}).")


def load_projections(specs: Iterable[str]) -> Registry:
    """The default projections plus those ``specs`` name (``module:attribute``), ready to ship to workers.

    A user's projection module is usually a file beside the launch command, not a package installed on
    the workers: each named module outside trailbeam is registered with cloudpickle to be pickled by value,
    so its functions travel inside the job (with ``--setup_file`` or a custom container alike). What that
    module imports from other modules of the user's must be installed on the workers.

    Raises:
        ValueError: as ``projections.load_registry``.
    """
    registry = load_registry(specs, DEFAULT)
    for spec in specs:
        module = sys.modules[spec.partition(":")[0]]
        if module.__name__.split(".")[0] != "trailbeam":
            cloudpickle.register_pickle_by_value(module)
    return registry


def _read(path: str) -> bytes:
    with BEAM_FS.open(path) as handle:
        return handle.read()


class _ChangelogFileFn(beam.DoFn):
    """One event file (joined to its AttributedEvent file, if any) -> touches, read aggregates, tally."""

    READS = "reads"
    TALLY = "tally"

    def __init__(self, *, store_root: str, identity_run: str | None, reads: bool):
        self._store_root = store_root
        self._identity_run = identity_run
        self._reads = reads
        self._touches = Metrics.counter(_NAMESPACE, "touches")

    def _attributed(self, path: str) -> bytes | None:
        if self._identity_run is None:
            return None
        attributed = identitystore.attributed_file(self._store_root, self._identity_run, path)
        return _read(attributed) if BEAM_FS.exists(attributed) else None

    def process(self, path: str):
        result = changelog.changelog_file(_read(path), self._attributed(path), reads=self._reads)
        self._touches.inc(len(result.touches))
        yield pvalue.TaggedOutput(self.TALLY, result.tally)
        for access in result.reads:
            yield pvalue.TaggedOutput(self.READS, (access.key, access))
        for touch in result.touches:
            yield touch.ref.arn, touch


def _log(grouped: tuple[str, Iterable[Touch]], *, shards: int, registry: Registry) -> tuple[int, historystore.EncodedLog]:
    arn, touches = grouped
    ref, entries = changelog.resource_log(arn, touches, registry=registry)
    Metrics.distribution(_NAMESPACE, "touches_per_resource").update(len(entries))
    return historystore.shard_of(arn, shards), historystore.encode_log(ref, entries)


class BuildResourceLogs(beam.PTransform):
    """(resource ARN, Touch) -> (shard, EncodedLog): one change log per resource, in replay order."""

    def __init__(self, *, shards: int, registry: Registry = DEFAULT):
        super().__init__()
        self._shards = shards
        self._registry = registry          # pickled with the transform: workers use what the launcher loaded

    def expand(self, touches):
        return (touches
                | "GroupByResource" >> beam.GroupByKey()
                | "ReplayResource" >> beam.Map(_log, shards=self._shards, registry=self._registry))


class _MergeReadsFn(beam.CombineFn):
    """ReadAccess aggregates of one key -> one (``changelog.merge_reads``)."""

    def create_accumulator(self) -> ReadAccess | None:
        return None

    def add_input(self, accumulator: ReadAccess | None, element: ReadAccess) -> ReadAccess:
        return element if accumulator is None else changelog.merge_reads(accumulator, element)

    def merge_accumulators(self, accumulators: Iterable[ReadAccess | None]) -> ReadAccess | None:
        merged = None
        for accumulator in accumulators:
            if accumulator is not None:
                merged = accumulator if merged is None else changelog.merge_reads(merged, accumulator)
        return merged

    def extract_output(self, accumulator: ReadAccess | None) -> ReadAccess | None:
        return accumulator


class AggregateReads(beam.PTransform):
    """(ReadKey, ReadAccess) -> one ReadAccess per key, combined (never a group of events per resource)."""

    def expand(self, reads):
        return (reads
                | "MergePerKey" >> beam.CombinePerKey(_MergeReadsFn())
                | "Aggregates" >> beam.Values())


def _by_shard(access: ReadAccess, *, shards: int) -> tuple[int, ReadAccess]:
    return historystore.shard_of(access.resource_arn, shards), access


def _write_shard(grouped: tuple[int, dict[str, list[Any]]], *, store_root: str, run_id: str,
                 reads: bool) -> dict[str, int]:
    shard, parts = grouped
    Metrics.distribution(_NAMESPACE, "logs_per_shard").update(len(parts["logs"]))
    return historystore.write_shard(BEAM_FS, store_root, run_id, shard, parts["logs"],
                                    parts["reads"] if reads else None)


def _sum_tallies(tallies: Iterable[Tally]) -> Tally:
    return changelog.merge_tallies(tallies)


def _finish(_: Any, tally: Tally, shard_counts: list[dict[str, int]], *, store_root: str, run_id: str,
            identity_run: str | None, shards: int, reads: bool, event_files: int) -> dict[str, Any]:
    summary = historystore.run_summary(run_id=run_id, identity_run=identity_run, shards=shards, reads=reads,
                                       event_files=event_files, tally=tally, shard_counts=shard_counts)
    historystore.commit(BEAM_FS, store_root, run_id, summary)
    return summary


class BuildHistories(beam.PTransform):
    """Event file paths of one store -> one element: the history run's summary (a dict), once committed."""

    def __init__(self, *, store_root: str, run_id: str, identity_run: str | None, reads: bool, shards: int,
                 event_files: int, registry: Registry = DEFAULT):
        super().__init__()
        self._registry = registry
        self._store_root = store_root.rstrip("/")
        self._run_id = run_id
        self._identity_run = identity_run
        self._reads = reads
        self._shards = shards
        self._event_files = event_files

    def expand(self, paths):
        found = (paths
                 | "Spread" >> beam.Reshuffle()
                 | "Changelog" >> beam.ParDo(_ChangelogFileFn(
                     store_root=self._store_root, identity_run=self._identity_run, reads=self._reads)).with_outputs(
                     _ChangelogFileFn.READS, _ChangelogFileFn.TALLY, main="touches"))
        logs = found.touches | "ResourceLogs" >> BuildResourceLogs(shards=self._shards, registry=self._registry)
        reads = (found[_ChangelogFileFn.READS]
                 | "AggregateReads" >> AggregateReads()
                 | "ReadsByShard" >> beam.Map(_by_shard, shards=self._shards))
        every_shard = paths.pipeline | "Shards" >> beam.Create([(shard, None) for shard in range(self._shards)])
        written = ({"logs": logs, "reads": reads, "shards": every_shard}
                   | "GroupByShard" >> beam.CoGroupByKey()
                   | "WriteShard" >> beam.Map(_write_shard, store_root=self._store_root, run_id=self._run_id,
                                              reads=self._reads))
        tally = found[_ChangelogFileFn.TALLY] | "SumTallies" >> beam.CombineGlobally(_sum_tallies)
        return (paths.pipeline
                | "FinishTrigger" >> beam.Create([None])
                | "Finish" >> beam.Map(_finish, pvalue.AsSingleton(tally), pvalue.AsList(written),
                                       store_root=self._store_root, run_id=self._run_id,
                                       identity_run=self._identity_run, shards=self._shards, reads=self._reads,
                                       event_files=self._event_files))
