"""Tests of trailbeam.timestamps: ISO 8601 text <-> UTC microseconds since the epoch."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailbeam.timestamps import datetime_micros, format_micros, parse_micros, parse_user_time, to_datetime

UTC = timezone.utc


def micros(*args: int) -> int:
    """Independent reference: microseconds of a UTC wall-clock time."""
    return (datetime(*args, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


PARSE_CASES = [
    ("epoch", "1970-01-01T00:00:00Z", 0),
    ("cloudtrail", "2024-11-30T08:43:17Z", micros(2024, 11, 30, 8, 43, 17)),
    ("millis", "2024-05-01T12:00:00.123Z", micros(2024, 5, 1, 12, 0, 0, 123000)),
    ("micros", "2024-05-01T12:00:00.000001Z", micros(2024, 5, 1, 12, 0, 0, 1)),
    ("half-second", "1970-01-01T00:00:01.5Z", 1_500_000),
    ("nanos-truncated", "2024-05-01T12:00:00.123456789Z", micros(2024, 5, 1, 12, 0, 0, 123456)),
    ("plus-02:00", "2024-05-01T14:00:00+02:00", micros(2024, 5, 1, 12)),
    ("minus-05:30", "2024-05-01T06:30:00-05:30", micros(2024, 5, 1, 12)),
    ("offset-crosses-day", "2024-05-01T01:00:00+03:00", micros(2024, 4, 30, 22)),
    ("plus-00:00", "2024-05-01T12:00:00+00:00", micros(2024, 5, 1, 12)),
    ("offset-without-colon", "2024-05-01T14:00:00+0200", micros(2024, 5, 1, 12)),
    ("naive-is-utc", "2024-05-01T12:00:00", micros(2024, 5, 1, 12)),
    ("naive-fraction-is-utc", "2024-05-01T12:00:00.5", micros(2024, 5, 1, 12, 0, 0, 500000)),
    ("no-seconds", "2024-05-01T12:00", micros(2024, 5, 1, 12)),
    ("space-separator", "2024-05-01 12:00:00Z", micros(2024, 5, 1, 12)),
    ("before-epoch", "1969-12-31T23:59:59Z", -1_000_000),
    ("leap-day", "2024-02-29T23:59:59.999999Z", micros(2024, 2, 29, 23, 59, 59, 999999)),
    ("year-1", "0001-01-01T00:00:00Z", micros(1, 1, 1)),
    ("year-9999", "9999-12-31T23:59:59.999999Z", micros(9999, 12, 31, 23, 59, 59, 999999)),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES])
def test_parse_micros(text, expected):
    assert parse_micros(text) == expected


REJECT_CASES = [
    ("none", None),
    ("int", 1714564800),
    ("float", 1714564800.5),
    ("bool", True),
    ("bytes", b"2024-05-01T12:00:00Z"),
    ("datetime", datetime(2024, 5, 1, tzinfo=UTC)),
    ("dict", {"eventTime": "2024-05-01T12:00:00Z"}),
    ("empty", ""),
    ("date-only", "2024-05-01"),
    ("words", "yesterday at noon"),
    ("basic-format", "20240501T120000Z"),
    ("bad-separator", "2024-05-01X12:00:00Z"),
    ("leading-space", " 2024-05-01T12:00:00Z"),
    ("month-13", "2024-13-01T00:00:00Z"),
    ("feb-30", "2024-02-30T00:00:00Z"),
    ("hour-25", "2024-05-01T25:00:00Z"),
    ("garbage-after", "2024-05-01T12:00:00Zjunk"),
]


@pytest.mark.parametrize("value", [c[1] for c in REJECT_CASES], ids=[c[0] for c in REJECT_CASES])
def test_parse_micros_rejects_what_is_not_a_date_and_time(value):
    with pytest.raises(ValueError):
        parse_micros(value)


@pytest.mark.parametrize("text", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"],
                         ids=["after-9999", "before-year-1"])
def test_parse_micros_rejects_instants_it_cannot_format(text):
    with pytest.raises(ValueError):
        parse_micros(text)


FORMAT_CASES = [
    ("epoch", 0, "1970-01-01T00:00:00Z"),
    ("fraction", 1_500_000, "1970-01-01T00:00:01.500000Z"),
    ("one-micro", 1, "1970-01-01T00:00:00.000001Z"),
    ("before-epoch", -1, "1969-12-31T23:59:59.999999Z"),
    ("cloudtrail", micros(2024, 11, 30, 8, 43, 17), "2024-11-30T08:43:17Z"),
    ("year-9999", micros(9999, 12, 31, 23, 59, 59, 999999), "9999-12-31T23:59:59.999999Z"),
]


@pytest.mark.parametrize("value, expected", [c[1:] for c in FORMAT_CASES], ids=[c[0] for c in FORMAT_CASES])
def test_format_micros(value, expected):
    assert format_micros(value) == expected
    assert parse_micros(expected) == value


_RANGE = st.integers(micros(1, 1, 1), micros(9999, 12, 31, 23, 59, 59, 999999))


@settings(max_examples=200, deadline=None)
@given(_RANGE)
def test_format_then_parse_is_the_identity(value):
    text = format_micros(value)
    assert text.endswith("Z")
    assert parse_micros(text) == value


@settings(max_examples=100, deadline=None)
@given(st.integers(micros(2, 1, 1), micros(9998, 1, 1)), st.integers(-23 * 60 - 59, 23 * 60 + 59))
def test_offsets_are_converted_not_dropped(value, offset_minutes):
    local = to_datetime(value).astimezone(timezone(timedelta(minutes=offset_minutes)))
    assert parse_micros(local.isoformat()) == value


DATETIME_CASES = [
    ("utc", datetime(2024, 5, 1, 12, tzinfo=UTC), micros(2024, 5, 1, 12)),
    ("other-zone", datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2))), micros(2024, 5, 1, 12)),
    ("micros", datetime(1970, 1, 1, 0, 0, 0, 7, tzinfo=UTC), 7),
    ("before-epoch", datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), -1),
]


@pytest.mark.parametrize("moment, expected", [c[1:] for c in DATETIME_CASES], ids=[c[0] for c in DATETIME_CASES])
def test_datetime_micros_and_back(moment, expected):
    assert datetime_micros(moment) == expected
    assert to_datetime(expected) == moment
    assert to_datetime(expected).tzinfo == UTC


def test_datetime_micros_refuses_a_naive_datetime():
    with pytest.raises(TypeError):
        datetime_micros(datetime(2024, 5, 1))


USER_TIME_CASES = [
    ("date-is-midnight-utc", "2024-05-01", micros(2024, 5, 1)),
    ("full-time", "2024-05-01T12:30:00Z", micros(2024, 5, 1, 12, 30)),
    ("offset", "2024-05-01T12:30:00+02:00", micros(2024, 5, 1, 10, 30)),
    ("naive-time", "2024-05-01T12:30:00", micros(2024, 5, 1, 12, 30)),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in USER_TIME_CASES], ids=[c[0] for c in USER_TIME_CASES])
def test_parse_user_time(text, expected):
    assert parse_user_time(text) == expected


@pytest.mark.parametrize("text", ["yesterday!", "2024-5-1", "", "2024-13-01", "next week"],
                         ids=["ten-chars-not-a-date", "short-date", "empty", "month-13", "words"])
def test_parse_user_time_rejects(text):
    with pytest.raises(ValueError):
        parse_user_time(text)
