"""Identity commands: attribute, then ask who assumed a role, where a credential came from, what was done."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from trailbeam import errors, tabular
from trailbeam.cli.common import (
    UsageError, add_format, add_store, add_window, add_workers, counts_text, flag_time, iso, store_worker_args,
)


# ---- identity: attribute, then ask who assumed, where from, what was done ----

_GRAPH_FORMATS = {".graphml": "graphml", ".json": "json", ".svg": "svg"}


def add_commands(commands: Any) -> None:
    attribute = commands.add_parser(
        "attribute", help="attribute every stored event to its session chain and origin",
        description="Link every event of an event store to the session that made it, the chain of sessions "
        "and grants behind it, and its origin principal; write the identity dataset (sessions, grants, "
        "credential uses, signals, graph) into the store. Options this command does not know are passed "
        "to Apache Beam.")
    add_store(attribute)
    attribute.add_argument("--run-id", help="name of this run (default: the UTC start time)")
    attribute.add_argument("--json", action="store_true", help="print the run summary as JSON")
    add_workers(attribute, "stores")
    attribute.set_defaults(handler=_attribute)

    who = commands.add_parser("who-assumed", help="every session of a role: who reached it, how, from where")
    who.add_argument("role", metavar="ROLE_ARN", help="role ARN, or an assumed-role ARN of the role")
    add_store(who)
    add_window(who, "issued")
    add_format(who)
    who.set_defaults(handler=_who_assumed)

    lineage = commands.add_parser("lineage", help="where a key, session or event came from, hop by hop",
                                  description="Trace an access key id, a session ARN or an eventID back to "
                                  "its origin, with the event linking each hop.")
    lineage.add_argument("target", metavar="KEY_ID|SESSION_ARN|EVENT_ID")
    add_store(lineage)
    add_format(lineage)
    lineage.set_defaults(handler=_lineage)

    activity = commands.add_parser("activity", help="everything an origin did through all its sessions",
                                   description="A timeline of the events whose origin is PRINCIPAL, or that "
                                   "were signed by PRINCIPAL (an access key id or an ARN).")
    activity.add_argument("principal", metavar="PRINCIPAL")
    add_store(activity)
    add_window(activity, "eventTime")
    add_format(activity)
    activity.set_defaults(handler=_activity)

    identities = commands.add_parser("identities", help="origins, roles, cross-account hops, longest chains, "
                                     "unlinked sessions")
    add_store(identities)
    add_format(identities)
    identities.set_defaults(handler=_identities)

    signals = commands.add_parser("signals", help="credential-misuse signals found by the last attribution")
    add_store(signals)
    add_format(signals)
    signals.set_defaults(handler=_signals)

    graph = commands.add_parser("graph", help="write the identity graph (GraphML, node-link JSON or SVG)",
                                description="Write the whole identity graph, one origin's tree, or everyone "
                                "who reached a role.")
    add_store(graph)
    graph.add_argument("--out", required=True, metavar="FILE", help="file to write (.graphml, .json or .svg)")
    which = graph.add_mutually_exclusive_group()
    which.add_argument("--origin", metavar="PRINCIPAL", help="only what this principal or key led to")
    which.add_argument("--role", metavar="ROLE_ARN", help="only this role and everyone who reached it")
    graph.add_argument("--graph-format", choices=sorted(set(_GRAPH_FORMATS.values())),
                       help="default: from the --out suffix")
    graph.add_argument("--max-nodes", type=int, default=150, help="nodes drawn at most in an SVG (default 150)")
    graph.set_defaults(handler=_graph)





def _attribute(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipelines import attribute as pipeline  # Beam is imported only by commands that run pipelines

    argv = [f"--store={args.store}", *([f"--run_id={args.run_id}"] if args.run_id else [])]
    run_summary = pipeline.run([*argv, *store_worker_args(args.store, args.workers, beam_args), *beam_args])
    print(json.dumps(run_summary, indent=2, sort_keys=True) if args.json else render_attribution(run_summary))
    return 0





def render_attribution(run: dict[str, Any]) -> str:
    """The attribution summary as the table the CLI prints."""
    temporary, unattributed = run["temporary_credential_events"], run["temporary_unattributed"]
    rows = [
        ("run", run["run"]),
        ("events attributed", f"{run['events']:,} in {run['event_files']:,} event files"),
        ("sessions found", f"{run['sessions']:,} ({counts_text(run['sessions_by_call'])})"),
        ("keys issued", f"{run['keys_issued']:,}"),
        ("temporary keys used", f"{run['keys_used']:,} ({run['keys_used_and_issued']:,} issued in the trail, "
                                f"{run['keys_used_not_issued']:,} not)"),
        ("long-term credentials granted", f"{run['grants']:,}"),
        ("events by basis", counts_text(run["events_by_basis"])),
        ("events by confidence", counts_text(run["events_by_confidence"])),
        ("temporary-credential events", f"{temporary:,} ({unattributed:,} unattributed or low confidence)"),
        ("why events stay unattributed", counts_text(run["unattributed_reasons"])),
        ("flags", counts_text(run["flags"])),
        ("signals", f"{run['signals']:,} (trailbeam signals --store ...)"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _who_assumed(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import identities

    found = identities.load_who_assumed(args.store, args.role, start=flag_time(args.start, "--start"),
                                        end=flag_time(args.end, "--end"))
    columns = ("time", "via", "role", "session", "origin_kind", "origin", "chain", "source_ip", "user_agent",
               "account", "cross_account", "basis", "confidence", "event_id")
    rows = [(iso(r.time), r.via, r.role_arn, r.session_name, r.origin_kind, r.origin_principal, r.chain,
             r.source_ip, r.user_agent, r.account, r.cross_account, r.basis, r.confidence, r.event_id)
            for r in found]
    print(tabular.render(columns, rows, args.format))
    return 0


def _hop_json(hop: Any) -> dict[str, Any]:
    return {"relation": hop.relation, "time": iso(hop.time), "event_id": hop.event_id, "call": hop.call,
            "caller": hop.caller, "target": hop.target, "key": hop.key, "account": hop.account,
            "source_ip": hop.source_ip, "user_agent": hop.user_agent, "basis": hop.basis,
            "confidence": hop.confidence, "flags": list(hop.flags)}


def _lineage(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import identities

    found = identities.load_lineage(args.store, args.target)
    if args.format == "json":
        print(json.dumps({"target": found.target, "kind": found.kind, "traces": [
            {"origin": {"kind": t.origin_kind, "principal": t.origin_principal, "access_key": t.origin_access_key},
             "chain": t.text, "hops": [_hop_json(h) for h in t.hops]} for t in found.traces]}, indent=2))
        return 0
    columns = ("trace", "relation", "time", "call", "caller", "target", "key", "account", "source_ip", "basis",
               "confidence", "flags", "event_id")
    rows: list[tuple[Any, ...]] = []
    for number, trace in enumerate(found.traces, 1):
        rows.append((number, "origin", None, trace.origin_kind, trace.origin_principal, None,
                     trace.origin_access_key, None, None, None, None, None, None))
        rows += [(number, h.relation, iso(h.time), h.call, h.caller, h.target, h.key, h.account, h.source_ip,
                  h.basis, h.confidence, " ".join(h.flags), h.event_id) for h in trace.hops]
    print(tabular.render(columns, rows, args.format))
    if args.format == "table":
        print("\n" + "\n".join(f"trace {n}: {tabular.table_cell(t.text)}" for n, t in enumerate(found.traces, 1)))
    return 0


def _activity(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import identities

    found = identities.load_activity(args.store, args.principal, start=flag_time(args.start, "--start"),
                                     end=flag_time(args.end, "--end"))
    columns = ("time", "event_name", "event_source", "account", "region", "source_ip", "user_agent", "error",
               "credential", "session", "role", "basis", "confidence", "event_id")
    rows = [(iso(a.time), a.event_name, a.event_source, a.account, a.region, a.source_ip, a.user_agent, a.error,
             a.credential, a.session_name, a.role_arn, a.basis, a.confidence, a.event_id) for a in found]
    print(tabular.render(columns, rows, args.format))
    return 0


_SECTIONS = (("origins", "origins"), ("roles", "roles"), ("cross_account", "cross-account hops"),
             ("longest_chains", "longest chains"), ("unlinked_sessions", "unlinked sessions"))


def _identities(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import identities

    found = identities.load_overview(args.store)
    if args.format == "json":
        print(json.dumps(found, indent=2))
        return 0
    run = found["summary"]
    parts = [f"# identity run {run.get('run')}: {run.get('sessions', 0):,} sessions, {run.get('keys_issued', 0):,} "
             f"keys issued, {run.get('events', 0):,} events, {run.get('signals', 0):,} signals"]
    for key, title in _SECTIONS:
        entries = found[key]
        columns = list(entries[0]) if entries else ["none"]
        parts.append(f"# {title}\n" + tabular.render(columns, [list(e.values()) for e in entries], args.format))
    print("\n\n".join(parts))
    return 0


def _signals(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import identitystore

    found = identitystore.read_signals(args.store)
    if args.format == "json":
        print(json.dumps(found, indent=2))
        return 0
    # A table shows how much evidence there is; CSV carries the eventIDs themselves.
    evidence = "events" if args.format == "table" else "event_ids"
    columns = ("first_seen", "last_seen", "severity", "kind", "principal", "credential", "summary", evidence)
    rows = [(s["first_seen"], s["last_seen"], s["severity"], s["kind"], s["principal"], s["credential"],
             s["summary"], len(s["event_ids"]) if args.format == "table" else " ".join(s["event_ids"]))
            for s in found]
    print(tabular.render(columns, rows, args.format))
    return 0


def _graph(args: argparse.Namespace, _: list[str]) -> int:
    from trailbeam import graph, graphsvg, identitystore

    fmt = args.graph_format or _GRAPH_FORMATS.get(Path(args.out).suffix.lower())
    if fmt is None:
        raise UsageError(f"cannot tell the format from {args.out!r}: use .graphml, .json or .svg, or give "
                          "--graph-format")
    if args.max_nodes < 1:
        raise UsageError("--max-nodes must be at least 1")
    chosen = whole = graph.build_graph(identitystore.read_sessions(args.store), identitystore.read_uses(args.store),
                                       identitystore.read_grants(args.store))
    title = "identity graph"
    asked = args.origin or args.role
    if asked:
        node = graph.node_for_principal(whole, asked)
        if node is None:
            raise errors.InputError(f"{asked!r} is not in the identity graph")
        chosen = graph.origin_tree(whole, node) if args.origin else graph.reaching(whole, node)
        title = f"origin tree of {asked}" if args.origin else f"who reached {asked}"
    if fmt == "graphml":
        graph.write_graphml(chosen, args.out)
    elif fmt == "json":
        Path(args.out).write_text(json.dumps(graph.to_node_link(chosen), indent=2, sort_keys=True) + "\n")
    else:
        Path(args.out).write_text(graphsvg.render_svg(chosen, title=title, max_nodes=args.max_nodes))
    print(f"wrote {chosen.number_of_nodes():,} nodes and {chosen.number_of_edges():,} edges to {args.out}")
    return 0


