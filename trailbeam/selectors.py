"""CloudTrail's own event selectors as trailbeam's filter language.

Ingest keeps only the events an ``EventFilter`` matches (and counts the others). A filter comes from
the output of ``aws cloudtrail get-event-selectors`` (so a trail's configuration is reused as is), a
hand-written equivalent, or a few simple flags; ``both`` combines two filters with AND.

Semantics follow the CloudTrail documentation:

- Advanced selectors (API Reference, AdvancedEventSelector / AdvancedFieldSelector; User Guide,
  "Filtering data events by using advanced event selectors",
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/filtering-data-events.html): an event
  matches the list if it matches ANY selector, and a selector if it matches ALL its field selectors.
  Within one field selector, "DESELECT operators are AND'd together ... SELECT operators are OR'd
  together ... both groups are AND'd": the event needs one Equals/StartsWith/EndsWith value to match
  (when any is given) and no NotEquals/NotStartsWith/NotEndsWith value to match. Values are literal
  and case-sensitive (no wildcards); so are field names (``resources.ARN``, ``userIdentity.arn``).
- Basic selectors (API Reference, EventSelector / DataResource): an event matches the list if it
  matches ANY selector. Each selector is compiled to its advanced equivalent: management events when
  IncludeManagementEvents (default true) and the source is not in ExcludeManagementEventSources; data
  events when the event has a resource of a DataResources Type whose ARN starts with one of the
  Values ("arn:aws:s3" = every object, "arn:aws:s3:::bucket/" = every object of a bucket,
  "arn:aws:lambda" = every function); ReadWriteType ReadOnly/WriteOnly adds readOnly = true/false.
  A complete Lambda function ARN is exact ("Lambda function ARNs are exact ... not logged for
  ...:function:helloworld2"), and so, by analogy, is a complete DynamoDB table ARN: each still
  matches its own version/alias (``:`` suffix) or sub-resource (``/`` suffix).

trailbeam's decisions where the documentation is silent (all deliberate, all tested):

- An absent field (or one that is not a string or boolean): SELECT conditions fail, DESELECT ones
  hold. So ``NotEquals kms.amazonaws.com`` keeps an event without eventSource.
- ``readOnly`` and ``sessionCredentialFromConsole`` compare as "true"/"false": CloudTrail writes
  JSON booleans or strings; strings are compared in lower case. An event without readOnly matches
  neither readOnly = true nor = false (nor a basic ReadOnly/WriteOnly selector).
- ``resources.type`` and ``resources.ARN`` conditions of one selector are evaluated together, per
  resource (the docs pair them: an ARN value "must exactly match the ARN of a valid resource of the
  type you've specified ... as the value of resources.type"): the selector needs ONE resource that
  satisfies all of them. So ``NotStartsWith arn:aws:s3:::logs/`` keeps an event that touches logs/
  and another bucket (a responder wants it) and drops events that touch only logs/. An event
  without resources is evaluated as one resource whose fields are all absent. A resource's ARN is its
  ``ARN``, else its ``ARNPrefix`` (S3 ListObjects/DeleteObjects write ``{"type": "AWS::S3::Object",
  "ARNPrefix": "arn:aws:s3:::bucket/"}``).
- ``eventCategory`` is the event's own when it is a string. Older records without it: managementEvent
  true -> Management, false -> Data; eventType AwsCloudTrailInsight -> Insight; an AWS::S3::Object
  resource or a Lambda Invoke -> Data (our assumption: the data events old enough to lack both
  fields); anything else -> Management.
- Basic selectors select only Management and Data events: Insight events (governed by
  InsightSelectors, which get-event-selectors does not return) and network activity events (which
  need advanced selectors) do not match them. Use advanced selectors to keep those.
- Advanced selectors need not name eventCategory (CloudTrail requires it; a hand-written filter on,
  say, eventName alone is useful). Every operator is accepted on every field.
- CloudTrail's own output lists unused operators as ``[]``: an empty list means "not used". A field
  selector with no non-empty operator, an empty selector list, an unknown field or operator, a
  value that can never match (readOnly "yes", eventCategory "management") are SelectorErrors: a
  filter never silently matches nothing.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from trailbeam import errors, timestamps


class SelectorError(errors.InputError):
    """A selector document or filter option that cannot be used; the message names the part at fault."""


class _Condition(NamedTuple):
    """One operator group of a field selector.

    ``negated`` False (SELECT): holds when the field equals, starts with or ends with ANY value.
    ``negated`` True (DESELECT): holds when the field does NONE of these.
    """

    field: str
    negated: bool
    equals: tuple[str, ...] = ()
    starts_with: tuple[str, ...] = ()
    ends_with: tuple[str, ...] = ()


class _Selector(NamedTuple):
    """All ``conditions`` hold, and one resource satisfies all ``resource_conditions`` (if any)."""

    name: str
    conditions: tuple[_Condition, ...]
    resource_conditions: tuple[_Condition, ...] = ()


class _SelectorSet(NamedTuple):
    """Selectors OR'd together; ``label`` describes them in one phrase."""

    label: str
    selectors: tuple[_Selector, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """Which events to keep. Plain data (tuples, strings, ints): picklable and hashable.

    Every set of selectors must match (AND), each by at least one of its selectors (OR), and the
    eventTime must lie in [start, end) when a bound is given (UTC microseconds).
    """

    sets: tuple[_SelectorSet, ...] = ()
    start: int | None = None
    end: int | None = None

    def __post_init__(self) -> None:
        for bound in (self.start, self.end):
            if bound is not None and type(bound) is not int:
                raise SelectorError(f"a time bound must be UTC microseconds (an int), not {bound!r:.40}")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise SelectorError(f"empty time window: start {timestamps.format_micros(self.start)} is not "
                                f"before end {timestamps.format_micros(self.end)}")

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether to keep ``event`` (the CloudTrail record as parsed JSON)."""
        if not self.sets and self.start is None and self.end is None:
            return True
        if self.start is not None or self.end is not None:
            try:
                moment = timestamps.parse_micros(event.get("eventTime"))
            except ValueError:
                return False
            if (self.start is not None and moment < self.start) or (self.end is not None and moment >= self.end):
                return False
        for group in self.sets:
            for selector in group.selectors:
                if _selector_matches(selector, event):
                    break
            else:
                return False
        return True

    def describe(self) -> str:
        """One line for logs and run summaries; its parts combine with AND."""
        parts = [group.label for group in self.sets]
        if self.start is not None and self.end is not None:
            parts.append(f"eventTime in [{timestamps.format_micros(self.start)}, "
                         f"{timestamps.format_micros(self.end)})")
        elif self.start is not None:
            parts.append(f"eventTime >= {timestamps.format_micros(self.start)}")
        elif self.end is not None:
            parts.append(f"eventTime < {timestamps.format_micros(self.end)}")
        return "; ".join(parts) or "all events"


ALL = EventFilter()


# ---- event fields ------------------------------------------------------------------------------------

def _text(value: Any) -> str | None:
    """A field value to compare: strings as they are, JSON booleans as "true"/"false", else absent."""
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    return None


def _flag(value: Any) -> str | None:
    """readOnly-like fields: booleans or strings in any case ("True" is "true")."""
    return value.lower() if type(value) is str else _text(value)


def _member(value: Any, key: str) -> Any:
    return value.get(key) if type(value) is dict else None


def _event_category(event: dict[str, Any]) -> str:
    category = event.get("eventCategory")
    if type(category) is str:
        return category
    management = _flag(event.get("managementEvent"))
    if management in ("true", "false"):
        return "Management" if management == "true" else "Data"
    if event.get("eventType") == "AwsCloudTrailInsight":
        return "Insight"
    if event.get("eventSource") == "lambda.amazonaws.com" and event.get("eventName") == "Invoke":
        return "Data"
    resources = event.get("resources")
    if type(resources) is list and any(_member(r, "type") == "AWS::S3::Object" for r in resources):
        return "Data"
    return "Management"


def _resource_arn(resource: dict[str, Any]) -> str | None:
    arn = _text(resource.get("ARN"))
    return arn if arn is not None else _text(resource.get("ARNPrefix"))


# The fields of the AdvancedFieldSelector API reference, with where each lives in a record.
_EVENT_FIELDS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "eventCategory": _event_category,
    "eventSource": lambda event: _text(event.get("eventSource")),
    "eventName": lambda event: _text(event.get("eventName")),
    "eventType": lambda event: _text(event.get("eventType")),
    "readOnly": lambda event: _flag(event.get("readOnly")),
    "userIdentity.arn": lambda event: _text(_member(event.get("userIdentity"), "arn")),
    "errorCode": lambda event: _text(event.get("errorCode")),
    "sessionCredentialFromConsole": lambda event: _flag(event.get("sessionCredentialFromConsole")),
    "vpcEndpointId": lambda event: _text(event.get("vpcEndpointId")),
}
_RESOURCE_FIELDS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "resources.type": lambda resource: _text(resource.get("type")),
    "resources.ARN": _resource_arn,
}
_FIELDS = (*_EVENT_FIELDS, *_RESOURCE_FIELDS)
_FLAG_FIELDS = ("readOnly", "sessionCredentialFromConsole")
_CATEGORIES = ("Management", "Data", "NetworkActivity", "Insight", "ConfigurationItem", "Evidence",
               "ActivityAuditLog")
_NO_RESOURCES: tuple[dict[str, Any], ...] = ({},)


def _holds(condition: _Condition, value: str | None) -> bool:
    if value is None:
        return condition.negated
    hit = (value in condition.equals or value.startswith(condition.starts_with)
           or value.endswith(condition.ends_with))
    return hit is not condition.negated


def _resources(event: dict[str, Any]) -> Sequence[dict[str, Any]]:
    resources = event.get("resources")
    found = [r for r in resources if type(r) is dict] if type(resources) is list else None
    return found or _NO_RESOURCES


def _selector_matches(selector: _Selector, event: dict[str, Any]) -> bool:
    for condition in selector.conditions:
        if not _holds(condition, _EVENT_FIELDS[condition.field](event)):
            return False
    if not selector.resource_conditions:
        return True
    for resource in _resources(event):
        for condition in selector.resource_conditions:
            if not _holds(condition, _RESOURCE_FIELDS[condition.field](resource)):
                break
        else:
            return True
    return False


# ---- parsing ---------------------------------------------------------------------------------------

# operator -> (negated, which value tuple of _Condition)
_OPERATORS = {"Equals": (False, 0), "StartsWith": (False, 1), "EndsWith": (False, 2),
              "NotEquals": (True, 0), "NotStartsWith": (True, 1), "NotEndsWith": (True, 2)}
_ADVANCED_KEYS = ("Name", "FieldSelectors")
_BASIC_KEYS = ("ReadWriteType", "IncludeManagementEvents", "DataResources", "ExcludeManagementEventSources")
_READ_WRITE = {"All": None, "ReadOnly": "true", "WriteOnly": "false"}
_RESOURCE_TYPE = re.compile(r"AWS::\w+::\w+")
_LAMBDA_FUNCTION = re.compile(r"arn:[^:]+:lambda:[^:]*:[^:]*:function:[^:]+")
_DYNAMODB_TABLE = re.compile(r"arn:[^:]+:dynamodb:[^:]*:[^:]*:table/[^/]+")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def _hint(name: str, known: Sequence[str]) -> str:
    """Suggests the known name ``name`` was probably meant to be, else lists the known names."""
    same = [k for k in known if k.lower() == name.lower()]
    if same:
        return f"; did you mean {same[0]!r}? (names are case-sensitive)"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
    return f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"


def _values(raw: Any, field: str, operator: str, where: str) -> list[str]:
    if type(raw) is not list:
        raise SelectorError(f"{where}: {operator} must be an array of strings, not {_kind(raw)}")
    values: list[str] = []
    for value in raw:
        if field in _FLAG_FIELDS and type(value) is bool:
            value = "true" if value else "false"
        if type(value) is not str or not value:
            raise SelectorError(f"{where}: {operator} values must be non-empty strings, not {value!r:.40}")
        if field in _FLAG_FIELDS:
            value = value.lower()
            if value not in ("true", "false"):
                raise SelectorError(f"{where}: {operator} {value!r} is never a {field} value "
                                    "(use \"true\" or \"false\")")
        elif field == "eventCategory" and operator.endswith("Equals") and value not in _CATEGORIES:
            raise SelectorError(f"{where}: {operator} {value!r} is not an event category{_hint(value, _CATEGORIES)}")
        elif field == "resources.type" and operator.endswith("Equals") and not _RESOURCE_TYPE.fullmatch(value):
            raise SelectorError(f"{where}: {operator} {value!r} is not a resource type like AWS::S3::Object")
        if value not in values:
            values.append(value)
    return values


def _field_conditions(raw: Any, where: str) -> list[_Condition]:
    if type(raw) is not dict:
        raise SelectorError(f"{where}: a field selector must be an object, not {_kind(raw)}")
    for key in raw:
        if key != "Field" and key not in _OPERATORS:
            raise SelectorError(f"{where}: unknown operator {key!r}{_hint(key, tuple(_OPERATORS))}")
    field = raw.get("Field")
    if field is None:
        raise SelectorError(f"{where}: the field selector has no Field")
    if type(field) is not str or field not in _FIELDS:
        raise SelectorError(f"{where}: unknown field {field!r:.60}{_hint(str(field), _FIELDS)}")
    where = f"{where} ({field})"
    groups: dict[bool, tuple[list[str], list[str], list[str]]] = {False: ([], [], []), True: ([], [], [])}
    for operator, (negated, slot) in _OPERATORS.items():
        if raw.get(operator) is not None:   # CloudTrail's own output lists unused operators as []: no values
            groups[negated][slot].extend(_values(raw[operator], field, operator, where))
    conditions = [_Condition(field, negated, tuple(eq), tuple(sw), tuple(ew))
                  for negated, (eq, sw, ew) in groups.items() if eq or sw or ew]
    if not conditions:
        raise SelectorError(f"{where}: no operator has a value (use one of {', '.join(_OPERATORS)})")
    return conditions


def _advanced_selector(raw: Any, index: int) -> _Selector:
    where = f"AdvancedEventSelectors[{index}]"
    if type(raw) is not dict:
        raise SelectorError(f"{where}: a selector must be an object, not {_kind(raw)}")
    name = raw.get("Name")
    if name is not None and type(name) is not str:
        raise SelectorError(f"{where}: Name must be a string, not {_kind(name)}")
    where = f"{where} {name!r}" if name else where
    for key in raw:
        if key not in _ADVANCED_KEYS:
            hint = (": it is a basic selector key, and basic selectors go under \"EventSelectors\""
                    if key in _BASIC_KEYS else f"{_hint(key, _ADVANCED_KEYS)}")
            raise SelectorError(f"{where}: unknown key {key!r}{hint}")
    fields = raw.get("FieldSelectors")
    if type(fields) is not list or not fields:
        problem = "has no FieldSelectors" if fields is None else "FieldSelectors must be a non-empty array"
        raise SelectorError(f"{where}: {problem}")
    conditions = [c for i, f in enumerate(fields) for c in _field_conditions(f, f"{where} FieldSelectors[{i}]")]
    return _Selector(name or f"#{index}", tuple(c for c in conditions if c.field in _EVENT_FIELDS),
                     tuple(c for c in conditions if c.field in _RESOURCE_FIELDS))


def _data_resource_values(resource_type: str, values: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Basic DataResource Values -> (exact ARNs, ARN prefixes); see the module docstring."""
    exact: list[str] = []
    prefixes: list[str] = []
    for value in values:
        if resource_type == "AWS::Lambda::Function" and _LAMBDA_FUNCTION.fullmatch(value):
            exact.append(value)
            prefixes.append(value + ":")
        elif resource_type == "AWS::DynamoDB::Table" and _DYNAMODB_TABLE.fullmatch(value):
            exact.append(value)
            prefixes.append(value + "/")
        elif resource_type == "AWS::Lambda::Function" and ":function:" in value:
            exact.append(value)   # a qualified function ARN (version or alias)
        else:
            prefixes.append(value)
    return tuple(exact), tuple(prefixes)


def _basic_selector(raw: Any, index: int) -> list[_Selector]:
    """One EventSelector -> its advanced equivalents (management events, then one per DataResource)."""
    where = f"EventSelectors[{index}]"
    if type(raw) is not dict:
        raise SelectorError(f"{where}: a selector must be an object, not {_kind(raw)}")
    for key in raw:
        if key not in _BASIC_KEYS:
            raise SelectorError(f"{where}: unknown key {key!r}{_hint(key, _BASIC_KEYS)}")
    read_write = raw.get("ReadWriteType", "All")
    if type(read_write) is not str or read_write not in _READ_WRITE:
        raise SelectorError(f"{where}: ReadWriteType {read_write!r:.40} is not one of All, ReadOnly, WriteOnly")
    include = raw.get("IncludeManagementEvents", True)
    if type(include) is not bool:
        raise SelectorError(f"{where}: IncludeManagementEvents must be true or false, not {include!r:.40}")
    excluded = raw.get("ExcludeManagementEventSources")
    excluded = [] if excluded is None else excluded
    resources = raw.get("DataResources")
    resources = [] if resources is None else resources
    for key, value in (("ExcludeManagementEventSources", excluded), ("DataResources", resources)):
        if type(value) is not list:
            raise SelectorError(f"{where}: {key} must be an array, not {_kind(value)}")
    if any(type(source) is not str for source in excluded):
        raise SelectorError(f"{where}: ExcludeManagementEventSources must hold strings")
    flag = _READ_WRITE[read_write]
    access = (_Condition("readOnly", False, (flag,)),) if flag else ()
    selectors: list[_Selector] = []
    if include:
        sources = tuple(dict.fromkeys(source for source in excluded if source))   # "" re-enables all sources
        exclusion = (_Condition("eventSource", True, sources),) if sources else ()
        selectors.append(_Selector(f"{where} management events",
                                   (_Condition("eventCategory", False, ("Management",)), *access, *exclusion)))
    for i, resource in enumerate(resources):
        at = f"{where} DataResources[{i}]"
        if type(resource) is not dict:
            raise SelectorError(f"{at}: a data resource must be an object, not {_kind(resource)}")
        for key in resource:
            if key not in ("Type", "Values"):
                raise SelectorError(f"{at}: unknown key {key!r}{_hint(key, ('Type', 'Values'))}")
        resource_type = resource.get("Type")
        if type(resource_type) is not str or not _RESOURCE_TYPE.fullmatch(resource_type):
            raise SelectorError(f"{at}: Type {resource_type!r:.60} is not a type like AWS::S3::Object")
        values = _values(resource.get("Values"), "resources.ARN", "Values", f"{at} ({resource_type})")
        if not values:
            raise SelectorError(f"{at} ({resource_type}): Values is empty, so it selects nothing")
        exact, prefixes = _data_resource_values(resource_type, values)
        selectors.append(_Selector(f"{at} {resource_type}", (_Condition("eventCategory", False, ("Data",)), *access),
                                   (_Condition("resources.type", False, (resource_type,)),
                                    _Condition("resources.ARN", False, exact, prefixes))))
    return selectors


def _advanced_set(raw: list[Any]) -> _SelectorSet:
    if not raw:
        raise SelectorError("AdvancedEventSelectors is empty: CloudTrail would log nothing, so nothing would be kept")
    return _SelectorSet(f"advanced selectors: {len(raw)} (OR)",
                        tuple(_advanced_selector(selector, i) for i, selector in enumerate(raw)))


def _basic_set(raw: list[Any]) -> _SelectorSet:
    if not raw:
        raise SelectorError("EventSelectors is empty: CloudTrail would log nothing, so nothing would be kept")
    selectors = tuple(s for i, selector in enumerate(raw) for s in _basic_selector(selector, i))
    if not selectors:
        raise SelectorError("EventSelectors select nothing: no IncludeManagementEvents and no DataResources")
    return _SelectorSet(f"basic selectors: {len(raw)} (OR; {len(selectors)} advanced-equivalent)", selectors)


def _looks_basic(raw: list[Any]) -> bool:
    return all(type(s) is dict and "FieldSelectors" not in s and any(k in s for k in _BASIC_KEYS) for s in raw)


def parse_selectors(document: Any) -> EventFilter:
    """A selector document (parsed JSON) -> the filter it describes.

    Accepts the output of ``get-event-selectors`` (``{"TrailARN": ..., "EventSelectors": [...]}`` or
    ``{..., "AdvancedEventSelectors": [...]}``; other keys such as TrailARN, TrailName or an event
    data store's Name are ignored) or a bare array of selectors, as given to ``put-event-selectors
    --advanced-event-selectors`` (or ``--event-selectors``, recognised by its keys).

    Raises:
        SelectorError: the document is not one of these, holds both kinds (CloudTrail allows one kind
            per trail), or any selector is invalid; the message names the selector and field.
    """
    if type(document) is list:
        return EventFilter(sets=((_basic_set if document and _looks_basic(document) else _advanced_set)(document),))
    if type(document) is not dict:
        raise SelectorError(f"a selector document must be a JSON object or array, not {_kind(document)}")
    if "EventSelectors" in document and "AdvancedEventSelectors" in document:
        raise SelectorError("the document has both EventSelectors and AdvancedEventSelectors; "
                            "CloudTrail allows only one kind per trail")
    for key, build in (("AdvancedEventSelectors", _advanced_set), ("EventSelectors", _basic_set)):
        if key in document:
            if type(document[key]) is not list:
                raise SelectorError(f"{key} must be an array, not {_kind(document[key])}")
            return EventFilter(sets=(build(document[key]),))
    raise SelectorError("the document has neither EventSelectors nor AdvancedEventSelectors "
                        f"(keys: {', '.join(map(str, document)) or 'none'})")


def load_selectors(path: str | os.PathLike[str]) -> EventFilter:
    """Reads a selector document (JSON) from ``path``; see ``parse_selectors``.

    Raises:
        SelectorError: the file cannot be read, is not JSON, or is not a valid selector document.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise SelectorError(f"cannot read selectors file {os.fspath(path)}: {err.strerror or err}") from err
    try:
        document = json.loads(data)
    except ValueError as err:   # JSONDecodeError and UnicodeDecodeError
        raise SelectorError(f"{os.fspath(path)}: not valid JSON: {err}") from err
    try:
        return parse_selectors(document)
    except SelectorError as err:
        raise SelectorError(f"{os.fspath(path)}: {err}") from None


def _names(option: str, values: Sequence[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"{option} must be a sequence of strings, not one string")
    for value in values:
        if type(value) is not str or not value:
            raise SelectorError(f"{option}: values must be non-empty strings, not {value!r:.40}")
    return tuple(dict.fromkeys(values))


def simple_filter(*, write_only: bool = False, read_only: bool = False, event_sources: Sequence[str] = (),
                  event_names: Sequence[str] = (), start: int | None = None, end: int | None = None) -> EventFilter:
    """The filter of the simple CLI flags, all combined with AND; no flag at all gives ``ALL``.

    Args:
        write_only: keep events with readOnly false (as a WriteOnly selector does).
        read_only: keep events with readOnly true.
        event_sources: keep events whose eventSource is one of these (exact, e.g. "s3.amazonaws.com").
        event_names: keep events whose eventName is one of these (exact).
        start, end: keep events whose eventTime (UTC microseconds) lies in [start, end).

    Raises:
        SelectorError: write_only and read_only together, an empty name, or start not before end.
    """
    if write_only and read_only:
        raise SelectorError("write-only and read-only together match no event")
    conditions: list[_Condition] = []
    if write_only or read_only:
        conditions.append(_Condition("readOnly", False, ("false" if write_only else "true",)))
    for field, option, values in (("eventSource", "event_sources", event_sources),
                                  ("eventName", "event_names", event_names)):
        if names := _names(option, values):
            conditions.append(_Condition(field, False, names))
    label = " AND ".join(f"{c.field} = {c.equals[0]}" if len(c.equals) == 1 else
                         f"{c.field} in ({', '.join(c.equals)})" for c in conditions)
    sets = (_SelectorSet(label, (_Selector("flags", tuple(conditions)),)),) if conditions else ()
    return EventFilter(sets=sets, start=start, end=end)


def both(a: EventFilter, b: EventFilter) -> EventFilter:
    """The filter that keeps what both ``a`` and ``b`` keep (their AND)."""
    starts = [t for t in (a.start, b.start) if t is not None]
    ends = [t for t in (a.end, b.end) if t is not None]
    start, end = (max(starts) if starts else None), (min(ends) if ends else None)
    if start is not None and end is not None and start >= end:
        raise SelectorError(f"the time windows do not overlap: {a.describe()!r} and {b.describe()!r}")
    return EventFilter(sets=a.sets + tuple(s for s in b.sets if s not in a.sets), start=start, end=end)
