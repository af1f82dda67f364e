"""Tests of trailbeam.replay: order and scaled timing with a fake clock, the sinks (a JSON Lines stream, HTTP to a
local server, loopback only), and a timeline's rebuilt states and identity graph against the whole store's."""

from __future__ import annotations

import http.server
import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_timeline import ALICE, BUCKET, BY_ID, make_store
from trailbeam import cloudtrail, errors, graph, history, identitystore, replay, store, timeline, timestamps
from trailbeam.projections import to_json
from trailbeam.replay import ReplayEvent
from trailbeam.resources import is_write, resources_of
from trailbeam.timeline import Selection


class FakeClock:
    """Time passes only when the replay sleeps or a sink says it took time."""

    def __init__(self) -> None:
        self.time = 100.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.time += seconds


class Collect:
    def __init__(self, clock: FakeClock | None = None, takes: float = 0.0) -> None:
        self.events: list[tuple[float, str]] = []
        self._clock, self._takes = clock, takes

    def emit(self, event: ReplayEvent) -> None:
        self.events.append((self._clock.time if self._clock else 0.0, event.event_id))
        if self._clock:
            self._clock.time += self._takes


def at(seconds: float, event_id: str) -> ReplayEvent:
    return ReplayEvent(event_time=int(seconds * 1e6), event_id=event_id, text=json.dumps({"eventID": event_id}))


GAPS_OF_10 = [at(30, "d"), at(0, "a"), at(20, "c"), at(10, "b")]


@pytest.mark.parametrize(("events", "speed", "takes", "sleeps", "order"), [
    (GAPS_OF_10, 10.0, 0.0, [1.0, 1.0, 1.0], "abcd"),
    (GAPS_OF_10, 0.5, 0.0, [20.0, 20.0, 20.0], "abcd"),
    (GAPS_OF_10, 1.0, 0.0, [10.0, 10.0, 10.0], "abcd"),
    (GAPS_OF_10, None, 0.0, [], "abcd"),
    # same second: no wait between them, eventID decides
    ([at(5, "y"), at(5, "x"), at(6, "z")], 2.0, 0.0, [0.5], "xyz"),
    # time spent in the sink is taken from the next wait: no drift
    (GAPS_OF_10, 10.0, 0.4, [0.6, 0.6, 0.6], "abcd"),
    # a sink slower than the gaps: late events go at once, never a negative wait
    (GAPS_OF_10, 10.0, 2.5, [], "abcd"),
    ([], 1.0, 0.0, [], ""),
], ids=["speed-10", "half-speed", "real-time", "no-wait", "same-second", "sink-time", "slow-sink", "empty"])
def test_replay_order_and_timing(events: list[ReplayEvent], speed: float | None, takes: float, sleeps: list[float],
                                 order: str) -> None:
    clock = FakeClock()
    sink = Collect(clock, takes)
    report = replay.replay(events, speed=speed, clock=clock, sink=sink)
    assert "".join(event_id for _, event_id in sink.events) == order
    assert clock.sleeps == sleeps
    assert report.events == len(order) and report.waited == pytest.approx(sum(sleeps))
    if speed is not None and takes == 0 and events:      # each event leaves at its scaled offset from the first
        first = min(e.event_time for e in events)
        expected = {e.event_id: 100.0 + (e.event_time - first) / 1e6 / speed for e in events}
        assert all(moment == pytest.approx(expected[event_id]) for moment, event_id in sink.events)


@pytest.mark.parametrize("speed", [0.0, -1.0], ids=["zero", "negative"])
def test_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError):
        replay.replay(GAPS_OF_10, speed=speed, clock=FakeClock(), sink=Collect())


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_store(tmp_path_factory.mktemp("replay") / "store")


def test_timeline_events_in_order_as_json_lines(full: str) -> None:
    events = replay.timeline_events(full, start=timestamps.parse_micros("2024-11-30T08:02:00Z"),
                                    until=timestamps.parse_micros("2024-11-30T09:10:00Z"))
    out = io.StringIO()
    replay.replay(events, speed=None, clock=FakeClock(), sink=replay.LineSink(out))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["eventID"] for e in lines] == ["e03-create-user", "e04-create-key", "e05-policy", "e07-read",
                                             "e08-get-policy", "e09-service"]
    assert lines == [BY_ID[e["eventID"]] for e in lines]


# ---- HTTP -----------------------------------------------------------------------------------------------

class _Recorder(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []
    status = 204

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"received": [], "status": 204})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/ingest/cloudtrail", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_http_sink_posts_each_event_in_order(server: tuple[str, type[_Recorder]], full: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url, handler = server
    monkeypatch.setenv("http_proxy", "http://192.0.2.1:9")      # never used: evidence stays on the machine
    events = replay.timeline_events(full)
    report = replay.replay(events, speed=None, clock=FakeClock(), sink=replay.HttpSink(url))
    assert report.events == len(events) == len(handler.received)
    assert {(path, kind) for path, kind, _ in handler.received} == {("/ingest/cloudtrail", "application/json")}
    assert [json.loads(body) for _, _, body in handler.received] == [json.loads(e.text) for e in events]


def test_http_sink_stops_on_an_error_answer(server: tuple[str, type[_Recorder]]) -> None:
    url, handler = server
    handler.status = 500
    with pytest.raises(errors.InputError, match="answered 500"):
        replay.replay(GAPS_OF_10, speed=None, clock=FakeClock(), sink=replay.HttpSink(url))
    assert len(handler.received) == 1


