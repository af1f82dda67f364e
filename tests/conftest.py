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

# ---- S3: a local moto server, a fault-injecting proxy and fake credentials (see tests/s3server.py) --------

import s3server  # noqa: E402  (imports neither moto nor boto3 until a fixture runs)


@pytest.fixture(scope="session")
def s3_server():
    """The endpoint URL of moto's S3 on 127.0.0.1, shared by the session: use a fresh bucket per test."""
    with s3server.moto_server() as url:
        yield url


@pytest.fixture
def s3_env(monkeypatch, tmp_path):
    """Fake AWS credentials and region in the environment; no config files, no instance metadata."""
    s3server.set_fake_credentials(monkeypatch, tmp_path)
    return monkeypatch


@pytest.fixture(scope="session")
def _s3_fault_proxy(s3_server):
    with s3server.FaultProxy(s3_server) as proxy:
        yield proxy


@pytest.fixture
def fault_proxy(_s3_fault_proxy):
    """A ``FaultProxy`` in front of ``s3_server``, with no rules and no recorded calls at the start."""
    _s3_fault_proxy.reset()
    yield _s3_fault_proxy
    _s3_fault_proxy.reset()

# ---- end of S3 -----------------------------------------------------------------------------------------
