"""A fast, partial reader of the store's event files, for passes that need a few columns of every event.

Attribution reads every event of the store but needs only its time, id, name, source, place and identity.
Decoding whole records with fastavro costs ~45 µs per event on this machine (the ``cloudTrailEvent`` text
and the provenance dominate); walking the encoding and keeping *slices of the encoded bytes* costs a
fraction of that. The slices are useful as they are: the encoded ``userIdentity`` is a perfect cache key
(equal bytes, equal identity), and the encoded columns an ``AttributedEvent`` shares with the event are
copied into it without being decoded and encoded again.

The walk follows ``schemas/trailbeam.TrailEvent.avsc`` field by field. The walk is written twice, in
Python (``_locate``) and in C (``_storescan.c``, built by ``setup.py`` when a compiler is available, ~50x
faster); tests run both and compare them. A file written with any other
writer schema (an older version) is read with fastavro, resolved to the current schema and re-encoded,
so callers always see the current layout; ``tests/unit/test_storescan.py`` checks every slice against
fastavro on real events.

Pure: stdlib, ``trailbeam.avro`` and ``trailbeam.avrofile``.
"""

from __future__ import annotations

import functools
import io
import json
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import fastavro

from trailbeam import avro, avrofile, jsonvalue

try:  # the same walk in C (trailbeam/_storescan.c), built by setup.py when a compiler is there
    from trailbeam import _storescan as _native
except ImportError:  # pragma: no cover - depends on the build
    _native = None

__all__ = ["WIDTH", "Located", "Scanned", "decode", "locate", "optional_strings", "original", "scan"]

_read_long = avrofile.read_long


class Scanned(NamedTuple):
    """One event of a store file: a few decoded columns and slices of its Avro encoding."""

    record: bytes        # the whole encoded TrailEvent (``decode`` turns it into the row)
    event_time: int      # UTC micros
    event_id: str
    name_source: bytes   # encoded eventName + eventSource: a cheap key for per-call decisions
    identity: bytes      # encoded userIdentity record: equal bytes, equal identity
    place: bytes         # encoded recipientAccountId + sourceIPAddress + userAgent
    failed: bool         # errorCode present
    read_only: bool | None   # the readOnly column
    original_at: int     # where the cloudTrailEvent text starts in ``record`` (see ``original``)
    head: bytes          # encoded AttributedEvent columns eventTime … userName (see attributed.py)


def _skip_string(buf: bytes, pos: int) -> int:
    size = buf[pos]
    if size < 0x80:
        return pos + 1 + (size >> 1)
    high = buf[pos + 1]
    if high < 0x80:                                      # two-byte length: up to 8 KiB, most long values
        return pos + 2 + (((size & 0x7F) | (high << 7)) >> 1)
    size, pos = _read_long(buf, pos)
    return pos + size


def _skip_optional_boolean(buf: bytes, pos: int) -> int:
    return pos + 1 if buf[pos] == 0 else pos + 2


def _skip_optional_long(buf: bytes, pos: int) -> int:
    if buf[pos] == 0:
        return pos + 1
    return _read_long(buf, pos + 1)[1]


def _skip_optionals(buf: bytes, pos: int, count: int) -> int:
    """Past ``count`` consecutive ``["null", string]`` values (one call for a run of them: calls cost)."""
    for _ in range(count):
        if buf[pos] == 0:
            pos += 1
            continue
        size = buf[pos + 1]
        if size < 0x80:
            pos += 2 + (size >> 1)
        elif buf[pos + 2] < 0x80:                        # two-byte length
            pos += 3 + (((size & 0x7F) | (buf[pos + 2] << 7)) >> 1)
        else:
            size, pos = _read_long(buf, pos + 1)
            pos += size
    return pos


# Values kept per record by ``_locate``, in this order: positions in the joined records, the eventTime, then
# where the cloudTrailEvent text (with its length) starts.
_START, _ID, _NAME, _NAME_END, _REGION, _ACCOUNT, _ACCOUNT_END, _ERROR, _ERROR_END, _IP, _UA_END, \
    _IDENTITY, _IDENTITY_HEAD_END, _IDENTITY_END, _END, _TIME, _ORIGINAL = range(17)
WIDTH = 17


