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

from typing import Any

from trailbeam import errors, jsonvalue, timestamps

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


def _text_of(container: dict[str, Any], key: str) -> str | None:
    """``_text(container.get(key))`` in one call: this runs about thirty times per event."""
    value = container.get(key)
    return value if type(value) is str else _text(value)


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


def event_row(event: Any, canonical: bytes) -> dict[str, Any]:
    """Builds the store row of one event, without its provenance.

    Args:
        event: the decoded event value.
        canonical: ``jsonvalue.dumps(event)``, stored as cloudTrailEvent.

    Returns:
        The TrailEvent fields derived from the event (all but ``source``, ``copies``, ``conflict``), e.g. ``{"eventTime": 1732956197000000, "eventID": "6e88...",
        "eventName": "GetFederationToken", ..., "cloudTrailEvent": "{...}"}``.

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
    return {
        "eventTime": micros,
        "eventID": event_id,
        "eventName": name,
        "eventSource": service,
        "eventType": _text_of(event, "eventType"),
        "eventCategory": _text_of(event, "eventCategory"),
        "eventVersion": _text_of(event, "eventVersion"),
        "awsRegion": _text_of(event, "awsRegion"),
        "recipientAccountId": _text_of(event, "recipientAccountId"),
        "readOnly": _flag(get("readOnly")),
        "managementEvent": _flag(get("managementEvent")),
        "errorCode": _text_of(event, "errorCode"),
        "errorMessage": _text_of(event, "errorMessage"),
        "sourceIPAddress": _text_of(event, "sourceIPAddress"),
        "userAgent": _text_of(event, "userAgent"),
        "requestID": _text_of(event, "requestID"),
        "sharedEventID": _text_of(event, "sharedEventID"),
        "vpcEndpointId": _text_of(event, "vpcEndpointId"),
        "sessionCredentialFromConsole": _flag(get("sessionCredentialFromConsole")),
        "userIdentity": _identity(_object(get("userIdentity"))),
        "resources": _resources(get("resources")),
        "cloudTrailEvent": canonical.decode(),
    }


def _identity(identity: dict[str, Any]) -> dict[str, Any]:
    get = identity.get
    context = _object(get("sessionContext"))
    attributes = _object(context.get("attributes"))
    issuer = _object(context.get("sessionIssuer"))
    created = attributes.get("creationDate")
    try:
        created_micros = timestamps.parse_micros(created) if created is not None else None
    except ValueError:
        created_micros = None  # kept exactly in cloudTrailEvent; the typed column stays null
    on_behalf = _object(get("onBehalfOf"))
    return {
        "type": _text_of(identity, "type"),
        "arn": _text_of(identity, "arn"),
        "accountId": _text_of(identity, "accountId"),
        "accessKeyId": _text_of(identity, "accessKeyId") or None,
        "principalId": _text_of(identity, "principalId"),
        "userName": _text_of(identity, "userName"),
        "invokedBy": _text_of(identity, "invokedBy"),
        "sourceIdentity": _text_of(context, "sourceIdentity"),
        "mfaAuthenticated": _flag(attributes.get("mfaAuthenticated")),
        "sessionCreationDate": created_micros,
        "sessionIssuer": {
            "type": _text_of(issuer, "type"),
            "arn": _text_of(issuer, "arn"),
            "accountId": _text_of(issuer, "accountId"),
            "principalId": _text_of(issuer, "principalId"),
            "userName": _text_of(issuer, "userName"),
        },
        "webIdFederationProvider": _text(_member(context.get("webIdFederationData"), "federatedProvider")),
        "onBehalfOfUserId": _text_of(on_behalf, "userId"),
        "onBehalfOfIdentityStoreArn": _text_of(on_behalf, "identityStoreArn"),
        "credentialId": _text_of(identity, "credentialId"),
    }


def _resources(resources: Any) -> list[dict[str, Any]]:
    if type(resources) is not list:
        return []
    return [{"arn": _text_of(r, "ARN"), "type": _text_of(r, "type"), "accountId": _text_of(r, "accountId")}
            for r in resources if type(r) is dict]


def without_lone_surrogates(row: dict[str, Any]) -> dict[str, Any]:
    """The row with lone UTF-16 surrogates (valid JSON escapes, invalid UTF-8) in its typed columns
    replaced by U+FFFD, so that Avro can hold them; cloudTrailEvent keeps the exact escapes."""
    def clean(value: Any) -> Any:
        if type(value) is str:
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        if type(value) is dict:
            return {key: clean(item) for key, item in value.items()}
        if type(value) is list:
            return [clean(item) for item in value]
        return value

    return {key: value if key == "cloudTrailEvent" else clean(value) for key, value in row.items()}


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
