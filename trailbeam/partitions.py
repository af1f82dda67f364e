"""Hive-style partitions of the event store: ``account=<id>/region=<name>/date=YYYY-MM-DD``.

Partition values come from the events (recipientAccountId, awsRegion, the UTC date of eventTime),
falling back to the object's place in the trail layout. Values are attacker-influenced and not always
what the documentation promises (redacted account ids such as ``XXXX/1``), so each value is
percent-escaped the way Hive escapes path names: the folder name can never leave its parent and
query engines unescape it back.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

DEFAULT = "__HIVE_DEFAULT_PARTITION__"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def escape(value: str | None) -> str:
    """Percent-escapes one partition value.

    >>> escape("111122223333")
    '111122223333'
    >>> escape("../etc/x=1")
    '..%2Fetc%2Fx%3D1'
    >>> escape(None)
    '__HIVE_DEFAULT_PARTITION__'
    """
    if not value:
        return DEFAULT
    if value == DEFAULT:
        return "%5F" + DEFAULT[1:]  # a real value spelled like the marker must not read back as missing
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), value)


def unescape(name: str) -> str | None:
    """Inverse of ``escape`` (DEFAULT -> None)."""
    return None if name == DEFAULT else unquote(name)


def partition_path(account: str | None, region: str | None, day: str) -> str:
    """The partition folder of one event, relative to the store's ``events/`` folder."""
    return f"account={escape(account)}/region={escape(region)}/date={day}"


def parse_partition_path(path: str) -> dict[str, str | None]:
    """``account=a/region=r/date=d`` (anywhere in a path) -> {"account": a, "region": r, "date": d}."""
    found: dict[str, str | None] = {}
    for part in path.replace("\\", "/").split("/"):
        name, sep, value = part.partition("=")
        if sep and name in ("account", "region", "date"):
            found[name] = unescape(value)
    return found
