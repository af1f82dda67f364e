"""The timeline commands end to end: a synthetic trail with an attack story, ingested, attributed and replayed into
histories; then the attack's origin cut out as a timeline that every store command reads, attributed again with
the same origins, exported, replayed; and a resource's timeline giving the same change log as the whole store."""

from __future__ import annotations

import csv
import http.server
import io
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from builders import run, run_json
from trailbeam import graph, identitystore, timestamps
from trailbeam.sample import write_sample

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The store (ingested, attributed, histories), the attack's ground truth, and its origin's timeline."""
    root = tmp_path_factory.mktemp("timeline-cli")
    write_sample(root / "trail", events=1200, seed=4)
    store = str(root / "store")
    for argv in (("ingest", str(root / "trail" / "AWSLogs"), "--out", store, "--run-id", "r1"),
                 ("attribute", "--store", store, "--run-id", "a1"), ("histories", "--store", store, "--run-id", "h1")):
        code, _, err = run(*argv)
        assert code == 0, err
    attack = json.loads((root / "trail" / "ground-truth.json").read_text())["attack"]
    origin = str(root / "origin")
    code, printed, err = run("timeline", "--store", store, "--out", origin, "--principal", attack["origin_principal"],
                             "--id", "t1")
    assert code == 0, err
    return {"root": root, "store": store, "attack": attack, "origin": origin, "printed": printed}


def credentialed(attack: dict[str, Any]) -> list[dict[str, Any]]:
    """The attack steps made with the leaked key's credentials (not the external account's reads)."""
    external = f"{attack['attacker']['external_account']}:{attack['attacker']['external_principal_id']}"
    return [s for s in attack["steps"] if s["principal"] != external]


def cat_ids(store: str) -> list[str]:
    code, out, err = run("cat", "--store", store)
    assert code == 0, err
    return [json.loads(line)["eventID"] for line in out.splitlines()]


def test_timeline_is_a_store_with_every_step(trail: dict[str, Any]) -> None:
    for label in ("selection", "events", "source events read", "identity data", "integrity findings"):
        assert label in trail["printed"], label
    stats = run_json("stats", "--store", trail["origin"])
    ids = cat_ids(trail["origin"])
    assert stats["events"] == len(ids) == len(set(ids)) > 0 and stats["records_read"] == 1200
    assert {s["event_id"] for s in credentialed(trail["attack"])} <= set(ids)
    everything = set(cat_ids(trail["store"]))
    assert set(ids) <= everything and len(ids) < len(everything)


def test_attributing_the_timeline_gives_every_step_its_origin(trail: dict[str, Any], tmp_path: Path) -> None:
    copy = str(tmp_path / "origin")
    shutil.copytree(trail["origin"], copy)
    code, _, err = run("attribute", "--store", copy, "--run-id", "again")
    assert code == 0, err
    again = {r["eventID"]: r for r in identitystore.read_attributed(copy)}
    whole = {r["eventID"]: r for r in identitystore.read_attributed(trail["store"])}
    attack = trail["attack"]
    for step in credentialed(attack):
        assert again[step["event_id"]]["originPrincipal"] == whole[step["event_id"]]["originPrincipal"] == \
            attack["origin_principal"], step
    assert again == {event_id: whole[event_id] for event_id in again}      # every event, linked the same way
    activity = run_json("activity", attack["origin_principal"], "--store", copy)
    assert activity == run_json("activity", attack["origin_principal"], "--store", trail["store"])


def test_histories_of_a_resource_timeline(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    user = attack["backdoor"]["user"]
    out = str(trail["root"] / "backdoor")
    code, _, err = run("timeline", "--store", trail["store"], "--out", out, "--resource", user,
                       "--start", attack["end"])
    assert code == 0, err
    code, _, err = run("histories", "--store", out)
    assert code == 0, err
    assert run_json("history", user, "--store", out) == run_json("history", user, "--store", trail["store"])
    for moment in (attack["start"], attack["end"]):
        assert run_json("state", user, "--store", out, "--at", moment) == run_json(
            "state", user, "--store", trail["store"], "--at", moment)


def test_replay_state_at_matches_the_store(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    user, moment = attack["backdoor"]["user"], attack["end"]
    found = run_json("replay", trail["origin"], "--state-at", moment)
    [state] = [r for r in found["resources"] if r["resource"] == user]
    assert state["state"] == run_json("state", user, "--store", trail["store"], "--at", moment)["state"]
    drawn = nx.node_link_graph(found["graph"], edges="links")
    whole = graph.build_graph(identitystore.read_sessions(trail["store"]), identitystore.read_uses(trail["store"]),
                              identitystore.read_grants(trail["store"]))
    tree = graph.origin_tree(whole, graph.node_for_principal(whole, attack["origin_principal"]))
    before = [n for n, first in tree.nodes(data="first_seen") if first and first <= moment]
    assert set(before) <= set(drawn.nodes)
    assert {f"key:{attack['final_access_key_id']}", f"key:{attack['backdoor']['access_key_id']}"} <= set(drawn.nodes)


@pytest.mark.parametrize("fmt", ["timesketch-jsonl", "timesketch-csv", "csv", "jsonl", "markdown", "graphml"])
def test_export_of_the_timeline(trail: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"origin.{fmt}"
    code, printed, err = run("export", "--store", trail["origin"], "--out", str(out), "--as", fmt)
    assert code == 0 and str(out) in printed, err
    ids = sorted(cat_ids(trail["origin"]))
    text = out.read_text(encoding="utf-8")
    if fmt == "graphml":
        assert graph.node_for_principal(nx.read_graphml(out), trail["attack"]["origin_principal"]) is not None
        return
    if fmt.endswith("jsonl"):
        rows = [json.loads(line) for line in text.splitlines()]
    elif fmt.endswith("csv"):
        rows = list(csv.DictReader(io.StringIO(text)))
    else:
        rows = [{"event_id": line.split(" | ")[8]} for line in text.splitlines()[6:]]
    assert sorted(r["event_id"] for r in rows) == ids
    if fmt.startswith("timesketch"):
        assert all(r["message"] and r["datetime"].endswith("Z") and r["timestamp_desc"] == "Event Time" for r in rows)
        times = [timestamps.parse_micros(r["datetime"]) for r in rows]
        assert times == sorted(times)


def test_export_with_a_selection_from_the_store(trail: dict[str, Any], tmp_path: Path) -> None:
    attack = trail["attack"]
    out = tmp_path / "ip.csv"
    code, _, err = run("export", "--store", trail["store"], "--out", str(out), "--as", "csv", "--ip",
                       attack["attacker"]["ips"][0])
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    selected = [r for r in rows if r["included"] == "selected"]
    assert selected and all(r["source_ip"] == attack["attacker"]["ips"][0] for r in selected)
    # The steps from that address, and the role account's copy of the cross-account AssumeRole among them.
    steps = [s for s in attack["steps"] if s["source_ip"] == attack["attacker"]["ips"][0]]
    assert {s[key] for s in steps for key in ("event_id", "role_account_event_id") if s.get(key)} == {
        r["event_id"] for r in selected}


def test_replay_to_a_file_in_order(trail: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "replayed.jsonl"
    code, printed, err = run("replay", trail["origin"], "--no-wait", "--to", str(out))
    assert code == 0 and "replayed" in printed, err
    events = [json.loads(line) for line in out.read_text().splitlines()]
    keys = [(timestamps.parse_micros(e["eventTime"]), e["eventID"]) for e in events]
    assert keys == sorted(keys) and sorted(e["eventID"] for e in events) == sorted(cat_ids(trail["origin"]))


def test_replay_over_http_with_a_window(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    received: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        start, until = attack["start"], timestamps.format_micros(timestamps.parse_micros(attack["start"]) + 60_000_000)
        code, printed, err = run("replay", trail["origin"], "--speed", "600", "--start", start, "--until", until,
                                 "--to", f"http://127.0.0.1:{server.server_address[1]}/events")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert code == 0, err
    ids = [json.loads(body)["eventID"] for body in received]
    expected = sorted((s["time"], s["event_id"]) for s in credentialed(attack) if start <= s["time"] < until)
    assert ids == [event_id for _, event_id in expected] and len(ids) >= 4


@pytest.fixture(scope="module")
def bare(trail: dict[str, Any]) -> str:
    """The same store without its identity data."""
    copy = trail["root"] / "bare"
    shutil.copytree(trail["store"], copy, ignore=shutil.ignore_patterns("identity"))
    return str(copy)


@pytest.mark.parametrize(("argv", "message"), [
    (["timeline", "--store", "{store}", "--out", "{origin}"], "is not an empty folder"),
    (["timeline", "--store", "{store}", "--out", "{new}", "--ip", "10.0.0.0/40"], "neither an address nor a CIDR"),
    (["timeline", "--store", "{store}", "--out", "{new}", "--start", "2026-03-04", "--end", "2026-03-03"],
     "time window is empty"),
    (["timeline", "--store", "{bare}", "--out", "{new}", "--principal", "x"], "no identity data yet"),
    (["timeline", "--store", "{store}", "--out", "{new}", "--id", "../up"], "--id"),
    (["timeline", "--store", "{new}", "--out", "{new}"], "not a trailbeam event store"),
    (["export", "--store", "{bare}", "--out", "{new}", "--as", "graphml"], "no identity data yet"),
    (["export", "--store", "{store}", "--out", "{new}", "--as", "xlsx"], "invalid choice"),
    (["replay", "{origin}", "--to", "http://example.com/events"], "only to a loopback address"),
    (["replay", "{origin}", "--speed", "0"], "--speed must be a positive number"),
    (["replay", "{origin}", "--speed", "2", "--no-wait"], "not allowed with argument"),
    (["replay", "{origin}", "--state-at", "2026-03-03", "--to", "x.jsonl"], "--state-at replays nothing"),
    (["replay", "{origin}", "--state-at", "noon"], "--state-at 'noon' is not an ISO 8601 UTC time"),
], ids=["out-exists", "bad-cidr", "empty-window", "no-identity", "bad-id", "not-a-store", "graphml-no-identity",
        "bad-format", "remote-url", "zero-speed", "speed-and-no-wait", "state-and-to", "bad-time"])
def test_input_errors_exit_2_with_one_line(trail: dict[str, Any], bare: str, tmp_path: Path, argv: list[str],
                                           message: str) -> None:
    values = {"store": trail["store"], "origin": trail["origin"], "bare": bare, "new": str(tmp_path / "new")}
    code, out, err = run(*(arg.format(**values) for arg in argv))
    assert code == 2 and out == "" and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "new").exists()