def _locate(buf: bytes, count: int, offsets: array) -> None:
    """Walks ``count`` encoded TrailEvents from the start of ``buf``, appending WIDTH offsets per record."""
    # Field order of trailbeam.TrailEvent; each step names the fields it passes.
    skip, skip_bool, skip_string, read_long = _skip_optionals, _skip_optional_boolean, _skip_string, _read_long
    extend = offsets.extend
    pos = 0
    for _ in range(count):
        start = pos
        event_time, pos = read_long(buf, pos)                # eventTime
        id_size = buf[pos]
        if id_size < 0x80:
            id_start = pos + 1
            id_size >>= 1
        else:
            id_size, id_start = read_long(buf, pos)
        name_at = pos = id_start + id_size                   # eventID
        name_end = pos = skip(buf, pos, 2)                   # eventName, eventSource
        region_at = pos = skip(buf, pos, 3)                  # eventType, eventCategory, eventVersion
        account_at = pos = skip(buf, pos, 1)                 # awsRegion
        account_end = pos = skip(buf, pos, 1)                # recipientAccountId
        error_at = pos = skip_bool(buf, skip_bool(buf, pos))  # readOnly, managementEvent
        error_end = pos = skip(buf, pos, 1)                  # errorCode
        ip_at = pos = skip(buf, pos, 1)                      # errorMessage
        ua_end = pos = skip(buf, pos, 2)                     # sourceIPAddress, userAgent
        pos = skip(buf, pos, 3)                              # requestID, sharedEventID, vpcEndpointId
        identity_at = pos = skip_bool(buf, pos)              # sessionCredentialFromConsole
        identity_head_end = pos = skip(buf, pos, 6)          # type, arn, accountId, accessKeyId, principalId,
                                                             # userName
        pos = skip(buf, pos, 2)                              # invokedBy, sourceIdentity
        pos = _skip_optional_long(buf, skip_bool(buf, pos))  # mfaAuthenticated, sessionCreationDate
        identity_end = pos = skip(buf, pos, 5 + 4)           # sessionIssuer (5), webIdFederationProvider,
                                                             # onBehalfOf userId + store, credentialId
        while True:                                          # resources: blocks of (arn, type, accountId)
            items, pos = read_long(buf, pos)
            if items == 0:
                break
            if items < 0:
                items = -items
                pos = read_long(buf, pos)[1]
            pos = skip(buf, pos, items * 3)
        pos = skip_string(buf, skip_string(buf, skip_string(buf, pos)))   # source: uri, sha256, contentSha256
        pos = read_long(buf, pos)[1]                                      # position
        pos = skip_string(buf, skip(buf, skip_string(buf, pos), 1))       # shape, wrapper, ingestRun
        original_at = pos = read_long(buf, pos)[1] + 1                    # copies, conflict
        pos = skip_string(buf, pos)                                       # cloudTrailEvent
        extend((start, id_start, name_at, name_end, region_at, account_at, account_end, error_at, error_end,
                ip_at, ua_end, identity_at, identity_head_end, identity_end, pos, event_time, original_at))


def _scanned(buf: bytes, at: tuple[int, ...]) -> Scanned:
    """One record from its WIDTH values."""
    (start, id_start, name_at, name_end, region_at, account_at, account_end, error_at, error_end, ip_at, ua_end,
     identity_at, identity_head_end, identity_end, end, event_time, original_at) = at
    return Scanned(
        record=buf[start:end], event_time=event_time, event_id=buf[id_start:name_at].decode(),
        name_source=buf[name_at:name_end], identity=buf[identity_at:identity_end],
        place=buf[account_at:account_end] + buf[ip_at:ua_end], failed=buf[error_at] != 0,
        read_only=None if buf[account_end] == 0 else buf[account_end + 1] == 1, original_at=original_at - start,
        head=b"".join((buf[start:name_end], buf[region_at:account_end], buf[error_at:error_end], buf[ip_at:ua_end],
                       buf[identity_at:identity_head_end])),
    )


def _without_docs(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _without_docs(value) for key, value in node.items() if key != "doc"}
    if isinstance(node, list):
        return [_without_docs(item) for item in node]
    return node


@functools.lru_cache(maxsize=16)
def _is_current_layout(schema_json: str) -> bool:
    """Docs may change within a schema version; only the rest decides the encoding."""
    try:
        written = json.loads(schema_json)
    except ValueError:
        return False
    return bool(_without_docs(written) == _without_docs(json.loads(avro.writer_schema_json(avro.EVENT))))


