"""Freezes the current store schema version as a fixture for the schema-evolution tests.

Writes ``tests/fixtures/schema_versions/<SCHEMA_VERSION>/``:

* a byte-exact copy of every ``schemas/*.avsc`` as it is now;
* ``events-v<SCHEMA_VERSION>.avro``: a small zstandard container of real CloudTrail events (Stratus
  Red Team fixtures), written through the store's own write path: ``cloudtrail.encode_event`` -> ``avrofile.write_container`` with ``avro.writer_schema_json``.

``tests/test_schemas.py`` then proves that every frozen version's data reads with the current schema.
Run it once per schema version, right after bumping ``trailbeam.avro.SCHEMA_VERSION``, and commit the
new directory. A frozen directory is never rewritten unless ``--force`` is given.

Deterministic: the same inputs give the same bytes (events are picked in file-name order, sorted by
(eventTime, eventID) as the store sorts them, and the container's sync marker comes from a fixed seed).
Provenance URIs are the fixtures' paths relative to the repository, so the output does not depend on
where the repository is checked out.

Usage::

    .venv/bin/python scripts/make_schema_version_fixture.py [--count 20] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

from trailbeam import avro, avrofile, cloudtrail, jsonvalue
from trailbeam.eventcodec import source_head, source_tail

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "schemas"
EVENTS_DIR = REPO / "tests" / "fixtures" / "stratus-red-team"
VERSIONS_DIR = REPO / "tests" / "fixtures" / "schema_versions"
RUN_ID = "schema-version-fixture"


def events_file_name(version: int) -> str:
    return f"events-v{version}.avro"


def pick_events(events_dir: Path, count: int) -> list[tuple[str, bytes, int, object]]:
    """Round-robin over the fixture files in name order: the first event of each file, then the second...

    Returns ``(relative uri, file bytes, position in the file's JSON array, event)``.
    """
    files = []
    for path in sorted(events_dir.resolve().glob("*.json")):
        data = path.read_bytes()
        events = jsonvalue.loads(data)
        if isinstance(events, list) and events:
            files.append((path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.name,
                          data, events))
    picked: list[tuple[str, bytes, int, object]] = []
    position = 0
    while len(picked) < count and any(position < len(events) for _, _, events in files):
        for uri, data, events in files:
            if position < len(events) and len(picked) < count:
                picked.append((uri, data, position, events[position]))
        position += 1
    return picked


def encoded_events(picked: list[tuple[str, bytes, int, object]]) -> list[bytes]:
    """Encodes the picked events as the ingest path does, in store order (eventTime, eventID)."""
    entries = []
    for uri, data, position, event in picked:
        sha256 = hashlib.sha256(data).hexdigest()  # the fixtures are uncompressed: both hashes agree
        encoded = cloudtrail.encode_event(event, jsonvalue.dumps(event), source_head(uri, sha256, sha256), position,
                                          source_tail("array", None, RUN_ID))
        entries.append((encoded.time, encoded.event_id, encoded.data))
    entries.sort()
    return [encoded for _, _, encoded in entries]


def write_version(out_dir: Path, events_dir: Path, count: int) -> Path:
    """Writes the schema copies and the events file of the current version into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in avro.SCHEMA_ORDER:
        shutil.copyfile(SCHEMAS / f"{name}.avsc", out_dir / f"{name}.avsc")
    target = out_dir / events_file_name(avro.SCHEMA_VERSION)
    records = encoded_events(pick_events(events_dir, count))
    with open(target, "wb") as out:
        avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.EVENT), records=records,
                                 codec="zstandard", seed=f"schema_versions/{avro.SCHEMA_VERSION}",
                                 metadata={"trailbeam.schema.version": str(avro.SCHEMA_VERSION)})
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20, help="number of events to write (default 20)")
    parser.add_argument("--events-dir", type=Path, default=EVENTS_DIR,
                        help="folder of CloudTrail JSON arrays to take events from")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default tests/fixtures/schema_versions/<SCHEMA_VERSION>)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing frozen version")
    args = parser.parse_args(argv)
    out_dir = args.out or VERSIONS_DIR / str(avro.SCHEMA_VERSION)
    if out_dir.exists() and any(out_dir.iterdir()) and not args.force:
        print(f"{out_dir} exists: a frozen schema version is never rewritten (use --force to do it anyway)",
              file=sys.stderr)
        return 1
    target = write_version(out_dir, args.events_dir, args.count)
    print(f"schema version {avro.SCHEMA_VERSION}: {len(avro.SCHEMA_ORDER)} schema files and {target.name} "
          f"written to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
