"""Replaying a timeline: its events re-emitted in their original order and relative timing, and its state.

``replay`` sends each event (its original CloudTrail JSON) to a sink in (eventTime, eventID) order,
waiting between two events their eventTime gap divided by ``speed`` (``None``: no waiting), e.g. to feed a
detection pipeline the attack as it happened, ten times faster. Waits are scheduled against the replay's
start, so time spent in the sink does not add up into drift. The clock is injected (``Clock``), so tests
replay hours in microseconds with a fake one.

Sinks: a text stream (JSON Lines on stdout or in a file) or HTTP POSTs of each event as JSON to a
*loopback* URL (``http://127.0.0.1:PORT/...``): replayed evidence never leaves the machine by accident.

``state_at`` rebuilds, from the timeline's own events up to a moment, what the whole store would show
for what the timeline covers: each resource's state (``changelog.resource_log``, the replay ``trailbeam
histories`` runs) and the identity graph (sessions and grants from ``trailbeam.sessions`` and
``attribution``, every event attributed against them, ``graph.build_graph``).

Pure: stdlib, networkx and trailbeam's pure modules.
"""

from __future__ import annotations

import ipaddress
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import networkx as nx

from trailbeam import changelog, cloudtrail, errors, jsonvalue, store, timestamps, usage
from trailbeam.attribution import Grant, attribute, build_indexes, grants_from
from trailbeam.graph import build_graph
from trailbeam.sessions import Session, sessions_from

__all__ = ["Clock", "HttpSink", "LineSink", "ReplayEvent", "ReplayReport", "ResourceAt", "SYSTEM_CLOCK",
           "TimelineState", "replay", "state_at", "timeline_events"]


class Clock(Protocol):
    def now(self) -> float: ...                 # seconds, monotonic
    def sleep(self, seconds: float) -> None: ...


class _SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK: Clock = _SystemClock()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayEvent:
    event_time: int                 # UTC micros
    event_id: str
    text: str                       # the original event as stored: canonical JSON


class Sink(Protocol):
    def emit(self, event: ReplayEvent) -> None: ...


class LineSink:
    """JSON Lines to a text stream (stdout or a file), flushed per event so a reader sees it at once."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def emit(self, event: ReplayEvent) -> None:
        self._out.write(event.text + "\n")
        self._out.flush()


def check_loopback(url: str) -> str:
    """``url`` when it is ``http://<loopback address>[:port]/...``.

    Raises:
        errors.InputError: another scheme or host (names are refused too: they may resolve elsewhere).
    """
    parts = urlsplit(url)
    try:
        loopback = parts.scheme == "http" and ipaddress.ip_address(parts.hostname or "").is_loopback
        parts.port                                  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        loopback = False
    if not loopback:
        raise errors.InputError(f"replay posts events only to a loopback address, e.g. http://127.0.0.1:8080/events; "
                                f"not {url!r}")
    return url


class HttpSink:
    """Each event POSTed as ``application/json`` to a loopback URL; a non-2xx answer stops the replay."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self._url = check_loopback(url)
        self._timeout = timeout
        # No proxy: an http_proxy in the environment must not carry evidence off the machine.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def emit(self, event: ReplayEvent) -> None:
        request = urllib.request.Request(self._url, data=event.text.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                response.read()
        except urllib.error.HTTPError as err:
            raise errors.InputError(f"{self._url} answered {err.code} {err.reason} to event {event.event_id}") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise errors.InputError(f"cannot post to {self._url}: {reason}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayReport:
    events: int
    first: int | None               # eventTime of the first event replayed (UTC micros)
    last: int | None
    waited: float                   # seconds slept


def timeline_events(timeline_root: str, *, start: int | None = None, until: int | None = None
                    ) -> list[ReplayEvent]:
    """A local store's (or timeline's) events with eventTime in [start, until), in replay order."""
    events = [ReplayEvent(event_time=timestamps.datetime_micros(r["eventTime"]), event_id=r["eventID"],
                          text=r["cloudTrailEvent"]) for r in store.read_events(timeline_root, start=start, end=until)]
    return sorted(events, key=lambda e: (e.event_time, e.event_id, e.text))


def replay(events: Iterable[ReplayEvent], *, speed: float | None, clock: Clock, sink: Sink) -> ReplayReport:
    """Emits ``events`` in (eventTime, eventID) order; with ``speed`` N an eventTime gap of G seconds
    becomes a wait of G / N seconds (None: as fast as the sink takes them).

    Raises:
        ValueError: ``speed`` is not positive.
    """
    if speed is not None and not speed > 0:
        raise ValueError(f"speed must be positive, not {speed!r}")
    ordered = sorted(events, key=lambda e: (e.event_time, e.event_id, e.text))
    waited = 0.0
    began = clock.now()
    for event in ordered:
        if speed is not None:
            due = began + (event.event_time - ordered[0].event_time) / 1e6 / speed
            pause = due - clock.now()
            if pause > 0:
                clock.sleep(pause)
                waited += pause
        sink.emit(event)
    return ReplayReport(events=len(ordered), first=ordered[0].event_time if ordered else None,
                        last=ordered[-1].event_time if ordered else None, waited=waited)


# ---- the state at a moment, from the timeline alone ------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceAt:
    arn: str
    type: str
    entries: int                    # change-log entries up to the moment (attempts included)
    last_event_id: str
    state: Any                      # JSON value, as ``trailbeam state`` shows it


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineState:
    at: int
    events: int                     # events at or before ``at``
    resources: tuple[ResourceAt, ...]   # by ARN
    graph: nx.MultiDiGraph


def _issued(event: Any) -> Iterator[Session]:
    try:
        yield from sessions_from(event)
    except (KeyError, ValueError):  # an issuing call without a usable eventID/eventTime: as the pipeline
        return


def state_at(timeline_root: str, at: int) -> TimelineState:
    """Resource states and the identity graph after every event of a local store at or before ``at``."""
    # The per-file step of `trailbeam histories`, so the same write events reach the same change logs.
    touches: dict[str, list[changelog.Touch]] = {}
    for path in store.event_files(timeline_root):
        for touch in changelog.changelog_file(path.read_bytes()).touches:
            if touch.event_time <= at:
                touches.setdefault(touch.ref.arn, []).append(touch)
    resources = []
    for arn in sorted(touches):
        ref, entries = changelog.resource_log(arn, touches[arn])
        resources.append(ResourceAt(arn=arn, type=ref.type, entries=len(entries),
                                    last_event_id=entries[-1].change.event_id,
                                    state=jsonvalue.loads(entries[-1].state_after)))
    rows = list(store.read_events(timeline_root, end=at + 1))
    events = [cloudtrail.original_event(row) for row in rows]
    sessions = [s for event in events for s in _issued(event)]
    grants: list[Grant] = [g for event in events for g in grants_from(event)]
    indexes = build_indexes(sessions, grants)
    uses = []
    for row, event in zip(rows, events):
        found = attribute(event, indexes)
        identity = row["userIdentity"]
        uses.append(usage.use_of(
            credential=identity["accessKeyId"] or identity["arn"] or found.origin.principal,
            principal_arn=identity["arn"], account=row["recipientAccountId"], source_ip=row["sourceIPAddress"],
            user_agent=row["userAgent"], origin_kind=found.origin.kind, origin_principal=found.origin.principal,
            event_time=timestamps.datetime_micros(row["eventTime"]), event_id=row["eventID"],
            failed=row["errorCode"] is not None))
    return TimelineState(at=at, events=len(rows), resources=tuple(resources),
                         graph=build_graph(sessions, usage.merge_all(uses), grants))
