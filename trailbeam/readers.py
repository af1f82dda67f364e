"""Reading one input file: its bytes in, candidate CloudTrail events out.

CloudTrail events reach an investigator in many envelopes: the S3 log files CloudTrail writes
(``{"Records": [...]}``, gzipped), ``aws cloudtrail lookup-events`` output, EventBridge events,
CloudWatch Logs subscription payloads, exports and ``filter-log-events`` output, JSON Lines, arrays
and hand-made files of pretty-printed objects. ``decode`` finds the items in one file and unwraps
their envelope. It does not validate events (a later step rejects non-objects, missing eventID, ...);
every problem it does find becomes a ``Reject`` instead of an exception.

    Input:  gzip(b'{"Records": [{"eventID": "e1"}, {"eventID": "e2"}]}')
    Output: Decoded(shape="records", content_sha256="<hex>", rejects=[],
                    items=[Item(value={"eventID": "e1"}, position=0, wrapper=None),
                           Item(value={"eventID": "e2"}, position=1, wrapper=None)])

Positions (stored in provenance as "position in the file"; they never depend on other files):

- records, array, lookup-events, cloudwatch-subscription, cloudwatch-filter: 0-based index in the
  file's list (``Records``, the array, ``Events``, ``logEvents``, ``events``).
- single, eventbridge, and a lone LookupEvents object: 0.
- jsonl, cloudwatch-export: 0-based physical line index in the uncompressed file; blank lines count,
  a UTF-8 BOM does not.
- concatenated: 0-based index of the object in the file.
- ``None`` in a ``Reject``: the whole file is rejected.

Detection parses the whole document first; a list, ``Records``, ``Events``, ``logEvents``, ``events``,
an EventBridge envelope, a lone LookupEvents object, a digest and a single event are recognised in
that order (``_DOCUMENT_SHAPES``). Text that is not one JSON document is read as JSON Lines, a
CloudWatch Logs export or concatenated objects (``_TEXT_SHAPES``). A ``shape`` override accepts only
that shape, by the same test; a file that fails it is rejected as a whole.

An item's ``wrapper`` is ``jsonvalue.dumps`` of its envelope without the event, so that what AWS
wrote around the event (LookupEvents' outer fields, the EventBridge envelope, the CloudWatch log
group, stream and timestamp) is kept; it is ``None`` for shapes without an envelope.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from trailbeam import errors, jsonvalue

SHAPES = ("records", "array", "single", "jsonl", "concatenated", "lookup-events", "eventbridge",
          "cloudwatch-subscription", "cloudwatch-export", "cloudwatch-filter")

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_MAX_DETAIL = 300
_EVENT_KEYS = ("eventVersion", "eventID", "eventTime")
# "2024-05-01T12:00:00.000Z {...}": one log event per line of a CloudWatch Logs export to S3.
_EXPORT_TIMESTAMP = re.compile(rb"(\d{4}-\d\d-\d\dT[0-9:.]+Z) ")
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")
# Besides JsonError: a str holding a lone surrogate may fail to encode to UTF-8, and deep nesting
# exhausts the recursion limit of the stdlib scanner (raw_decode below).
_PARSE_ERRORS = (jsonvalue.JsonError, UnicodeError, RecursionError)


class Item(NamedTuple):
    """One decoded value that should be a CloudTrail event (not validated here).

    A NamedTuple rather than a frozen dataclass: one is built per event, and here a frozen dataclass
    costs about 2 µs to build against 0.3 µs for a tuple.
    """

    value: Any
    position: int
    wrapper: bytes | None  # jsonvalue.dumps of the envelope without the event; None if not wrapped


@dataclass(frozen=True, slots=True, kw_only=True)
class Reject:
    """An item (``position`` set) or a whole file (``position`` None) that yields no event."""

    reason: str  # a reason code from trailbeam.errors
    detail: str  # short human-readable explanation, at most 300 characters
    position: int | None
    payload: bytes  # the item as written or re-serialised; for a file, its bytes as given


@dataclass(frozen=True, slots=True, kw_only=True)
class Decoded:
    """Everything found in one file."""

    shape: str  # one of SHAPES, or "empty", "digest", "unreadable" (the whole file was rejected)
    content_sha256: str | None  # of the uncompressed content; None if it could not be decompressed
    items: list[Item]
    rejects: list[Reject]


_Found = tuple[list[Item], list[Reject]]
_Read = tuple[str, list[Item], list[Reject]]  # (shape, items, rejects)


def decode(data: bytes, *, shape: str = "auto") -> Decoded:
    """Finds the candidate events in the bytes of one file, gzipped or not.

    Args:
        data: the file's bytes exactly as stored.
        shape: "auto" to detect the shape, or one of SHAPES to accept only that shape; a file that
            does not fit it is rejected as a whole.

    Returns:
        The shape found, the items and the rejects. Bad data never raises.

    Raises:
        ValueError: if ``shape`` is neither "auto" nor one of SHAPES.

    >>> decode(b'{"eventID": "e1"}\\n{"eventID": "e2"}\\n').items[1]
    Item(value={'eventID': 'e2'}, position=1, wrapper=None)
    """
    if shape != "auto" and shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected 'auto' or one of {', '.join(SHAPES)}")
    try:
        content = _decompressed(data)
    except errors.Rejected as err:
        return _unreadable(err, data, content_sha256=None)
    content_sha256 = hashlib.sha256(content).hexdigest()
    text = content[len(_BOM):] if content.startswith(_BOM) else content
    if not text or text.isspace():
        return Decoded(shape="empty", content_sha256=content_sha256, items=[], rejects=[])
    try:
        found, items, rejects = _read_auto(text) if shape == "auto" else _read_forced(text, shape)
    except errors.Rejected as err:
        return _unreadable(err, data, content_sha256=content_sha256)
    return Decoded(shape=found, content_sha256=content_sha256, items=items, rejects=rejects)


def _unreadable(err: errors.Rejected, data: bytes, *, content_sha256: str | None) -> Decoded:
    reject = _reject(err.reason, err.detail, None, data)
    return Decoded(shape="unreadable", content_sha256=content_sha256, items=[], rejects=[reject])


def _decompressed(data: bytes) -> bytes:
    """The content of ``data``: gunzipped if it starts with the gzip magic, else as is."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    decompressor = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer, CRC checked
    try:
        content = decompressor.decompress(data)
    except zlib.error as err:
        raise errors.Rejected(errors.CORRUPT_GZIP, str(err)) from None
    if not decompressor.eof:
        raise errors.Rejected(errors.CORRUPT_GZIP, "truncated gzip stream")
    if decompressor.unused_data:
        # CloudTrail writes exactly one member; anything after it means the object was altered.
        raise errors.Rejected(errors.GZIP_TRAILING_DATA,
                              f"{len(decompressor.unused_data)} bytes after the end of the gzip stream")
    return content


