"""EventIDs that occur in more than one partition-hour: the conflicts per-partition dedupe cannot see.

Identical copies of an event always share a partition-hour, because the partition is derived from the
event's content only (account, region, eventTime). Copies that disagree on those members land apart;
they are evidence of tampering and must be flagged, not stored side by side as if unrelated. Ingest
therefore also spreads (eventID, partition-hour) pairs over a fixed number of shards by a stable hash
of the eventID, and each shard finds the IDs seen under more than one partition-hour.

The number of shards grows with the input (``shard_count``), so that one shard holds a bounded number
of eventIDs however large the run: the shards only find the split IDs, so the count never changes a result.

Shapes: ``spread({key: [eventID, ...]}, shards)`` -> ``[(shard, packed pairs)]``;
``split_ids([packed pairs, ...])`` -> ``{eventID: copies}`` for eventIDs found in several partitions;
``scan_shard`` gives the same plus how many distinct eventIDs the shard held.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import NamedTuple

from trailbeam import sharding
from trailbeam.avrofile import zstd

DEFAULT_SHARDS = 64
# Source bytes per shard. Gzipped CloudTrail objects hold ~180-200 bytes per event (measured: 184 B on 1M
# realistic events, 200 B on the fixtures), so 256 MiB of them make ~1.4M eventIDs per shard, ~170 bytes
# each while a shard is scanned (~250 MB). Uncompressed input (~1.4 KB per event) merely gets more shards
# than it needs (~190k eventIDs each).
BYTES_PER_ID_SHARD = 256 << 20
_LENGTHS = struct.Struct("<HH")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # an eventID may hold a lone surrogate escape


def shard_count(total_bytes: int, *, minimum: int = DEFAULT_SHARDS,
                bytes_per_shard: int = BYTES_PER_ID_SHARD) -> int:
    """How many shards a run's eventIDs need: ``max(minimum, ceil(total_bytes / bytes_per_shard))``.

    ``total_bytes`` is the size of the run's source objects as listed (before decompression), so the
    count is known before anything is read and the same on every runner for the same input.
    """
    return sharding.shard_count(total_bytes, bytes_per_shard, minimum=minimum)


def shard_of(event_id: str, shards: int) -> int:
    """A stable shard for an eventID (the same in every process, unlike ``hash``)."""
    return zlib.crc32(_utf8(event_id)) % shards


def spread(ids_by_key: dict[str, list[str]], shards: int) -> list[tuple[int, bytes]]:
    """Packs (eventID, partition-hour key) pairs per shard, one blob per non-empty shard."""
    parts: dict[int, list[bytes]] = {}
    for key, event_ids in ids_by_key.items():
        key_bytes = _utf8(key)
        for event_id in event_ids:
            id_bytes = _utf8(event_id)
            parts.setdefault(shard_of(event_id, shards), []).append(
                _LENGTHS.pack(len(id_bytes), len(key_bytes)) + id_bytes + key_bytes)
    return [(shard, zstd.compress(b"".join(blobs), level=1)) for shard, blobs in sorted(parts.items())]


def _pairs(blob: bytes) -> Iterable[tuple[bytes, bytes]]:
    data = zstd.decompress(blob)
    offset, size = 0, _LENGTHS.size
    while offset < len(data):
        id_len, key_len = _LENGTHS.unpack_from(data, offset)
        offset += size
        yield data[offset:offset + id_len], data[offset + id_len:offset + id_len + key_len]
        offset += id_len + key_len


class ShardScan(NamedTuple):
    split: dict[str, int]   # eventID -> copies, for eventIDs seen under several partition-hours
    ids: int                # distinct eventIDs the shard held


def scan_shard(blobs: Iterable[bytes]) -> ShardScan:
    """One shard's packed pairs -> its split eventIDs and how many distinct eventIDs it held."""
    first_key: dict[bytes, bytes] = {}
    copies: dict[bytes, int] = {}
    split: set[bytes] = set()
    keys: dict[bytes, bytes] = {}  # one object per partition-hour key: a shard holds few of them
    for blob in blobs:
        for event_id, key in _pairs(blob):
            if first_key.setdefault(event_id, keys.setdefault(key, key)) != key:
                split.add(event_id)
            copies[event_id] = copies.get(event_id, 0) + 1
    return ShardScan({event_id.decode("utf-8", "surrogatepass"): copies[event_id] for event_id in sorted(split)},
                     len(first_key))


def split_ids(blobs: Iterable[bytes]) -> dict[str, int]:
    """EventIDs seen under more than one partition-hour -> how many copies were seen in all."""
    return scan_shard(blobs).split
