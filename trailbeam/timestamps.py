"""UTC timestamps: CloudTrail text in, microseconds since the epoch out, ISO 8601 back.

The store keeps every time as an Avro ``timestamp-micros`` (UTC). CloudTrail writes ``eventTime`` as
``2024-11-30T08:43:17Z``; other exports add fractions or a UTC offset, which are converted, never
dropped. A time without a zone is taken as UTC because CloudTrail defines eventTime in UTC.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone

from trailbeam import errors

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
_FIRST = (datetime(1, 1, 1, tzinfo=timezone.utc) - _EPOCH) // _MICRO
_LAST = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc) - _EPOCH) // _MICRO


def parse_micros(value: object) -> int:
    """Parses an ISO 8601 time into UTC microseconds since the epoch.

    >>> parse_micros("1970-01-01T00:00:01Z")
    1000000
    >>> parse_micros("1970-01-01T02:00:01.5+02:00")
    1500000

    Raises:
        ValueError: when ``value`` is not a string holding an ISO 8601 date and time.
    """
    if type(value) is not str:
        raise ValueError(f"not an ISO 8601 date and time: {value!r:.80}")
    return _parse_text(value)


# Events arrive many per second: the cache turns most parses into one dict look-up.
@functools.lru_cache(maxsize=1 << 16)
def _parse_text(value: str) -> int:
    if len(value) < 16 or value[10] not in "Tt ":
        raise ValueError(f"not an ISO 8601 date and time: {value!r:.80}")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    micros = (moment - _EPOCH) // _MICRO
    if not _FIRST <= micros <= _LAST:
        raise ValueError(f"{value!r:.80} lies outside the years 1..9999 in UTC")
    return micros


def to_datetime(micros: int) -> datetime:
    """UTC microseconds since the epoch -> aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=micros)


def datetime_micros(moment: datetime) -> int:
    """Aware datetime -> UTC microseconds since the epoch."""
    return (moment - _EPOCH) // _MICRO


def format_micros(micros: int) -> str:
    """UTC microseconds -> ISO 8601 with a ``Z``; fractions only when present.

    >>> format_micros(1500000)
    '1970-01-01T00:00:01.500000Z'
    >>> format_micros(0)
    '1970-01-01T00:00:00Z'
    """
    return to_datetime(micros).isoformat().replace("+00:00", "Z")


def parse_user_time(text: str) -> int:
    """A time given on the command line (ISO 8601; a date alone means its midnight UTC) -> micros."""
    if len(text) == 10:
        text += "T00:00:00Z"
    return parse_micros(text)


def flag_time(text: str | None, flag: str) -> int | None:
    """An optional command-line time -> micros; ``errors.InputError`` naming the flag when malformed."""
    if text is None:
        return None
    try:
        return parse_user_time(text)
    except ValueError:
        raise errors.InputError(f"{flag} {text!r} is not an ISO 8601 UTC time") from None
