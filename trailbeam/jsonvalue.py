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
_INF = float("inf")


class JsonError(ValueError):
    """The bytes are not one valid JSON text (RFC 8259; NaN and Infinity are not JSON)."""


def _number(literal: str) -> float | Decimal:
    # Short literals are exact as floats (any decimal of at most 15 significant digits survives a
    # double); a longer one stays a float only when the float's shortest repr is the same number.
    value = float(literal)
    if len(literal) <= _FLOAT_DIGITS and value not in (0.0, _INF, -_INF):
        return value
    exact = Decimal(literal)
    if math.isfinite(value) and Decimal(repr(value)) == exact and (value != 0.0 or exact.is_zero()):
        return value
    return exact


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
    except ValueError as err:  # an integer beyond Python's 4300-digit conversion limit
        raise JsonError(str(err)) from None


def dumps(value: Any) -> bytes:
    """Canonical JSON bytes of ``value``: compact, sorted keys, exact numbers.

    Raises:
        JsonError: for values JSON cannot hold, or nested too deep to write.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        pass  # a Decimal, an integer beyond 64 bits, a lone surrogate or nesting deeper than 255
    try:
        # The C encoder: deep nesting, big integers, lone surrogates (escaped, as ASCII JSON).
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except TypeError:
        pass  # a Decimal
    except ValueError as err:
        raise JsonError(str(err)) from None
    try:
        return _exact_dumps(value).encode()
    except RecursionError:
        raise JsonError("value nested too deep to write") from None


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
