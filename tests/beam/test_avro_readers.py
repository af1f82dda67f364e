"""Store partitions written by ``store.write_partition`` are read alike by Beam's ``ReadFromAvro``, the
reference Apache Avro library and fastavro, including files Beam splits at their sync markers."""

from __future__ import annotations

import hashlib
import operator
from pathlib import Path
from typing import Any

import apache_beam as beam
import avro.datafile
import avro.io
import fastavro
import pytest
from apache_beam.io import source_test_utils
from apache_beam.io.avroio import _FastAvroSource  # ReadFromAvro's source: the one Beam splits
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

import fixturedata
from trailbeam import avrofile, cloudtrail, jsonvalue, store
from trailbeam.avro import SCHEMA_VERSION
from trailbeam.eventcodec import source_head, source_tail
from trailbeam.spill import Entry

pytestmark = pytest.mark.pipeline

SMALL_KEY = "account=111122223333/region=us-east-1/date=2024-08-01#12"
LARGE_KEY = "account=111122223333/region=eu-west-1/date=2024-08-02#08"
RUN = "run-20240801T000000Z"


def fixture_entries(files: int | None = None, copies: int = 1) -> list[Entry]:
    """Store entries of the real fixture events, ``copies`` times each under distinct eventIDs."""
    entries: list[Entry] = []
    for path in sorted(fixturedata.STRATUS.glob("*.json"))[:files]:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        head, tail = source_head(f"s3://trail/{path.name}", sha, sha), source_tail("array", None, RUN)
        for position, event in enumerate(jsonvalue.loads(data)):
            for copy in range(copies):
                value = event if copy == 0 else {**event, "eventID": f"{event['eventID']}-{copy}"}
                encoded = cloudtrail.encode_event(value, jsonvalue.dumps(value), head, position, tail)
                entries.append((encoded.time, encoded.event_id, encoded.data))
    return entries


def small_entries() -> list[Entry]:
    """Events of a few files, plus an identical second delivery and a conflicting copy of one event."""
    entries = fixture_entries(files=4)
    path = sorted(fixturedata.STRATUS.glob("*.json"))[0]
    event = jsonvalue.loads(path.read_bytes())[0]
    head = source_head("s3://trail/redelivered.json", "1" * 64, "1" * 64)
    tail = source_tail("array", None, RUN)
    for position, value in enumerate([event, {**event, "userAgent": "tampered"}]):
        encoded = cloudtrail.encode_event(value, jsonvalue.dumps(value), head, position, tail)
        entries.append((encoded.time, encoded.event_id, encoded.data))
    return entries


def read_fastavro(path: str) -> list[dict[str, Any]]:
    with open(path, "rb") as handle:
        return list(fastavro.reader(handle))


@pytest.fixture(scope="module")
def partitions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two partitions of one store: a small zstandard one, and a deflate one of several 1 MiB blocks."""
    root = str(tmp_path_factory.mktemp("store"))
    small = store.write_partition(root, SMALL_KEY, small_entries(), run_id=RUN, codec="zstandard")
    large = store.write_partition(root, LARGE_KEY, fixture_entries(copies=8), run_id=RUN, codec="deflate")
    store.commit(root, RUN, {"run_id": RUN}, [])
    return {"root": root, "small": small, "large": large}


def test_partitions_are_what_the_test_needs(partitions: dict[str, Any]) -> None:
    small, large = partitions["small"], partitions["large"]
    assert small["duplicates"] == 1 and small["conflicts"] == 1
    assert small["path"].endswith(f"/events/{SMALL_KEY.split('#')[0]}/part-12-{RUN}.avro")
    with open(large["path"], "rb") as handle:
        assert len(list(fastavro.block_reader(handle))) >= 3
    assert large["stored"] == len(read_fastavro(large["path"])) > 2000


def test_read_from_avro_reads_what_fastavro_reads(partitions: dict[str, Any]) -> None:
    small, large = read_fastavro(partitions["small"]["path"]), read_fastavro(partitions["large"]["path"])
    pattern = str(Path(partitions["root"]) / "events" / "account=*" / "region=*" / "date=*" / "*.avro")
    with BeamTestPipeline(runner="FnApiRunner") as pipeline:
        records = pipeline | "ReadStore" >> beam.io.ReadFromAvro(pattern)
        event_ids = records | "EventIDs" >> beam.Map(operator.itemgetter("eventID"))
        assert_that(event_ids, equal_to([r["eventID"] for r in small + large]), label="AllEventIDs")
        only_small = pipeline | "ReadSmall" >> beam.io.ReadFromAvro(partitions["small"]["path"])
        assert_that(only_small, equal_to(small), label="SmallRecords")


def test_conflicting_copies_survive_the_beam_read(partitions: dict[str, Any]) -> None:
    records = source_test_utils.read_from_source(_FastAvroSource(partitions["small"]["path"]))
    assert records == read_fastavro(partitions["small"]["path"])
    marked = [(r["eventID"], r["copies"], r["conflict"]) for r in records if r["copies"] > 1]
    assert len(marked) == 2 and marked[0] == marked[1] and marked[0][1:] == (3, True)


@pytest.mark.parametrize("parts", [2, 3, 16])
def test_beam_splits_a_multi_block_partition_at_its_sync_markers(partitions: dict[str, Any],
                                                                 parts: int) -> None:
    """Dataflow reads a big file in splits: together they yield every record once, in file order.

    Split boundaries fall anywhere in the file (inside blocks too); each reader skips to the next sync marker.
    """
    path = partitions["large"]["path"]
    source = _FastAvroSource(path)
    splits = list(source.split(desired_bundle_size=Path(path).stat().st_size // parts + 1))
    assert len(splits) == parts
    records = [record for split in splits
               for record in source_test_utils.read_from_source(split.source, split.start_position,
                                                                split.stop_position)]
    assert records == read_fastavro(path)


def test_reference_library_reads_what_fastavro_reads(partitions: dict[str, Any]) -> None:
    path = partitions["small"]["path"]
    with open(path, "rb") as handle, avro.datafile.DataFileReader(handle, avro.io.DatumReader()) as reader:
        records = list(reader)
        assert reader.get_meta("avro.codec") == b"zstandard"
        assert reader.get_meta("trailbeam.schema.version") == str(SCHEMA_VERSION).encode()
        assert reader.sync_marker == avrofile.sync_marker(f"{RUN}/{SMALL_KEY}")
    expected = read_fastavro(path)
    assert records == expected
    assert [(r["eventTime"], r["eventID"]) for r in records] == sorted((r["eventTime"], r["eventID"]) for r in records)
    assert {r["eventID"]: cloudtrail.original_event(r) for r in records if not r["conflict"]} == {
        r["eventID"]: jsonvalue.loads(r["cloudTrailEvent"]) for r in expected if not r["conflict"]}
