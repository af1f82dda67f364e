"""The identity commands end to end: a synthetic trail with an attack story, ingested and attributed, then
asked who assumed a role, where an event came from, what the leaked key's owner did, and drawn."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from builders import run, run_json
from trailbeam.sample import write_sample

pytestmark = pytest.mark.pipeline

HOSTILE_UA = '=HYPERLINK("http://evil.example/x","open me")'
HOSTILE_SESSION = "@SUM(1+1)"
HOSTILE_ROLE = "arn:aws:iam::111122223333:role/Hostile"
HOSTILE_EVENT = {   # attacker-controlled text in a user agent and a session name
    "eventVersion": "1.08", "eventTime": "2026-03-02T12:00:00Z", "eventSource": "sts.amazonaws.com",
    "eventName": "AssumeRole", "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.66", "userAgent": HOSTILE_UA,
    "userIdentity": {"type": "IAMUser", "principalId": "AIDAHOSTILE", "arn": "arn:aws:iam::111122223333:user/mallory",
                     "accountId": "111122223333", "accessKeyId": "AKIAHOSTILE000000001", "userName": "mallory"},
    "requestParameters": {"roleArn": HOSTILE_ROLE, "roleSessionName": HOSTILE_SESSION},
    "responseElements": {"credentials": {"accessKeyId": "ASIAHOSTILE000000001", "sessionToken": "token",
                                         "expiration": "Mar 2, 2026, 1:00:00 PM"},
                         "assumedRoleUser": {"assumedRoleId": f"AROAHOSTILE:{HOSTILE_SESSION}",
                                             "arn": f"arn:aws:sts::111122223333:assumed-role/Hostile/{HOSTILE_SESSION}"}},
    "requestID": "req-hostile", "eventID": "hostile-assume-role", "readOnly": True, "eventType": "AwsApiCall",
    "managementEvent": True, "recipientAccountId": "111122223333", "eventCategory": "Management",
}


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The attributed store, the attack's ground truth and the text ``trailbeam attribute`` printed."""
    root = tmp_path_factory.mktemp("identity")
    write_sample(root / "trail", events=1500, seed=4)
    extra = root / "hostile.json"
    extra.write_text(json.dumps([HOSTILE_EVENT]))
    store = str(root / "store")
    code, _, err = run("ingest", str(root / "trail" / "AWSLogs"), str(extra), "--out", store, "--run-id", "r1")
    assert code == 0, err
    code, printed, err = run("attribute", "--store", store, "--run-id", "first")
    assert code == 0, err
    attack = json.loads((root / "trail" / "ground-truth.json").read_text())["attack"]
    return {"store": store, "attack": attack, "printed": printed, "root": root}


def credentialed_steps(attack: dict[str, Any]) -> list[dict[str, Any]]:
    """The attack steps made with a credential (not the external account's anonymous reads)."""
    external = f"{attack['attacker']['external_account']}:{attack['attacker']['external_principal_id']}"
    return [s for s in attack["steps"] if s["principal"] != external]


def test_attribute_prints_a_readable_summary(trail: dict[str, Any]) -> None:
    for label in ("sessions found", "keys issued", "temporary keys used", "events by basis",
                  "temporary-credential events", "why events stay unattributed", "signals"):
        assert label in trail["printed"], label


