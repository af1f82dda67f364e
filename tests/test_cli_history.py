"""The history commands end to end: a synthetic trail with an attack story, ingested, attributed and replayed,
then asked what the attack changed on its backdoor user, the SIEM trail and the exported bucket."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from builders import run, run_json

from trailbeam import timestamps
from trailbeam.sample import write_sample

pytestmark = pytest.mark.pipeline

HOSTILE_UA = '=HYPERLINK("http://evil.example/x","open me")'
HOSTILE_USER = "arn:aws:iam::111122223333:user/hostile-user"
_ENVELOPE = {
    "eventVersion": "1.08", "eventSource": "iam.amazonaws.com", "awsRegion": "us-east-1",
    "sourceIPAddress": "192.0.2.66", "userAgent": HOSTILE_UA, "readOnly": False, "eventType": "AwsApiCall",
    "managementEvent": True, "recipientAccountId": "111122223333", "eventCategory": "Management",
    "userIdentity": {"type": "IAMUser", "principalId": "AIDAHOSTILE", "arn": "arn:aws:iam::111122223333:user/mallory",
                     "accountId": "111122223333", "accessKeyId": "AKIAHOSTILE000000001", "userName": "mallory"},
}
HOSTILE_EVENTS = [   # attacker-controlled text in a user agent, and a failed call
    {**_ENVELOPE, "eventTime": "2026-03-02T12:00:00Z", "eventName": "CreateUser", "eventID": "hostile-create",
     "requestParameters": {"userName": "hostile-user"},
     "responseElements": {"user": {"userName": "hostile-user", "arn": HOSTILE_USER, "path": "/"}}},
    {**_ENVELOPE, "eventTime": "2026-03-02T12:05:00Z", "eventName": "DeleteUser", "eventID": "hostile-delete",
     "requestParameters": {"userName": "hostile-user"}, "responseElements": None, "errorCode": "AccessDenied",
     "errorMessage": "User: mallory is not authorized to perform: iam:DeleteUser"},
]


def later(text: str, seconds: int) -> str:
    return timestamps.format_micros(timestamps.parse_micros(text) + seconds * 1_000_000)


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The store (ingested, attributed, replayed), the attack's ground truth and what `histories` printed."""
    root = tmp_path_factory.mktemp("history-cli")
    write_sample(root / "trail", events=1500, seed=4)
    extra = root / "hostile.json"
    extra.write_text(json.dumps(HOSTILE_EVENTS))
    store = str(root / "store")
    code, _, err = run("ingest", str(root / "trail" / "AWSLogs"), str(extra), "--out", store, "--run-id", "r1")
    assert code == 0, err
    code, missing, err_before = run("history", HOSTILE_USER, "--store", store)
    code_before = code
    code, _, err = run("attribute", "--store", store, "--run-id", "a1")
    assert code == 0, err
    code, printed, err = run("histories", "--store", store, "--run-id", "h1", "--reads")
    assert code == 0, err
    attack = json.loads((root / "trail" / "ground-truth.json").read_text())["attack"]
    return {"store": store, "attack": attack, "printed": printed, "before": (code_before, missing, err_before)}