def test_http_sink_without_a_server_is_an_input_error() -> None:
    with socket.socket() as probe:                       # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(errors.InputError, match="cannot post"):
        replay.HttpSink(f"http://127.0.0.1:{port}/x").emit(at(0, "a"))


@pytest.mark.parametrize(("url", "accepted"), [
    ("http://127.0.0.1:8080/events", True), ("http://127.0.0.2/", True), ("http://[::1]:9000/x", True),
    ("https://127.0.0.1:8443/x", False), ("http://localhost:8080/x", False), ("http://example.com/x", False),
    ("http://10.0.0.1:8080/x", False), ("ftp://127.0.0.1/x", False), ("http://127.0.0.1:99999/x", False),
    ("http://127.0.0.1.example.com/x", False), ("127.0.0.1:8080", False),
], ids=["v4", "other-loopback", "v6", "https", "name", "remote", "private", "ftp", "bad-port", "lookalike", "bare"])
def test_only_loopback_urls(url: str, accepted: bool) -> None:
    if accepted:
        assert replay.check_loopback(url) == url
    else:
        with pytest.raises(errors.InputError, match="only to a loopback address"):
            replay.HttpSink(url)


# ---- states and graph from the timeline alone -----------------------------------------------------------

MOMENTS = ["2024-11-30T08:02:30Z", "2024-11-30T08:03:00Z", "2024-11-30T09:59:59Z", "2024-12-02T00:00:00Z"]


def states(root: str, moment: str) -> dict[str, Any]:
    return {r.arn: (r.type, r.entries, r.last_event_id, r.state)
            for r in replay.state_at(root, timestamps.parse_micros(moment)).resources}


@pytest.mark.parametrize("moment", MOMENTS)
def test_resource_timeline_rebuilds_the_stores_states(full: str, tmp_path: Path, moment: str) -> None:
    out = str(tmp_path / "bucket")
    # The window leaves the bucket's writes out of the selection; they come back as its change log.
    timeline.write_timeline(full, Selection(resource=BUCKET, start=timestamps.parse_micros("2024-11-30T08:04:00Z"),
                                            end=timestamps.parse_micros("2024-11-30T08:10:00Z")), out, timeline_id="t")
    mine, theirs = states(out, moment), states(full, moment)
    assert mine.get(BUCKET) == theirs.get(BUCKET)
    assert (BUCKET in theirs) == (moment >= "2024-11-30T08:03:00Z")
    if moment > "2024-12":
        assert theirs[BUCKET][1:3] == (2, "e10-acl")


def origin_tree(drawn: Any, principal: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Nodes and edges (with their data) of a principal's tree; node data also counts other principals' edges."""
    tree = graph.origin_tree(drawn, graph.node_for_principal(drawn, principal))
    return sorted(tree.nodes), sorted((u, v, k, sorted(d.items())) for u, v, k, d in tree.edges(keys=True, data=True))


@pytest.mark.parametrize("moment", MOMENTS)
def test_principal_timeline_rebuilds_the_stores_graph(full: str, tmp_path: Path, moment: str) -> None:
    out = str(tmp_path / "alice")
    timeline.write_timeline(full, Selection(principal=ALICE), out, timeline_id="t")
    mine = replay.state_at(out, timestamps.parse_micros(moment))
    theirs = replay.state_at(full, timestamps.parse_micros(moment))
    assert origin_tree(mine.graph, ALICE) == origin_tree(theirs.graph, ALICE)
    if moment > "2024-12":     # and the graph of the whole store's identity dataset, as `trailbeam graph` draws it
        drawn = graph.build_graph(identitystore.read_sessions(full), identitystore.read_uses(full),
                                  identitystore.read_grants(full))
        assert origin_tree(mine.graph, ALICE) == origin_tree(drawn, ALICE)
        assert "key:AKIABACKDOOR" in mine.graph and "session:e02-hop" in mine.graph


def test_windowed_timeline_keeps_the_lineage_of_its_events(full: str, tmp_path: Path) -> None:
    """Outside the window, uses are not in the timeline; the sessions and grants behind its events all are."""
    out = str(tmp_path / "alice")
    timeline.write_timeline(full, Selection(principal=ALICE, start=timestamps.parse_micros("2024-11-30T09:00:00Z")),
                            out, timeline_id="t")
    end = timestamps.parse_micros(MOMENTS[-1])
    mine = origin_tree(replay.state_at(out, end).graph, ALICE)
    theirs = origin_tree(replay.state_at(full, end).graph, ALICE)
    lineage = ("issued", "assumed", "holds", "created", "authenticated")
    assert mine[0] == theirs[0]
    assert [e for e in mine[1] if e[2] in lineage] == [e for e in theirs[1] if e[2] in lineage]
    assert [e for e in mine[1] if e[2] == "used"] != [e for e in theirs[1] if e[2] == "used"]


@pytest.mark.parametrize("moment", MOMENTS)
def test_state_at_replays_each_resources_writes(full: str, moment: str) -> None:
    """Every resource a write touched, in the state ``history`` replays its writes up to the moment into."""
    when = timestamps.parse_micros(moment)
    writes: dict[str, list[Any]] = {}
    refs = {}
    for row in store.read_events(full, end=when + 1):
        event = cloudtrail.original_event(row)
        for ref in resources_of(event) if is_write(event) else ():
            writes.setdefault(ref.arn, []).append(event)
            refs[ref.arn] = ref
    found = {r.arn: r for r in replay.state_at(full, when).resources}
    assert set(found) == set(writes)
    for arn, events in writes.items():
        assert found[arn].state == to_json(history.state_at(refs[arn], events, when)), arn
        assert (found[arn].type, found[arn].entries) == (refs[arn].type, len(events))
