"""Spill chunks: encoded events parked on storage between parsing and the per-partition write.

Shuffling the events themselves through the runner would keep every event in memory on a local
runner (the in-process runners buffer whole collections) and grow with the input. Instead, parsing
workers write compressed chunks of encoded events next to the store and shuffle only small
references; the worker that owns a partition reads its chunks back. Memory is then bounded by the
largest partition-hour, not by the input.

Chunk format: zstandard frame of repeated ``<q micros><I id length><I data length><id><data>``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from trailbeam.avrofile import zstd

Entry = tuple[int, str, bytes]   # (eventTime micros, eventID, Avro-encoded TrailEvent)
_HEAD = struct.Struct("<qII")


def pack(entries: Iterable[Entry]) -> bytes:
    parts: list[bytes] = []
    head = _HEAD.pack
    for micros, event_id, data in entries:
        key = event_id.encode()
        parts += (head(micros, len(key), len(data)), key, data)
    return zstd.compress(b"".join(parts), level=1)


def unpack(chunk: bytes) -> list[Entry]:
    data = zstd.decompress(chunk)
    entries: list[Entry] = []
    offset, end, size = 0, len(data), _HEAD.size
    read = _HEAD.unpack_from
    while offset < end:
        micros, key_len, data_len = read(data, offset)
        offset += size
        key_end = offset + key_len
        entries.append((micros, data[offset:key_end].decode(), data[key_end:key_end + data_len]))
        offset = key_end + data_len
    return entries


class Buffer:
    """Events of many files gathered per partition-hour until enough are held to spill them.

    Input: ``add`` one file's events by partition-hour key with their encoded size. Output: ``drain``
    gives ``(key, chunk bytes)`` in key order and empties the buffer.
    """

    def __init__(self, limit_bytes: int = 32 << 20) -> None:
        self._limit = limit_bytes
        self._events: dict[str, list[Entry]] = {}
        self._size = 0

    def add(self, events: dict[str, list[Entry]], size: int) -> bool:
        """Adds one file's events; True when the buffer should be drained."""
        for key, entries in events.items():
            self._events.setdefault(key, []).extend(entries)
        self._size += size
        return self._size >= self._limit

    def drain(self) -> list[tuple[str, bytes]]:
        events, self._events, self._size = self._events, {}, 0
        return [(key, pack(events[key])) for key in sorted(events)]

    def event_ids(self) -> dict[str, list[str]]:
        """The eventIDs held, by partition-hour key (call before ``drain``)."""
        return {key: [event_id for _, event_id, _ in entries] for key, entries in self._events.items()}
