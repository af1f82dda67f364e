"""Shared pytest fixtures. Keep each concern in its own delimited block."""

from __future__ import annotations

# ---- fixture records (third-party CloudTrail samples; see tests/fixtures/README.md) -----------------

import pytest

import fixturedata  # tests/ is on sys.path because this conftest lives there (pytest's prepend import mode)


@pytest.fixture(scope="session")
def fixture_records() -> list[fixturedata.FixtureRecord]:
    """Every Stratus Red Team and AWS docs record as ``(file name, index, record)``; do not modify them."""
    return fixturedata.all_records()

# ---- end of fixture records ----------------------------------------------------------------------------
