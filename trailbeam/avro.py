"""The store's Avro schemas: loaded once from ``schemas/`` and parsed with explicit named types.

Schemas are files (``schemas/<full name>.avsc``, shipped as package data under ``trailbeam/schemas``).
Referenced types come first in ``SCHEMA_ORDER`` because fastavro must see a named type before a
schema that uses it; nothing is registered globally.
"""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path
from typing import Any

import fastavro

SCHEMA_VERSION = 4
SCHEMA_DIR = Path(__file__).parent / "schemas"
SCHEMA_ORDER = ("trailbeam.Provenance", "trailbeam.TrailEvent", "trailbeam.QuarantineRecord",
                "trailbeam.IntegrityFinding", "trailbeam.Session", "trailbeam.AttributedEvent",
                "trailbeam.CredentialUse", "trailbeam.CredentialGrant", "trailbeam.ResourceChange",
                "trailbeam.ResourceSummary", "trailbeam.ResourceReads")
EVENT = "trailbeam.TrailEvent"
QUARANTINE = "trailbeam.QuarantineRecord"
INTEGRITY = "trailbeam.IntegrityFinding"
SESSION = "trailbeam.Session"
ATTRIBUTED = "trailbeam.AttributedEvent"
CREDENTIAL_USE = "trailbeam.CredentialUse"
CREDENTIAL_GRANT = "trailbeam.CredentialGrant"
RESOURCE_CHANGE = "trailbeam.ResourceChange"
RESOURCE_SUMMARY = "trailbeam.ResourceSummary"
RESOURCE_READS = "trailbeam.ResourceReads"


def load_schema_texts(schema_dir: Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    """Reads every schema file as plain JSON, in dependency order."""
    return {name: json.loads((schema_dir / f"{name}.avsc").read_text()) for name in SCHEMA_ORDER}


@functools.cache
def parsed_schemas() -> dict[str, Any]:
    """Every schema parsed once, sharing one explicit named-types dict."""
    named: dict[str, Any] = {}
    return {name: fastavro.parse_schema(schema, named_schemas=named)
            for name, schema in load_schema_texts().items()}


@functools.cache
def writer_schema_json(name: str) -> str:
    """The full, self-contained schema text written into container file headers.

    Named types referenced by name are expanded so the header needs no other file (Avro requires it).
    """
    return json.dumps(_expanded(name), separators=(",", ":"))


def _expanded(name: str) -> dict[str, Any]:
    texts = load_schema_texts()
    defined: set[str] = set()

    def expand(node: Any) -> Any:
        if isinstance(node, str) and node in texts and node not in defined:
            return expand(texts[node])
        if isinstance(node, dict):
            if node.get("type") == "record":
                defined.add(f"{node.get('namespace', 'trailbeam')}.{node['name']}")
            return {key: expand(value) for key, value in node.items()}
        if isinstance(node, list):
            return [expand(item) for item in node]
        return node

    expanded: dict[str, Any] = expand(texts[name])
    return expanded


def encode(name: str, record: dict[str, Any]) -> bytes:
    """One record -> its Avro binary (no container), with fastavro: for the rare, small records."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed_schemas()[name], record)
    return buffer.getvalue()


def decode(name: str, data: bytes) -> dict[str, Any]:
    """Avro binary of one record (no container) -> the record."""
    record: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(data), parsed_schemas()[name], None)
    return record
