"""The event store on disk: layout, writing one partition-hour, quarantine, run manifests, reading.

Layout (all Avro is readable by any Avro reader; folders are Hive-style partitions)::

    <store>/events/account=<id>/region=<name>/date=YYYY-MM-DD/part-HH-<run>.avro   TrailEvent
    <store>/quarantine/run=<run>/part-<shard>.avro                                 QuarantineRecord
    <store>/_runs/<run>/summary.json           counts, sources, schema version of the run
    <store>/_runs/<run>/files-<shard>.jsonl    one FileReport per input object, sorted by URI

A run's file reports and quarantined records are split in shards by a stable hash of the source URI
(``uri_shard``), so that no writer holds all of them: ``report_shards`` and ``quarantine_shards`` size
the shards from the run's input, so the same input gives the same files on every runner. Only non-empty
shards have a file (``<shard>`` is five digits); readers take every part in name order (``run_reports``,
``read_quarantine``). Stores written before the split have one ``files.jsonl`` per run, still read.

Writing functions take a ``create(path) -> binary file`` callable so that the Beam shell can pass
Beam's FileSystems (local, gs://, s3://) while tests pass ``open``. Reading is local.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import fastavro

from trailbeam import avro, avrofile, errors, partitions, sharding, timestamps
from trailbeam.dedupe import deduplicate
from trailbeam.ingest import NOT_CONSUMED, split_group_key
from trailbeam.integrity import Finding
from trailbeam.spill import Entry

EVENTS = "events"
QUARANTINE = "quarantine"
INTEGRITY = "integrity"
RUNS = "_runs"
STAGING = "staging"
FILES = "files.jsonl"          # a run's reports, as stores before sharded manifests wrote them
# A report is ~500 bytes of JSON: 50k reports make ~25 MB per shard of the manifest's file list.
FILES_PER_REPORT_SHARD = 50_000
# Quarantine holds at most the (decompressed) bytes of the input it rejects: 64 MiB of source bytes
# per shard keeps one shard to ~64 MiB of quarantine for plain files and ~600 MiB for gzipped files
# rejected record by record (the rare worst case: the whole input is bad).
BYTES_PER_QUARANTINE_SHARD = 64 << 20


class StoreFS(Protocol):
    """The few file operations the store needs; Beam's FileSystems in pipelines, ``LOCAL`` in tests."""

    def create(self, path: str) -> BinaryIO: ...
    def open(self, path: str) -> BinaryIO: ...
    def match(self, pattern: str) -> list[str]: ...
    def exists(self, path: str) -> bool: ...
    def rename(self, sources: list[str], destinations: list[str]) -> None: ...
    def delete(self, paths: list[str]) -> None: ...


class LocalFS:
    def create(self, path: str) -> BinaryIO:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return open(path, "wb")

    def open(self, path: str) -> BinaryIO:
        return open(path, "rb")

    def match(self, pattern: str) -> list[str]:
        return sorted(glob.glob(pattern, recursive=True))

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def rename(self, sources: list[str], destinations: list[str]) -> None:
        for source, destination in zip(sources, destinations):
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            os.replace(source, destination)

    def delete(self, paths: list[str]) -> None:
        for path in paths:
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


LOCAL = LocalFS()


def _join(*parts: str) -> str:
    return "/".join(part.rstrip("/") for part in parts)


def staging_root(store_root: str, run_id: str) -> str:
    """Where a run writes before it commits: readers never see a half-written run."""
    return _join(store_root, RUNS, run_id, STAGING)


def partition_file(root: str, key: str, run_id: str) -> str:
    partition, hour = split_group_key(key)
    return _join(root, EVENTS, partition, f"part-{hour:02d}-{run_id}.avro")


def stored_events(store_root: str, key: str, run_id: str, fs: StoreFS = LOCAL) -> dict[str, set[str]]:
    """EventID -> contents already stored in a partition-hour by other runs (for deduplication)."""
    partition, hour = split_group_key(key)
    found: dict[str, set[str]] = {}
    own = partition_file(store_root, key, run_id)
    for path in fs.match(_join(store_root, EVENTS, partition, f"part-{hour:02d}-*.avro")):
        if path == own:
            continue
        with fs.open(path) as handle:
            for record in fastavro.reader(handle):
                found.setdefault(record["eventID"], set()).add(record["cloudTrailEvent"])
    return found


