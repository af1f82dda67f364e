"""Ingest as composite transforms: match sources, parse files, write partitions, quarantine, manifest.

Shape of the data between steps::

    patterns --MatchSources--> SourceObject       S3 prefixes --ListS3Objects--> SourceObject
    SourceObjects --PlanShards (combine: count, bytes)--> Shards(ids, reports, quarantine)   [side input]
    earlier runs' file-list parts (paths, from the launcher) --EarlierRuns, ReadEarlierReports-->
        (URI, (position, report)) of each object an earlier run consumed
    SourceObjects --KeyByUri--> (URI, SourceObject)
    both --JoinEarlierReports (by URI)--> (URI, {objects, earlier}) --PairWithEarlier-->
        (SourceObject, its latest earlier report or None)   [earlier reports of other objects are dropped]
    (SourceObject, earlier) pairs (the join spreads them: objects are read in parallel)
      --ParseFiles(Shards)--> main: (partition-hour key, spill chunk path)   [events parked in chunks]
                      ids: (id shard, packed (eventID, partition-hour key) pairs)
                      quarantine: (URI shard, QuarantineRecord dict)
                      reports: (URI shard, FileReport dict)
    ids --GroupIdsByShard--> per shard --FindSplitIds--> {eventID: copies} seen in several partition-hours
        --MergeSplitIds--> one dict                                                       [side input]
    (key, chunk path) --GroupByPartition--> (key, [chunk paths]) --WritePartitions(split ids)--> partition counts
    quarantine --GatherQuarantine--> per shard --WriteQuarantine--> quarantine/run=<run>/part-<shard>.avro,
        counts by reason --MergeQuarantineCounts--> one dict
    reports --GroupReportsByShard--> per shard --WriteFileReports--> _runs/<run>/files-<shard>.jsonl, Totals
    Totals of report shards + of each partition --MergeTotals (combine)--> the run's Totals
    partition counts --DistinctPartitions, CountPartitions--> how many partitions
    Totals + partitions + quarantine counts + split ids --WriteRunManifest--> commit, _runs/<run>/summary.json

Shard counts follow from the input, so no group grows with it (``ShardSizes`` sets the bounds; the
same input gets the same counts, hence the same files, on any runner). What each grouping step holds
at worst:

- GroupIdsByShard / FindSplitIds: the (eventID, partition-hour) pairs of 1/shards of the events, shards =
  max(64, ceil(source bytes / 256 MiB)): ~1.5M eventIDs (~250 MB while scanned) for gzipped CloudTrail at
  ~180 B per event, fewer for uncompressed input.
- MergeSplitIds: only the eventIDs found in several partition-hours (conflicts: bounded by bad input).
- GroupByPartition / WritePartitions: the chunk paths of one partition-hour; the partition's events are
  read back one partition-hour at a time (memory bounded by the largest partition-hour, see
  ``trailbeam.spill``).
- GatherQuarantine / WriteQuarantine: the quarantined records of the objects hashed to one of
  max(1, ceil(source bytes / 64 MiB)) shards: on average the rejects of ~64 MiB of source objects (up to
  ~10x that once gzipped records are decompressed), and at least all rejects of one object, which stay
  together. Quarantine is bounded by the bad input; the shards bound it even when all input is bad.
- GroupReportsByShard / WriteFileReports: the reports (~500 bytes each) of the objects hashed to one of
  max(1, ceil(objects / 50,000)) shards: ~50k reports.
- MergeTotals, MergeQuarantineCounts, CountPartitions: combines of fixed-size partials (Totals hold the
  set of accounts and regions seen, not one entry per file or partition).
- ReadEarlierReports: one file-list part at a time (~50k reports; a store written before the split has
  one ``files.jsonl`` per run).
- JoinEarlierReports / PairWithEarlier: one object's earlier reports, the consumed ones only (~0.5 KB
  each): one per earlier run that ingested it, so normally one (a run that finds an ingested object skips
  it or reports it modified; more only from runs that overlapped or listed it twice), and the object
  itself (twice if two sources list it). No worker holds the store's history: it is shuffled by URI, and
  reports of objects this run does not list end there.

Events never travel through the shuffle, only their chunk paths do, so memory stays bounded by the
largest partition-hour (see ``trailbeam.spill``).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from trailbeam import errors, eventids, ingest, s3, spill, store
from trailbeam.beam.filesystem import BEAM_FS
from trailbeam.cloudtrail import ColumnCache
from trailbeam.selectors import ALL, EventFilter
from trailbeam.summary import Totals, merge_totals, partition_of, summarize_totals, totals_of

_NAMESPACE = "trailbeam.ingest"
QUARANTINE = "quarantine"
REPORTS = "reports"
IDS = "ids"
# The two sides of the join of this run's objects with earlier runs' reports.
OBJECTS = "objects"
EARLIER = "earlier"
# Objects read concurrently per worker.
_READ_THREADS = 16
# Encoded events buffered per worker before they are spilled as chunks.
_SPILL_BYTES = 32 << 20


def _read(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read()


def _write(path: str, data: bytes) -> None:
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        handle.write(data)


class SourceObject(NamedTuple):
    """One input object, wherever it lives."""

    uri: str
    size: int
    etag: str | None = None


def _source_object(metadata) -> SourceObject:
    return SourceObject(metadata.path, metadata.size_in_bytes, None)


class MatchSources(beam.PTransform):
    """File patterns (any Beam filesystem) -> SourceObject of every matching object."""

    def __init__(self, patterns: list[str]):
        super().__init__()
        self._patterns = patterns

    def expand(self, pbegin):
        return (pbegin
                | "Patterns" >> beam.Create(self._patterns)
                | "Match" >> fileio.MatchAll()
                | "ToSourceObjects" >> beam.Map(_source_object))


class _ListS3Fn(beam.DoFn):
    """Lists one planned S3 prefix (a ListTask) with one client per worker."""

    def __init__(self, settings: s3.S3Settings):
        self._settings = settings

    def setup(self):
        self._client = s3.make_client(self._settings)

    def process(self, task):
        for listed in s3.list_objects(self._client, task):
            yield SourceObject(listed.uri, listed.size, listed.etag)


class ListS3Objects(beam.PTransform):
    """Planned S3 prefixes (``s3.plan``) -> SourceObject of every object under them."""

    def __init__(self, tasks: list, settings: s3.S3Settings):
        super().__init__()
        self._tasks = tasks
        self._settings = settings

    def expand(self, pbegin):
        return (pbegin
                | "Prefixes" >> beam.Create(self._tasks)
                | "SpreadPrefixes" >> beam.Reshuffle()
                | "List" >> beam.ParDo(_ListS3Fn(self._settings)))


class _ParseFilesFn(beam.DoFn):
    """Reads each object and delegates to ``ingest.ingest_object``; spills events in chunks."""

    def __init__(self, *, run_id: str, spill_dir: str, shape: str, progress_dir: str | None,
                 keep: EventFilter, s3_settings: s3.S3Settings | None):
        self._run_id = run_id
        self._spill_dir = spill_dir
        self._shape = shape
        self._progress_dir = progress_dir
        self._keep = keep
        self._s3_settings = s3_settings

    def setup(self):
        self._files = Metrics.counter(_NAMESPACE, "files")
        self._records = Metrics.counter(_NAMESPACE, "records_read")
        self._quarantined = Metrics.counter(_NAMESPACE, "records_quarantined")
        self._rejected = Metrics.counter(_NAMESPACE, "files_quarantined")
        self._progress = _Progress(self._progress_dir)
        self._columns = ColumnCache()
        self._s3 = s3.make_client(self._s3_settings) if self._s3_settings is not None else None
        # Reads overlap: an object store answers each GET in milliseconds, parsing needs the CPU.
        self._pool = ThreadPoolExecutor(_READ_THREADS)

    def teardown(self):
        self._pool.shutdown(wait=False, cancel_futures=True)

    def start_bundle(self):
        self._buffer = spill.Buffer(_SPILL_BYTES)
        self._shards: Shards | None = None  # the run's shard counts, from the side input (finish_bundle has none)

    def _reader(self, source: SourceObject):
        def read() -> bytes:
            try:
                if source.uri.startswith("s3://") and self._s3 is not None:
                    return s3.fetch(self._s3, source.uri, expected_size=source.size, etag=source.etag)
                return _read(source.uri)
            except s3.ObjectGone as err:
                raise errors.ObjectUnavailable(errors.VANISHED, str(err)) from None
            except (s3.ReadFailed, OSError) as err:  # Beam's BeamIOError is an OSError too
                raise errors.ObjectUnavailable(errors.UNREADABLE, str(err)) from None
        return read

    def _prefetch(self, source: SourceObject, earlier):
        """Starts reading an object in the background, unless ingest will skip it unread."""
        if (earlier is not None and source.etag is not None
                and ingest.earlier_ingest(earlier, etag=source.etag) == ingest.SKIPPED):
            return None
        return self._pool.submit(self._reader(source))

    def process(self, batch, shards):
        """``batch``: (SourceObject, its latest earlier report or None) pairs."""
        self._shards = shards
        pending = [(source, earlier, self._prefetch(source, earlier)) for source, earlier in batch]
        for source, earlier, future in pending:
            yield from self._ingest(source, earlier, future.result if future is not None else self._reader(source))

    def _ingest(self, source, earlier, read):
        result = ingest.ingest_object(source.uri, size=source.size, etag=source.etag, earlier=earlier, read=read,
                                      run_id=self._run_id, shape=self._shape, columns=self._columns,
                                      keep=self._keep)
        report = result.report
        self._files.inc()
        self._records.inc(report.records)
        self._quarantined.inc(report.quarantined)
        self._rejected.inc(int(report.rejected))
        self._progress.add(files=1, records=report.records, size=report.size)
        full = self._buffer.add(result.events, result.encoded_bytes)
        shards = self._shards
        for record in result.quarantine:
            yield pvalue.TaggedOutput(QUARANTINE, (store.uri_shard(record["uri"], shards.quarantine), record))
        yield pvalue.TaggedOutput(REPORTS, (store.uri_shard(source.uri, shards.reports), report.to_json()))
        if full:
            ids, chunks = self._spill()
            for shard_ids in ids:
                yield pvalue.TaggedOutput(IDS, shard_ids)
            yield from chunks

    def finish_bundle(self):
        ids, chunks = self._spill()
        for shard_ids in ids:
            yield pvalue.TaggedOutput(IDS, GlobalWindows.windowed_value(shard_ids))
        for chunk in chunks:
            yield GlobalWindows.windowed_value(chunk)
        self._progress.flush()

    def _spill(self):
        """Writes the buffered chunks; returns the shards' eventID pairs and the chunk references."""
        if self._shards is None:  # no element in this bundle: nothing buffered
            return [], []
        ids = eventids.spread(self._buffer.event_ids(), self._shards.ids)
        chunks = []
        for key, chunk in self._buffer.drain():
            path = FileSystems.join(self._spill_dir, f"{uuid.uuid4().hex}.chunk")
            _write(path, chunk)
            chunks.append((key, path))
        return ids, chunks


