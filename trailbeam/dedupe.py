"""Deduplication by eventID within one partition, and the order of the stored records.

CloudTrail may deliver an event more than once; the copies are identical and one is kept. Copies
whose content differs are never resolved silently: each distinct content is kept, every kept copy is
marked ``conflict`` with its own provenance, and the conflict is counted. "Content" is the event
itself (cloudTrailEvent), so the same event read from an S3 log and from a LookupEvents export is one
event, not a conflict. Among equal copies, the one from the smallest (source URI, position) is kept,
so the result does not depend on the order in which workers delivered them.

Copies that landed in other partition-hours (they disagree on account, region or time) are found
by ``eventids``; their eventIDs arrive here as ``split``, and every local copy of them is marked
``conflict`` with the run-wide number of copies. They are counted once, by ``eventids``, not here.

Events already in the store from earlier runs (``stored``: eventID -> contents) are not stored again
when identical (counted as duplicates); a new copy that differs is stored and marked ``conflict``.

Input: entries ``(eventTime micros, eventID, Avro-encoded TrailEvent)`` of one partition-hour.
Output: encoded records sorted by (eventTime, eventID) and the partition's counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from trailbeam import avro, timestamps
from trailbeam.spill import Entry


@dataclass(frozen=True, slots=True, kw_only=True)
class Deduplicated:
    records: list[bytes]    # encoded TrailEvents in store order
    read: int               # entries given
    stored: int             # records kept (both sides of a conflict count)
    duplicates: int         # copies dropped
    conflicts: int          # eventIDs whose copies differ within this partition-hour only
    first: int | None       # earliest eventTime (micros) kept
    last: int | None        # latest eventTime (micros) kept


def deduplicate(entries: list[Entry], split: Mapping[str, int] | None = None,
                stored: Mapping[str, set[str]] | None = None) -> Deduplicated:
    """Keeps one entry per eventID and content; see the module docstring.

    Args:
        entries: the partition-hour's entries, in any order.
        split: eventIDs that also occur in other partition-hours -> run-wide number of copies.
        stored: eventIDs already in the store's partition-hour -> their stored contents (cloudTrailEvent).
    """
    split = split or {}
    stored = stored or {}
    counts = Counter(event_id for _, event_id, _ in entries)
    repeated = {event_id for event_id, n in counts.items() if n > 1 or event_id in split or event_id in stored}
    kept = [entry for entry in entries if entry[1] not in repeated] if repeated else list(entries)
    conflicts = 0
    if repeated:
        groups: dict[str, list[Entry]] = {}
        for entry in entries:
            if entry[1] in repeated:
                groups.setdefault(entry[1], []).append(entry)
        for event_id, copies in groups.items():
            resolved = _resolve(copies, split.get(event_id), stored.get(event_id, set()))
            conflicts += (len(resolved) > 1 or (event_id in stored and bool(resolved))) and event_id not in split
            kept.extend(resolved)
    # Ties on (time, id) only happen between conflicting copies; their bytes order them stably.
    kept.sort()
    return Deduplicated(records=[data for _, _, data in kept], read=len(entries), stored=len(kept),
                        duplicates=len(entries) - len(kept), conflicts=conflicts,
                        first=kept[0][0] if kept else None, last=kept[-1][0] if kept else None)


def _resolve(copies: list[Entry], run_copies: int | None, stored: set[str]) -> list[Entry]:
    """Copies of one eventID -> one entry per distinct content not yet stored, re-encoded with
    copies/conflict set.

    ``run_copies`` is set when copies also exist in other partition-hours: a conflict in any case;
    ``stored`` holds the contents earlier runs stored under this eventID.
    """
    records = [avro.decode(avro.EVENT, data) for _, _, data in copies]
    records.sort(key=lambda r: (r["source"]["uri"], r["source"]["position"]))
    distinct: dict[str, dict] = {}
    for record in records:
        if record["cloudTrailEvent"] not in stored:
            distinct.setdefault(record["cloudTrailEvent"], record)
    conflict = len(distinct) > 1 or run_copies is not None or bool(stored and distinct)
    resolved = []
    for record in distinct.values():
        record = {**record, "copies": run_copies or len(copies), "conflict": conflict}
        resolved.append((timestamps.datetime_micros(record["eventTime"]), record["eventID"],
                         avro.encode(avro.EVENT, record)))
    return resolved
