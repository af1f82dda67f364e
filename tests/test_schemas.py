"""Tests of the store's Avro schema files: they parse, are fully documented, and evolve compatibly.

Schema evolution is proven against frozen copies. ``tests/fixtures/schema_versions/<N>/`` holds the
schema files of version N as released, plus ``events-v<N>.avro``, a container written by that
version's write path (``scripts/make_schema_version_fixture.py``). Data of every released version
must stay readable with the current schema, fields added since the newest frozen version need a
default, and the current schema must equal the frozen copy of ``SCHEMA_VERSION``: changing the schema
therefore means bumping the version and freezing it.
"""

from __future__ import annotations

import copy
import importlib.resources
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import avro.compatibility
import avro.datafile
import avro.io
import avro.schema
import fastavro
import fastavro.validation
import pytest

from trailbeam import avro as store_avro
from trailbeam import cloudtrail, errors, jsonvalue

REPO = Path(__file__).resolve().parents[1]
SCHEMAS_DIR = REPO / "schemas"
VERSIONS_DIR = Path(__file__).parent / "fixtures" / "schema_versions"
NAMED_KINDS = ("record", "enum", "fixed")
NAMESPACE = "trailbeam"

Schema = Any  # a schema as JSON: a type name, a list (union) or an object


# ---- schema walking: the reusable checker -------------------------------------------------------


def schema_texts(directory: Path) -> dict[str, dict[str, Any]]:
    """Every ``<full name>.avsc`` of a folder as plain JSON, keyed by file stem."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.avsc"))}


def full_name(named: dict[str, Any], namespace: str | None = None) -> str:
    """A named type's full name, per the Avro specification (an enclosing namespace is inherited)."""
    name = named["name"]
    if "." in name:
        return str(name)
    space = named.get("namespace", namespace)
    return f"{space}.{name}" if space else str(name)


