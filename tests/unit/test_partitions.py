"""Tests of trailbeam.partitions: Hive-style partition folders that attacker-chosen values cannot escape."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailbeam.partitions import DEFAULT, escape, parse_partition_path, partition_path, unescape

ESCAPE_CASES = [
    ("account-id", "111122223333", "111122223333"),
    ("region", "us-east-1", "us-east-1"),
    ("safe-punctuation", "a_b.c-d", "a_b.c-d"),
    ("slash", "XXXX/1", "XXXX%2F1"),
    ("traversal", "../etc/x=1", "..%2Fetc%2Fx%3D1"),
    ("dot-dot", "..", ".."),
    ("equals", "a=b", "a%3Db"),
    ("percent", "100%", "100%25"),
    ("already-escaped-looking", "%2F", "%252F"),
    ("backslash", "a\\b", "a%5Cb"),
    ("space-and-plus", "a b+c", "a%20b%2Bc"),
    ("hash", "a#b", "a%23b"),
    ("colon", "arn:aws", "arn%3Aaws"),
    ("unicode-bmp", "\u00e9", "%C3%A9"),
    ("unicode-astral", "\U0001F600", "%F0%9F%98%80"),
    ("control", "a\nb\x00", "a%0Ab%00"),
]


@pytest.mark.parametrize("value, expected", [c[1:] for c in ESCAPE_CASES], ids=[c[0] for c in ESCAPE_CASES])
def test_escape_and_unescape(value, expected):
    assert escape(value) == expected
    assert unescape(expected) == value


@pytest.mark.parametrize("value", [None, ""], ids=["none", "empty"])
def test_missing_values_go_to_the_default_partition(value):
    assert escape(value) == DEFAULT
    assert unescape(DEFAULT) is None


def test_the_default_marker_as_a_value_is_not_read_back_as_none():
    assert unescape(escape(DEFAULT)) == DEFAULT


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1))
def test_escaped_values_stay_in_their_folder(value):
    escaped = escape(value)
    assert re.fullmatch(r"[A-Za-z0-9_.%\-]+", escaped)
    assert unescape(escaped) == value or value == DEFAULT


PATH_CASES = [
    ("plain", ("111122223333", "us-east-1", "2024-05-01"), "account=111122223333/region=us-east-1/date=2024-05-01"),
    ("missing", (None, "", "2024-05-01"),
     f"account={DEFAULT}/region={DEFAULT}/date=2024-05-01"),
    ("hostile", ("../../x", "a/b=c", "2024-05-01"), "account=..%2F..%2Fx/region=a%2Fb%3Dc/date=2024-05-01"),
]


@pytest.mark.parametrize("args, expected", [c[1:] for c in PATH_CASES], ids=[c[0] for c in PATH_CASES])
def test_partition_path(args, expected):
    path = partition_path(*args)
    assert path == expected
    assert path.count("/") == 2
    account, region, day = args
    assert parse_partition_path(path) == {"account": account or None, "region": region or None, "date": day}


PARSE_CASES = [
    ("inside-store-path", "s3://store/events/account=1/region=eu-west-1/date=2024-05-01/part-00.avro",
     {"account": "1", "region": "eu-west-1", "date": "2024-05-01"}),
    ("windows", "C:\\store\\events\\account=1\\region=us-east-1\\date=2024-05-01\\f.avro",
     {"account": "1", "region": "us-east-1", "date": "2024-05-01"}),
    ("escaped", "events/account=XXXX%2F1/region=%C3%A9/date=2024-05-01",
     {"account": "XXXX/1", "region": "\u00e9", "date": "2024-05-01"}),
    ("default", f"account={DEFAULT}/region=us-east-1", {"account": None, "region": "us-east-1"}),
    ("other-keys-ignored", "year=2024/account=1/hour=05", {"account": "1"}),
    ("no-partitions", "/tmp/out/file.avro", {}),
]


@pytest.mark.parametrize("path, expected", [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES])
def test_parse_partition_path(path, expected):
    assert parse_partition_path(path) == expected