# ---- Choosing the shape -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    name: str
    fits: Callable[[Any], bool]  # the parsed document (document shapes) or the text (text shapes)
    read: Callable[[Any], _Found]


def _read_auto(text: bytes) -> _Read:
    # The whole document first: that is the common case, and it costs one parse.
    try:
        document = jsonvalue.loads(text)
    except _PARSE_ERRORS as err:
        return _read_text(text, _TEXT_SHAPES, str(err))
    return _read_document(document, _DOCUMENT_SHAPES, "any known shape")


def _read_forced(text: bytes, shape: str) -> _Read:
    # The forced shape must pass the same test as in auto detection; other shapes are not tried.
    document_shapes = [row for row in _DOCUMENT_SHAPES if row.name == shape]
    if not document_shapes:
        rows = [row for row in _TEXT_SHAPES if row.name == shape]
        return _read_text(text, rows, f"not in shape {shape!r}")
    try:
        document = jsonvalue.loads(text)
    except _PARSE_ERRORS as err:
        raise errors.Rejected(errors.INVALID_JSON, str(err)) from None
    return _read_document(document, document_shapes, f"shape {shape!r}")


def _read_document(document: Any, rows: Iterable[_Shape], wanted: str) -> _Read:
    for row in rows:
        if row.fits(document):
            return (row.name, *row.read(document))
    raise errors.Rejected(errors.UNKNOWN_SHAPE, f"a JSON {_json_kind(document)} that does not fit {wanted}")


