"""Errors and the reason codes under which bad input is quarantined.

A reason code names *why* an input cannot be an event. Codes are stable strings: they are stored in
quarantine records, counted per run, and matched by users' scripts.
"""

from __future__ import annotations


class TrailbeamError(Exception):
    """Base of every error trailbeam raises on purpose (the CLI turns them into exit code 2)."""


class InputError(TrailbeamError):
    """The user's input or arguments cannot be used (a missing path, a bad time, ...)."""


class StoreError(TrailbeamError):
    """An event store is missing, unreadable or not a trailbeam store."""


# Whole objects.
MODIFIED_SINCE_INGEST = "modified_since_ingest"
VANISHED = "vanished"
CORRUPT_GZIP = "corrupt_gzip"
GZIP_TRAILING_DATA = "gzip_trailing_data"
UNREADABLE = "unreadable"
# Whole objects or single items.
INVALID_JSON = "invalid_json"
UNKNOWN_SHAPE = "unknown_shape"
# Single items that decoded but cannot be events.
NOT_AN_OBJECT = "not_an_object"
MISSING_EVENT_ID = "missing_event_id"
BAD_EVENT_TIME = "bad_event_time"
MISSING_EVENT_SOURCE_OR_NAME = "missing_event_source_or_name"

REASONS = (
    MODIFIED_SINCE_INGEST, VANISHED, CORRUPT_GZIP, GZIP_TRAILING_DATA, UNREADABLE, INVALID_JSON, UNKNOWN_SHAPE,
    NOT_AN_OBJECT, MISSING_EVENT_ID, BAD_EVENT_TIME, MISSING_EVENT_SOURCE_OR_NAME,
)


class Rejected(TrailbeamError, ValueError):
    """An item that cannot be stored as an event, with its reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ObjectUnavailable(TrailbeamError):
    """An input object could not be read (it vanished, or reading failed after retries): quarantined."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