def _records(data: bytes) -> tuple[bytes, int]:
    """A store event file's records, encoded in the current layout and joined: (records, count)."""
    container = avrofile.read_container(data)
    if _is_current_layout(container.schema_json):
        return b"".join(block for _, block in container.blocks), container.count
    # Another schema version: let fastavro resolve it to the current one, then re-encode.
    rows = fastavro.reader(io.BytesIO(data), reader_schema=avro.parsed_schemas()[avro.EVENT])
    encoded = [avro.encode(avro.EVENT, row) for row in rows]
    return b"".join(encoded), len(encoded)


@dataclass(frozen=True, slots=True)
class Located:
    """A store event file's records and where each record's fields are: walk once, slice many times."""

    records: bytes
    offsets: array                # WIDTH positions per record

    def __len__(self) -> int:
        return len(self.offsets) // WIDTH

    def scanned(self, index: int) -> Scanned:
        return _scanned(self.records, tuple(self.offsets[index * WIDTH:(index + 1) * WIDTH]))

    def name_source(self, index: int) -> bytes:
        at = index * WIDTH
        return self.records[self.offsets[at + _NAME]:self.offsets[at + _NAME_END]]

    def event_id(self, index: int) -> str:
        at = index * WIDTH
        return self.records[self.offsets[at + _ID]:self.offsets[at + _NAME]].decode()

    def rows(self) -> Iterator[tuple[int, int, bytes, bytes, bytes, bool, bytes]]:
        """What a pass over every event needs, cheaper than ``Scanned``: (index, event_time, name_source,
        identity, place, failed, head) per record, as plain tuples; ``scanned(index)`` and
        ``event_id(index)`` give the rest when needed."""
        buf, offsets = self.records, self.offsets
        for index, at in enumerate(range(0, len(offsets), WIDTH)):
            (start, _, name_at, name_end, region_at, account_at, account_end, error_at, error_end, ip_at, ua_end,
             identity_at, identity_head_end, identity_end, _, event_time, _) = offsets[at:at + WIDTH]
            yield (index, event_time, buf[name_at:name_end], buf[identity_at:identity_end],
                   buf[account_at:account_end] + buf[ip_at:ua_end], buf[error_at] != 0,
                   b"".join((buf[start:name_end], buf[region_at:account_end], buf[error_at:error_end],
                             buf[ip_at:ua_end], buf[identity_at:identity_head_end])))

    def __iter__(self) -> Iterator[Scanned]:
        records, offsets = self.records, self.offsets
        for at in range(0, len(offsets), WIDTH):
            yield _scanned(records, tuple(offsets[at:at + WIDTH]))


def locate(data: bytes) -> Located:
    """Walks one store event file (a whole Avro container) once.

    Raises:
        ValueError: not a readable Avro container, or not a file of TrailEvents.
    """
    records, count = _records(data)
    offsets = array("q")
    if _native is not None:
        offsets.frombytes(_native.locate(records, count))      # raises ValueError past the data
        return Located(records, offsets)
    try:
        _locate(records, count, offsets)
    except IndexError:
        raise ValueError("not a file of trailbeam.TrailEvent records (the walk ran past the data)") from None
    return Located(records, offsets)


def scan(data: bytes) -> Iterator[Scanned]:
    """Every event of one store event file (a whole Avro container), in file order.

    Raises:
        ValueError: not a readable Avro container, or not a file of TrailEvents.
    """
    return iter(locate(data))


def original(scanned: Scanned) -> Any:
    """The original CloudTrail event of a scanned record (``cloudtrail.original_event`` of its row), parsed
    straight from the record's ``cloudTrailEvent`` bytes: no Avro decoding of the rest."""
    size, at = _read_long(scanned.record, scanned.original_at)
    return jsonvalue.loads(scanned.record[at:at + size])


def decode(scanned: Scanned) -> dict[str, Any]:
    """The full TrailEvent row of a scanned event (fastavro; for the few events that need all of it)."""
    return avro.decode(avro.EVENT, scanned.record)


def optional_strings(encoded: bytes, count: int) -> list[str | None]:
    """Decodes ``count`` consecutive ``["null", string]`` values, e.g. ``Scanned.name_source`` (2) or
    ``Scanned.place`` (3)."""
    values: list[str | None] = []
    pos = 0
    for _ in range(count):
        if encoded[pos] == 0:
            values.append(None)
            pos += 1
            continue
        size, pos = _read_long(encoded, pos + 1)
        values.append(encoded[pos:pos + size].decode())
        pos += size
    return values
