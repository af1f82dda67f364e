"""History commands: replay every resource, then ask what changed, when, by whom."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from trailbeam import tabular, timestamps
from trailbeam.cli.common import (
    UsageError, add_format, add_store, add_workers, counts_text, flag_time, iso, store_worker_args,
)


# ---- histories: replay every resource, then ask what changed, when, by whom ----

def add_commands(commands: Any) -> None:
    histories = commands.add_parser(
        "histories", help="replay every resource's write events into its change log",
        description="Find the resources every write event touched, replay each resource's events through its "
        "projection and write the history dataset (change logs with diffs and states, resource summaries, "
        "optionally read aggregates) into the store. Origins come from the identity dataset when `trailbeam "
        "attribute` ran first. Options this command does not know are passed to Apache Beam.")
    add_store(histories)
    histories.add_argument("--reads", action="store_true",
                           help="also aggregate read and data access per (resource, principal, origin, hour)")
    histories.add_argument("--run-id", help="name of this run (default: the UTC start time)")
    add_workers(histories, "stores")
    histories.add_argument("--projections", action="append", metavar="MODULE:NAME",
                           help="your own projections (a Projection, a list of them or a Registry); repeatable")
    histories.add_argument("--json", action="store_true", help="print the run summary as JSON")
    histories.set_defaults(handler=_histories)

    history = commands.add_parser("history", help="a resource's change log, with what each call changed",
                                  description="Every write call on a resource in replay order: who, from where, "
                                  "what it changed; failed calls are listed as attempts.")
    history.add_argument("arn", metavar="ARN", help="the resource's ARN, as AWS or you write it")
    add_store(history)
    add_format(history)
    history.set_defaults(handler=_history)

    state = commands.add_parser("state", help="a resource's state at a moment (or every resource of a type)",
                                description="The state replayed from the change log up to TIME, inclusive. "
                                "Fields no event showed are unknown. With --type: every resource of the type "
                                "whose change log starts at or before TIME.")
    state.add_argument("arn", metavar="ARN", nargs="?", help="the resource's ARN")
    state.add_argument("--type", metavar="TYPE", help="every resource of this type, e.g. AWS::IAM::User")
    add_store(state)
    state.add_argument("--at", required=True, metavar="TIME", help="ISO 8601 UTC, inclusive")
    add_format(state)
    state.set_defaults(handler=_state)

    diff = commands.add_parser("diff", help="what changed on a resource between two moments",
                               description="The fields whose value differs between the state at --from and the "
                               "state at --to (both inclusive), and the calls in between.")
    diff.add_argument("arn", metavar="ARN", help="the resource's ARN")
    add_store(diff)
    diff.add_argument("--from", dest="start", required=True, metavar="TIME", help="ISO 8601 UTC")
    diff.add_argument("--to", dest="end", required=True, metavar="TIME", help="ISO 8601 UTC")
    add_format(diff)
    diff.set_defaults(handler=_diff)


def _histories(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines import history as pipeline  # Beam is imported only by commands that run pipelines

    argv = [f"--store={args.store}", *([f"--run_id={args.run_id}"] if args.run_id else []),
            *(["--reads"] if args.reads else []), *(f"--projections={p}" for p in args.projections or ())]
    run_summary = pipeline.run([*argv, *store_worker_args(args.store, args.workers, beam_args), *beam_args])
    print(json.dumps(run_summary, indent=2, sort_keys=True) if args.json else _render_histories(run_summary))
    return 0


def _render_histories(run: dict[str, Any]) -> str:
    """The history summary as the table the CLI prints."""
    unresolved = ", ".join(f"{u['event_source']} {u['event_name']} {u['count']:,}" for u in run["top_unresolved"])
    rows = [
        ("run", run["run"]),
        ("events read", f"{run['events']:,} in {run['event_files']:,} event files"),
        ("write events", f"{run['write_events']:,} ({run['write_attempts']:,} failed: kept as attempts)"),
        ("write events without a resource", f"{run['write_unresolved']:,} ({run['write_unresolved_share']:.1%})"
                                            + (f": {unresolved}" if unresolved else "")),
        ("resources", f"{run['resources']:,} ({counts_text(run['resources_by_type'])})"),
        ("change-log entries", f"{run['entries']:,} ({run['changing_entries']:,} changed a field, "
                               f"{run['attempts']:,} attempts)"),
        ("origins joined", f"{run['attribution']['joined_events']:,} events" if run["identity_run"]
         else "none (run `trailbeam attribute` first to name the origin of every call)"),
    ]
    if run["reads"] is not None:
        reads = run["reads"]
        rows.append(("read aggregates", f"{reads['aggregates']:,} from {reads['read_events']:,} read events "
                                        f"({reads['unresolved']:,} without a resource)"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _shown(value: Any) -> str:
    """A JSON value for a table or CSV cell: compact, with the unknown and absent markers as bare words."""
    from trailbeam import jsonvalue
    from trailbeam.projections.state import ABSENT_JSON, UNKNOWN_JSON

    if value == UNKNOWN_JSON:
        return "unknown"
    if value == ABSENT_JSON:
        return "absent"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{_shown(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_shown(item) for item in value) + "]"
    return jsonvalue.dumps(value).decode()


def _path(path: Sequence[str]) -> str:
    head, *rest = path or ("<state>",)
    return head + "".join(f"[{json.dumps(part)}]" for part in rest)


def _record_time(value: Any) -> str:
    return timestamps.format_micros(timestamps.datetime_micros(value))


def _entry_json(record: dict[str, Any]) -> dict[str, Any]:
    from trailbeam import jsonvalue

    return {"sequence": record["sequence"], "time": _record_time(record["eventTime"]), "event_id": record["eventID"],
            "event_name": record["eventName"], "event_source": record["eventSource"], "applied": record["applied"],
            "error_code": record["errorCode"], "principal": record["principal"],
            "origin_principal": record["originPrincipal"], "origin_kind": record["originKind"],
            "source_ip": record["sourceIPAddress"], "user_agent": record["userAgent"],
            "changes": [{"path": c["path"], "before": jsonvalue.loads(c["before"]),
                         "after": jsonvalue.loads(c["after"])} for c in record["changes"]],
            "state_after": jsonvalue.loads(record["stateAfter"])}


def _result(entry: dict[str, Any]) -> str:
    return "applied" if entry["applied"] else f"failed: {entry['error_code']}"


def _history(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import historystore

    entries = [_entry_json(r) for r in historystore.log_of(args.store, args.arn)]
    if args.format == "json":
        print(json.dumps(entries, indent=2, default=str))
        return 0
    columns = ("time", "event_name", "result", "principal", "origin", "source_ip", "user_agent", "changes",
               "event_id")
    rows = [(e["time"], e["event_name"], _result(e), e["principal"], e["origin_principal"], e["source_ip"],
             e["user_agent"], "; ".join(f"{_path(c['path'])}: {_shown(c['before'])} -> {_shown(c['after'])}"
                                        for c in e["changes"]), e["event_id"]) for e in entries]
    print(tabular.render(columns, rows, args.format))
    return 0


def _state_json(found: Any) -> dict[str, Any]:
    last = found.last
    return {"resource": found.arn, "type": found.type, "at": iso(found.at), "entries": found.entries,
            "last_event": None if last is None else {"time": _record_time(last["eventTime"]),
                                                     "event_id": last["eventID"], "event_name": last["eventName"]},
            "state": found.state}


def _state(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import historystore

    if (args.arn is None) == (args.type is None):
        raise UsageError("give either an ARN or --type TYPE")
    at = flag_time(args.at, "--at")
    assert at is not None
    if args.type:
        found = historystore.states_of_type(args.store, args.type, at)
        if args.format == "json":
            print(json.dumps([_state_json(s) for s in found], indent=2, default=str))
        else:
            rows = [(s.arn, field, _shown(value)) for s in found for field, value in s.state.items()]
            print(tabular.render(("resource", "field", "value"), rows, args.format))
        return 0
    one = historystore.state_at(args.store, args.arn, at)
    if args.format == "json":
        print(json.dumps(_state_json(one), indent=2, default=str))
        return 0
    if args.format == "table":
        last = one.last
        print(f"# {tabular.table_cell(one.arn)} ({one.type}) at {iso(at)}: " + (
            "no change-log entry yet, every field unknown" if last is None else
            f"after {one.entries:,} entries, the last {last['eventName']} at {_record_time(last['eventTime'])} "
            f"({last['eventID']})"))
    print(tabular.render(("field", "value"), [(f, _shown(v)) for f, v in one.state.items()], args.format))
    return 0


def _diff(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import historystore
    from trailbeam.resources import canonical_arn

    start, end = flag_time(args.start, "--from"), flag_time(args.end, "--to")
    assert start is not None and end is not None
    if start > end:
        raise UsageError("--from must not be after --to")
    changes, between = historystore.diff_between(args.store, args.arn, start, end)
    entries = [_entry_json(r) for r in between]
    if args.format == "json":
        print(json.dumps({"resource": canonical_arn(args.arn.strip()), "from": iso(start),
                          "to": iso(end), "changes": [{"path": list(c.path), "before": c.before, "after": c.after}
                                                       for c in changes],
                          "entries": [{k: e[k] for k in ("time", "event_id", "event_name", "applied", "error_code",
                                                         "principal", "origin_principal")} for e in entries]},
                         indent=2, default=str))
        return 0
    print(tabular.render(("field", "before", "after"),
                         [(_path(c.path), _shown(c.before), _shown(c.after)) for c in changes], args.format))
    if args.format == "table":
        print(f"\n# {len(entries):,} change-log entries after {iso(start)} up to {iso(end)}")
        if entries:
            print(tabular.render(("time", "event_name", "result", "principal", "event_id"),
                                 [(e["time"], e["event_name"], _result(e), e["principal"], e["event_id"])
                                  for e in entries], "table"))
    return 0


