"""Avro binary primitives for writing TrailEvents by hand, fast.

fastavro spends about a microsecond per field on this machine, mostly deciding which branch of a
``["null", T]`` union a value takes; a TrailEvent has about forty such fields, which made encoding
three quarters of the ingest cost. The schema is fixed and versioned, so ``cloudtrail.encode_event``
writes it field by field with these primitives. Tests prove the bytes are exactly what fastavro
writes for the same record (``tests/unit/test_eventcodec.py``), so the encoding cannot drift from
``schemas/trailbeam.TrailEvent.avsc`` unnoticed. Everything that reads the store uses fastavro or
any other Avro library.

The provenance record is the same for every event of a file except its position, so callers encode
its two constant halves once per file (``source_head``, ``source_tail``).
"""

from __future__ import annotations

import functools

# zigzag varints of 0..63 are one byte: 2*n.
_SMALL = [bytes((n << 1,)) for n in range(64)]
# A present optional string of 0..63 bytes: union branch 1, then its one-byte length.
_PRESENT_SMALL = [b"\x02" + small for small in _SMALL]
NULL = b"\x00"
EMPTY_ARRAY = b"\x00"
_TRUE = b"\x02\x01"
_FALSE = b"\x02\x00"
# copies=1 (zigzag 2), conflict=false.
SINGLE_COPY = b"\x02\x00"


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


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (a valid JSON escape) has no UTF-8 form: the typed copy gets U+FFFD,
        # cloudTrailEvent keeps the escape exactly.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def string_bytes(text: str) -> bytes:
    data = _utf8(text)
    size = len(data)
    return (_SMALL[size] if size < 64 else long_bytes(size)) + data


def optional_string(text: str | None) -> bytes:
    """``["null", "string"]``."""
    if text is None:
        return NULL
    data = _utf8(text)
    size = len(data)
    return (_PRESENT_SMALL[size] if size < 64 else b"\x02" + long_bytes(size)) + data


def optional_bool(flag: bool | None) -> bytes:
    """``["null", "boolean"]``."""
    if flag is None:
        return NULL
    return _TRUE if flag else _FALSE


def optional_long(n: int | None) -> bytes:
    """``["null", "long"]`` (also timestamp-micros)."""
    return NULL if n is None else b"\x02" + long_bytes(n)


def source_head(uri: str, sha256: str, content_sha256: str) -> bytes:
    """The Provenance record's bytes before its ``position`` field: constant per file."""
    return string_bytes(uri) + string_bytes(sha256) + string_bytes(content_sha256)


def source_tail(shape: str, wrapper: str | None, ingest_run: str) -> bytes:
    """The Provenance record's bytes after its ``position`` field: constant per file unless wrapped."""
    return string_bytes(shape) + optional_string(wrapper) + string_bytes(ingest_run)
