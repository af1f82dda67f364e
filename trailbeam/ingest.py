"""One input object -> its encoded events grouped by partition-hour, its quarantine, and a report.

This is all of ingest that looks at a single file, kept free of Beam so it is tested directly and
reused by any runner. Every item of the file ends in exactly one place: an event entry or a
quarantine record; a file that cannot be read at all is one quarantine record. The report carries the
counts that let a run prove ``read = stored + duplicates + quarantined``.

Input: the object's URI and bytes as stored. Output: ``FileResult``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from trailbeam import cloudtrail, errors, jsonvalue, layout, partitions, readers, timestamps
from trailbeam.eventcodec import source_head, source_tail
from trailbeam.selectors import ALL, EventFilter
from trailbeam.spill import Entry

_HOUR = 3_600_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class FileReport:
    """What one object contributed to a run (a row of the run's files manifest)."""

    uri: str
    size: int
    sha256: str
    content_sha256: str | None
    kind: str            # layout.LOG, DIGEST, INSIGHT or OTHER (from the key)
    shape: str           # readers shape, "digest", "empty", "unreadable", or SKIPPED / MODIFIED
    records: int         # items found: events + filtered + quarantined items
    events: int          # items that became events (before deduplication)
    quarantined: int     # items quarantined (a whole-object rejection is counted by ``rejected``)
    rejected: bool       # the whole object was quarantined
    filtered: int = 0    # valid events the run's filter left out
    etag: str | None = None  # the object's ETag when it came from an object store

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileResult:
    report: FileReport
    events: dict[str, list[Entry]] = field(default_factory=dict)   # group key -> entries
    encoded_bytes: int = 0                                          # size of all encoded events
    quarantine: list[dict[str, Any]] = field(default_factory=list)  # QuarantineRecord dicts


# Shapes of objects an incremental run did not parse.
SKIPPED = "already-ingested"
MODIFIED = "modified"
NOT_CONSUMED = (SKIPPED, MODIFIED, "unreadable")


def earlier_ingest(earlier: dict[str, Any] | None, *, etag: str | None = None,
                   sha256: str | None = None) -> str | None:
    """Compares an object with the report of the run that ingested it before.

    Returns None (not ingested before), SKIPPED (unchanged) or MODIFIED (its ETag or content changed:
    evidence was altered after it was ingested). Object stores are judged by ETag before reading,
    local files by SHA-256 after.
    """
    if earlier is None:
        return None
    if etag is not None and earlier.get("etag") is not None:
        return SKIPPED if etag == earlier["etag"] else MODIFIED
    if sha256 is not None:
        return SKIPPED if sha256 == earlier["sha256"] else MODIFIED
    return None


def not_ingested_again(uri: str, data: bytes | None, size: int, *, sha256: str, earlier: dict[str, Any],
                       verdict: str, run_id: str, etag: str | None = None) -> FileResult:
    """The result for an object an earlier run ingested: skipped, or quarantined as modified evidence.

    ``sha256`` is the object's hash now (the earlier one when it was skipped unread).
    """
    report = FileReport(uri=uri, size=size, sha256=sha256, content_sha256=None, kind=layout.locate(uri).kind,
                        shape=verdict, records=0, events=0, quarantined=0, rejected=verdict == MODIFIED,
                        etag=etag)
    if verdict == SKIPPED:
        return FileResult(report=report)
    was = f"etag {earlier.get('etag')}" if etag is not None else f"sha256 {earlier['sha256']}"
    now = f"etag {etag}" if etag is not None else f"sha256 {sha256}"
    detail = f"changed since it was ingested: {was} then, {now} now; its stored events were kept"
    return FileResult(report=report, quarantine=[
        _quarantined(errors.MODIFIED_SINCE_INGEST, detail, uri, sha256, None, None, data or b"", run_id)])


def group_key(partition: str, hour: int) -> str:
    """Partition-hour key: the unit that is deduplicated, sorted and written as one file."""
    return f"{partition}#{hour:02d}"


def split_group_key(key: str) -> tuple[str, int]:
    partition, _, hour = key.rpartition("#")
    return partition, int(hour)


class _Partitioner:
    """Finds an event's partition-hour; cached per hour and place, since a file spans few of them.

    Only the event's own members decide (never the object's path): identical copies of an event must
    meet in one partition-hour to be deduplicated, wherever each copy was read from.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[str | None, str | None, int], str] = {}

    def key(self, event: cloudtrail.Encoded) -> str:
        place = (event.account, event.region, event.time // _HOUR)
        found = self._cache.get(place)
        if found is None:
            moment = timestamps.to_datetime(place[2] * _HOUR)
            found = group_key(partitions.partition_path(place[0], place[1], moment.date().isoformat()), moment.hour)
            self._cache[place] = found
        return found


def ingest_bytes(uri: str, data: bytes, *, run_id: str, shape: str = "auto",
                 columns: cloudtrail.ColumnCache | None = None, keep: EventFilter = ALL,
                 etag: str | None = None) -> FileResult:
    """Decodes, validates and encodes every event of one object.

    Args:
        uri: the object's URI (stored as provenance).
        data: its bytes exactly as stored.
        run_id: the ingest run, stored with every record.
        shape: a readers shape to force, or "auto".
        columns: a column cache to share across files (one per worker); a new one otherwise.
        keep: the run's event filter; valid events it does not match are counted, not stored.
        etag: the object's ETag, kept in the report for incremental runs.
    """
    where = layout.locate(uri)
    sha256 = hashlib.sha256(data).hexdigest()
    if where.kind == layout.DIGEST:
        # Digest files are evidence about logs, not logs: the integrity work reads them.
        return FileResult(report=FileReport(uri=uri, size=len(data), sha256=sha256, content_sha256=None,
                                            kind=where.kind, shape="digest", records=0, events=0,
                                            quarantined=0, rejected=False, etag=etag))
    decoded = readers.decode(data, shape=shape)
    quarantine = [_quarantined(reject.reason, reject.detail, uri, sha256, reject.position, None,
                               reject.payload, run_id) for reject in decoded.rejects]
    rejected = any(reject.position is None for reject in decoded.rejects)
    events: dict[str, list[Entry]] = {}
    head = source_head(uri, sha256, decoded.content_sha256 or "")
    tail = source_tail(decoded.shape, None, run_id)
    partitioner = _Partitioner()
    columns = columns if columns is not None else cloudtrail.ColumnCache()
    matches = None if keep == ALL else keep.matches
    encoded_bytes = filtered = 0
    for item in decoded.items:
        value = item.value
        item_tail = tail if item.wrapper is None else source_tail(decoded.shape, item.wrapper.decode(), run_id)
        try:
            canonical = jsonvalue.dumps(value)
            encoded = cloudtrail.encode_event(value, canonical, head, item.position, item_tail, columns)
        except (errors.Rejected, jsonvalue.JsonError) as err:
            quarantine.append(_rejected_item(err, value, uri, sha256, item.position, run_id))
            continue
        if matches is not None and not matches(value):
            filtered += 1
            continue
        encoded_bytes += len(encoded.data)
        events.setdefault(partitioner.key(encoded), []).append((encoded.time, encoded.event_id, encoded.data))
    stored = sum(len(entries) for entries in events.values())
    item_rejects = len(quarantine) - rejected
    report = FileReport(uri=uri, size=len(data), sha256=sha256, content_sha256=decoded.content_sha256,
                        kind=where.kind, shape=decoded.shape, records=stored + filtered + item_rejects,
                        events=stored, quarantined=item_rejects, rejected=rejected, filtered=filtered, etag=etag)
    return FileResult(report=report, events=events, quarantine=quarantine, encoded_bytes=encoded_bytes)


def _rejected_item(err: errors.Rejected | jsonvalue.JsonError, value: Any, uri: str, sha256: str,
                   position: int, run_id: str) -> dict[str, Any]:
    event_id = value.get("eventID") if type(value) is dict else None
    event_id = event_id if type(event_id) is str else None
    if isinstance(err, errors.Rejected):
        return _quarantined(err.reason, err.detail, uri, sha256, position, event_id, jsonvalue.dumps(value), run_id)
    # The value could not even be written as JSON (nested too deep): the source object keeps it.
    return _quarantined(errors.INVALID_JSON, f"{err}; see the item at this position of the source object",
                        uri, sha256, position, event_id, b"", run_id)


def unreadable(uri: str, detail: str, run_id: str, reason: str = errors.UNREADABLE,
               etag: str | None = None) -> FileResult:
    """The result for an object that could not be read at all (vanished, I/O error, permission)."""
    report = FileReport(uri=uri, size=0, sha256="", content_sha256=None, kind=layout.locate(uri).kind,
                        shape="unreadable", records=0, events=0, quarantined=0, rejected=True, etag=etag)
    return FileResult(report=report, quarantine=[
        _quarantined(reason, detail, uri, None, None, None, b"", run_id)])


def ingest_object(uri: str, *, size: int, etag: str | None, earlier: dict[str, Any] | None,
                  read: Callable[[], bytes], run_id: str, shape: str = "auto",
                  columns: cloudtrail.ColumnCache | None = None, keep: EventFilter = ALL) -> FileResult:
    """One listed object, from "was it ingested before?" to its events.

    An object an earlier run ingested unchanged is skipped (without reading it when its ETag says so);
    one that changed since is quarantined as modified evidence and its stored events stay as they
    were; anything else is read and ingested.

    Args:
        read: returns the object's bytes; raises ``errors.ObjectUnavailable`` when it cannot.
        earlier: the object's report from the run that ingested it, if any.
    """
    verdict = earlier_ingest(earlier, etag=etag) if earlier is not None and etag is not None else None
    if verdict == SKIPPED and earlier is not None:
        return not_ingested_again(uri, None, size, sha256=earlier["sha256"], earlier=earlier, verdict=SKIPPED,
                                  run_id=run_id, etag=etag)
    try:
        data = read()
    except errors.ObjectUnavailable as err:
        return unreadable(uri, err.detail, run_id, err.reason, etag)
    if earlier is not None:
        sha256 = hashlib.sha256(data).hexdigest()
        verdict = verdict or earlier_ingest(earlier, sha256=sha256)
        if verdict is not None:
            return not_ingested_again(uri, data, len(data), sha256=sha256, earlier=earlier, verdict=verdict,
                                      run_id=run_id, etag=etag)
    return ingest_bytes(uri, data, run_id=run_id, shape=shape, columns=columns, keep=keep, etag=etag)


def _quarantined(reason: str, detail: str, uri: str, sha256: str | None, position: int | None,
                 event_id: str | None, payload: bytes, run_id: str) -> dict[str, Any]:
    return {"reason": reason, "detail": detail[:1000], "uri": uri, "sha256": sha256, "position": position,
            "eventID": event_id, "payload": payload, "ingestRun": run_id}