def _read_text(text: bytes, rows: Iterable[_Shape], detail: str) -> _Read:
    for row in rows:
        if row.fits(text):
            return (row.name, *row.read(text))
    raise errors.Rejected(errors.INVALID_JSON, detail)


def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


# ---- Shapes of a whole JSON document --------------------------------------------------------------


def _has_list(document: Any, key: str) -> bool:
    return isinstance(document, dict) and isinstance(document.get(key), list)


def _is_filter_output(document: Any) -> bool:
    return _has_list(document, "events") and all(
        isinstance(event, dict) and "message" in event for event in document["events"])


def _is_eventbridge(document: Any) -> bool:
    return (isinstance(document, dict) and "detail-type" in document
            and isinstance(document.get("detail"), dict))


def _is_lookup_event(document: Any) -> bool:
    return isinstance(document, dict) and isinstance(document.get("CloudTrailEvent"), str)


def _is_digest(document: Any) -> bool:
    return isinstance(document, dict) and ("digestStartTime" in document or "logFiles" in document)


def _is_single_event(document: Any) -> bool:
    return isinstance(document, dict) and any(key in document for key in _EVENT_KEYS)


def _read_records(document: dict[str, Any]) -> _Found:
    # The hot path (CloudTrail's own S3 files): one small object per record and nothing else.
    return [Item(value=record, position=i, wrapper=None) for i, record in enumerate(document["Records"])], []


def _read_array(document: list[Any]) -> _Found:
    return _partition(_unwrap(value, i, None) for i, value in enumerate(document))


def _read_lookup_events(document: dict[str, Any]) -> _Found:
    return _partition(_lookup_item(element, i, None) for i, element in enumerate(document["Events"]))


def _read_subscription(document: dict[str, Any]) -> _Found:
    # CloudWatch checks a destination with a control message; its messages are not events.
    if document.get("messageType") == "CONTROL_MESSAGE":
        return [], []
    envelope = _without(document, "logEvents")
    return _partition(_log_event_item(event, i, envelope) for i, event in enumerate(document["logEvents"]))


def _read_filter_output(document: dict[str, Any]) -> _Found:
    return _partition(_log_event_item(event, i, None) for i, event in enumerate(document["events"]))


def _read_eventbridge(document: dict[str, Any]) -> _Found:
    return _partition([_eventbridge_item(document, 0, None)])


def _read_lookup_event(document: dict[str, Any]) -> _Found:
    return _partition([_lookup_item(document, 0, None)])


def _read_nothing(document: Any) -> _Found:
    # Digest files hold hashes of log files, not events; checking them is the integrity step's job.
    return [], []


def _read_single(document: Any) -> _Found:
    return [Item(value=document, position=0, wrapper=None)], []


# In auto-detection order: the first row that fits wins.
_DOCUMENT_SHAPES = (
    _Shape("array", lambda document: isinstance(document, list), _read_array),
    _Shape("records", lambda document: _has_list(document, "Records"), _read_records),
    _Shape("lookup-events", lambda document: _has_list(document, "Events"), _read_lookup_events),
    _Shape("cloudwatch-subscription", lambda document: _has_list(document, "logEvents"), _read_subscription),
    _Shape("cloudwatch-filter", _is_filter_output, _read_filter_output),
    _Shape("eventbridge", _is_eventbridge, _read_eventbridge),
    _Shape("lookup-events", _is_lookup_event, _read_lookup_event),
    _Shape("digest", _is_digest, _read_nothing),
    _Shape("single", _is_single_event, _read_single),
)


# ---- Shapes of a text that is not one JSON document ---------------------------------------------------