def write_partition(store_root: str, key: str, entries: list[Entry], *, run_id: str, codec: str,
                    split: dict[str, int] | None = None, fs: StoreFS = LOCAL) -> dict[str, Any]:
    """Deduplicates and sorts one partition-hour and writes it, staged, as one Avro file.

    ``split``: eventIDs that also occur in other partition-hours (``eventids.split_ids``). Events that
    earlier runs stored in the same partition-hour are not stored again.
    Returns the partition's counts: read, stored, duplicates, conflicts, first/last eventTime.
    """
    result = deduplicate(entries, split, stored_events(store_root, key, run_id, fs))
    path = partition_file(staging_root(store_root, run_id), key, run_id)
    with fs.create(path) as out:
        avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.EVENT), records=result.records,
                                 codec=codec, seed=f"{run_id}/{key}",
                                 metadata={"trailbeam.schema.version": str(avro.SCHEMA_VERSION)})
    partition, _ = split_group_key(key)
    return {"key": key, "path": partition_file(store_root, key, run_id), **partitions.parse_partition_path(partition),
            "read": result.read, "stored": result.stored, "duplicates": result.duplicates,
            "conflicts": result.conflicts, "first": result.first, "last": result.last}


def report_shards(files: int, *, files_per_shard: int = FILES_PER_REPORT_SHARD) -> int:
    """How many shards a run's file reports take: ``max(1, ceil(files / files_per_shard))``."""
    return sharding.shard_count(files, files_per_shard)


def quarantine_shards(total_bytes: int, *, bytes_per_shard: int = BYTES_PER_QUARANTINE_SHARD) -> int:
    """How many shards a run's quarantine takes, from its source bytes: ``max(1, ceil(bytes / per shard))``."""
    return sharding.shard_count(total_bytes, bytes_per_shard)


def uri_shard(uri: str, shards: int) -> int:
    """A stable shard of a source object (the same in every process, unlike ``hash``)."""
    return zlib.crc32(uri.encode("utf-8", "surrogatepass")) % shards


def reports_file(root: str, run_id: str, shard: int) -> str:
    return _join(root, RUNS, run_id, f"files-{shard:05d}.jsonl")


def write_reports(store_root: str, run_id: str, shard: int, reports: Iterable[dict[str, Any]],
                  fs: StoreFS = LOCAL) -> str:
    """Writes one shard of a run's file reports, staged, sorted by URI; returns the staged path."""
    path = reports_file(staging_root(store_root, run_id), run_id, shard)
    with fs.create(path) as out:
        for report in sorted(reports, key=lambda r: r["uri"]):
            out.write(json.dumps(report, sort_keys=True).encode() + b"\n")
    return path


def _report_files(fs: StoreFS, run_dir: str) -> list[str]:
    legacy = _join(run_dir, FILES)
    return ([legacy] if fs.exists(legacy) else []) + sorted(fs.match(_join(run_dir, "files-*.jsonl")))


def run_reports(store_root: str, run_id: str, fs: StoreFS = LOCAL) -> Iterator[dict[str, Any]]:
    """A run's file reports: every part in name order, each sorted by URI."""
    for path in _report_files(fs, _join(store_root, RUNS, run_id)):
        with fs.open(path) as handle:
            for line in handle.read().splitlines():
                yield json.loads(line)


def quarantine_file(root: str, run_id: str, shard: int = 0) -> str:
    return _join(root, QUARANTINE, f"run={run_id}", f"part-{shard:05d}.avro")


