"""Avro object container files written from records that are already Avro-encoded.

Ingest encodes each event once, on the worker that parsed it, then sorts and deduplicates the encoded
bytes per partition. Writing the container directly (header, then blocks of records, each block
compressed and followed by the sync marker, per the Avro 1.11 specification) avoids decoding and
re-encoding every record just to hand it to a writer. Files are readable by fastavro, Beam's
``ReadFromAvro`` and the reference ``avro`` library (tests prove all three).

Deterministic: the sync marker is derived from a caller-given seed, so the same records give the
same bytes.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

try:
    from compression import zstd  # type: ignore[import-not-found]  # Python >= 3.14
except ImportError:
    from backports import zstd  # type: ignore[no-redef]

from trailbeam.eventcodec import long_bytes

CODECS = ("zstandard", "deflate", "null")
MAGIC = b"Obj\x01"
# 1 MiB blocks compress well and keep a reader's memory per block small.
BLOCK_BYTES = 1 << 20


def _compressor(codec: str):  # type: ignore[no-untyped-def]
    if codec == "zstandard":
        return zstd.compress
    if codec == "deflate":
        return lambda data: zlib.compress(data, 6, wbits=-15)  # Avro's deflate is raw RFC 1951
    if codec == "null":
        return bytes
    raise ValueError(f"unknown Avro codec {codec!r}; choose one of {', '.join(CODECS)}")


def sync_marker(seed: str) -> bytes:
    return hashlib.sha256(seed.encode()).digest()[:16]


def _header(schema_json: str, codec: str, sync: bytes, metadata: dict[str, str]) -> bytes:
    meta = {"avro.schema": schema_json, "avro.codec": codec, **metadata}
    parts = [MAGIC, long_bytes(len(meta))]
    for key in sorted(meta):
        name, value = key.encode(), meta[key].encode()
        parts += [long_bytes(len(name)), name, long_bytes(len(value)), value]
    parts += [long_bytes(0), sync]
    return b"".join(parts)


def write_container(out: BinaryIO, *, schema_json: str, records: Iterable[bytes], codec: str = "zstandard",
                    seed: str, metadata: dict[str, str] | None = None) -> int:
    """Writes one container file holding ``records`` in the order given.

    Args:
        out: binary file object to write to.
        schema_json: the writer schema, self-contained.
        records: each one record's Avro binary encoding under that schema.
        codec: "zstandard" (default), "deflate" or "null".
        seed: makes the sync marker (use something unique per file, e.g. its path and run).
        metadata: extra header entries (keys must not start with "avro.").

    Returns:
        The number of records written.
    """
    compress = _compressor(codec)
    if any(key.startswith("avro.") for key in metadata or {}):
        raise ValueError("metadata keys starting with 'avro.' are reserved by the Avro specification")
    sync = sync_marker(seed)
    out.write(_header(schema_json, codec, sync, metadata or {}))
    block: list[bytes] = []
    size = count = 0

    def flush() -> None:
        data = compress(b"".join(block))
        out.write(long_bytes(len(block)) + long_bytes(len(data)))
        out.write(data)
        out.write(sync)

    for record in records:
        block.append(record)
        size += len(record)
        count += 1
        if size >= BLOCK_BYTES:
            flush()
            block, size = [], 0
    if block:
        flush()
    return count


def _decompressor(codec: str):  # type: ignore[no-untyped-def]
    if codec == "zstandard":
        return zstd.decompress
    if codec == "deflate":
        return lambda data: zlib.decompress(data, wbits=-15)
    if codec == "null":
        return bytes
    raise ValueError(f"unsupported Avro codec {codec!r}; readable: {', '.join(CODECS)}")


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    """Avro ``long`` at ``pos`` -> (value, position after it)."""
    byte = data[pos]
    pos += 1
    z = byte & 0x7F
    shift = 7
    while byte & 0x80:
        byte = data[pos]
        pos += 1
        z |= (byte & 0x7F) << shift
        shift += 7
    return (z >> 1) ^ -(z & 1), pos


@dataclass(frozen=True, slots=True, kw_only=True)
class Container:
    """An object container file split into its header and raw, decompressed blocks."""

    schema_json: str
    codec: str
    metadata: dict[str, str]
    blocks: tuple[tuple[int, bytes], ...]     # (record count, decompressed records) per block

    @property
    def count(self) -> int:
        return sum(count for count, _ in self.blocks)


def read_container(data: bytes) -> Container:
    """The blocks of a whole container file, decompressed; records stay encoded.

    The counterpart of ``write_container`` for readers that decode records themselves (``storescan``).

    Raises:
        ValueError: not an Avro container, a truncated file, a block not followed by the sync marker,
            or a codec this module cannot read.
    """
    if data[:4] != MAGIC:
        raise ValueError("not an Avro object container file (bad magic)")
    try:
        metadata: dict[str, str] = {}
        pos = 4
        while True:
            count, pos = read_long(data, pos)
            if count == 0:
                break
            if count < 0:                     # a negative count is followed by the block's byte size
                count = -count
                _, pos = read_long(data, pos)
            for _ in range(count):
                size, pos = read_long(data, pos)
                key = data[pos:pos + size].decode()
                size, pos = read_long(data, pos + size)
                metadata[key] = data[pos:pos + size].decode()
                pos += size
        sync = data[pos:pos + 16]
        pos += 16
        codec = metadata.get("avro.codec", "null")
        decompress = _decompressor(codec)
        blocks = []
        while pos < len(data):
            count, pos = read_long(data, pos)
            size, pos = read_long(data, pos)
            if data[pos + size:pos + size + 16] != sync:
                raise ValueError("block not followed by the file's sync marker (corrupt or truncated)")
            blocks.append((count, decompress(data[pos:pos + size])))
            pos += size + 16
    except IndexError:
        raise ValueError("truncated Avro container") from None
    schema = metadata.pop("avro.schema", "")
    metadata.pop("avro.codec", None)
    return Container(schema_json=schema, codec=codec, metadata=metadata, blocks=tuple(blocks))
