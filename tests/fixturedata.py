"""Paths of the third-party fixtures and their records, shared by conftest and the test modules.

Test modules need the records at collection time (to parametrise over them), where pytest fixtures are not
available; ``conftest.fixture_records`` hands the same list to tests that take it as a fixture.

Records are parsed with ``trailbeam.jsonvalue.loads``, so numbers are exactly as written.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from trailbeam import jsonvalue

FIXTURES = Path(__file__).parent / "fixtures"
STRATUS = FIXTURES / "stratus-red-team"
AWSDOCS = FIXTURES / "awsdocs"
AWSDOCS_EXAMPLES = AWSDOCS / "awsdocs_extracted_examples.json"

FixtureRecord = tuple[str, int, Any]   # (file name, index in the file, record)


def fixture_files() -> list[Path]:
    """Every fixture file holding CloudTrail records: the Stratus arrays, then the AWS docs examples."""
    return [*sorted(STRATUS.glob("*.json")), AWSDOCS_EXAMPLES]


def records_in(path: Path) -> list[Any]:
    """The records of one fixture file (a JSON array, or ``{"Records": [...]}``)."""
    document = jsonvalue.loads(path.read_bytes())
    return document["Records"] if isinstance(document, dict) else document


@functools.cache
def _all_records() -> tuple[FixtureRecord, ...]:
    return tuple((path.name, index, record) for path in fixture_files()
                 for index, record in enumerate(records_in(path)))


def all_records() -> list[FixtureRecord]:
    """Every fixture record, parsed once per session. Shared: copy a record before changing it."""
    return list(_all_records())


def record_id(item: FixtureRecord) -> str:
    """A readable test id for one fixture record: ``<file stem>#<index>``."""
    name, index, _ = item
    return f"{name.removesuffix('.json')}#{index}"


def fixture_record(name: str, index: int) -> Any:
    """A private (deep) copy of one record, by file name and index, for tests that modify it."""
    for file_name, position, record in _all_records():
        if file_name == name and position == index:
            return copy.deepcopy(record)
    raise KeyError(f"no fixture record {name}#{index}")