def _lines(text: bytes) -> Iterator[tuple[int, bytes]]:
    """(physical line index, line without its terminator) of every non-blank line, lazily."""
    for index, line in enumerate(io.BytesIO(text)):  # BytesIO shares the buffer: no copy
        line = line.rstrip(b"\r\n")
        if line and not line.isspace():
            yield index, line


def _first_line(text: bytes) -> bytes:
    return next(_lines(text), (0, b""))[1]


def _parses(data: bytes) -> bool:
    try:
        jsonvalue.loads(data)
    except _PARSE_ERRORS:
        return False
    return True


def _is_json_lines(text: bytes) -> bool:
    return _parses(_first_line(text))


def _read_json_lines(text: bytes) -> _Found:
    return _partition(_json_line_item(line, index) for index, line in _lines(text))


def _json_line_item(line: bytes, position: int) -> Item | Reject:
    try:
        value = jsonvalue.loads(line)
    except _PARSE_ERRORS as err:
        return _reject(errors.INVALID_JSON, str(err), position, line)
    return _unwrap(value, position, line)


def _is_cloudwatch_export(text: bytes) -> bool:
    line = _first_line(text)
    match = _EXPORT_TIMESTAMP.match(line)
    return match is not None and _parses(line[match.end():])


def _read_cloudwatch_export(text: bytes) -> _Found:
    return _partition(_export_item(line, index) for index, line in _lines(text))


def _export_item(line: bytes, position: int) -> Item | Reject:
    match = _EXPORT_TIMESTAMP.match(line)
    if match is None:
        return _reject(errors.UNKNOWN_SHAPE, "line does not start with a CloudWatch Logs timestamp",
                       position, line)
    try:
        value = jsonvalue.loads(line[match.end():])
    except _PARSE_ERRORS as err:
        return _reject(errors.INVALID_JSON, str(err), position, line)
    return Item(value=value, position=position, wrapper=jsonvalue.dumps({"timestamp": match[1].decode()}))


def _read_concatenated(text: bytes) -> _Found:
    """JSON values one after another (pretty-printed objects); stops at the first that does not parse."""
    # surrogateescape keeps invalid UTF-8 bytes as they are, so they only reject the object holding them.
    source = text.decode("utf-8", "surrogateescape")
    decoder = json.JSONDecoder()
    results: list[Item | Reject] = []
    start = _after_whitespace(source, 0)
    while start < len(source):
        position = len(results)
        try:
            # raw_decode only finds where the value ends; jsonvalue parses the slice, so numbers are
            # read exactly as in a whole document.
            end = decoder.raw_decode(source, start)[1]
            raw = source[start:end].encode("utf-8", "surrogateescape")  # the bytes as written
            value = jsonvalue.loads(raw)  # and invalid UTF-8 fails here
        except (ValueError, *_PARSE_ERRORS) as err:  # JSONDecodeError, or int() past 4300 digits
            if position == 0:
                raise errors.Rejected(errors.INVALID_JSON, str(err)) from None
            results.append(_reject(errors.INVALID_JSON, str(err), position,
                                   source[start:].encode("utf-8", "surrogateescape")))
            break
        results.append(_unwrap(value, position, raw))
        start = _after_whitespace(source, end)
    return _partition(results)


def _after_whitespace(source: str, index: int) -> int:
    match = _JSON_WHITESPACE.match(source, index)
    return match.end() if match else index


_TEXT_SHAPES = (
    _Shape("jsonl", _is_json_lines, _read_json_lines),
    _Shape("cloudwatch-export", _is_cloudwatch_export, _read_cloudwatch_export),
    _Shape("concatenated", lambda text: text.lstrip().startswith(b"{"), _read_concatenated),
)


# ---- Items and their envelopes ------------------------------------------------------------------