def write_quarantine(store_root: str, records: list[dict[str, Any]], *, run_id: str, shard: int = 0,
                     fs: StoreFS = LOCAL) -> dict[str, int]:
    """Writes one shard of a run's quarantined inputs, staged, ordered by source, as one Avro file;
    returns counts by reason."""
    records = sorted(records, key=lambda r: (r["uri"], -1 if r["position"] is None else r["position"],
                                             r["reason"]))
    # Our own container writer: fastavro's header re-serialises the schema in an order that varies
    # between processes, and the store must be byte-identical for the same input.
    with fs.create(quarantine_file(staging_root(store_root, run_id), run_id, shard)) as out:
        avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.QUARANTINE),
                                 records=(avro.encode(avro.QUARANTINE, r) for r in records), codec="deflate",
                                 seed=f"{run_id}/quarantine" if shard == 0 else f"{run_id}/quarantine/{shard}",
                                 metadata={"trailbeam.schema.version": str(avro.SCHEMA_VERSION)})
    counts: dict[str, int] = {}
    for record in records:
        counts[record["reason"]] = counts.get(record["reason"], 0) + 1
    return counts


def commit(store_root: str, run_id: str, summary: dict[str, Any], reports: list[dict[str, Any]] | None = None,
           fs: StoreFS = LOCAL) -> None:
    """Moves a run's staged files into the store, then writes its summary: the summary comes last,
    so a run without ``summary.json`` never finished (its objects count as not yet ingested).

    ``reports``: the run's file reports when they are not staged already (``write_reports``); they are
    then split in shards as a pipeline would.
    """
    if reports is not None:
        shards = report_shards(len(reports))
        by_shard: dict[int, list[dict[str, Any]]] = {}
        for report in reports:
            by_shard.setdefault(uri_shard(report["uri"], shards), []).append(report)
        for shard, part in sorted(by_shard.items()):
            write_reports(store_root, run_id, shard, part, fs)
    staged_root = staging_root(store_root, run_id)
    staged = (fs.match(_join(staged_root, "**", "*.avro"))
              + fs.match(_join(staged_root, RUNS, run_id, "files-*.jsonl")))
    fs.rename(staged, [store_root + path[len(staged_root):] for path in staged])
    with fs.create(_join(store_root, RUNS, run_id, "summary.json")) as out:
        out.write(json.dumps(summary, indent=2, sort_keys=True).encode() + b"\n")


def earlier_report_files(store_root: str, fs: StoreFS = LOCAL) -> list[str]:
    """The file-list parts of every committed run, in the order that decides which report is the latest.

    Runs in run-id order (their ``summary.json`` paths sorted), each run's parts in name order (a
    legacy ``files.jsonl`` first). One path per part: cheap to hand to a pipeline.
    """
    return [path for summary_path in fs.match(_join(store_root, RUNS, "*", "summary.json"))
            for path in _report_files(fs, summary_path.rsplit("/", 1)[0])]


def _is_consumed(report: dict[str, Any]) -> bool:
    """Whether the run that wrote ``report`` ingested its object (not skipped, modified or unreadable)."""
    return report["shape"] not in NOT_CONSUMED


def consumed_reports(order: int, path: str,
                     fs: StoreFS = LOCAL) -> Iterator[tuple[str, tuple[tuple[int, int], dict[str, Any]]]]:
    """The reports of one file-list part whose object was consumed, keyed by URI.

    Args:
        order: the part's place in ``earlier_report_files``.
        path: the part.

    Returns:
        ``(uri, ((order, line), report))`` per consumed object; the position orders reports across parts
        for ``latest_consumed``.
    """
    with fs.open(path) as handle:
        for line_number, line in enumerate(handle.read().splitlines()):
            report = json.loads(line)
            if _is_consumed(report):
                yield report["uri"], ((order, line_number), report)


def latest_consumed(reports: Iterable[tuple[tuple[int, int], dict[str, Any]]]) -> dict[str, Any] | None:
    """One object's earlier reports ``(position, report)`` -> the consumed one at the latest position.

    That is the report of the newest committed run that ingested the object; reports of runs that skipped
    it, found it modified or could not read it never win. None when no earlier run consumed it.
    """
    latest: tuple[tuple[int, int], dict[str, Any]] | None = None
    for position, report in reports:
        if _is_consumed(report) and (latest is None or position > latest[0]):
            latest = (position, report)
    return None if latest is None else latest[1]


