"""Avro binary encoding of TrailEvent rows, written out by hand for speed.

fastavro spends about a microsecond per field on this machine, mostly deciding which branch of a
``["null", T]`` union a value takes; a TrailEvent has about forty such fields, which made encoding
three quarters of the ingest cost. The schema is fixed and versioned, so its encoding is spelled out
here once, field by field in schema order. ``tests/unit/test_eventcodec.py`` proves that the bytes
equal fastavro's for the fixtures and for generated rows, so this module cannot drift from
``schemas/trailbeam.TrailEvent.avsc`` unnoticed. Everything that reads the store uses fastavro or any
other Avro library.

The provenance record is the same for every event of a file except its position, so callers encode
its two constant halves once per file (``source_head``, ``source_tail``) and pass them in.
"""

from __future__ import annotations

import functools
from typing import Any

# zigzag varints of 0..63 are one byte: 2*n.
_SMALL = [bytes((n << 1,)) for n in range(64)]
# A present optional string of 0..63 bytes: union branch 1, then its one-byte length.
_PRESENT_SMALL = [b"\x02" + small for small in _SMALL]
_NULL = b"\x00"
_TRUE = b"\x02\x01"
_FALSE = b"\x02\x00"
_EMPTY_ARRAY = b"\x00"
# copies=1 (zigzag 2), conflict=false.
_SINGLE_COPY = b"\x02\x00"


def long_bytes(n: int) -> bytes:
    """Avro ``long``: zigzag, then base-128 varint."""
    if 0 <= n < 64:
        return _SMALL[n]
    return _varint(n)


# Event times repeat within a second and positions within a file: most calls are cache hits.
@functools.lru_cache(maxsize=1 << 16)
def _varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def string_bytes(text: str) -> bytes:
    data = text.encode()
    size = len(data)
    return (_SMALL[size] if size < 64 else long_bytes(size)) + data


def _optional_string(text: str | None) -> bytes:
    if text is None:
        return _NULL
    data = text.encode()
    size = len(data)
    return (_PRESENT_SMALL[size] if size < 64 else b"\x02" + long_bytes(size)) + data


def _optional_bool(flag: bool | None) -> bytes:
    if flag is None:
        return _NULL
    return _TRUE if flag else _FALSE


def _optional_long(n: int | None) -> bytes:
    return _NULL if n is None else b"\x02" + long_bytes(n)


def source_head(uri: str, sha256: str, content_sha256: str) -> bytes:
    """The Provenance record's bytes before its ``position`` field: constant per file."""
    return string_bytes(uri) + string_bytes(sha256) + string_bytes(content_sha256)


def source_tail(shape: str, wrapper: str | None, ingest_run: str) -> bytes:
    """The Provenance record's bytes after its ``position`` field: constant per file unless wrapped."""
    return string_bytes(shape) + _optional_string(wrapper) + string_bytes(ingest_run)


def encode_event(row: dict[str, Any], source_head: bytes, position: int, source_tail: bytes) -> bytes:
    """One TrailEvent row (as ``cloudtrail.event_row`` builds it, without ``source``) -> Avro bytes.

    ``copies`` and ``conflict`` are written as 1 and false: deduplication re-encodes the rare
    records that need other values.
    """
    s = _optional_string
    b = _optional_bool
    ident = row["userIdentity"]
    issuer = ident["sessionIssuer"]
    resources = row["resources"]
    return b"".join((
        long_bytes(row["eventTime"]), string_bytes(row["eventID"]),
        s(row["eventName"]), s(row["eventSource"]), s(row["eventType"]), s(row["eventCategory"]),
        s(row["eventVersion"]), s(row["awsRegion"]), s(row["recipientAccountId"]),
        b(row["readOnly"]), b(row["managementEvent"]), s(row["errorCode"]), s(row["errorMessage"]),
        s(row["sourceIPAddress"]), s(row["userAgent"]), s(row["requestID"]), s(row["sharedEventID"]),
        s(row["vpcEndpointId"]), b(row["sessionCredentialFromConsole"]),
        # userIdentity
        s(ident["type"]), s(ident["arn"]), s(ident["accountId"]), s(ident["accessKeyId"]),
        s(ident["principalId"]), s(ident["userName"]), s(ident["invokedBy"]), s(ident["sourceIdentity"]),
        b(ident["mfaAuthenticated"]), _optional_long(ident["sessionCreationDate"]),
        s(issuer["type"]), s(issuer["arn"]), s(issuer["accountId"]), s(issuer["principalId"]),
        s(issuer["userName"]),
        s(ident["webIdFederationProvider"]), s(ident["onBehalfOfUserId"]),
        s(ident["onBehalfOfIdentityStoreArn"]), s(ident["credentialId"]),
        # resources: one block holding every item, then the end-of-array marker
        _resources(resources) if resources else _EMPTY_ARRAY,
        source_head, long_bytes(position), source_tail,
        _SINGLE_COPY,
        string_bytes(row["cloudTrailEvent"]),
    ))


def _resources(resources: list[dict[str, Any]]) -> bytes:
    s = _optional_string
    items = b"".join(s(r["arn"]) + s(r["type"]) + s(r["accountId"]) for r in resources)
    return long_bytes(len(resources)) + items + _EMPTY_ARRAY
