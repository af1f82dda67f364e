"""Turns what a user names as input (files, folders, globs, URIs) into patterns Beam can match.

A folder means everything below it. Local paths are made absolute so that workers in other
processes, and provenance, see the same path.
"""

from __future__ import annotations

import os

from trailbeam import errors

_REMOTE = ("s3://", "gs://")


def to_patterns(sources: list[str]) -> list[str]:
    """Input names -> match patterns (``**`` crosses folders, ``*`` does not).

    Raises:
        errors.InputError: a local path that does not exist and is not a glob.
    """
    patterns = []
    for source in sources:
        if source.startswith(_REMOTE):
            patterns.append(source + "**" if source.endswith("/") else source)
            continue
        path = os.path.abspath(os.path.expanduser(source))
        if os.path.isdir(path):
            patterns.append(os.path.join(path, "**"))
        elif os.path.exists(path) or any(char in path for char in "*?["):
            patterns.append(path)
        else:
            raise errors.InputError(f"no such file or folder: {source}")
    return patterns


def local_size(sources: list[str]) -> int:
    """Bytes under the local files and folders named (remote sources and globs count as 0)."""
    total = 0
    for source in sources:
        path = os.path.abspath(os.path.expanduser(source))
        if os.path.isfile(path):
            total += os.path.getsize(path)
        for folder, _, names in os.walk(path):
            total += sum(os.path.getsize(os.path.join(folder, name)) for name in names)
    return total


def split_names(values: str | list[str] | None) -> list[str] | None:
    """Names given comma-separated and/or repeated on a command line -> a list (None when none).

    >>> split_names(["111122223333,444455556666", " us-east-1 "])
    ['111122223333', '444455556666', 'us-east-1']
    """
    if isinstance(values, str):
        values = [values]
    names = [name.strip() for value in values or [] for name in value.split(",") if name.strip()]
    return names or None