class _Progress:
    """Per-worker counts dropped as a small JSON file for the CLI's progress line (local runs only)."""

    def __init__(self, folder: str | None):
        self._path = os.path.join(folder, f"{os.getpid()}-{uuid.uuid4().hex}.json") if folder else None
        self._counts = {"files": 0, "records": 0, "bytes": 0}
        self._written = 0.0

    def add(self, *, files: int, records: int, size: int) -> None:
        self._counts["files"] += files
        self._counts["records"] += records
        self._counts["bytes"] += size
        if self._path and time.monotonic() - self._written > 0.5:
            self.flush()

    def flush(self) -> None:
        if self._path:
            with open(self._path + ".tmp", "w") as handle:
                json.dump(self._counts, handle)
            os.replace(self._path + ".tmp", self._path)
            self._written = time.monotonic()


class _WritePartitionFn(beam.DoFn):
    """One partition-hour: read its chunks, deduplicate and sort, write one Avro file."""

    def __init__(self, *, store_root: str, run_id: str, codec: str):
        self._store_root = store_root
        self._run_id = run_id
        self._codec = codec

    def setup(self):
        self._stored = Metrics.counter(_NAMESPACE, "events_stored")
        self._duplicates = Metrics.counter(_NAMESPACE, "duplicates")
        self._conflicts = Metrics.counter(_NAMESPACE, "conflicts")

    def process(self, element, split):
        key, chunk_paths = element
        entries: list[spill.Entry] = []
        for path in sorted(chunk_paths):
            entries.extend(spill.unpack(_read(path)))
        result = store.write_partition(self._store_root, key, entries, run_id=self._run_id,
                                       codec=self._codec, split=split, fs=BEAM_FS)
        FileSystems.delete(sorted(chunk_paths))
        self._stored.inc(result["stored"])
        self._duplicates.inc(result["duplicates"])
        self._conflicts.inc(result["conflicts"])
        yield result


