"""Tests of trailbeam.sample: determinism, the S3 delivery layout, counts, duplicates, credential lineage
and the attack story against the records themselves."""

from __future__ import annotations

import gzip
import hashlib
import re
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailbeam import sample
from trailbeam.errors import InputError
from trailbeam.sample import write_sample

EVENTS = 2500
KEY = re.compile(
    r"AWSLogs/(?:(?P<org>o-[a-z0-9]{10,32})/)?(?P<account>\d{12})/CloudTrail/(?P<region>[a-z]{2}-[a-z]+-\d)/"
    r"(?P<y>\d{4})/(?P<m>\d\d)/(?P<d>\d\d)/(?P=account)_CloudTrail_(?P=region)_"
    r"(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz"
)
REQUIRED = ("eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
            "sourceIPAddress", "userAgent", "requestParameters", "responseElements", "eventID", "readOnly",
            "eventType", "managementEvent", "recipientAccountId", "eventCategory")


@dataclass
class Trail:
    """A written sample, read back: files (relative path -> raw JSON) and records."""
    root: Path
    summary: sample.SampleSummary
    truth: dict[str, Any]
    raw: dict[str, bytes]
    records: dict[str, list[dict[str, Any]]]

    def unique(self) -> dict[str, dict[str, Any]]:
        return {r["eventID"]: r for recs in self.records.values() for r in recs}


def key(path: str) -> re.Match[str]:
    match = KEY.fullmatch(path)
    assert match is not None, path
    return match


def read_trail(root: Path, summary: sample.SampleSummary) -> Trail:
    raw: dict[str, bytes] = {}
    records: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((root / "AWSLogs").rglob("*")):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            raw[rel] = gzip.decompress(path.read_bytes())
            records[rel] = orjson.loads(raw[rel])["Records"]
    truth = orjson.loads((root / "ground-truth.json").read_bytes())
    return Trail(root, summary, truth, raw, records)


def digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Trail:
    root = tmp_path_factory.mktemp("sample")
    return read_trail(root, write_sample(root, events=EVENTS))


# ---- arguments and determinism ---------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"events": 199}, {"events": 1 << 24}, {"days": 0}, {"days": 367}, {"start": datetime(2026, 3, 2)},
], ids=["too-few-events", "too-many-events", "no-days", "too-many-days", "naive-start"])
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        write_sample(tmp_path, **kwargs)


def test_same_arguments_give_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_sample(first, events=400)
    write_sample(second, events=400)
    write_sample(other, events=400, seed=8)
    assert digest(first) == digest(second)
    assert digest(first) != digest(other)
    assert digest(first).keys() != digest(other).keys()       # file names carry random suffixes


def test_determinism_does_not_depend_on_hash_seed(tmp_path: Path) -> None:
    script = "import sys; from trailbeam.sample import write_sample; write_sample(sys.argv[1], events=300)"
    for name, hash_seed in (("a", "1"), ("b", "2")):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / name)], check=True,
                       env={"PYTHONHASHSEED": hash_seed, "PATH": ""})
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_sample_module_does_not_import_beam() -> None:
    probe = "import sys, trailbeam.sample; sys.exit('apache_beam' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0


# ---- layout ----------------------------------------------------------------------------------------


def test_every_file_sits_at_an_s3_key_of_the_trail_layout(trail: Trail) -> None:
    for rel, recs in trail.records.items():
        match = KEY.fullmatch(rel)
        assert match, rel
        assert match["org"] == "o-a1b2c3d4e5"
        assert match["account"] in sample.LOGGED_ACCOUNTS and match["region"] in sample.REGIONS
        assert match["stamp"][:8] == match["y"] + match["m"] + match["d"]     # folder = delivery date
        delivered = datetime.strptime(match["stamp"], "%Y%m%dT%H%MZ").replace(tzinfo=timezone.utc)
        for rec in recs:
            assert (rec["recipientAccountId"], rec["awsRegion"]) == (match["account"], match["region"])
            event_time = datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            assert event_time <= delivered, (rel, rec["eventTime"])


