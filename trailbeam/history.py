"""Resource histories: the events of one resource, replayed in order through its projection.

Input: a ``ResourceRef`` and the original CloudTrail events (dicts) that touched it, in any order, possibly
with copies (one eventID delivered twice). Output of ``build_history``: one ``ResourceChange`` per distinct
event, in replay order, naming who called what from where and which state fields the call changed.
``state_at`` and ``diff_between`` replay the same log up to a moment; nothing is stored but the events.

Replay order is (eventTime, phase, eventID). CloudTrail times have one-second resolution, and a script
that creates a user and attaches a policy does both in one second with eventIDs in random order; the
projection's phase (creates, then other calls, then deletes: ``Projection.phase``) puts such calls in the
order they can have happened. Copies of one eventID are replayed once: the copy with the smallest
canonical JSON, so the choice does not depend on input order. Same events in any order -> the same
history and states.

Failed calls (``errorCode`` present) are in the history with ``applied=False`` and no changes: an attempt
is evidence even when it changed nothing. Pure: stdlib and trailbeam's pure modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trailbeam import jsonvalue, timestamps
from trailbeam.projections import DEFAULT, Change, Projection, Registry, State, diff, is_failed
from trailbeam.projections.base import text

if TYPE_CHECKING:
    from trailbeam.resources import ResourceRef

__all__ = ["ResourceChange", "build_history", "diff_between", "ordered_events", "replay", "state_at"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceChange:
    """One call on one resource, and what it changed."""

    resource_arn: str
    resource_type: str
    event_time: int                 # eventTime, UTC micros
    event_id: str
    event_name: str                 # as logged (with any API-version suffix)
    event_source: str | None
    principal: str | None           # userIdentity.arn
    origin: str | None              # the attributed origin principal, when attribution ran (None here)
    source_ip: str | None
    user_agent: str | None
    error_code: str | None
    applied: bool                   # False for failed calls, which change nothing
    changes: tuple[Change, ...]     # (path, before, after) with JSON values, sorted by path


def _event_id(event: Mapping[str, Any]) -> str:
    event_id = event.get("eventID")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"eventID is not a non-empty string: {event_id!r:.80}")
    return event_id


def _canonical(event: Mapping[str, Any]) -> bytes:
    return jsonvalue.dumps(event)


def ordered_events(events: Iterable[Mapping[str, Any]], projection: Projection) -> list[Mapping[str, Any]]:
    """The distinct events (one per eventID) in replay order: (eventTime, phase, eventID).

    Raises:
        ValueError: an event without an eventID, or whose eventTime is not an ISO 8601 time.
    """
    by_id: dict[str, Mapping[str, Any]] = {}
    for event in events:
        event_id = _event_id(event)
        kept = by_id.get(event_id)
        if kept is None or (kept is not event and _canonical(event) < _canonical(kept)):
            by_id[event_id] = event
    keyed = [((timestamps.parse_micros(event.get("eventTime")), projection.phase(event), event_id), event)
             for event_id, event in by_id.items()]
    keyed.sort(key=lambda pair: pair[0])
    return [event for _, event in keyed]


def _replay(ref: ResourceRef, events: Iterable[Mapping[str, Any]], registry: Registry
            ) -> Iterator[tuple[Mapping[str, Any], int, State, State]]:
    """(event, time, state before, state after) for each distinct event, in replay order."""
    projection = registry.for_type(ref.type)
    state = projection.initial()
    for event in ordered_events(events, projection):
        after = projection.apply(state, event, ref)
        yield event, timestamps.parse_micros(event.get("eventTime")), state, after
        state = after


def history_steps(ref: ResourceRef, events: Iterable[Mapping[str, Any]], *, registry: Registry = DEFAULT
                  ) -> Iterator[tuple[ResourceChange, Mapping[str, Any], State]]:
    """``build_history`` with, for every change, the event behind it and the state after it (one replay)."""
    for event, at, before, after in _replay(ref, events, registry):
        failed = is_failed(event)
        yield ResourceChange(
            resource_arn=ref.arn,
            resource_type=ref.type,
            event_time=at,
            event_id=_event_id(event),
            event_name=text(event, "eventName") or "",
            event_source=text(event, "eventSource"),
            principal=text(event, "userIdentity", "arn"),
            origin=None,
            source_ip=text(event, "sourceIPAddress"),
            user_agent=text(event, "userAgent"),
            error_code=str(event["errorCode"]) if failed else None,
            applied=not failed,
            changes=tuple(diff(before, after)),
        ), event, after


def build_history(ref: ResourceRef, events: Iterable[Mapping[str, Any]], *,
                  registry: Registry = DEFAULT) -> list[ResourceChange]:
    """Every event of ``ref`` as a ``ResourceChange``, in replay order, with the fields each call changed.

    Args:
        ref: the resource; ``ref.type`` picks the projection from ``registry``.
        events: the original CloudTrail events that touched it, in any order, copies allowed.
        registry: where projections come from; pass your own to use custom ones.

    Raises:
        ValueError: an event without an eventID or with a malformed eventTime.
    """
    return [change for change, _, _ in history_steps(ref, events, registry=registry)]


def replay(ref: ResourceRef, events: Iterable[Mapping[str, Any]], *, registry: Registry = DEFAULT) -> State:
    """The state after every event (the projection's initial state when there are none)."""
    return state_at(ref, events, None, registry=registry)


def state_at(ref: ResourceRef, events: Iterable[Mapping[str, Any]], at: int | None, *,
             registry: Registry = DEFAULT) -> State:
    """The state after replaying the events up to and including time ``at`` (UTC micros; None: all).

    Before the first event every field is UNKNOWN.
    """
    state = registry.for_type(ref.type).initial()
    for _, when, _, after in _replay(ref, events, registry):
        if at is not None and when > at:
            break
        state = after
    return state


def diff_between(ref: ResourceRef, events: Iterable[Mapping[str, Any]], start: int, end: int, *,
                 registry: Registry = DEFAULT) -> list[Change]:
    """What changed between the state at ``start`` and the state at ``end`` (UTC micros, inclusive)."""
    events = list(events)
    return diff(state_at(ref, events, start, registry=registry), state_at(ref, events, end, registry=registry))
