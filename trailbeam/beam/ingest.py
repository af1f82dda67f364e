"""Ingest as composite transforms: match sources, parse files, write partitions, quarantine, manifest.

Shape of the data between steps::

    patterns --MatchSources--> SourceObject       S3 prefixes --ListS3Objects--> SourceObject
    SourceObjects (reshuffled: objects are read in parallel)
      --ParseFiles--> main: (partition-hour key, spill chunk path)      [events parked in chunks]
                      ids: (shard, packed (eventID, partition-hour key) pairs)
                      quarantine: QuarantineRecord dicts
                      reports: FileReport dicts
    ids --GroupByKey--> per shard --FindSplitIds--> {eventID: copies} seen in several partition-hours
    (key, chunk path) --GroupByKey--> (key, [chunk paths]) --WritePartitions(split ids)--> partition counts
    reports + partition counts + quarantine counts --WriteRunManifest--> _runs/<run>/summary.json

Only chunk paths travel through the shuffle, so memory stays bounded by the largest partition-hour
(see ``trailbeam.spill``).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
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
from trailbeam.summary import summarize

_NAMESPACE = "trailbeam.ingest"
QUARANTINE = "quarantine"
REPORTS = "reports"
IDS = "ids"
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

    def __init__(self, *, run_id: str, spill_dir: str, shape: str, progress_dir: str | None, shards: int,
                 keep: EventFilter, s3_settings: s3.S3Settings | None):
        self._shards = shards
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

    def process(self, batch, consumed):
        pending = []
        for source in batch:
            earlier = consumed.get(source.uri)
            pending.append((source, earlier, self._prefetch(source, earlier)))
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
        for record in result.quarantine:
            yield pvalue.TaggedOutput(QUARANTINE, record)
        yield pvalue.TaggedOutput(REPORTS, report.to_json())
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
        ids = eventids.spread(self._buffer.event_ids(), self._shards)
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
    def __init__(self, *, store_root: str, run_id: str):
        self._store_root = store_root
        self._run_id = run_id

    def process(self, element):
        _, records = element
        yield store.write_quarantine(self._store_root, list(records), run_id=self._run_id, fs=BEAM_FS)


def _split_ids(_shard, blobs):
    return eventids.split_ids(blobs)


def _merged(dicts):
    merged: dict[str, int] = {}
    for found in dicts:
        merged.update(found)
    return merged


def _write_manifest(_, reports, partitions, quarantine, split, *, store_root, run_id, sources, spill_dir):
    summary = summarize(run_id=run_id, sources=sources, reports=reports, partitions=partitions,
                        quarantine=quarantine, split=split)
    store.commit(store_root, run_id, summary, reports, fs=BEAM_FS)
    if FileSystems.exists(spill_dir):
        FileSystems.delete([spill_dir])
    return summary


class IngestCloudTrail(beam.PTransform):
    """SourceObjects -> the event store written under ``store_root`` for one run; yields its summary."""

    def __init__(self, *, store_root: str, run_id: str, sources: list[str], shape: str = "auto",
                 codec: str = "zstandard", progress_dir: str | None = None,
                 id_shards: int = eventids.DEFAULT_SHARDS, keep: EventFilter = ALL,
                 consumed: dict | None = None, s3_settings: s3.S3Settings | None = None):
        super().__init__()
        self._keep = keep
        self._consumed = consumed or {}
        self._s3_settings = s3_settings
        self._id_shards = id_shards
        self._store_root = store_root
        self._run_id = run_id
        self._sources = sources
        self._shape = shape
        self._codec = codec
        self._progress_dir = progress_dir
        self._spill_dir = FileSystems.join(store_root, "_runs", run_id, "spill")

    def expand(self, objects):
        # What earlier runs ingested, as one element: a side input built on the launcher.
        consumed = objects.pipeline | "EarlierRuns" >> beam.Create([self._consumed])
        parsed = (objects
                  | "SpreadObjects" >> beam.Reshuffle()
                  | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=_READ_THREADS * 2)
                  | "ParseFiles" >> beam.ParDo(_ParseFilesFn(
                      run_id=self._run_id, spill_dir=self._spill_dir, shape=self._shape,
                      progress_dir=self._progress_dir, shards=self._id_shards, keep=self._keep,
                      s3_settings=self._s3_settings), consumed=pvalue.AsSingleton(consumed)).with_outputs(
                          QUARANTINE, REPORTS, IDS, main="chunks"))
        split = (parsed[IDS]
                 | "GroupIdsByShard" >> beam.GroupByKey()
                 | "FindSplitIds" >> beam.MapTuple(_split_ids)
                 | "MergeSplitIds" >> beam.CombineGlobally(_merged))
        partitions = (parsed.chunks
                      | "GroupByPartition" >> beam.GroupByKey()
                      | "WritePartitions" >> beam.ParDo(_WritePartitionFn(
                          store_root=self._store_root, run_id=self._run_id, codec=self._codec),
                          split=pvalue.AsSingleton(split)))
        quarantine = (parsed[QUARANTINE]
                      | "KeyQuarantine" >> beam.Map(lambda record: ("quarantine", record))
                      | "GatherQuarantine" >> beam.GroupByKey()
                      | "WriteQuarantine" >> beam.ParDo(_WriteQuarantineFn(
                          store_root=self._store_root, run_id=self._run_id)))
        return (objects.pipeline
                | "ManifestTrigger" >> beam.Create([None])
                | "WriteRunManifest" >> beam.Map(
                    _write_manifest,
                    reports=pvalue.AsList(parsed[REPORTS]),
                    partitions=pvalue.AsList(partitions),
                    quarantine=pvalue.AsList(quarantine),
                    split=pvalue.AsSingleton(split),
                    store_root=self._store_root, run_id=self._run_id, sources=self._sources,
                    spill_dir=self._spill_dir))