class _WriteQuarantineFn(beam.DoFn):
    """One shard of the quarantine (the records of the source objects hashed to it): one Avro file."""

    def __init__(self, *, store_root: str, run_id: str):
        self._store_root = store_root
        self._run_id = run_id

    def setup(self):
        self._per_shard = Metrics.distribution(_NAMESPACE, "quarantined_per_shard")

    def process(self, element):
        shard, records = element
        records = list(records)
        self._per_shard.update(len(records))
        yield store.write_quarantine(self._store_root, records, run_id=self._run_id, shard=shard, fs=BEAM_FS)


class _WriteReportsFn(beam.DoFn):
    """One shard of the run's file reports: its part of the file list, and its totals for the summary."""

    def __init__(self, *, store_root: str, run_id: str):
        self._store_root = store_root
        self._run_id = run_id

    def setup(self):
        self._per_shard = Metrics.distribution(_NAMESPACE, "reports_per_shard")

    def process(self, element):
        shard, reports = element
        reports = list(reports)
        self._per_shard.update(len(reports))
        store.write_reports(self._store_root, self._run_id, shard, reports, fs=BEAM_FS)
        yield totals_of(reports=reports)


class _FindSplitIdsFn(beam.DoFn):
    """One eventID shard -> the eventIDs it saw under several partition-hours."""

    def setup(self):
        self._per_shard = Metrics.distribution(_NAMESPACE, "ids_per_shard")

    def process(self, element):
        _, blobs = element
        scan = eventids.scan_shard(blobs)
        self._per_shard.update(scan.ids)
        yield scan.split


