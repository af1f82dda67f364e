"""One CloudTrail event value -> one TrailEvent row for the store, and back.

The store's shape (see README, "Why this schema"): a few dozen typed columns that responders filter,
join and sort on, plus ``cloudTrailEvent``, the whole event as canonical JSON. The JSON copy is the
source of truth and makes the store lossless by construction: null stays null, ``{}`` stays ``{}``,
absent stays absent, unknown members and values of unexpected types stay as written. The typed
columns are derived from it and are null whenever the member is absent or not of the documented type.

Input: a decoded JSON value (usually a dict) and its provenance. Output: a dict in the layout of
``schemas/trailbeam.TrailEvent.avsc``, ready for fastavro. Values that cannot be events raise
``errors.Rejected`` with a reason code.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from trailbeam import avro, errors, jsonvalue, timestamps
from trailbeam.eventcodec import (EMPTY_ARRAY, NULL, SINGLE_COPY, long_bytes, optional_bool, optional_long,
                                  optional_string, source_head, source_tail, string_bytes)

INSIGHT_EVENT_TYPE = "AwsCloudTrailInsight"
_EMPTY: dict[str, Any] = {}
_FLAG_TEXT = {"true": True, "false": False, "True": True, "False": False, "TRUE": True, "FALSE": False}


def _text(value: Any) -> str | None:
    """A typed string column: strings as they are, other scalars as their JSON text, else null."""
    if type(value) is str:
        return value
    if value is None or isinstance(value, (dict, list)):
        return None
    return jsonvalue.dumps(value).decode()


def _flag(value: Any) -> bool | None:
    """A typed boolean column: real booleans and "true"/"false" strings (any case), else null."""
    if type(value) is bool:
        return value
    return _FLAG_TEXT.get(value) if type(value) is str else None


def _member(value: Any, key: str) -> Any:
    return value.get(key) if type(value) is dict else None


def _object(value: Any) -> dict[str, Any]:
    return value if type(value) is dict else _EMPTY


def is_insight(event: dict[str, Any]) -> bool:
    """Insight events carry the API call they are about in insightDetails, not at top level."""
    return event.get("eventType") == INSIGHT_EVENT_TYPE or event.get("eventCategory") == "Insight"


def event_time_micros(event: Any) -> int:
    """The event's eventTime as UTC micros.

    Raises:
        errors.Rejected: BAD_EVENT_TIME when it is absent or not an ISO 8601 time.
    """
    try:
        return timestamps.parse_micros(event.get("eventTime"))
    except ValueError as err:
        raise errors.Rejected(errors.BAD_EVENT_TIME, str(err)) from None


class ColumnCache(dict):  # type: ignore[type-arg]
    """String column value -> its Avro bytes, computed once per distinct value.

    Most typed columns repeat from event to event (eventSource, eventName, the identity, the user
    agent); a dictionary hit costs a fifth of encoding the value again. Only strings are remembered
    (so 1, 1.0 and True can never share an entry), and at most ``limit`` of them.
    """

    def __init__(self, limit: int = 1 << 16) -> None:
        super().__init__({None: NULL})
        self._limit = limit

    def __missing__(self, value: Any) -> bytes:
        encoded = _string_column(value)
        if type(value) is str and len(self) < self._limit:
            self[value] = encoded
        return encoded


class _Uncached(dict):  # type: ignore[type-arg]
    """Encodes every value anew: for events holding unhashable values where strings belong."""

    def __getitem__(self, value: Any) -> bytes:
        return _string_column(value)


_UNCACHED = _Uncached()


class Encoded(NamedTuple):
    """One event ready for the store: its sort and partition keys, and its Avro bytes."""

    time: int                 # eventTime, UTC micros
    event_id: str
    account: str | None       # recipientAccountId column
    region: str | None        # awsRegion column
    data: bytes               # the TrailEvent, Avro binary (copies=1, conflict=false)


def encode_event(event: Any, canonical: bytes, head: bytes, position: int, tail: bytes,
                 columns: dict[Any, bytes] | None = None) -> Encoded:
    """Validates one event and encodes it as a TrailEvent, reading each member once.

    The typed columns are written straight into Avro binary, in schema order, without building a
    row dict first: extraction and encoding are most of ingest's cost (see ``eventcodec``).

    Args:
        event: the decoded event value.
        canonical: ``jsonvalue.dumps(event)``, stored as cloudTrailEvent.
        head, position, tail: the Provenance record (``eventcodec.source_head``/``source_tail``).
        columns: a ``ColumnCache`` to reuse across events (one per worker); none is kept otherwise.

    Raises:
        errors.Rejected: NOT_AN_OBJECT, MISSING_EVENT_ID, BAD_EVENT_TIME or MISSING_EVENT_SOURCE_OR_NAME.
    """
    if type(event) is not dict:
        raise errors.Rejected(errors.NOT_AN_OBJECT, f"a JSON {type(event).__name__}, not an object")
    get = event.get
    event_id = get("eventID")
    if type(event_id) is not str or not event_id.strip():
        raise errors.Rejected(errors.MISSING_EVENT_ID, f"eventID is {event_id!r:.80}")
    micros = event_time_micros(event)
    if is_insight(event):
        details = _object(get("insightDetails"))
        name, service = _text(details.get("eventName")), _text(details.get("eventSource"))
    else:
        name, service = get("eventName"), get("eventSource")
        if type(name) is not str or type(service) is not str or not name or not service:
            raise errors.Rejected(errors.MISSING_EVENT_SOURCE_OR_NAME,
                                  f"eventSource={service!r:.60} eventName={name!r:.60}")
    account, region = _text(get("recipientAccountId")), _text(get("awsRegion"))
    identity = _object(get("userIdentity"))
    who = identity.get
    context = _object(who("sessionContext"))
    attributes = _object(context.get("attributes"))
    issuer = _object(context.get("sessionIssuer"))
    on_behalf = _object(who("onBehalfOf"))
    s = (columns if columns is not None else ColumnCache()).__getitem__
    u = _string_column  # for values that rarely repeat: not worth remembering
    b = _flag_column
    try:
        typed = b"".join((
            long_bytes(micros), string_bytes(event_id),
            s(name), s(service), s(get("eventType")), s(get("eventCategory")), s(get("eventVersion")),
            s(region), s(account),
            b(get("readOnly")), b(get("managementEvent")), s(get("errorCode")), u(get("errorMessage")),
            s(get("sourceIPAddress")), s(get("userAgent")), u(get("requestID")), u(get("sharedEventID")),
            s(get("vpcEndpointId")), b(get("sessionCredentialFromConsole")),
            # userIdentity
            s(who("type")), s(who("arn")), s(who("accountId")), s(who("accessKeyId") or None),
            s(who("principalId")), s(who("userName")), s(who("invokedBy")), s(context.get("sourceIdentity")),
            b(attributes.get("mfaAuthenticated")), _time_column(attributes.get("creationDate")),
            s(issuer.get("type")), s(issuer.get("arn")), s(issuer.get("accountId")), s(issuer.get("principalId")),
            s(issuer.get("userName")),
            s(_member(context.get("webIdFederationData"), "federatedProvider")),
            s(on_behalf.get("userId")), s(on_behalf.get("identityStoreArn")), s(who("credentialId")),
            _resources_column(get("resources")),
            head, long_bytes(position), tail,
            SINGLE_COPY,
            string_bytes(canonical.decode()),
        ))
    except TypeError:  # an object or array where a string was expected: not hashable
        if columns is _UNCACHED:
            raise
        return encode_event(event, canonical, head, position, tail, columns=_UNCACHED)
    return Encoded(micros, event_id, account, region, typed)


def _string_column(value: Any) -> bytes:
    """A typed string column: strings as they are, other scalars as their JSON text, else null."""
    if value is None:
        return NULL
    return optional_string(value if type(value) is str else _text(value))


def _flag_column(value: Any) -> bytes:
    return optional_bool(_flag(value))


def _time_column(value: Any) -> bytes:
    if value is None:
        return NULL
    try:
        return optional_long(timestamps.parse_micros(value))
    except ValueError:
        return NULL  # kept exactly in cloudTrailEvent; the typed column stays null


def _resources_column(resources: Any) -> bytes:
    if type(resources) is not list:
        return EMPTY_ARRAY
    s = _string_column
    items = [s(r.get("ARN")) + s(r.get("type")) + s(r.get("accountId")) for r in resources if type(r) is dict]
    if not items:
        return EMPTY_ARRAY
    # One block holding every item, then the end-of-array marker.
    return long_bytes(len(items)) + b"".join(items) + EMPTY_ARRAY


_NO_SOURCE_HEAD = source_head("", "", "")
_NO_SOURCE_TAIL = source_tail("", None, "")


def event_row(event: Any, canonical: bytes) -> dict[str, Any]:
    """The store row of one event (its typed columns and cloudTrailEvent), without provenance.

    Decoded from ``encode_event``'s bytes, so that every column has exactly one definition.

    Returns:
        The TrailEvent fields but ``source``, ``copies``, ``conflict``, times as UTC micros, e.g.
        ``{"eventTime": 1732956197000000, "eventID": "6e88...", "eventName": "GetFederationToken", ...,
        "cloudTrailEvent": "{...}"}``.

    Raises:
        errors.Rejected: as ``encode_event``.
    """
    encoded = encode_event(event, canonical, _NO_SOURCE_HEAD, 0, _NO_SOURCE_TAIL)
    record = avro.decode(avro.EVENT, encoded.data)
    for name in ("source", "copies", "conflict"):
        del record[name]
    record["eventTime"] = encoded.time
    created = record["userIdentity"]["sessionCreationDate"]
    if created is not None:
        record["userIdentity"]["sessionCreationDate"] = timestamps.datetime_micros(created)
    return record


def full_record(row: dict[str, Any], source: dict[str, Any], *, copies: int = 1,
                conflict: bool = False) -> dict[str, Any]:
    """A complete TrailEvent record (as fastavro writes and reads it) from a row and its provenance."""
    return {**row, "source": source, "copies": copies, "conflict": conflict}


def original_event(row: dict[str, Any]) -> Any:
    """Turns a stored TrailEvent row back into the original CloudTrail JSON value.

    The result equals the event as AWS wrote it, parsed by a JSON parser that keeps numbers exactly:
    members, nesting, null vs absent, ``{}``, strings, booleans and integers are identical; a
    non-integer number comes back as a float, or as a ``Decimal`` in the rare record holding a
    number a float cannot represent (so nothing is ever silently rounded).

    >>> original_event({"cloudTrailEvent": '{"eventID":"e1","requestParameters":null}'})
    {'eventID': 'e1', 'requestParameters': None}
    """
    return jsonvalue.loads(row["cloudTrailEvent"])


def original_json(row: dict[str, Any]) -> str:
    """The stored event as canonical JSON text (compact, keys sorted, numbers as written)."""
    text: str = row["cloudTrailEvent"]
    return text
