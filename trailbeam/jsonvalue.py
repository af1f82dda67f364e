"""JSON values parsed and written without loss.

CloudTrail is JSON, and the event store promises to give back exactly the value AWS wrote. orjson is
the fast path, but it silently turns integers beyond 64 bits into floats and rejects numbers beyond a
double's range. Those are rare in CloudTrail, so they are found with a cheap scan and routed through
the standard library with exact numbers (``int`` of any size, ``Decimal`` for non-integers).

Bytes in, Python values out (``loads``); values in, canonical JSON bytes out (``dumps``): UTF-8,
compact, object keys sorted, so that two copies of one value have identical bytes.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson

# A number a double cannot hold exactly has at least 16 digits; this also matches long digit runs
# inside strings (e.g. nanosecond timestamps in session names), which are then checked for context.
_LONG_DIGITS = re.compile(rb"[0-9][0-9.]{15}")
_NUMBER_CONTEXT = frozenset(b":,[-")
_WHITESPACE = b" \t\r\n"


class JsonError(ValueError):
    """The bytes are not one valid JSON text (RFC 8259; NaN and Infinity are not JSON)."""


def needs_exact_numbers(data: bytes) -> bool:
    """Tells whether ``data`` may hold a number that orjson would not keep exactly.

    Only candidates preceded (after optional white space) by ``:``, ``,``, ``[`` or ``-`` count, so a
    long digit run inside a string rarely sends a file down the slow path.

    >>> needs_exact_numbers(b'{"a": 123456789012345678901}')
    True
    >>> needs_exact_numbers(b'{"session": "aws-go-sdk-1722375070115152000"}')
    False
    """
    for match in _LONG_DIGITS.finditer(data):
        i = match.start() - 1
        while i >= 0 and data[i] in _WHITESPACE:
            i -= 1
        if i >= 0 and data[i] in _NUMBER_CONTEXT:
            return True
    return False


def _reject_constant(name: str) -> Any:
    raise JsonError(f"{name} is not a JSON value")


def _exact_loads(data: bytes | str) -> Any:
    try:
        return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise JsonError(str(err)) from None


def loads(data: bytes | str) -> Any:
    """Parses one JSON text exactly.

    Raises:
        JsonError: for anything that is not a single valid JSON text.
    """
    raw = data.encode() if isinstance(data, str) else data
    if not needs_exact_numbers(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # orjson also refuses numbers beyond a double; the exact parser decides.
    return _exact_loads(raw)


def dumps(value: Any) -> bytes:
    """Canonical JSON bytes of ``value``: compact, sorted keys, exact numbers."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return _exact_dumps(value).encode()


def _exact_dumps(value: Any) -> str:
    # Only reached for values holding Decimal or integers beyond 64 bits.
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{json.dumps(k)}:{_exact_dumps(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_exact_dumps(v) for v in value) + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise JsonError(f"{value} is not a JSON value")
        return str(value)
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        raise JsonError(f"{value} is not a JSON value")
    return json.dumps(value, ensure_ascii=False)