class Shards(NamedTuple):
    """How many shards each grouping step of one run uses (the same for the same input on any runner)."""

    ids: int
    reports: int
    quarantine: int


@dataclass(frozen=True)
class ShardSizes:
    """How much one shard of each grouping step may hold; the shard counts follow from the input."""

    min_id_shards: int = eventids.DEFAULT_SHARDS
    bytes_per_id_shard: int = eventids.BYTES_PER_ID_SHARD
    files_per_report_shard: int = store.FILES_PER_REPORT_SHARD
    bytes_per_quarantine_shard: int = store.BYTES_PER_QUARANTINE_SHARD

    def shards(self, *, files: int, total_bytes: int) -> Shards:
        return Shards(
            ids=eventids.shard_count(total_bytes, minimum=self.min_id_shards,
                                     bytes_per_shard=self.bytes_per_id_shard),
            reports=store.report_shards(files, files_per_shard=self.files_per_report_shard),
            quarantine=store.quarantine_shards(total_bytes, bytes_per_shard=self.bytes_per_quarantine_shard))


class _PlanShardsFn(beam.CombineFn):
    """SourceObjects -> the run's Shards, from how many objects there are and their total size."""

    def __init__(self, sizes: ShardSizes):
        self._sizes = sizes

    def create_accumulator(self):
        return 0, 0

    def add_input(self, accumulator, source):
        return accumulator[0] + 1, accumulator[1] + source.size

    def merge_accumulators(self, accumulators):
        files = total_bytes = 0
        for count, size in accumulators:
            files += count
            total_bytes += size
        return files, total_bytes

    def extract_output(self, accumulator):
        return self._sizes.shards(files=accumulator[0], total_bytes=accumulator[1])


class _MergeTotalsFn(beam.CombineFn):
    """Partial summary Totals (per report shard, per partition-hour) -> the run's Totals."""

    def create_accumulator(self):
        return Totals()

    def add_input(self, accumulator, totals):
        return accumulator.merge(totals)

    def merge_accumulators(self, accumulators):
        return merge_totals(accumulators)

    def extract_output(self, accumulator):
        return accumulator


def _keyed_by_uri(source):
    return source.uri, source


def _with_earlier(uri, joined):
    """One URI's join -> (SourceObject, latest earlier report or None) per listing of the object."""
    earlier = store.latest_consumed(joined[EARLIER])
    for source in joined[OBJECTS]:
        yield source, earlier


def _partition_totals(partition):
    return totals_of(partitions=[partition])


def _partition_name(partition):
    return partition_of(partition["key"])


def _merged(dicts):
    merged: dict[str, int] = {}
    for found in dicts:
        merged.update(found)
    return merged


def _summed(counts):
    total: dict[str, int] = {}
    for found in counts:
        for reason, count in found.items():
            total[reason] = total.get(reason, 0) + count
    return total


def _write_manifest(_, totals, partitions, quarantine, split, *, store_root, run_id, sources, spill_dir):
    summary = summarize_totals(run_id=run_id, sources=sources, totals=totals, partitions=partitions,
                               quarantine=[quarantine], split=split)
    store.commit(store_root, run_id, summary, fs=BEAM_FS)
    if FileSystems.exists(spill_dir):
        FileSystems.delete([spill_dir])
    return summary