def test_attribute_json_replaces_the_run(trail: dict[str, Any], tmp_path: Path) -> None:
    code, out, err = run("attribute", "--store", trail["store"], "--run-id", "second", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["run"] == "second" and summary["sessions"] > 0 and summary["events"] >= 1500
    assert run_json("identities", "--store", trail["store"])["summary"]["run"] == "second"


def test_who_assumed_names_the_leaked_principal(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    for hop in attack["chain"][1:]:
        rows = run_json("who-assumed", hop["role_arn"], "--store", trail["store"])
        [row] = [r for r in rows if r["event_id"] == hop["event_id"]]
        assert (row["origin"], row["origin_kind"], row["confidence"]) == (attack["origin_principal"], "iam-user",
                                                                         "high")
        assert row["basis"] == ("long-term" if hop["hop"] == 1 else "access-key")   # the first hop signs with AKIA
        assert row["chain"].endswith(hop["role_arn"].split(":", 4)[4]), row
        assert row["cross_account"] is (hop["account"] != attack["account"])
        assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)


def test_who_assumed_time_window(trail: dict[str, Any]) -> None:
    hop = trail["attack"]["chain"][1]
    rows = run_json("who-assumed", hop["role_arn"], "--store", trail["store"], "--start", hop["time"],
                    "--end", hop["time"].replace("Z", ".000001Z"))
    assert [r["event_id"] for r in rows] == [hop["event_id"]]


def test_lineage_of_attack_steps_ends_at_the_leaked_key(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    steps = credentialed_steps(attack)
    picked = {s["phase"]: s for s in reversed(steps)}          # the first step of every phase
    picked["last"] = steps[-1]                                   # the backdoor's console session
    for step in picked.values():
        found = run_json("lineage", step["event_id"], "--store", trail["store"])
        [trace] = found["traces"]
        assert found["kind"] == "event"
        assert (trace["origin"]["principal"], trace["origin"]["access_key"]) == (
            attack["origin_principal"], attack["leaked_access_key_id"]), step
        assert trace["hops"][-1]["event_id"] == step["event_id"]
        assert [h["time"] for h in trace["hops"]] == sorted(h["time"] for h in trace["hops"])


@pytest.mark.parametrize("target", ["final_access_key_id", "final_session"])
def test_lineage_of_the_final_session(trail: dict[str, Any], target: str) -> None:
    attack = trail["attack"]
    found = run_json("lineage", attack[target], "--store", trail["store"])
    [trace] = found["traces"]
    assert trace["origin"]["access_key"] == attack["leaked_access_key_id"]
    assert [h["event_id"] for h in trace["hops"]] == [hop["event_id"] for hop in attack["chain"][1:]]


def test_lineage_of_the_backdoor_key_names_the_grant(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    [trace] = run_json("lineage", attack["backdoor"]["access_key_id"], "--store", trail["store"])["traces"]
    granted = trace["hops"][-1]
    assert (granted["relation"], granted["event_id"], granted["key"]) == (
        "granted", attack["backdoor"]["create_access_key_event_id"], attack["backdoor"]["access_key_id"])
    assert trace["origin"]["access_key"] == attack["leaked_access_key_id"]
    code, table, _ = run("lineage", attack["backdoor"]["access_key_id"], "--store", trail["store"])
    assert code == 0 and "trace 1: " in table and "[CreateAccessKey]" in table


def test_activity_of_the_leaked_principal_holds_every_credentialed_step(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    rows = run_json("activity", attack["origin_principal"], "--store", trail["store"])
    ids = [r["event_id"] for r in rows]
    assert [(r["time"], r["event_id"]) for r in rows] == sorted((r["time"], r["event_id"]) for r in rows)
    steps = credentialed_steps(attack)
    wanted = {s["event_id"] for s in steps}
    assert wanted <= set(ids)
    ordered = sorted(steps, key=lambda s: (s["time"], s["event_id"]))
    assert [i for i in ids if i in wanted] == [s["event_id"] for s in ordered]
    window = run_json("activity", attack["origin_principal"], "--store", trail["store"], "--start", attack["start"],
                      "--end", attack["start"].replace("Z", ".000001Z"))
    assert [r["event_id"] for r in window] == [ordered[0]["event_id"]]


def test_identities_lists_the_cross_account_hop(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    org = attack["chain"][3]
    found = run_json("identities", "--store", trail["store"])
    assert {"from": attack["account"], "to": org["account"], "role": org["role_arn"]} in [
        {k: h[k] for k in ("from", "to", "role")} for h in found["cross_account"]]
    origin = next(o for o in found["origins"] if o["principal"] == attack["origin_principal"])
    assert origin["sessions"] >= 3 and origin["events"] >= len(credentialed_steps(attack))
    assert any(c["chain"].endswith(org["role_arn"].split(":", 4)[4]) and c["length"] >= 3
               for c in found["longest_chains"])
    code, table, _ = run("identities", "--store", trail["store"])
    assert code == 0 and "# cross-account hops" in table and "# unlinked sessions" in table


def test_signals_formats_agree(trail: dict[str, Any]) -> None:
    as_json = run_json("signals", "--store", trail["store"])
    code, out, _ = run("signals", "--store", trail["store"], "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and as_json and len(rows) == len(as_json)
    assert rows[0]["event_ids"].split() == as_json[0]["event_ids"]


def test_graph_files(trail: dict[str, Any], tmp_path: Path) -> None:
    attack = trail["attack"]
    svg = tmp_path / "whole.svg"
    assert run("graph", "--store", trail["store"], "--out", str(svg))[0] == 0
    assert ElementTree.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    graphml = tmp_path / "whole.graphml"
    assert run("graph", "--store", trail["store"], "--out", str(graphml))[0] == 0
    whole = nx.read_graphml(graphml)
    assert f"key:{attack['leaked_access_key_id']}" in whole
    reached = tmp_path / "org.svg"
    assert run("graph", "--store", trail["store"], "--out", str(reached), "--role", attack["chain"][3]["role_arn"])[0] == 0
    assert attack["leaked_access_key_id"] in reached.read_text()
    tree = tmp_path / "tree.data"
    code, _, err = run("graph", "--store", trail["store"], "--out", str(tree), "--origin", attack["origin_principal"],
                       "--graph-format", "json")
    assert code == 0, err
    nodes = {n["id"] for n in json.loads(tree.read_text())["nodes"]}
    assert f"key:{attack['final_access_key_id']}" in nodes and len(nodes) < whole.number_of_nodes()


def test_csv_neutralises_hostile_values(trail: dict[str, Any]) -> None:
    code, out, err = run("who-assumed", HOSTILE_ROLE, "--store", trail["store"], "--format", "csv")
    assert code == 0, err
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert (row["user_agent"], row["session"]) == ("'" + HOSTILE_UA, "'" + HOSTILE_SESSION)


@pytest.mark.parametrize("argv", [
    ["lineage", "no-such-event"], ["lineage", "ASIANOSUCHKEY0000000"],
    ["lineage", "arn:aws:sts::111122223333:assumed-role/Nope/x"], ["who-assumed", "Deploy"],
    ["graph", "--out", "never.svg", "--origin", "nobody"], ["graph", "--out", "never.png"],
], ids=["event-id", "key", "session-arn", "not-an-arn", "graph-origin", "graph-suffix"])
def test_unknown_targets_exit_2(trail: dict[str, Any], argv: list[str]) -> None:
    code, out, err = run(*argv, "--store", trail["store"])
    assert (code, out) == (2, "") and err.startswith("trailbeam: error:") and err.count("\n") == 1, err
    assert not Path("never.svg").exists()


@pytest.fixture(scope="module")
def bare_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with events but no identity data yet."""
    root = tmp_path_factory.mktemp("bare")
    (root / "one.json").write_text(json.dumps([HOSTILE_EVENT]))
    code, _, err = run("ingest", str(root / "one.json"), "--out", str(root / "store"))
    assert code == 0, err
    return str(root / "store")


@pytest.mark.parametrize("argv", [
    ["who-assumed", HOSTILE_ROLE], ["lineage", "ASIAHOSTILE000000001"], ["activity", "x"], ["identities"],
    ["signals"], ["graph", "--out", "never.svg"],
], ids=["who-assumed", "lineage", "activity", "identities", "signals", "graph"])
def test_store_without_identity_data_exits_2(bare_store: str, argv: list[str]) -> None:
    code, out, err = run(*argv, "--store", bare_store)
    assert (code, out) == (2, "")
    assert "no identity data yet" in err and err.count("\n") == 1, err


def test_attribute_of_a_missing_store_exits_2(tmp_path: Path) -> None:
    code, _, err = run("attribute", "--store", str(tmp_path / "nothing"))
    assert code == 2 and err.count("\n") == 1, err