def steps(attack: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [s for s in attack["steps"] if s["event_name"] == name]


def test_histories_prints_a_readable_summary(trail: dict[str, Any]) -> None:
    for label in ("write events", "write events without a resource", "resources", "change-log entries",
                  "origins joined", "read aggregates"):
        assert label in trail["printed"], label
    code, out, err = run("histories", "--store", trail["store"], "--run-id", "h2", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["run"] == "h2" and summary["identity_run"] == "a1" and summary["reads"] is None
    assert summary["resources_by_type"]["AWS::IAM::User"] >= 2 and 0 <= summary["write_unresolved_share"] < 0.05


def test_history_of_the_backdoor_user(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    backdoor = attack["backdoor"]["user"]
    entries = run_json("history", backdoor, "--store", trail["store"])
    expected = [s["event_id"] for s in attack["steps"] if s["event_name"] in (
        "CreateUser", "CreateAccessKey", "AttachUserPolicy", "CreateLoginProfile")]
    assert [e["event_id"] for e in entries[:4]] == expected
    assert all(e["origin_principal"] == attack["origin_principal"] and e["applied"] for e in entries[:4])
    created, keyed, attached, login = entries[:4]
    assert created["changes"][0] == {"path": ["access_keys"], "before": {"$unknown": True}, "after": {}}
    assert keyed["changes"] == [{"path": ["access_keys", attack["backdoor"]["access_key_id"]],
                                 "before": {"$absent": True}, "after": "Active"}]
    assert attached["state_after"]["attached_policies"] == {"arn:aws:iam::aws:policy/AdministratorAccess": True}
    assert login["changes"] == [{"path": ["login_profile"], "before": False, "after": True}]
    code, table, err = run("history", backdoor, "--store", trail["store"])
    assert code == 0, err
    assert 'access_keys["' + attack["backdoor"]["access_key_id"] + '"]: absent -> "Active"' in table
    assert "login_profile: false -> true" in table and "access_keys: unknown -> {}" in table


def test_failed_calls_are_marked_attempts(trail: dict[str, Any]) -> None:
    entries = run_json("history", HOSTILE_USER, "--store", trail["store"])
    assert [(e["event_name"], e["applied"], e["error_code"], e["changes"]) for e in entries][1:] == [
        ("DeleteUser", False, "AccessDenied", [])]
    assert entries[1]["state_after"] == entries[0]["state_after"] and entries[1]["state_after"]["exists"] is True
    code, table, err = run("history", HOSTILE_USER, "--store", trail["store"])
    assert code == 0 and "failed: AccessDenied" in table


def test_csv_neutralises_formula_cells(trail: dict[str, Any]) -> None:
    code, out, err = run("history", HOSTILE_USER, "--store", trail["store"], "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(row["user_agent"] == "'" + HOSTILE_UA for row in rows)
    assert HOSTILE_UA not in out.replace("'" + HOSTILE_UA, "")


def test_state_before_the_first_event_is_unknown(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    [create] = steps(attack, "CreateUser")
    before = run_json("state", attack["backdoor"]["user"], "--store", trail["store"], "--at", later(create["time"], -1))
    assert before["last_event"] is None and before["entries"] == 0
    assert before["state"] and all(value == {"$unknown": True} for value in before["state"].values())
    code, table, _ = run("state", attack["backdoor"]["user"], "--store", trail["store"], "--at", "2026-03-01")
    assert code == 0 and "every field unknown" in table and "login_profile         unknown" in table


def test_state_is_inclusive_of_its_moment_and_takes_any_spelling(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    user = attack["backdoor"]["user"]
    [keyed] = steps(attack, "CreateAccessKey")
    at_key = run_json("state", user.replace(":user/", ":user/some/path/"), "--store", trail["store"],
                      "--at", keyed["time"])
    assert at_key["resource"] == user and at_key["last_event"]["event_id"] == keyed["event_id"]
    assert at_key["state"]["access_keys"] == {attack["backdoor"]["access_key_id"]: "Active"}
    assert at_key["state"]["attached_policies"] == {} and at_key["state"]["login_profile"] is False
    code, out, err = run("state", user, "--store", trail["store"], "--at", keyed["time"], "--format", "csv")
    assert code == 0, err
    assert dict(csv.reader(io.StringIO(out)))["login_profile"] == "false"


def test_the_siem_trail_was_stopped_and_narrowed(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    [stop] = steps(attack, "StopLogging")
    [narrow] = steps(attack, "PutEventSelectors")
    siem = attack["tampered_trail"]
    assert run_json("state", siem, "--store", trail["store"], "--at", stop["time"])["state"]["logging"] is False
    found = run_json("diff", siem, "--store", trail["store"], "--from", later(stop["time"], -1), "--to", narrow["time"])
    assert [e["event_id"] for e in found["entries"]] == [stop["event_id"], narrow["event_id"]]
    assert {tuple(c["path"]) for c in found["changes"]} >= {("logging",)}
    assert [c for c in found["changes"] if c["path"] == ["logging"]][0]["before"] == {"$unknown": True}


def test_diff_of_the_exported_bucket(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    [policy] = steps(attack, "PutBucketPolicy")
    code, table, err = run("diff", attack["public_bucket"], "--store", trail["store"], "--from", attack["start"],
                           "--to", policy["time"])
    assert code == 0, err
    assert '"Principal":"*"' in table and "DeleteBucketPublicAccessBlock" in table and "PutBucketPolicy" in table
    found = run_json("diff", attack["public_bucket"], "--store", trail["store"], "--from", attack["start"],
                     "--to", policy["time"])
    [change] = [c for c in found["changes"] if c["path"] == ["policy"]]
    assert change["before"] == {"$unknown": True} and change["after"]["Statement"][0]["Principal"] == "*"


def test_state_of_every_user(trail: dict[str, Any]) -> None:
    attack = trail["attack"]
    found = run_json("state", "--type", "AWS::IAM::User", "--store", trail["store"], "--at", attack["end"])
    by_arn = {s["resource"]: s for s in found}
    assert by_arn[attack["backdoor"]["user"]]["state"]["login_profile"] is True
    assert [s["resource"] for s in found] == sorted(by_arn) and all(s["type"] == "AWS::IAM::User" for s in found)
    code, out, err = run("state", "--type", "AWS::IAM::User", "--store", trail["store"], "--at", attack["end"],
                         "--format", "csv")
    assert code == 0 and out.startswith("resource,field,value")


@pytest.mark.parametrize(("argv", "message"), [
    (["history", "arn:aws:iam::111122223333:user/nobody"], "has no change log"),
    (["state", "arn:aws:iam::111122223333:user/nobody", "--at", "2026-03-03"], "has no change log"),
    (["state", "--at", "2026-03-03"], "either an ARN or --type"),
    (["state", HOSTILE_USER, "--type", "AWS::IAM::User", "--at", "2026-03-03"], "either an ARN or --type"),
    (["state", HOSTILE_USER, "--at", "yesterday"], "--at 'yesterday' is not an ISO 8601 UTC time"),
    (["diff", HOSTILE_USER, "--from", "2026-03-04", "--to", "2026-03-03"], "--from must not be after --to"),
    (["state", "--type", "AWS::IAM::Usr", "--at", "2026-03-03"], "no resource of type 'AWS::IAM::Usr'"),
    (["history", HOSTILE_USER, "--reads"], "unrecognized arguments"),
])
def test_input_errors_exit_2_with_one_line(trail: dict[str, Any], argv: list[str], message: str) -> None:
    code, out, err = run(*argv, "--store", trail["store"])
    assert code == 2 and out == "" and message in err and err.count("\n") == 1, err


def test_no_history_data_yet_exits_2(trail: dict[str, Any]) -> None:
    code, out, err = trail["before"]
    assert code == 2 and out == "" and "no history data yet" in err and "trailbeam histories" in err


def test_not_a_store_exits_2(tmp_path: Path) -> None:
    code, _, err = run("state", HOSTILE_USER, "--store", str(tmp_path), "--at", "2026-03-03")
    assert code == 2 and "not a trailbeam event store" in err