def named_types(schema: Schema, namespace: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every named type *defined* anywhere in ``schema``: (full name, definition)."""
    if isinstance(schema, list):
        for branch in schema:
            yield from named_types(branch, namespace)
    elif isinstance(schema, dict):
        kind = schema["type"]
        if kind in NAMED_KINDS:
            name = full_name(schema, namespace)
            yield name, schema
            namespace = name.rpartition(".")[0] or None
        if kind == "record":
            for field in schema["fields"]:
                yield from named_types(field["type"], namespace)
        elif kind == "array":
            yield from named_types(schema["items"], namespace)
        elif kind == "map":
            yield from named_types(schema["values"], namespace)
        elif isinstance(kind, (dict, list)):
            yield from named_types(kind, namespace)


def definitions(texts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Full name -> definition of every named type defined in a set of schema files."""
    return {name: schema for text in texts.values() for name, schema in named_types(text)}


def records_in(schema: Schema, defined: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The record types a field's type holds directly: itself, its union branches, array items, map values."""
    if isinstance(schema, str):
        return records_in(defined[schema], defined) if schema in defined else []
    if isinstance(schema, list):
        return [record for branch in schema for record in records_in(branch, defined)]
    kind = schema["type"]
    if kind == "record":
        return [schema]
    if kind == "array":
        return records_in(schema["items"], defined)
    if kind == "map":
        return records_in(schema["values"], defined)
    if isinstance(kind, (dict, list)) or kind in defined:
        return records_in(kind, defined)
    return []


def fields_of(record: dict[str, Any], defined: dict[str, dict[str, Any]],
              path: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field of a record at every nesting level: (dotted path, field). Each record type once."""
    seen: set[str] = set()

    def walk(node: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
        name = full_name(node, NAMESPACE)
        if name in seen:
            return
        seen.add(name)
        for field in node["fields"]:
            field_path = f"{prefix}.{field['name']}"
            yield field_path, field
            for nested in records_in(field["type"], defined):
                yield from walk(nested, field_path)

    yield from walk(record, path or full_name(record, NAMESPACE))


def missing_defaults(current: dict[str, dict[str, Any]], frozen: dict[str, dict[str, Any]]) -> list[str]:
    """Fields of the current schemas that a frozen version lacks and that have no ``default``.

    A reader using the current schema fills such fields from their default when it reads data
    written with the frozen one; without a default, old data cannot be read at all. Both arguments
    map schema names to schema JSON (``schema_texts``). Fields are matched by name, level by level:
    a field added inside an existing nested record counts, a field inside a record that is itself
    new does not (the new field's own default covers it). Aliases are not considered.

    Returns:
        Dotted paths of the offending fields, e.g. ``["trailbeam.TrailEvent.userIdentity.newField"]``.
    """
    current_defined, frozen_defined = definitions(current), definitions(frozen)

    def compare(new: dict[str, Any], old: dict[str, Any], path: str) -> Iterator[str]:
        old_fields = {field["name"]: field for field in old["fields"]}
        for field in new["fields"]:
            field_path = f"{path}.{field['name']}"
            before = old_fields.get(field["name"])
            if before is None:
                if "default" not in field:
                    yield field_path
                continue
            old_records = {full_name(r, NAMESPACE): r for r in records_in(before["type"], frozen_defined)}
            for nested in records_in(field["type"], current_defined):
                if (previous := old_records.get(full_name(nested, NAMESPACE))) is not None:
                    yield from compare(nested, previous, field_path)

    problems: list[str] = []
    for name, schema in current.items():
        if name in frozen:
            problems.extend(compare(schema, frozen[name], name))
    return sorted(set(problems))


def removed_fields(current: dict[str, dict[str, Any]], frozen: dict[str, dict[str, Any]]) -> list[str]:
    """Paths of fields a frozen version has and the current schemas no longer have."""
    now = {path for name, schema in current.items() for path, _ in fields_of(schema, definitions(current), name)}
    return sorted(path for name, schema in frozen.items() if name in current
                  for path, _ in fields_of(schema, definitions(frozen), name) if path not in now)


def self_contained(name: str, texts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One schema with the named types it references by name expanded at their first use."""
    defined: set[str] = set()

    def expand(node: Any, namespace: str | None) -> Any:
        if isinstance(node, str) and node in texts and node not in defined:
            return expand(texts[node], namespace)
        if isinstance(node, list):
            return [expand(item, namespace) for item in node]
        if isinstance(node, dict):
            if node.get("type") in NAMED_KINDS:
                defined.add(full_name(node, namespace))
                namespace = full_name(node, namespace).rpartition(".")[0]
            return {key: expand(value, namespace) for key, value in node.items()}
        return node

    expanded: dict[str, Any] = expand(texts[name], None)
    return expanded


def without_docs(node: Any) -> Any:
    """A schema without its ``doc`` strings: what readers and writers actually agree on."""
    if isinstance(node, dict):
        return {key: without_docs(value) for key, value in node.items() if key != "doc"}
    if isinstance(node, list):
        return [without_docs(item) for item in node]
    return node


def frozen_versions() -> list[int]:
    return sorted(int(path.name) for path in VERSIONS_DIR.iterdir() if path.is_dir() and path.name.isdigit())


CURRENT = schema_texts(SCHEMAS_DIR)
CURRENT_DEFINED = definitions(CURRENT)
VERSIONS = frozen_versions()
NEWEST = VERSIONS[-1]


def current_event_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(store_avro.writer_schema_json(store_avro.EVENT))
    return schema


# ---- every schema file ---------------------------------------------------------------------------


def test_schema_order_covers_exactly_the_schema_files() -> None:
    assert sorted(store_avro.SCHEMA_ORDER) == sorted(CURRENT)
    assert len(set(store_avro.SCHEMA_ORDER)) == len(store_avro.SCHEMA_ORDER)


@pytest.mark.parametrize("name", sorted(CURRENT))
def test_file_is_named_after_the_full_name_of_its_type(name: str) -> None:
    assert full_name(CURRENT[name]) == name


@pytest.mark.parametrize("name", store_avro.SCHEMA_ORDER)
def test_schema_parses_with_fastavro_from_its_file(name: str) -> None:
    # load_schema finds the named types a file references in the <full name>.avsc files beside it.
    parsed = fastavro.schema.load_schema(SCHEMAS_DIR / f"{name}.avsc")
    assert parsed["name"] == name
    assert name in store_avro.parsed_schemas()


@pytest.mark.parametrize("name", store_avro.SCHEMA_ORDER)
def test_container_header_schema_parses_with_both_libraries(name: str) -> None:
    text = store_avro.writer_schema_json(name)
    reference = avro.schema.parse(text)
    assert reference.fullname == name
    # Both parsed it without being given any other schema: it is self-contained, as headers must be.
    assert fastavro.parse_schema(json.loads(text))["name"] == name
    # And it is the schema of the files (same Parsing Canonical Form).
    assert reference.canonical_form == avro.schema.parse(json.dumps(self_contained(name, CURRENT))).canonical_form


def referenced_names(schema: Schema) -> Iterator[str]:
    """Every type name a schema uses by name (primitive names included)."""
    if isinstance(schema, str):
        yield schema
    elif isinstance(schema, list):
        for branch in schema:
            yield from referenced_names(branch)
    elif schema["type"] == "record":
        for field in schema["fields"]:
            yield from referenced_names(field["type"])
    elif schema["type"] == "array":
        yield from referenced_names(schema["items"])
    elif schema["type"] == "map":
        yield from referenced_names(schema["values"])
    elif schema["type"] not in NAMED_KINDS:
        yield from referenced_names(schema["type"])


def test_schema_order_lists_referenced_types_first() -> None:
    """fastavro must see a named type before a schema that uses it by name."""
    seen: set[str] = set()
    for name in store_avro.SCHEMA_ORDER:
        defined_here = {full for full, _ in named_types(CURRENT[name])}
        used = set(referenced_names(CURRENT[name])) & set(CURRENT_DEFINED)
        assert used <= seen | defined_here, f"{name} uses {sorted(used - seen - defined_here)} before their schema"
        seen |= defined_here


def test_every_named_type_has_a_full_name_in_the_trailbeam_namespace() -> None:
    names = []
    for text in CURRENT.values():
        for name, schema in named_types(text):
            names.append(name)
            explicit = schema.get("namespace") == NAMESPACE or str(schema["name"]).startswith(f"{NAMESPACE}.")
            assert explicit, f"{name} does not declare namespace {NAMESPACE!r}"
            assert name.startswith(f"{NAMESPACE}."), name
    assert len(names) == len(set(names)), "a named type is defined twice"
    assert {"trailbeam.UserIdentity", "trailbeam.Resource"} <= set(names)


@pytest.mark.parametrize("name", sorted(CURRENT))
def test_every_field_at_every_level_is_documented(name: str) -> None:
    fields = list(fields_of(CURRENT[name], CURRENT_DEFINED))
    undocumented = [path for path, field in fields if not str(field.get("doc", "")).strip()]
    assert fields and undocumented == []


@pytest.mark.parametrize("name", sorted(CURRENT))
def test_every_named_type_is_documented(name: str) -> None:
    undocumented = [full for full, schema in named_types(CURRENT[name]) if not str(schema.get("doc", "")).strip()]
    assert undocumented == []


def test_field_walk_reaches_nested_and_referenced_records() -> None:
    paths = {path for path, _ in fields_of(CURRENT[store_avro.EVENT], CURRENT_DEFINED)}
    assert {"trailbeam.TrailEvent.userIdentity.sessionIssuer.arn", "trailbeam.TrailEvent.resources.arn",
            "trailbeam.TrailEvent.source.wrapper", "trailbeam.TrailEvent.cloudTrailEvent"} <= paths


def test_package_data_copy_holds_the_same_schema_files() -> None:
    """Workers and installed CLIs read ``trailbeam/schemas`` (package data): it must be ``schemas/``."""
    packaged = importlib.resources.files("trailbeam") / "schemas"
    packaged_files = {entry.name: entry.read_bytes() for entry in packaged.iterdir() if entry.name.endswith(".avsc")}
    assert packaged_files == {path.name: path.read_bytes() for path in SCHEMAS_DIR.glob("*.avsc")}
    assert (REPO / "trailbeam" / "schemas").resolve() == SCHEMAS_DIR  # the checkout's symlink to ../schemas
    assert store_avro.load_schema_texts() == {name: CURRENT[name] for name in store_avro.SCHEMA_ORDER}


def test_every_fixture_record_validates_against_the_event_schema(fixture_records: list[Any]) -> None:
    """Every fixture record the store accepts (event_row) is a valid TrailEvent by fastavro's validator."""
    schema = fastavro.parse_schema(current_event_schema())
    source = {"uri": "s3://bucket/key.json", "sha256": "0" * 64, "contentSha256": "0" * 64, "position": 0,
              "shape": "array", "wrapper": None, "ingestRun": "run"}
    validated = 0
    for _, _, event in fixture_records:
        try:
            row = cloudtrail.event_row(event, jsonvalue.dumps(event))
        except errors.Rejected:
            continue  # quarantined, never stored: tests/unit/test_cloudtrail.py covers the reasons
        fastavro.validation.validate(cloudtrail.full_record(row, source), schema, raise_errors=True)
        validated += 1
    assert validated >= 300


# ---- evolution: frozen versions ------------------------------------------------------------------


def test_newest_frozen_version_is_the_current_version() -> None:
    """Bumping SCHEMA_VERSION needs a frozen copy: run scripts/make_schema_version_fixture.py."""
    assert VERSIONS == list(range(1, NEWEST + 1)), "frozen versions must be 1, 2, ... without gaps"
    assert NEWEST == store_avro.SCHEMA_VERSION


def test_current_schema_equals_the_frozen_copy_of_its_version() -> None:
    """Changing a schema (names, types, defaults, field order) needs a version bump and a new frozen copy.

    Only ``doc`` strings may change within a version: they are not part of what readers resolve.
    """
    frozen = schema_texts(VERSIONS_DIR / str(store_avro.SCHEMA_VERSION))
    assert sorted(frozen) == sorted(CURRENT)
    for name in CURRENT:
        assert without_docs(CURRENT[name]) == without_docs(frozen[name]), (
            f"{name} differs from schema version {store_avro.SCHEMA_VERSION} as frozen: bump "
            "trailbeam.avro.SCHEMA_VERSION and run scripts/make_schema_version_fixture.py")


def test_fields_added_since_the_newest_frozen_version_have_defaults() -> None:
    assert missing_defaults(CURRENT, schema_texts(VERSIONS_DIR / str(NEWEST))) == []


def test_no_field_of_the_newest_frozen_version_was_removed() -> None:
    """The TrailEvent doc promises "fields are only ever added": users' queries rely on old columns."""
    assert removed_fields(CURRENT, schema_texts(VERSIONS_DIR / str(NEWEST))) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_current_schema_can_read_what_each_frozen_schema_wrote(version: int) -> None:
    """The reference library's reader/writer compatibility check, for every schema, data or not."""
    frozen = schema_texts(VERSIONS_DIR / str(version))
    checker = avro.compatibility.ReaderWriterCompatibilityChecker()
    for name in sorted(set(frozen) & set(CURRENT)):
        reader = avro.schema.parse(json.dumps(self_contained(name, CURRENT)))
        writer = avro.schema.parse(json.dumps(self_contained(name, frozen)))
        result = checker.get_compatibility(reader, writer)
        assert result.compatibility is avro.compatibility.SchemaCompatibilityType.compatible, (
            name, result.messages, result.locations)


def assert_resolved(new: Any, old: Any, path: str = "") -> None:
    """``new`` (read with the current schema) holds everything ``old`` (read as written) holds."""
    if isinstance(old, dict):
        assert isinstance(new, dict), path
        for key, value in old.items():
            if key in new:
                assert_resolved(new[key], value, f"{path}.{key}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), path
        for index, (item, before) in enumerate(zip(new, old)):
            assert_resolved(item, before, f"{path}[{index}]")
    else:
        assert new == old, path


def assert_has_every_field(value: Any, schema: Schema, defined: dict[str, dict[str, Any]],
                           path: str = "record") -> None:
    """Every field of ``schema``, at every level, is a key of the record ``value`` (and nothing else is)."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            assert_has_every_field(item, schema, defined, f"{path}[{index}]")
        return
    candidates = records_in(schema, defined)
    if not isinstance(value, dict) or not candidates:
        return
    matching = [record for record in candidates if {field["name"] for field in record["fields"]} == set(value)]
    assert matching, f"{path} has {sorted(value)}; the schema has {[f['name'] for f in candidates[0]['fields']]}"
    for field in matching[0]["fields"]:
        assert_has_every_field(value[field["name"]], field["type"], defined, f"{path}.{field['name']}")


@pytest.mark.parametrize("version", VERSIONS)
def test_events_of_each_frozen_version_read_with_the_current_schema(version: int) -> None:
    data = (VERSIONS_DIR / str(version) / f"events-v{version}.avro").read_bytes()
    current = current_event_schema()
    as_written = fastavro.reader(io.BytesIO(data))
    assert as_written.metadata["trailbeam.schema.version"] == str(version)
    # The file was written with that version's frozen schema.
    frozen = self_contained(store_avro.EVENT, schema_texts(VERSIONS_DIR / str(version)))
    assert (avro.schema.parse(as_written.metadata["avro.schema"]).canonical_form
            == avro.schema.parse(json.dumps(frozen)).canonical_form)
    old = list(as_written)
    new = list(fastavro.reader(io.BytesIO(data), reader_schema=current))
    assert len(new) == len(old) >= 20
    for record, before in zip(new, old):
        assert_has_every_field(record, current, definitions({store_avro.EVENT: current}))
        assert_resolved(record, before)
        assert cloudtrail.original_event(record) == jsonvalue.loads(before["cloudTrailEvent"])


@pytest.mark.parametrize("version", VERSIONS)
def test_events_of_each_frozen_version_read_with_the_current_schema_by_the_reference_library(version: int) -> None:
    path = VERSIONS_DIR / str(version) / f"events-v{version}.avro"
    reader_schema = avro.schema.parse(store_avro.writer_schema_json(store_avro.EVENT))
    with open(path, "rb") as handle, avro.datafile.DataFileReader(
            handle, avro.io.DatumReader(readers_schema=reader_schema)) as reader:
        records = list(reader)
    with open(path, "rb") as handle:
        expected = list(fastavro.reader(handle, reader_schema=current_event_schema()))
    assert records == expected


# ---- the checker itself: a field added without a default is caught -------------------------------


def _with_field(texts: dict[str, dict[str, Any]], schema: str, record_path: tuple[str, ...],
                field: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A copy of ``texts`` with ``field`` appended to a record reached through ``record_path`` field names."""
    changed = copy.deepcopy(texts)
    record = changed[schema]
    for name in record_path:
        (step,) = [f for f in record["fields"] if f["name"] == name]
        (record,) = records_in(step["type"], definitions(changed))
    record["fields"].append(field)
    return changed


NEW_FIELD = {"name": "newField", "type": ["null", "string"], "doc": "A field added by a later version."}


@pytest.mark.parametrize(("schema", "record_path", "field", "expected"), [
    (store_avro.EVENT, (), NEW_FIELD, ["trailbeam.TrailEvent.newField"]),
    (store_avro.EVENT, (), {**NEW_FIELD, "default": None}, []),
    (store_avro.EVENT, ("userIdentity",), NEW_FIELD, ["trailbeam.TrailEvent.userIdentity.newField"]),
    (store_avro.EVENT, ("userIdentity", "sessionIssuer"), NEW_FIELD,
     ["trailbeam.TrailEvent.userIdentity.sessionIssuer.newField"]),
    (store_avro.EVENT, ("resources",), NEW_FIELD, ["trailbeam.TrailEvent.resources.newField"]),
    (store_avro.EVENT, ("resources",), {**NEW_FIELD, "default": None}, []),
    # Provenance is its own file and referenced by name from TrailEvent: caught from both sides.
    ("trailbeam.Provenance", (), NEW_FIELD,
     ["trailbeam.Provenance.newField", "trailbeam.TrailEvent.source.newField"]),
    (store_avro.QUARANTINE, (), {"name": "severity", "type": "int", "doc": "New."},
     ["trailbeam.QuarantineRecord.severity"]),
    (store_avro.QUARANTINE, (), {"name": "severity", "type": "int", "default": 0, "doc": "New."}, []),
], ids=["top-level", "top-level-with-default", "nested-record", "doubly-nested-record", "array-item",
        "array-item-with-default", "referenced-record", "other-schema", "other-schema-with-default"])
def test_checker_catches_a_field_added_without_default(schema: str, record_path: tuple[str, ...],
                                                       field: dict[str, Any], expected: list[str]) -> None:
    frozen = schema_texts(VERSIONS_DIR / str(NEWEST))
    assert missing_defaults(_with_field(frozen, schema, record_path, field), frozen) == expected


def test_checker_ignores_fields_inside_a_new_record_field_with_a_default() -> None:
    frozen = schema_texts(VERSIONS_DIR / str(NEWEST))
    new_record = {"name": "geo", "doc": "New.", "default": None, "type": ["null", {
        "type": "record", "name": "Geo", "namespace": NAMESPACE, "doc": "New.",
        "fields": [{"name": "country", "type": "string", "doc": "No default needed: geo itself has one."}]}]}
    assert missing_defaults(_with_field(frozen, store_avro.EVENT, (), new_record), frozen) == []


def test_a_field_the_checker_flags_really_breaks_reading_old_data() -> None:
    """Why the check matters: the reader schema with the undefaulted field cannot read version-1 data."""
    frozen = schema_texts(VERSIONS_DIR / str(NEWEST))
    broken = _with_field(frozen, store_avro.EVENT, ("userIdentity",), NEW_FIELD)
    fixed = _with_field(frozen, store_avro.EVENT, ("userIdentity",), {**NEW_FIELD, "default": None})
    data = (VERSIONS_DIR / str(NEWEST) / f"events-v{NEWEST}.avro").read_bytes()
    with pytest.raises(fastavro.read.SchemaResolutionError):
        list(fastavro.reader(io.BytesIO(data), reader_schema=self_contained(store_avro.EVENT, broken)))
    records = list(fastavro.reader(io.BytesIO(data), reader_schema=self_contained(store_avro.EVENT, fixed)))
    assert records and all(record["userIdentity"]["newField"] is None for record in records)


def test_removed_field_check_catches_a_dropped_field() -> None:
    frozen = schema_texts(VERSIONS_DIR / str(NEWEST))
    dropped = copy.deepcopy(frozen)
    dropped[store_avro.EVENT]["fields"] = [f for f in dropped[store_avro.EVENT]["fields"] if f["name"] != "userAgent"]
    assert removed_fields(dropped, frozen) == ["trailbeam.TrailEvent.userAgent"]
