"""JSON values parsed and written without loss.

CloudTrail is JSON, and the event store promises to give back exactly the value AWS wrote. orjson
silently turns integers beyond 64 bits into floats and rounds long decimals, so parsing uses the
standard library's C scanner (measured here as fast as orjson on CloudTrail files) with exact numbers:
``int`` of any size, ``float`` where a float holds the literal exactly, ``Decimal`` otherwise.
Serialising uses orjson, falling back to an exact writer for the rare value holding a Decimal or an
integer beyond 64 bits.

Bytes in, Python values out (``loads``); values in, canonical JSON bytes out (``dumps``): UTF-8,
compact, object keys sorted, so that two copies of one value have identical bytes.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import orjson

# Decimal literals with more significant digits than this may not survive a trip through a float.
_FLOAT_DIGITS = 15


class JsonError(ValueError):
    """The bytes are not one valid JSON text (RFC 8259; NaN and Infinity are not JSON)."""


def _number(literal: str) -> float | Decimal:
    # Most numbers in CloudTrail are small; only a long mantissa or an exponent beyond a double's
    # range needs Decimal to stay exact.
    mantissa = literal.lstrip("-").split("e")[0].split("E")[0].replace(".", "").lstrip("0")
    value = float(literal)
    if len(mantissa) <= _FLOAT_DIGITS and value not in (0.0, float("inf"), float("-inf")):
        return value
    if value == 0.0 and not mantissa:
        return value  # a true zero such as 0.0 or -0e5
    return Decimal(literal)


def _reject_constant(name: str) -> Any:
    raise JsonError(f"{name} is not a JSON value")


def loads(data: bytes | str) -> Any:
    """Parses one JSON text exactly: integers of any size, floats where a float is exact, else Decimal.

    >>> loads(b'{"n": 123456789012345678901234, "f": 1.5, "d": 0.1000000000000000000001}')
    {'n': 123456789012345678901234, 'f': 1.5, 'd': Decimal('0.1000000000000000000001')}

    Raises:
        JsonError: for anything that is not a single valid JSON text.
    """
    try:
        return json.loads(data, parse_float=_number, parse_constant=_reject_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise JsonError(str(err)) from None


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
    if isinstance(value, float) and not math.isfinite(value):
        raise JsonError(f"{value} is not a JSON value")
    return json.dumps(value)