def test_files_are_gzip_of_a_records_object(trail: Trail) -> None:
    for rel, data in trail.raw.items():
        value = orjson.loads(data)
        assert list(value) == ["Records"] and isinstance(value["Records"], list) and value["Records"], rel
    path = next((trail.root / "AWSLogs").rglob("*.json.gz"))
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert path.read_bytes()[4:8] == b"\0\0\0\0"                            # gzip mtime 0


def test_files_cover_five_minutes_and_are_delivered_5_to_15_minutes_later_or_late(trail: Trail) -> None:
    late = set(trail.truth["late_files"])
    assert late and len(late) < len(trail.raw) / 50
    midnight_crossers = 0
    for rel, recs in trail.records.items():
        dups = set(trail.truth["duplicate_event_ids"])
        times = [r["eventTime"] for r in recs if r["eventID"] not in dups] or [r["eventTime"] for r in recs]
        first = datetime.strptime(min(times), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        last = datetime.strptime(max(times), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        stamp = datetime.strptime(key(rel)["stamp"], "%Y%m%dT%H%MZ").replace(tzinfo=timezone.utc)
        assert (last - first).total_seconds() < 300 or all(r["eventID"] in dups for r in recs)
        delay = (stamp - last).total_seconds()
        if rel in late:
            assert delay >= 3600 - 60
        else:
            assert -60 <= delay <= 20 * 60, (rel, delay)
        midnight_crossers += stamp.date() != last.date()
    assert midnight_crossers > 0                                           # events near midnight: next folder


def test_account_trail_layout_without_org_id(tmp_path: Path) -> None:
    write_sample(tmp_path, events=250, org_id=None)
    keys = [p.relative_to(tmp_path).as_posix() for p in (tmp_path / "AWSLogs").rglob("*.json.gz")]
    assert keys and all(key(k)["org"] is None for k in keys)


# ---- counts and duplicates -------------------------------------------------------------------------


def test_counts_match_summary_ground_truth_and_files(trail: Trail) -> None:
    all_records = [r for recs in trail.records.values() for r in recs]
    unique = trail.unique()
    totals = trail.truth["totals"]
    s = trail.summary
    assert s.unique_events == len(unique) == totals["unique_events"] == EVENTS
    assert s.records == len(all_records) == totals["records"]
    assert s.duplicates == s.records - s.unique_events == totals["duplicates"] > 0
    assert s.files == len(trail.raw) == totals["files"]
    assert 0.002 < s.duplicates / s.unique_events < 0.012
    per_account = Counter(r["recipientAccountId"] for r in all_records)
    per_region = Counter(r["awsRegion"] for r in all_records)
    assert {a: v["records"] for a, v in totals["per_account"].items()} == per_account
    assert {r: v["records"] for r, v in totals["per_region"].items()} == per_region
    assert {a: v["unique_events"] for a, v in totals["per_account"].items()} == Counter(
        r["recipientAccountId"] for r in unique.values())
    assert s.accounts == sample.LOGGED_ACCOUNTS and s.regions == sample.REGIONS
    times = sorted(r["eventTime"] for r in unique.values())
    assert (s.start, s.end) == (times[0], times[-1]) == (totals["start"], totals["end"])
    assert Path(s.ground_truth) == trail.root / "ground-truth.json"


def test_duplicates_are_byte_identical_copies_in_another_later_file(trail: Trail) -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for rel, recs in trail.records.items():
        for rec in recs:
            where[rec["eventID"]].append(rel)
    twice = sorted(event_id for event_id, files in where.items() if len(files) > 1)
    assert twice == trail.truth["duplicate_event_ids"]
    for event_id in twice:
        first, second = where[event_id]
        assert first != second
        copies = [next(r for r in trail.records[rel] if r["eventID"] == event_id) for rel in (first, second)]
        assert copies[0] == copies[1]
        data = orjson.dumps(copies[0])           # the generator writes compact orjson, so this is the raw text
        assert data in trail.raw[first] and data in trail.raw[second]


# ---- record shapes ----------------------------------------------------------------------------------


def test_every_record_has_the_fields_cloudtrail_writes(trail: Trail) -> None:
    unique = trail.unique().values()
    for rec in unique:
        assert all(k in rec for k in REQUIRED), rec["eventID"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rec["eventTime"])
        assert rec["eventVersion"] in ("1.08", "1.09", "1.10")
        assert rec["managementEvent"] == (rec["eventCategory"] == "Management")
        if rec["eventCategory"] == "Data":
            assert rec["resources"], rec["eventID"]
    assert {r["eventVersion"] for r in unique} == {"1.08", "1.09", "1.10"}


def test_the_mix_of_calls_is_realistic(trail: Trail) -> None:
    unique = list(trail.unique().values())
    n = len(unique)
    data = sum(r["eventCategory"] == "Data" for r in unique) / n
    writes = sum(r["eventCategory"] == "Management" and not r["readOnly"] for r in unique) / n
    errors = sum("errorCode" in r for r in unique) / n
    assert 0.15 < data < 0.35 and 0.04 < writes < 0.16 and 0.01 < errors < 0.05, (data, writes, errors)
    types = Counter(r["userIdentity"].get("type") for r in unique)
    for kind in ("IAMUser", "AssumedRole", "AWSService", "AWSAccount", "SAMLUser", "WebIdentityUser",
                 "FederatedUser", "IdentityCenterUser"):
        assert types[kind] > 0, kind
    names = Counter(r["eventName"] for r in unique)
    for name in ("AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "GetSessionToken",
                 "GetFederationToken", "GetRoleCredentials", "ConsoleLogin", "GetObject", "PutObject", "Invoke"):
        assert names[name] > 0, name
    assert any("vpcEndpointId" in r for r in unique)
    assert any(r["userIdentity"].get("sessionContext", {}).get("ec2RoleDelivery") == "2.0" for r in unique)
    assert any("onBehalfOf" in r["userIdentity"] for r in unique)
    assert any("sourceIdentity" in r["userIdentity"].get("sessionContext", {}) for r in unique)


def test_console_logins_look_like_aws_console_sign_in(trail: Trail) -> None:
    logins = [r for r in trail.unique().values() if r["eventName"] == "ConsoleLogin"]
    assert logins
    for rec in logins:
        assert rec["eventType"] == "AwsConsoleSignIn" and rec["eventSource"] == "signin.amazonaws.com"
        assert rec["responseElements"] == {"ConsoleLogin": "Success"}
        assert {"MFAUsed", "LoginTo", "MobileVersion"} <= rec["additionalEventData"].keys()


# ---- credential lineage -----------------------------------------------------------------------------


def issued_keys(trail: Trail) -> dict[str, dict[str, Any]]:
    """ASIA key -> the STS record that issued it."""
    out = {}
    for rec in trail.unique().values():
        credentials = (rec.get("responseElements") or {}).get("credentials")
        if rec["eventSource"] == "sts.amazonaws.com" and credentials:
            out.setdefault(credentials["accessKeyId"], rec)
    return out


def test_every_temporary_key_was_issued_earlier_in_the_trail(trail: Trail) -> None:
    issued = issued_keys(trail)
    console = {c["access_key_id"]: c for c in trail.truth["console_sessions"]}
    logins = {r["eventID"]: r for r in trail.unique().values() if r["eventName"] == "ConsoleLogin"}
    used = 0
    for rec in trail.unique().values():
        key = rec["userIdentity"].get("accessKeyId", "")
        if not key.startswith("ASIA"):
            continue
        used += 1
        if key in issued:
            assert issued[key]["eventTime"] <= rec["eventTime"], rec["eventID"]
        else:      # IAM users and root signing in to the console get their session key from sign-in
            assert rec["userIdentity"]["type"] in ("IAMUser", "Root"), rec["eventID"]
            login = logins[console[key]["event_id"]]
            assert login["eventTime"] <= rec["eventTime"]
            assert login["userIdentity"]["arn"] == rec["userIdentity"]["arn"]
            assert rec.get("sessionCredentialFromConsole") == "true"
        if rec["userIdentity"].get("sessionContext", {}).get("sessionIssuer"):
            assert key in issued, rec["eventID"]     # role and federated sessions: always an STS event
    assert used > EVENTS / 2


def test_ground_truth_lists_every_sts_credential_with_its_issuing_event(trail: Trail) -> None:
    issued = issued_keys(trail)
    unique = trail.unique()
    listed = {c["access_key_id"]: c for c in trail.truth["credentials"]}
    assert listed.keys() == issued.keys()
    for key, entry in listed.items():
        rec = unique[entry["event_id"]]
        assert rec["eventName"] == entry["event_name"] and rec["eventTime"] == entry["event_time"]
        assert rec["responseElements"]["credentials"]["accessKeyId"] == key
        assert rec["recipientAccountId"] == entry["account"]
        if entry["issuer_access_key_id"] is not None and entry["issuer_type"] != "IAMUser":
            parent = listed[entry["issuer_access_key_id"]]
            assert parent["event_time"] <= entry["event_time"]
            assert parent["origin"] == entry["origin"]             # the origin carries down role chains
    kinds = Counter(c["issuer_type"] for c in listed.values())
    assert {"AWSService", "AssumedRole", "IAMUser", "SAMLUser", "WebIdentityUser"} <= kinds.keys()


def test_temporary_keys_are_used_only_before_they_expire(trail: Trail) -> None:
    expiry = {c["access_key_id"]: c["expiration"] for c in trail.truth["credentials"]}
    for rec in trail.unique().values():
        key = rec["userIdentity"].get("accessKeyId", "")
        if key in expiry:
            assert rec["eventTime"] <= expiry[key], rec["eventID"]


def test_cross_account_assume_role_is_recorded_in_both_accounts(trail: Trail) -> None:
    by_shared: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in trail.unique().values():
        if rec["eventName"] == "AssumeRole" and "sharedEventID" in rec:
            by_shared[rec["sharedEventID"]].append(rec)
    crossings = 0
    for entry in trail.truth["credentials"]:
        role_account = entry["role_arn"].split(":")[4]
        if entry["event_name"] != "AssumeRole" or entry["issuer_type"] == "AWSService":
            continue
        caller = trail.unique()[entry["event_id"]]
        if role_account == caller["recipientAccountId"]:
            assert entry["role_account_event_id"] is None
            continue
        crossings += 1
        pair = by_shared[entry["shared_event_id"]]
        assert sorted(r["eventID"] for r in pair) == sorted([entry["event_id"], entry["role_account_event_id"]])
        copy = next(r for r in pair if r["eventID"] == entry["role_account_event_id"])
        assert copy["recipientAccountId"] == role_account
        assert copy["userIdentity"] == {"type": "AWSAccount", "principalId": caller["userIdentity"]["principalId"],
                                        "accountId": caller["recipientAccountId"]}
        assert copy["requestID"] == caller["requestID"] and copy["requestParameters"] == caller["requestParameters"]
    assert crossings >= 2


# ---- the attack -------------------------------------------------------------------------------------


def test_attack_steps_are_the_records_they_claim(trail: Trail) -> None:
    attack = trail.truth["attack"]
    unique = trail.unique()
    steps = attack["steps"]
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    assert [s["time"] for s in steps] == sorted(s["time"] for s in steps)
    for s in steps:
        rec = unique[s["event_id"]]
        assert (rec["eventName"], rec["recipientAccountId"], rec["eventTime"], rec["awsRegion"]) == (
            s["event_name"], s["account"], s["time"], s["region"])
        assert rec["userIdentity"].get("accessKeyId") == s["access_key_id"]
        assert rec["sourceIPAddress"] == s["source_ip"] and s["source_ip"] in attack["attacker"]["ips"]
        assert rec.get("errorCode") == s["error_code"]
        assert rec["userAgent"].strip("[]") in attack["attacker"]["user_agents"]
    day2 = datetime.fromtimestamp(datetime(2026, 3, 3, tzinfo=timezone.utc).timestamp(), timezone.utc)
    assert steps[0]["time"].startswith(day2.strftime("%Y-%m-%d"))
    phases = [s["phase"] for s in steps]
    assert phases.index("discovery") < phases.index("privilege_escalation") < phases.index("lateral_movement") \
        < phases.index("persistence") < phases.index("defense_evasion") < phases.index("exfiltration") \
        < phases.index("backdoor_use")
    names = [s["event_name"] for s in steps]
    for name in ("CreateUser", "CreateAccessKey", "AttachUserPolicy", "CreateLoginProfile", "StopLogging",
                 "PutEventSelectors", "PutBucketPolicy", "GetObject"):
        assert name in names
    assert sum(s["error_code"] is not None for s in steps if s["phase"] == "discovery") >= 3
    # the attacker's IPs appear nowhere else (the role account's copy of a cross-account hop aside)
    ids = {s["event_id"] for s in steps} | {s["role_account_event_id"] for s in steps if s.get("role_account_event_id")}
    assert len(ids) == len(steps) + 1
    others = [r for r in unique.values() if r["eventID"] not in ids]
    assert not any(r["sourceIPAddress"] in attack["attacker"]["ips"] for r in others)


def test_attack_chain_follows_keys_from_the_leaked_user_to_the_final_session(trail: Trail) -> None:
    attack = trail.truth["attack"]
    unique = trail.unique()
    chain = attack["chain"]
    assert chain[0]["principal"] == attack["origin_principal"] == attack["leaked_principal"]
    assert chain[0]["access_key_id"] == attack["leaked_access_key_id"] and chain[0]["access_key_id"].startswith("AKIA")
    assert [h["role_arn"].rsplit("/", 1)[1] for h in chain[1:]] == [
        "DeployAdminRole", "InfraAutomationRole", "OrgAutomationRole"]
    for previous, hop in zip(chain, chain[1:]):
        rec = unique[hop["event_id"]]
        assert rec["eventName"] == "AssumeRole"
        assert rec["userIdentity"]["accessKeyId"] == previous["access_key_id"] == hop["issued_by_access_key_id"]
        assert rec["requestParameters"]["roleArn"] == hop["role_arn"]
        assert rec["responseElements"]["credentials"]["accessKeyId"] == hop["access_key_id"]
        assert rec["responseElements"]["assumedRoleUser"]["arn"] == hop["principal"]
    final = chain[-1]
    assert final["account"] == sample.MANAGEMENT != chain[0]["account"]
    assert attack["final_session"] == final["principal"] and attack["final_access_key_id"] == final["access_key_id"]
    copy = unique[final["role_account_event_id"]]
    assert copy["sharedEventID"] == final["shared_event_id"] == unique[final["event_id"]]["sharedEventID"]
    assert copy["userIdentity"]["type"] == "AWSAccount" and copy["recipientAccountId"] == sample.MANAGEMENT
    # every STS credential of the chain is in the credentials list, traced back to the leaked user
    listed = {c["access_key_id"]: c for c in trail.truth["credentials"]}
    for hop in chain[1:]:
        entry = listed[hop["access_key_id"]]
        assert entry["origin"] == chain[0]["principal"] and entry["attack"]


def test_backdoor_key_is_created_by_the_final_session_and_used_later(trail: Trail) -> None:
    attack = trail.truth["attack"]
    unique = trail.unique()
    backdoor = attack["backdoor"]
    created = unique[backdoor["create_access_key_event_id"]]
    assert created["userIdentity"]["accessKeyId"] == backdoor["created_by_access_key_id"]
    assert backdoor["created_by_access_key_id"] == attack["final_access_key_id"]
    assert created["responseElements"]["accessKey"]["accessKeyId"] == backdoor["access_key_id"]
    uses = [r for r in unique.values() if r["userIdentity"].get("accessKeyId") == backdoor["access_key_id"]]
    assert uses and all(r["eventTime"] > created["eventTime"] for r in uses)
    assert all(r["userIdentity"]["arn"] == backdoor["user"] for r in uses)
    policy = next(r for r in unique.values() if r["eventName"] == "PutBucketPolicy" and r["eventID"] in
                  {s["event_id"] for s in attack["steps"]})
    assert policy["requestParameters"]["bucketPolicy"]["Statement"][0]["Principal"] == "*"
    reads = [r for r in unique.values() if r["eventName"] == "GetObject"
             and r["userIdentity"].get("accountId") == sample.EXTERNAL]
    assert {r["resources"][0]["ARN"] for r in reads} == set(attack["exfiltrated_objects"])
    assert all(r["eventTime"] > policy["eventTime"] for r in reads)


def test_one_day_trail_still_holds_the_whole_story(tmp_path: Path) -> None:
    summary = write_sample(tmp_path, events=300, days=1)
    truth = orjson.loads((tmp_path / "ground-truth.json").read_bytes())
    assert summary.unique_events == 300
    assert all(s["time"].startswith("2026-03-02") for s in truth["attack"]["steps"])
    assert summary.end < "2026-03-03"
