"""Tests of trailbeam.avrofile: hand-written containers read back identically by fastavro and by the
reference Apache Avro library, for every codec, from empty files to files of several blocks."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import avro.datafile
import avro.io
import fastavro
import pytest

import fixturedata
from trailbeam import avro as store_avro
from trailbeam import avrofile, cloudtrail, jsonvalue
from trailbeam.eventcodec import source_head, source_tail

VERSION = {"trailbeam.schema.version": str(store_avro.SCHEMA_VERSION)}
BLOB_SCHEMA = {
    "type": "record", "name": "Blob", "namespace": "trailbeam.test", "doc": "A test record of a chosen size.",
    "fields": [{"name": "n", "type": "long", "doc": "Ordinal."},
               {"name": "label", "type": ["null", "string"], "default": None, "doc": "Text, sometimes null."},
               {"name": "payload", "type": "bytes", "doc": "Compressible or not, by ordinal."}]}
BLOB_JSON = json.dumps(BLOB_SCHEMA)
PARSED_BLOB = fastavro.parse_schema(BLOB_SCHEMA)


# ---- builders ---------------------------------------------------------------------------------------


def blob(n: int, size: int = 8192) -> dict[str, Any]:
    """Odd ordinals carry incompressible bytes, even ones compressible text: blocks differ in size."""
    if n % 2:
        payload = hashlib.shake_256(n.to_bytes(8, "big")).digest(size)
    else:
        payload = (f"record {n} " * (size // 8 + 1)).encode()[:size]
    return {"n": n, "label": None if n % 3 == 0 else f"blob-{n}", "payload": payload}


def encode_blob(record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, PARSED_BLOB, record)
    return buffer.getvalue()


def fixture_events(count: int) -> list[bytes]:
    """Real CloudTrail events, encoded by the ingest path (``eventcodec``), in file order."""
    encoded: list[bytes] = []
    for path in sorted(fixturedata.STRATUS.glob("*.json")):
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        head, tail = source_head(f"s3://trail/{path.name}", sha, sha), source_tail("array", None, "run-1")
        for position, event in enumerate(jsonvalue.loads(data)):
            encoded.append(cloudtrail.encode_event(event, jsonvalue.dumps(event), head, position, tail).data)
            if len(encoded) == count:
                return encoded
    raise AssertionError(f"the fixtures hold fewer than {count} events")


def write(records: Any, *, codec: str, schema_json: str = BLOB_JSON, seed: str = "tests/part-00.avro",
          metadata: dict[str, str] | None = VERSION) -> tuple[bytes, int]:
    out = io.BytesIO()
    count = avrofile.write_container(out, schema_json=schema_json, records=records, codec=codec, seed=seed,
                                     metadata=metadata)
    return out.getvalue(), count


def read_fastavro(data: bytes) -> tuple[list[Any], dict[str, str]]:
    reader = fastavro.reader(io.BytesIO(data))
    return list(reader), reader.metadata


def read_reference(data: bytes) -> tuple[list[Any], dict[str, bytes], bytes]:
    with avro.datafile.DataFileReader(io.BytesIO(data), avro.io.DatumReader()) as reader:
        return list(reader), dict(reader.meta), reader.sync_marker


def expected_blocks(sizes: list[int]) -> list[int]:
    """Records per block when a block is closed as soon as it holds BLOCK_BYTES or more."""
    blocks, count, size = [], 0, 0
    for record_size in sizes:
        count, size = count + 1, size + record_size
        if size >= avrofile.BLOCK_BYTES:
            blocks.append(count)
            count, size = 0, 0
    return blocks + ([count] if count else [])


# ---- every codec, every size --------------------------------------------------------------------------

# ~3.6 MiB of 8 KiB records: at least three full 1 MiB blocks and a partial one.
MANY = 460
SIZES = {"empty": 0, "one": 1, "several-blocks": MANY}


@pytest.mark.parametrize("codec", avrofile.CODECS)
@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_container_reads_back_identically_with_both_libraries(codec: str, size: str) -> None:
    records = [blob(n) for n in range(SIZES[size])]
    encoded = [encode_blob(record) for record in records]
    data, count = write(iter(encoded), codec=codec)  # any iterable, consumed once

    by_fastavro, meta = read_fastavro(data)
    by_reference, reference_meta, sync = read_reference(data)

    assert count == len(records)
    assert by_fastavro == records
    assert by_reference == records
    assert meta["avro.codec"] == codec and reference_meta["avro.codec"] == codec.encode()
    assert meta["trailbeam.schema.version"] == reference_meta["trailbeam.schema.version"].decode() == str(store_avro.SCHEMA_VERSION)
    assert json.loads(meta["avro.schema"]) == BLOB_SCHEMA
    assert sync == avrofile.sync_marker("tests/part-00.avro")


@pytest.mark.parametrize("codec", avrofile.CODECS)
def test_blocks_close_at_one_mebibyte_and_end_with_the_sync_marker(codec: str) -> None:
    encoded = [encode_blob(blob(n)) for n in range(MANY)]
    data, _ = write(encoded, codec=codec)
    blocks = list(fastavro.block_reader(io.BytesIO(data)))
    assert [block.num_records for block in blocks] == expected_blocks([len(e) for e in encoded])
    assert len(blocks) >= 4
    sync = avrofile.sync_marker("tests/part-00.avro")
    # fastavro's block spans its counts, its data and the sync marker after it (Beam splits files there).
    for block, following in zip(blocks, blocks[1:]):
        assert block.offset + block.size == following.offset
    for block in blocks:
        assert data[block.offset + block.size - 16:block.offset + block.size] == sync
    assert len(data) == blocks[-1].offset + blocks[-1].size


def test_a_record_larger_than_a_block_gets_a_block_of_its_own() -> None:
    records = [blob(1, 100), blob(2, avrofile.BLOCK_BYTES * 2), blob(3, 100)]
    data, _ = write([encode_blob(record) for record in records], codec="zstandard")
    assert [block.num_records for block in fastavro.block_reader(io.BytesIO(data))] == [2, 1]
    assert read_fastavro(data)[0] == records
    assert read_reference(data)[0] == records


@pytest.mark.parametrize("codec", avrofile.CODECS)
@pytest.mark.parametrize("count", [1, 60])
def test_trail_events_read_back_as_encoded(codec: str, count: int) -> None:
    encoded = fixture_events(count)
    schema_json = store_avro.writer_schema_json(store_avro.EVENT)
    data, written = write(encoded, codec=codec, schema_json=schema_json, seed=f"{codec}/{count}")
    expected = [store_avro.decode(store_avro.EVENT, record) for record in encoded]

    by_fastavro, meta = read_fastavro(data)
    by_reference, reference_meta, _ = read_reference(data)

    assert written == count
    assert by_fastavro == expected
    assert by_reference == expected
    assert meta["avro.schema"] == schema_json
    assert reference_meta["trailbeam.schema.version"] == str(store_avro.SCHEMA_VERSION).encode()


def test_metadata_is_optional() -> None:
    data, _ = write([encode_blob(blob(1))], codec="null", metadata=None)
    _, meta = read_fastavro(data)
    assert set(meta) == {"avro.codec", "avro.schema"}


# ---- determinism ------------------------------------------------------------------------------------------


def _records() -> Iterator[bytes]:
    return (encode_blob(blob(n, 1024)) for n in range(50))


@pytest.mark.parametrize("codec", avrofile.CODECS)
def test_same_seed_and_records_give_identical_bytes(codec: str) -> None:
    first, _ = write(_records(), codec=codec, seed="run-1/account=1/region=r/date=2024-05-01#13",
                     metadata={"b": "2", "a": "1"})
    second, _ = write(_records(), codec=codec, seed="run-1/account=1/region=r/date=2024-05-01#13",
                      metadata={"a": "1", "b": "2"})
    assert first == second


@pytest.mark.parametrize("records", [[], [encode_blob(blob(1))]], ids=["empty", "one"])
def test_different_seeds_give_different_sync_markers(records: list[bytes]) -> None:
    first, _ = write(records, codec="deflate", seed="run-1/key")
    second, _ = write(records, codec="deflate", seed="run-2/key")
    assert avrofile.sync_marker("run-1/key") != avrofile.sync_marker("run-2/key")
    assert read_reference(first)[2] == avrofile.sync_marker("run-1/key")
    assert read_reference(second)[2] == avrofile.sync_marker("run-2/key")
    # Only the sync marker differs: once in the header, and once after every block.
    differing = [index for index, (a, b) in enumerate(zip(first, second)) if a != b]
    assert len(first) == len(second) and 0 < len(differing) <= 16 * (1 + len(records))


def test_sync_marker_is_sixteen_bytes_derived_from_the_seed() -> None:
    assert avrofile.sync_marker("seed") == hashlib.sha256(b"seed").digest()[:16]
    assert len(avrofile.sync_marker("")) == 16


# ---- errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["snappy", "bzip2", "xz", "ZSTANDARD", "zstd", ""])
def test_unknown_codec_is_rejected_before_anything_is_written(codec: str) -> None:
    out = io.BytesIO()
    with pytest.raises(ValueError, match="unknown Avro codec"):
        avrofile.write_container(out, schema_json=BLOB_JSON, records=[encode_blob(blob(1))], codec=codec, seed="s")
    assert out.getvalue() == b""