class IngestCloudTrail(beam.PTransform):
    """SourceObjects -> the event store written under ``store_root`` for one run; yields its summary.

    ``shard_sizes``: how much one shard of each grouping step may hold (tests make them small).
    ``earlier_report_files``: the file-list parts of the store's committed runs, in
    ``store.earlier_report_files`` order (their reports say which objects are ingested already).
    """

    def __init__(self, *, store_root: str, run_id: str, sources: list[str], shape: str = "auto",
                 codec: str = "zstandard", progress_dir: str | None = None,
                 shard_sizes: ShardSizes = ShardSizes(), keep: EventFilter = ALL,
                 earlier_report_files: list[str] | None = None, s3_settings: s3.S3Settings | None = None):
        super().__init__()
        self._keep = keep
        self._earlier_report_files = list(earlier_report_files or [])
        self._s3_settings = s3_settings
        self._shard_sizes = shard_sizes
        self._store_root = store_root
        self._run_id = run_id
        self._sources = sources
        self._shape = shape
        self._codec = codec
        self._progress_dir = progress_dir
        self._spill_dir = FileSystems.join(store_root, "_runs", run_id, "spill")

    def expand(self, objects):
        shards = objects | "PlanShards" >> beam.CombineGlobally(_PlanShardsFn(self._shard_sizes))
        earlier = (objects.pipeline
                   | "EarlierRuns" >> beam.Create(list(enumerate(self._earlier_report_files)))
                   | "ReadEarlierReports" >> beam.FlatMapTuple(store.consumed_reports, fs=BEAM_FS))
        keyed = objects | "KeyByUri" >> beam.Map(_keyed_by_uri)
        # (SourceObject, latest earlier report or None); the join's shuffle also spreads the objects.
        pairs = ({OBJECTS: keyed, EARLIER: earlier}
                 | "JoinEarlierReports" >> beam.CoGroupByKey()
                 | "PairWithEarlier" >> beam.FlatMapTuple(_with_earlier))
        parsed = (pairs
                  | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=_READ_THREADS * 2)
                  | "ParseFiles" >> beam.ParDo(_ParseFilesFn(
                      run_id=self._run_id, spill_dir=self._spill_dir, shape=self._shape,
                      progress_dir=self._progress_dir, keep=self._keep, s3_settings=self._s3_settings),
                      shards=pvalue.AsSingleton(shards)).with_outputs(QUARANTINE, REPORTS, IDS, main="chunks"))
        split = (parsed[IDS]
                 | "GroupIdsByShard" >> beam.GroupByKey()
                 | "FindSplitIds" >> beam.ParDo(_FindSplitIdsFn())
                 | "MergeSplitIds" >> beam.CombineGlobally(_merged))
        partitions = (parsed.chunks
                      | "GroupByPartition" >> beam.GroupByKey()
                      | "WritePartitions" >> beam.ParDo(_WritePartitionFn(
                          store_root=self._store_root, run_id=self._run_id, codec=self._codec),
                          split=pvalue.AsSingleton(split)))
        quarantine = (parsed[QUARANTINE]
                      | "GatherQuarantine" >> beam.GroupByKey()
                      | "WriteQuarantine" >> beam.ParDo(_WriteQuarantineFn(
                          store_root=self._store_root, run_id=self._run_id))
                      | "MergeQuarantineCounts" >> beam.CombineGlobally(_summed))
        report_totals = (parsed[REPORTS]
                         | "GroupReportsByShard" >> beam.GroupByKey()
                         | "WriteFileReports" >> beam.ParDo(_WriteReportsFn(
                             store_root=self._store_root, run_id=self._run_id)))
        totals = ((report_totals, partitions | "PartitionTotals" >> beam.Map(_partition_totals))
                  | "AllTotals" >> beam.Flatten()
                  | "MergeTotals" >> beam.CombineGlobally(_MergeTotalsFn()))
        partition_count = (partitions
                           | "PartitionNames" >> beam.Map(_partition_name)
                           | "DistinctPartitions" >> beam.Distinct()
                           | "CountPartitions" >> beam.combiners.Count.Globally())
        return (objects.pipeline
                | "ManifestTrigger" >> beam.Create([None])
                | "WriteRunManifest" >> beam.Map(
                    _write_manifest,
                    totals=pvalue.AsSingleton(totals),
                    partitions=pvalue.AsSingleton(partition_count),
                    quarantine=pvalue.AsSingleton(quarantine),
                    split=pvalue.AsSingleton(split),
                    store_root=self._store_root, run_id=self._run_id, sources=self._sources,
                    spill_dir=self._spill_dir))
