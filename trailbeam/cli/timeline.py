"""Timeline commands: cut a timeline out of a store, export it for other tools, replay it."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timezone
from typing import Any

from trailbeam import errors, store, tabular
from trailbeam.cli.common import UsageError, add_format, add_store, flag_time, iso

_TIMELINE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_EXPORTS = ("timesketch-jsonl", "timesketch-csv", "csv", "jsonl", "markdown", "graphml")


def add_commands(commands: Any) -> None:
    timeline = commands.add_parser(
        "timeline", help="write a filtered, attributed selection of a store as a new store",
        description="Select events by origin principal (all its sessions), session, access key, resource, source "
        "IP or network, time window and event selectors (criteria combine with AND), and write them, with the "
        "calls their sessions and credentials came from (and a resource's whole change log) as context, as an "
        "event store of their own: every command that reads a store reads it.")
    add_store(timeline)
    timeline.add_argument("--out", required=True, metavar="DIR", help="new folder to write the timeline into")
    _add_selection(timeline)
    timeline.add_argument("--id", dest="timeline_id", help="name of the timeline run (default: tl-<UTC time>)")
    timeline.add_argument("--json", action="store_true", help="print the summary as JSON")
    timeline.set_defaults(handler=_timeline)

    export = commands.add_parser(
        "export", help="export a selection as Timesketch JSONL/CSV, CSV, JSONL, Markdown or GraphML",
        description="Write the selected events (the whole store without selection flags) for another tool. "
        "Every row keeps its eventID, provenance and integrity status; GraphML draws the identities instead.")
    add_store(export)
    export.add_argument("--out", required=True, metavar="FILE", help="file to write")
    export.add_argument("--as", dest="fmt", required=True, choices=_EXPORTS, help="output format")
    export.add_argument("--title", default="trailbeam timeline", help="Markdown title")
    _add_selection(export)
    export.set_defaults(handler=_export)

    replay = commands.add_parser(
        "replay", help="re-emit a timeline's events in their original order and timing",
        description="Send a timeline's (or store's) events, as their original JSON, in (eventTime, eventID) order "
        "with their original gaps divided by --speed, to stdout, a JSON Lines file or a loopback HTTP endpoint. "
        "With --state-at, print instead the resource states and identity graph the timeline alone rebuilds.")
    replay.add_argument("timeline", metavar="TIMELINE", help="timeline (or any local store) to replay")
    replay.add_argument("--start", help="from this eventTime (ISO 8601 UTC, inclusive)")
    replay.add_argument("--until", help="until this eventTime (ISO 8601 UTC, exclusive)")
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help="replay N times faster than the events happened (default 1)")
    pace.add_argument("--no-wait", action="store_true", help="emit events back to back")
    replay.add_argument("--to", default="stdout", metavar="stdout|FILE.jsonl|http://127.0.0.1:PORT/PATH",
                        help="where events go (default stdout); HTTP only to a loopback address")
    replay.add_argument("--state-at", metavar="TIME", help="print states and the identity graph at TIME instead")
    add_format(replay)
    replay.set_defaults(handler=_replay)


def _add_selection(parser: argparse.ArgumentParser) -> None:
    which = parser.add_argument_group("selection (criteria combine with AND; none: every event)")
    which.add_argument("--principal", help="origin principal (ARN, <provider>:<subject>, …) or its key, or the ARN "
                       "or key that signed: everything it did through all its sessions")
    which.add_argument("--session", help="a session (issuing eventID or assumed-role ARN) and what it led to")
    which.add_argument("--key", help="access key id: calls signed with it or with credentials it led to")
    which.add_argument("--resource", metavar="ARN", help="every call on a resource (its change log is kept whole)")
    which.add_argument("--ip", help="source IP address or CIDR network")
    which.add_argument("--start", help="from this eventTime (ISO 8601 UTC, inclusive)")
    which.add_argument("--end", help="until this eventTime (ISO 8601 UTC, exclusive)")
    which.add_argument("--selectors", metavar="FILE", help="CloudTrail event selectors (get-event-selectors output)")


def _selection(args: argparse.Namespace) -> Any:
    from trailbeam import selectors, timeline

    return timeline.Selection(
        principal=args.principal, session=args.session, access_key=args.key, resource=args.resource,
        source_ip=args.ip, start=flag_time(args.start, "--start"), end=flag_time(args.end, "--end"),
        selectors=selectors.load_selectors(args.selectors) if args.selectors else None)


# ---- timeline ----

def _timeline(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import timeline

    timeline_id = args.timeline_id or datetime.now(timezone.utc).strftime("tl-%Y%m%dT%H%M%SZ")
    if not _TIMELINE_ID.match(timeline_id):
        raise UsageError(f"--id {timeline_id!r}: use letters, digits, '.', '_' and '-'")
    written = timeline.write_timeline(args.store, _selection(args), args.out, timeline_id=timeline_id)
    print(json.dumps(written, indent=2, sort_keys=True) if args.json else _render(written, args.out))
    return 0


def _render(run: dict[str, Any], out: str) -> str:
    details, records = run["timeline"], run["records"]
    selection = ", ".join(f"{k} {v}" for k, v in details["selection"].items()) or "every event"
    rows = [
        ("timeline", f"{run['run_id']} in {out}"),
        ("selection", selection),
        ("events", f"{records['stored']:,} ({records['stored'] - details['context_events']:,} selected, "
                   f"{details['context_events']:,} context: issuing calls of their sessions, change logs)"),
        ("source events read", f"{records['read']:,} from {details['source_store']}"),
        ("events from", run["first_event"] or "-"),
        ("events to", run["last_event"] or "-"),
        ("accounts", ", ".join(run["accounts"]) or "-"),
        ("regions", ", ".join(run["regions"]) or "-"),
        ("event files", f"{run['partition_files']:,}"),
        ("identity data", f"copied (run {details['identity_run']})" if details["identity_run"] else
         "none (the store has no complete identity data for these events: run `trailbeam attribute`)"),
        ("integrity findings", f"{details['integrity_findings']:,} copied"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {tabular.table_cell(value)}" for name, value in rows)


# ---- export ----

def _export(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import exports, timeline

    picked = list(timeline.select(args.store, _selection(args)))
    if args.fmt == "graphml":
        subset = timeline.identity_subset(args.store, [p.attributed for p in picked if p.attributed is not None])
        with open(args.out, "wb") as out:
            nodes = exports.write_graphml(out, subset.sessions, subset.uses, subset.grants)
        print(f"wrote the identity graph of {len(picked):,} events ({nodes:,} nodes) to {args.out}")
        return 0
    rows = exports.rows_from(picked, store.read_integrity(args.store))
    # backslashreplace: a lone surrogate (kept exactly by the store) is written as its JSON escape, not lost.
    with open(args.out, "w", encoding="utf-8", errors="backslashreplace", newline="") as out:
        exports.write_rows(out, rows, args.fmt, title=args.title)
    print(f"wrote {len(rows):,} events as {args.fmt} to {args.out}")
    return 0


# ---- replay ----

def _replay(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import replay

    start, until = flag_time(args.start, "--start"), flag_time(args.until, "--until")
    if args.state_at is not None:
        if args.to != "stdout" or args.speed is not None or args.no_wait or start is not None or until is not None:
            raise UsageError("--state-at replays nothing: give it without --to, --speed, --no-wait, --start, --until")
        at = flag_time(args.state_at, "--state-at")
        assert at is not None
        print(_render_state(replay.state_at(args.timeline, at), args.format))
        return 0
    if args.speed is not None and not args.speed > 0:
        raise UsageError("--speed must be a positive number")
    events = replay.timeline_events(args.timeline, start=start, until=until)
    speed = None if args.no_wait else (args.speed or 1.0)
    if args.to in ("stdout", "-"):
        replay.replay(events, speed=speed, clock=replay.SYSTEM_CLOCK, sink=replay.LineSink(sys.stdout))
        return 0
    if "://" in args.to:
        report = replay.replay(events, speed=speed, clock=replay.SYSTEM_CLOCK, sink=replay.HttpSink(args.to))
    else:
        try:
            with open(args.to, "w", encoding="utf-8", errors="backslashreplace") as out:
                report = replay.replay(events, speed=speed, clock=replay.SYSTEM_CLOCK, sink=replay.LineSink(out))
        except OSError as err:
            raise errors.InputError(f"cannot write {args.to}: {err.strerror or err}") from None
    print(f"replayed {report.events:,} events ({iso(report.first) or '-'} .. {iso(report.last) or '-'}) to "
          f"{args.to}, waiting {report.waited:,.1f} s")
    return 0


def _render_state(state: Any, fmt: str) -> str:
    from trailbeam import graph, jsonvalue

    if fmt == "json":
        return json.dumps({"at": iso(state.at), "events": state.events,
                           "resources": [{"resource": r.arn, "type": r.type, "entries": r.entries,
                                          "last_event_id": r.last_event_id, "state": r.state}
                                         for r in state.resources],
                           "graph": graph.to_node_link(state.graph)}, indent=2, default=str)
    rows = [(r.arn, r.type, r.entries, r.last_event_id, jsonvalue.dumps(r.state).decode()) for r in state.resources]
    table = tabular.render(("resource", "type", "entries", "last_event_id", "state"), rows, fmt)
    if fmt == "csv":
        return table
    return (f"# state at {iso(state.at)} from {state.events:,} events; identity graph: "
            f"{state.graph.number_of_nodes():,} nodes, {state.graph.number_of_edges():,} edges\n{table}")
