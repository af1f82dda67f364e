"""Small builders shared by test modules: store event files made in-process, and the CLI run in-process."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

from trailbeam import avro, avrofile, cli, cloudtrail, errors, jsonvalue
from trailbeam.eventcodec import source_head, source_tail


def store_file(events: list[Any], seed: str = "tests/store-file") -> bytes:
    """Events as one store event file: encoded by the ingest path (records it rejects are left out),
    sorted as the store sorts them."""
    head, tail = source_head("s3://trail/x.json.gz", "a" * 64, "b" * 64), source_tail("records", None, "run-1")
    encoded = []
    for position, event in enumerate(events):
        try:
            encoded.append(cloudtrail.encode_event(event, jsonvalue.dumps(event), head, position, tail))
        except errors.Rejected:
            continue
    encoded.sort(key=lambda e: (e.time, e.event_id))
    out = io.BytesIO()
    avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.EVENT), records=[e.data for e in encoded],
                             seed=seed)
    return out.getvalue()


def run(*argv: str) -> tuple[int, str, str]:
    """``trailbeam ARGV`` -> (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def run_json(*argv: str) -> Any:
    """``trailbeam ARGV --format json``, which must succeed, parsed."""
    code, out, err = run(*argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)