def consumed_objects(store_root: str, fs: StoreFS = LOCAL) -> dict[str, dict[str, Any]]:
    """URI -> its report from the newest committed run that ingested it (incremental ingest).

    Holds one report per object ever ingested: for tools and tests. The ingest pipeline joins the same
    reports by URI instead (``earlier_report_files``, ``consumed_reports``, ``latest_consumed``).
    """
    earlier: dict[str, list[tuple[tuple[int, int], dict[str, Any]]]] = {}
    for order, path in enumerate(earlier_report_files(store_root, fs)):
        for uri, positioned in consumed_reports(order, path, fs):
            earlier.setdefault(uri, []).append(positioned)
    consumed: dict[str, dict[str, Any]] = {}
    for uri, reports in earlier.items():
        report = latest_consumed(reports)
        if report is not None:
            consumed[uri] = report
    return consumed


# ---- reading (local stores) ----

def check_store(store_root: str) -> Path:
    root = Path(store_root)
    if not (root / RUNS).is_dir():
        raise errors.StoreError(f"{store_root} is not a trailbeam event store (no {RUNS}/ folder)")
    return root


def run_summaries(store_root: str) -> list[dict[str, Any]]:
    """Every run's summary, oldest run id first."""
    root = check_store(store_root)
    return [json.loads(path.read_text()) for path in sorted(root.glob(f"{RUNS}/*/summary.json"))]


def event_files(store_root: str, *, accounts: set[str] | None = None, regions: set[str] | None = None,
                start_day: str | None = None, end_day: str | None = None) -> list[Path]:
    """The store's event files, pruned by partition, in partition order."""
    root = check_store(store_root)
    chosen = []
    for name in sorted(glob.glob(str(root / EVENTS / "account=*" / "region=*" / "date=*" / "*.avro"))):
        where = partitions.parse_partition_path(os.path.relpath(name, root))
        day = where.get("date") or ""
        if accounts is not None and where.get("account") not in accounts:
            continue
        if regions is not None and where.get("region") not in regions:
            continue
        if (start_day and day < start_day) or (end_day and day > end_day):
            continue
        chosen.append(Path(name))
    return chosen


def read_events(store_root: str, *, accounts: set[str] | None = None, regions: set[str] | None = None,
                start: int | None = None, end: int | None = None) -> Iterator[dict[str, Any]]:
    """Stored TrailEvent records, filtered by account, region and eventTime in [start, end) micros.

    Records come in partition order, and within each file in (eventTime, eventID) order.
    """
    start_day = timestamps.to_datetime(start).date().isoformat() if start is not None else None
    end_day = timestamps.to_datetime(end).date().isoformat() if end is not None else None
    for path in event_files(store_root, accounts=accounts, regions=regions, start_day=start_day,
                            end_day=end_day):
        with open(path, "rb") as handle:
            for record in fastavro.reader(handle):
                micros = timestamps.datetime_micros(record["eventTime"])
                if (start is not None and micros < start) or (end is not None and micros >= end):
                    continue
                yield record


def write_integrity(store_root: str, verification: str, findings: Iterable[Finding],
                    fs: StoreFS = LOCAL) -> str:
    """Stores one verification's findings (``trailbeam verify --store``); returns the file's path."""
    path = _join(store_root, INTEGRITY, f"verification={verification}", "part-00000.avro")
    records = [{**asdict(finding), "verification": verification,
                "hour": None if finding.hour is None else timestamps.to_datetime(finding.hour)}
               for finding in findings]
    with fs.create(path) as out:
        avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.INTEGRITY),
                                 records=(avro.encode(avro.INTEGRITY, r) for r in records), codec="deflate",
                                 seed=f"{verification}/integrity",
                                 metadata={"trailbeam.schema.version": str(avro.SCHEMA_VERSION)})
    return path


def read_integrity(store_root: str) -> Iterator[dict[str, Any]]:
    root = check_store(store_root)
    for path in sorted(root.glob(f"{INTEGRITY}/verification=*/*.avro")):
        with open(path, "rb") as handle:
            yield from fastavro.reader(handle)


def read_quarantine(store_root: str) -> Iterator[dict[str, Any]]:
    root = check_store(store_root)
    for path in sorted(root.glob(f"{QUARANTINE}/run=*/*.avro")):
        with open(path, "rb") as handle:
            yield from fastavro.reader(handle)

