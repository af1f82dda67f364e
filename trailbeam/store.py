"""The event store on disk: layout, writing one partition-hour, quarantine, run manifests, reading.

Layout (all Avro is readable by any Avro reader; folders are Hive-style partitions)::

    <store>/events/account=<id>/region=<name>/date=YYYY-MM-DD/part-HH-<run>.avro   TrailEvent
    <store>/quarantine/run=<run>/part-00000.avro                                   QuarantineRecord
    <store>/_runs/<run>/summary.json      counts, sources, schema version of the run
    <store>/_runs/<run>/files.jsonl       one FileReport per input object, sorted by URI

Writing functions take a ``create(path) -> binary file`` callable so that the Beam shell can pass
Beam's FileSystems (local, gs://, s3://) while tests pass ``open``. Reading is local.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import fastavro

from trailbeam import avro, avrofile, errors, partitions, timestamps
from trailbeam.dedupe import deduplicate
from trailbeam.ingest import split_group_key
from trailbeam.spill import Entry

Create = Callable[[str], BinaryIO]
EVENTS = "events"
QUARANTINE = "quarantine"
RUNS = "_runs"


def _local_create(path: str) -> BinaryIO:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return open(path, "wb")


def _join(*parts: str) -> str:
    return "/".join(part.rstrip("/") for part in parts)


def partition_file(store_root: str, key: str, run_id: str) -> str:
    partition, hour = split_group_key(key)
    return _join(store_root, EVENTS, partition, f"part-{hour:02d}-{run_id}.avro")


def write_partition(store_root: str, key: str, entries: list[Entry], *, run_id: str, codec: str,
                    split: dict[str, int] | None = None, create: Create = _local_create) -> dict[str, Any]:
    """Deduplicates and sorts one partition-hour and writes it as one Avro file.

    ``split``: eventIDs that also occur in other partition-hours (``eventids.split_ids``).
    Returns the partition's counts: read, stored, duplicates, conflicts, first/last eventTime.
    """
    result = deduplicate(entries, split)
    path = partition_file(store_root, key, run_id)
    with create(path) as out:
        avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.EVENT), records=result.records,
                                 codec=codec, seed=f"{run_id}/{key}",
                                 metadata={"trailbeam.schema.version": str(avro.SCHEMA_VERSION)})
    partition, _ = split_group_key(key)
    return {"key": key, "path": path, **partitions.parse_partition_path(partition),
            "read": result.read, "stored": result.stored, "duplicates": result.duplicates,
            "conflicts": result.conflicts, "first": result.first, "last": result.last}


def write_quarantine(store_root: str, records: list[dict[str, Any]], *, run_id: str,
                     create: Create = _local_create) -> dict[str, int]:
    """Writes a run's quarantined inputs, ordered by source, as one Avro file; returns counts by reason."""
    records = sorted(records, key=lambda r: (r["uri"], -1 if r["position"] is None else r["position"],
                                             r["reason"]))
    path = _join(store_root, QUARANTINE, f"run={run_id}", "part-00000.avro")
    # Our own container writer: fastavro's header re-serialises the schema in an order that varies
    # between processes, and the store must be byte-identical for the same input.
    with create(path) as out:
        avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.QUARANTINE),
                                 records=(avro.encode(avro.QUARANTINE, r) for r in records), codec="deflate",
                                 seed=f"{run_id}/quarantine",
                                 metadata={"trailbeam.schema.version": str(avro.SCHEMA_VERSION)})
    counts: dict[str, int] = {}
    for record in records:
        counts[record["reason"]] = counts.get(record["reason"], 0) + 1
    return counts


def write_manifest(store_root: str, run_id: str, summary: dict[str, Any], reports: list[dict[str, Any]],
                   *, create: Create = _local_create) -> None:
    with create(_join(store_root, RUNS, run_id, "files.jsonl")) as out:
        for report in sorted(reports, key=lambda r: r["uri"]):
            out.write(json.dumps(report, sort_keys=True).encode() + b"\n")
    with create(_join(store_root, RUNS, run_id, "summary.json")) as out:
        out.write(json.dumps(summary, indent=2, sort_keys=True).encode() + b"\n")


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


def read_quarantine(store_root: str) -> Iterator[dict[str, Any]]:
    root = check_store(store_root)
    for path in sorted(root.glob(f"{QUARANTINE}/run=*/*.avro")):
        with open(path, "rb") as handle:
            yield from fastavro.reader(handle)