def _unwrap(value: Any, position: int, raw: bytes | None) -> Item | Reject:
    """The event inside a LookupEvents item or an EventBridge envelope; any other value as it is.

    ``raw`` is the item as written, if known, for a reject's payload.
    """
    if _is_lookup_event(value):
        return _lookup_item(value, position, raw)
    if _is_eventbridge(value):
        return _eventbridge_item(value, position, raw)
    return Item(value=value, position=position, wrapper=None)


def _lookup_item(element: Any, position: int, raw: bytes | None) -> Item | Reject:
    """A LookupEvents item: the event is the JSON text in its "CloudTrailEvent" member.

    Input:  {"EventId": "e1", "EventTime": "2024-05-01T14:00:00+02:00",
             "CloudTrailEvent": "{\\"eventID\\": \\"e1\\"}"}
    Output: Item(value={"eventID": "e1"}, wrapper=b'{"EventId":"e1","EventTime":"2024-05-01T14:00:00+02:00"}')
    """
    event = element.get("CloudTrailEvent") if isinstance(element, dict) else None
    if not isinstance(event, str):
        return _reject(errors.UNKNOWN_SHAPE, "LookupEvents item without a CloudTrailEvent string", position,
                       _as_written(raw, element))
    try:
        value = jsonvalue.loads(event)
    except _PARSE_ERRORS as err:
        return _reject(errors.INVALID_JSON, f"CloudTrailEvent: {err}", position, _as_written(raw, element))
    return _wrapped_item(value, position, _without(element, "CloudTrailEvent"), raw, element)


def _eventbridge_item(envelope: dict[str, Any], position: int, raw: bytes | None) -> Item | Reject:
    return _wrapped_item(envelope["detail"], position, _without(envelope, "detail"), raw, envelope)


def _log_event_item(event: Any, position: int, envelope: dict[str, Any] | None) -> Item | Reject:
    """A CloudWatch Logs event, whose "message" is the CloudTrail event as JSON text.

    The wrapper is the log event without its message, inside ``envelope`` (the subscription payload
    without its logEvents) when there is one.
    """
    message = event.get("message") if isinstance(event, dict) else None
    if not isinstance(message, str):
        return _reject(errors.UNKNOWN_SHAPE, "log event without a string message", position,
                       _payload_of(event))
    try:
        value = jsonvalue.loads(message)
    except _PARSE_ERRORS as err:
        return _reject(errors.INVALID_JSON, str(err), position, message.encode("utf-8", "backslashreplace"))
    log_event = _without(event, "message")
    wrapper = log_event if envelope is None else {**envelope, "logEvent": log_event}
    return _wrapped_item(value, position, wrapper, None, event)


def _wrapped_item(value: Any, position: int, wrapper: dict[str, Any],
                  raw: bytes | None, original: Any) -> Item | Reject:
    """``value`` with its envelope ``wrapper``; ``raw``/``original`` give the payload if that fails."""
    try:
        wrapper_json = jsonvalue.dumps(wrapper)
    except UnicodeError as err:  # a lone surrogate in the envelope has no UTF-8 form
        return _reject(errors.INVALID_JSON, f"envelope: {err}", position, _as_written(raw, original))
    return Item(value=value, position=position, wrapper=wrapper_json)


def _without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


def _as_written(raw: bytes | None, value: Any) -> bytes:
    """A reject's payload: the item's bytes as written when known, else ``value`` re-serialised."""
    return raw if raw is not None else _payload_of(value)


def _payload_of(value: Any) -> bytes:
    try:
        return jsonvalue.dumps(value)
    except UnicodeError:
        # A lone surrogate has no UTF-8 form; ASCII escapes keep it readable (Decimals become strings).
        text = json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"), default=str)
        return text.encode()


def _reject(reason: str, detail: str, position: int | None, payload: bytes) -> Reject:
    return Reject(reason=reason, detail=detail[:_MAX_DETAIL], position=position, payload=payload)


def _partition(results: Iterable[Item | Reject]) -> _Found:
    items: list[Item] = []
    rejects: list[Reject] = []
    for result in results:
        if isinstance(result, Item):
            items.append(result)
        else:
            rejects.append(result)
    return items, rejects
