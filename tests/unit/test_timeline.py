"""Tests of trailbeam.timeline: which events each criterion selects (and which come along as context), and that
a written timeline is a store of its own that attributes, answers and verifies as the whole store does.

Stores are made in-process: events encoded as ingest encodes them, one file per partition-hour, and attributed
file by file as the attribute pipeline does (``make_store``), so no Beam pipeline runs here."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import fastavro
import pytest

from trailbeam import (
    attributed, avro, avrofile, cloudtrail, errors, identities, identityreport, identitystore, jsonvalue, partitions,
    selectors, storescan, store, timeline, timestamps, usage,
)
from trailbeam.attribution import Attributor, build_indexes
from trailbeam.eventcodec import source_head, source_tail
from trailbeam.integrity import Finding
from trailbeam.timeline import Selection

A = "111122223333"
ALICE, CAROL = f"arn:aws:iam::{A}:user/alice", f"arn:aws:iam::{A}:user/carol"
DEPLOY_ARN = f"arn:aws:sts::{A}:assumed-role/Deploy/alice-deploy"
ADMIN_ARN = f"arn:aws:sts::{A}:assumed-role/Admin/hop"
BACKDOOR = f"arn:aws:iam::{A}:user/backdoor"
BUCKET = "arn:aws:s3:::exports"


def user(name: str, key: str) -> dict[str, Any]:
    return {"type": "IAMUser", "arn": f"arn:aws:iam::{A}:user/{name}", "accountId": A, "userName": name,
            "principalId": f"AIDA{name.upper()}", "accessKeyId": key}


def session(role: str, name: str, key: str, created: str) -> dict[str, Any]:
    return {"type": "AssumedRole", "arn": f"arn:aws:sts::{A}:assumed-role/{role}/{name}", "accountId": A,
            "principalId": f"AROA{role.upper()}:{name}", "accessKeyId": key,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{A}:role/{role}"},
                               "attributes": {"creationDate": created}}}


def event(event_id: str, time: str, identity: dict[str, Any], source: str, name: str, *, ip: str = "203.0.113.5",
          read_only: bool = True, params: Any = None, response: Any = None, **more: Any) -> dict[str, Any]:
    return {"eventVersion": "1.09", "eventID": event_id, "eventTime": time, "eventSource": f"{source}.amazonaws.com",
            "eventName": name, "awsRegion": "us-east-1", "recipientAccountId": A, "sourceIPAddress": ip,
            "userAgent": "aws-cli/2.15.30", "readOnly": read_only, "eventType": "AwsApiCall",
            "managementEvent": True, "eventCategory": "Management", "userIdentity": identity,
            "requestParameters": params, "responseElements": response, **more}


def assume(event_id: str, time: str, caller: dict[str, Any], role: str, name: str, key: str) -> dict[str, Any]:
    return event(event_id, time, caller, "sts", "AssumeRole",
                 params={"roleArn": f"arn:aws:iam::{A}:role/{role}", "roleSessionName": name},
                 response={"credentials": {"accessKeyId": key, "expiration": "Nov 30, 2024, 11:00:00 PM"},
                           "assumedRoleUser": {"arn": f"arn:aws:sts::{A}:assumed-role/{role}/{name}"}})


DEPLOY = session("Deploy", "alice-deploy", "ASIADEPLOY", "2024-11-30T08:00:00Z")
ADMIN = session("Admin", "hop", "ASIAADMIN", "2024-11-30T08:01:00Z")
EVENTS = [
    assume("e01-assume", "2024-11-30T08:00:00Z", user("alice", "AKIAALICE"), "Deploy", "alice-deploy", "ASIADEPLOY"),
    assume("e02-hop", "2024-11-30T08:01:00Z", DEPLOY, "Admin", "hop", "ASIAADMIN"),
    event("e03-create-user", "2024-11-30T08:02:00Z", ADMIN, "iam", "CreateUser", read_only=False,
          params={"userName": "backdoor"}, response={"user": {"userName": "backdoor", "arn": BACKDOOR}}),
    event("e04-create-key", "2024-11-30T08:02:30Z", ADMIN, "iam", "CreateAccessKey", read_only=False,
          params={"userName": "backdoor"},
          response={"accessKey": {"userName": "backdoor", "accessKeyId": "AKIABACKDOOR", "status": "Active"}}),
    event("e05-policy", "2024-11-30T08:03:00Z", ADMIN, "s3", "PutBucketPolicy", read_only=False,
          params={"bucketName": "exports", "bucketPolicy": {"Statement": []}}),
    event("e06-backdoor", "2024-11-30T09:10:00Z", user("backdoor", "AKIABACKDOOR"), "s3", "ListBuckets",
          ip="198.51.100.9"),
    event("e07-read", "2024-11-30T08:05:00Z", user("carol", "AKIACAROL"), "s3", "GetObject", ip="10.1.2.3",
          params={"bucketName": "exports", "key": "a.csv"}, eventCategory="Data", managementEvent=False,
          resources=[{"type": "AWS::S3::Object", "ARN": f"{BUCKET}/a.csv"},
                     {"type": "AWS::S3::Bucket", "ARN": BUCKET}]),
    event("e08-get-policy", "2024-11-30T08:06:00Z", user("carol", "AKIACAROL"), "s3", "GetBucketPolicy",
          ip="10.1.2.4", params={"bucketName": "exports"}),
    event("e09-service", "2024-11-30T08:07:00Z", {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}, "kms",
          "Decrypt", ip="ec2.amazonaws.com"),
    event("e10-acl", "2024-11-30T10:00:00Z", user("carol", "AKIACAROL"), "s3", "PutBucketAcl", read_only=False,
          ip="10.1.2.3", params={"bucketName": "exports", "AccessControlPolicy": {}}),
    event("e11-next-day", "2024-12-01T00:30:00Z", user("alice", "AKIAALICE"), "iam", "ListUsers"),
]
BY_ID = {e["eventID"]: e for e in EVENTS}
ALICE_EVENTS = {"e01-assume", "e02-hop", "e03-create-user", "e04-create-key", "e05-policy", "e06-backdoor",
                "e11-next-day"}


def source_of(event_id: str) -> tuple[str, str]:
    """(URI, content SHA-256) each event is said to come from: one log file per event."""
    uri = f"s3://trail/AWSLogs/{A}/CloudTrail/us-east-1/2024/11/30/{A}_CloudTrail_us-east-1_x_{event_id}.json.gz"
    return uri, hashlib.sha256(uri.encode()).hexdigest()


def event_file(events: list[dict[str, Any]], seed: str) -> bytes:
    """Events as one store event file, encoded by the ingest path, sorted as the store sorts them."""
    encoded = []
    for position, item in enumerate(events):
        uri, content = source_of(item["eventID"])
        head = source_head(uri, hashlib.sha256(content.encode()).hexdigest(), content)
        encoded.append(cloudtrail.encode_event(item, jsonvalue.dumps(item), head, position,
                                               source_tail("records", None, "r1")))
    encoded.sort(key=lambda e: (e.time, e.event_id))
    out = io.BytesIO()
    avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.EVENT), records=[e.data for e in encoded],
                             seed=seed)
    return out.getvalue()


def attribute_store(root: str, run_id: str = "a1") -> None:
    """The attribute pipeline's work, in-process: sessions and grants of every file, then every file attributed."""
    files = store.event_files(root)
    sessions, grants = [], []
    for path in files:
        issued = attributed.issued_in(path.read_bytes())
        sessions += issued.sessions
        grants += issued.grants
    indexes = build_indexes(sessions, grants)
    attributor = Attributor(indexes)
    uses: list[usage.CredentialUse] = []
    issuers: list[tuple[int, str, bytes]] = []
    counts: Counter[str] = Counter()
    for path in files:
        result = attributed.attribute_file(path.read_bytes(), attributor)
        identitystore.write_encoded(store.LOCAL, identitystore.attributed_file(root, run_id, str(path)),
                                    avro.ATTRIBUTED, result.records)
        uses += result.uses
        issuers += result.issuers
        counts.update(result.counts)
    identityreport.write_run(store.LOCAL, root, run_id, sessions=sessions, grants=grants, indexes=indexes,
                             uses=usage.merge_all(uses), issuers=issuers, counts=dict(counts), event_files=len(files))
    identitystore.commit(store.LOCAL, root, run_id)


def make_store(root: Path, events: list[dict[str, Any]] = EVENTS, *, attribute: bool = True) -> str:
    """A local store of ``events``: one file per partition-hour, as ingest writes them; attributed when asked."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for item in events:
        when = timestamps.format_micros(timestamps.parse_micros(item["eventTime"]))
        groups[(partitions.partition_path(item["recipientAccountId"], item["awsRegion"], when[:10]),
                int(when[11:13]))].append(item)
    (root / store.RUNS / "r1").mkdir(parents=True)
    for (partition, hour), group in sorted(groups.items()):
        path = root / store.EVENTS / partition / f"part-{hour:02d}-r1.avro"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(event_file(group, f"{partition}/{hour}"))
    if attribute:
        attribute_store(str(root))
    return str(root)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_store(tmp_path_factory.mktemp("timeline") / "store")


def micros(text: str) -> int:
    return timestamps.parse_user_time(text)


def picked(root: str, selection: Selection) -> dict[str, bool]:
    """eventID -> context? of what ``select`` takes."""
    found = {p.event_id: p.context for p in timeline.select(root, selection)}
    return found


WRITE_ONLY = selectors.simple_filter(write_only=True)
CASES = [
    # everything an origin did, through every session and the backdoor key its session created
    (Selection(principal=ALICE), {i: False for i in ALICE_EVENTS}),
    (Selection(principal="AKIABACKDOOR"), {"e06-backdoor": False, "e04-create-key": True, "e01-assume": True,
                                           "e02-hop": True}),
    # a window keeps its events; the calls that issued their sessions and created their keys come as context
    (Selection(principal=ALICE, start=micros("2024-11-30T08:02:00Z"), end=micros("2024-11-30T08:03:00Z")),
     {"e03-create-user": False, "e04-create-key": False, "e01-assume": True, "e02-hop": True}),
    (Selection(principal=ALICE, start=micros("2024-11-30T09:00:00Z"), end=micros("2024-11-30T10:00:00Z")),
     {"e06-backdoor": False, "e04-create-key": True, "e01-assume": True, "e02-hop": True}),
    # a session by its issuing eventID or its ARN, and what it led to
    (Selection(session="e02-hop"), {i: False for i in ("e03-create-user", "e04-create-key", "e05-policy",
                                                       "e06-backdoor")} | {"e01-assume": True, "e02-hop": True}),
    (Selection(session=DEPLOY_ARN), {i: False for i in ("e02-hop", "e03-create-user", "e04-create-key",
                                                        "e05-policy", "e06-backdoor")} | {"e01-assume": True}),
    (Selection(access_key="ASIAADMIN", selectors=WRITE_ONLY),
     {"e03-create-user": False, "e04-create-key": False, "e05-policy": False, "e01-assume": True, "e02-hop": True}),
    # a resource: every call on it; outside the window, its writes stay as its change log
    (Selection(resource=BUCKET), {i: False for i in ("e05-policy", "e07-read", "e08-get-policy", "e10-acl")}
     | {"e01-assume": True, "e02-hop": True}),
    (Selection(resource="arn:aws:s3:::exports", start=micros("2024-11-30T08:04:00Z"),
               end=micros("2024-11-30T09:00:00Z")),
     {"e07-read": False, "e08-get-policy": False, "e05-policy": True, "e10-acl": True, "e01-assume": True,
      "e02-hop": True}),
    (Selection(resource=BACKDOOR), {"e03-create-user": False, "e04-create-key": False, "e01-assume": True,
                                    "e02-hop": True}),
    # source addresses: exact text (service names too) or a network
    (Selection(source_ip="10.1.2.0/24"), {"e07-read": False, "e08-get-policy": False, "e10-acl": False}),
    (Selection(source_ip="10.1.2.4"), {"e08-get-policy": False}),
    (Selection(source_ip="ec2.amazonaws.com"), {"e09-service": False}),
    (Selection(source_ip="2001:db8::/32"), {}),
    (Selection(start=micros("2024-12-01")), {"e11-next-day": False}),
    (Selection(source_ip="203.0.113.5", selectors=WRITE_ONLY),
     {"e03-create-user": False, "e04-create-key": False, "e05-policy": False, "e01-assume": True, "e02-hop": True}),
    (Selection(), {i: False for i in BY_ID}),
]


@pytest.mark.parametrize(("selection", "expected"), CASES, ids=[
    "principal", "principal-by-key", "principal-window", "principal-window-grant", "session-by-event",
    "session-by-arn", "key-writes", "resource", "resource-window", "resource-user", "cidr", "ip", "service-ip",
    "cidr-v6", "start", "ip-and-selectors", "everything"])
def test_select(full: str, selection: Selection, expected: dict[str, bool]) -> None:
    assert picked(full, selection) == expected


def test_select_orders_each_partition_hour(full: str) -> None:
    found = list(timeline.select(full, Selection()))
    assert [p.partition for p in found] == sorted(p.partition for p in found)
    for key in {(p.partition, p.hour) for p in found}:
        group = [(p.event_time, p.event_id) for p in found if (p.partition, p.hour) == key]
        assert group == sorted(group)
    for item in found:                                   # exact bytes, and the matching attribution
        assert cloudtrail.original_event(item.row) == BY_ID[item.event_id]
        assert item.attributed is not None and item.attributed["eventID"] == item.event_id


@pytest.mark.parametrize("selection", [Selection(principal=ALICE), Selection(session="e02-hop"),
                                       Selection(access_key="ASIADEPLOY")], ids=["principal", "session", "key"])
def test_identity_criteria_need_identity_data(tmp_path: Path, selection: Selection) -> None:
    bare = make_store(tmp_path / "bare", attribute=False)
    with pytest.raises(errors.StoreError, match="no identity data yet"):
        list(timeline.select(bare, selection))
    assert picked(bare, Selection(source_ip="10.1.2.4")) == {"e08-get-policy": False}


@pytest.mark.parametrize("kwargs", [{"source_ip": "10.1.2.0/33"}, {"source_ip": "not/an-ip"},
                                    {"start": 5, "end": 5}], ids=["prefix", "text", "empty-window"])
def test_bad_selections_are_input_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(errors.InputError):
        Selection(**kwargs)


# ---- a written timeline is a store ----------------------------------------------------------------------

def events_of(root: str) -> list[dict[str, Any]]:
    return list(store.read_events(root))


@pytest.fixture(scope="module")
def written(full: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = str(tmp_path_factory.mktemp("written") / "alice")
    selection = Selection(principal=ALICE, start=micros("2024-11-30T08:02:00Z"), end=micros("2024-11-30T10:00:00Z"))
    return {"out": out, "summary": timeline.write_timeline(full, selection, out, timeline_id="t1"),
            "selection": selection}


def test_timeline_layout_and_summary(written: dict[str, Any], full: str) -> None:
    out, run = Path(written["out"]), written["summary"]
    files = sorted(p.relative_to(out).as_posix() for p in out.glob("events/**/*.avro"))
    assert files == [f"events/account={A}/region=us-east-1/date=2024-11-30/part-{h}-t1.avro" for h in ("08", "09")]
    assert (run["records"]["read"], run["records"]["stored"], run["records"]["filtered"]) == (11, 6, 5)
    assert run["balanced"] and run["timeline"]["context_events"] == 2 and run["timeline"]["identity_run"] == "t1"
    assert store.run_summaries(str(out)) == [json.loads(json.dumps(run))]
    manifest = json.loads((out / store.RUNS / "t1" / timeline.MANIFEST).read_text())
    assert manifest["context_event_ids"] == ["e01-assume", "e02-hop"]
    assert manifest["selection"] == {"principal": ALICE, "start": "2024-11-30T08:02:00Z",
                                     "end": "2024-11-30T10:00:00Z"}
    reports = list(store.run_reports(str(out), "t1"))
    assert sum(r["records"] for r in reports) == 11 and sum(r["events"] for r in reports) == 6
    with pytest.raises(errors.InputError, match="not an empty folder"):
        timeline.write_timeline(full, Selection(), str(out), timeline_id="again")


def test_timeline_holds_the_exact_records_sorted(written: dict[str, Any], full: str) -> None:
    source = {r["eventID"]: r for r in events_of(full)}
    for path in sorted(Path(written["out"]).glob("events/**/*.avro")):
        with open(path, "rb") as handle:
            records = list(fastavro.reader(handle))
        assert [(r["eventTime"], r["eventID"]) for r in records] == sorted((r["eventTime"], r["eventID"])
                                                                           for r in records)
        assert all(r == source[r["eventID"]] for r in records)


def test_timeline_reselected_keeps_its_context(written: dict[str, Any]) -> None:
    assert picked(written["out"], Selection()) == {"e03-create-user": False, "e04-create-key": False,
                                                   "e05-policy": False, "e06-backdoor": False, "e01-assume": True,
                                                   "e02-hop": True}


def test_timeline_identity_answers_as_the_store(written: dict[str, Any], full: str) -> None:
    out = written["out"]
    mine = {r["eventID"]: r for r in identitystore.read_attributed(out)}
    theirs = {r["eventID"]: r for r in identitystore.read_attributed(full)}
    assert mine == {i: theirs[i] for i in mine} and len(mine) == 6
    for path in Path(out).glob("events/**/*.avro"):     # one attributed file per event file, same order
        with open(path, "rb") as handle:
            ids = [r["eventID"] for r in fastavro.reader(handle)]
        relative = path.relative_to(Path(out) / "events")
        with open(identitystore.current_run(out) / "attributed" / relative, "rb") as handle:
            assert [r["eventID"] for r in fastavro.reader(handle)] == ids
    assert {s.issued_by_event for s in identitystore.read_sessions(out)} == {"e01-assume", "e02-hop"}
    assert [g.event_id for g in identitystore.read_grants(out)] == ["e04-create-key"]
    assert [a.event_id for a in identities.load_activity(out, "AKIABACKDOOR")] == ["e06-backdoor"]
    [trace] = identities.load_lineage(out, "e06-backdoor").traces
    assert (trace.origin_principal, [h.event_id for h in trace.hops]) == (
        ALICE, ["e01-assume", "e02-hop", "e04-create-key", "e06-backdoor"])


@pytest.mark.parametrize("selection", [s for s, found in CASES if found],
                         ids=[str(n) for n, (_, found) in enumerate(CASES) if found])
def test_attributing_a_timeline_links_its_events_as_the_store(full: str, tmp_path: Path, selection: Selection) -> None:
    out = str(tmp_path / "timeline")
    timeline.write_timeline(full, selection, out, timeline_id="t")
    copied = {r["eventID"]: r for r in identitystore.read_attributed(out)}
    attribute_store(out, "again")
    again = {r["eventID"]: r for r in identitystore.read_attributed(out)}
    assert again == copied
    assert {k: v for k, v in identitystore.read_summary(out).items() if k != "run"} == {
        k: v for k, v in json.loads((Path(out) / "identity" / "run=again" / "summary.json").read_text()).items()
        if k != "run"}


def test_context_reaches_the_grant_of_the_origins_own_key(tmp_path: Path) -> None:
    """Root created alice's key: a window on a session alice opened still takes that grant in, so the timeline
    attributes its events to root, as the store does."""
    created = event("e00-root-key", "2024-11-30T07:00:00Z", {
        "type": "Root", "arn": f"arn:aws:iam::{A}:root", "accountId": A, "principalId": A, "accessKeyId": "AKIAROOT"},
        "iam", "CreateAccessKey", read_only=False, params={"userName": "alice"},
        response={"accessKey": {"userName": "alice", "accessKeyId": "AKIAALICE", "status": "Active"}})
    root = make_store(tmp_path / "store", [created, *EVENTS])
    selection = Selection(session=DEPLOY_ARN, start=micros("2024-11-30T08:02:00Z"))
    assert picked(root, selection) == {"e00-root-key": True, "e01-assume": True, "e02-hop": True,
                                       "e03-create-user": False, "e04-create-key": False, "e05-policy": False,
                                       "e06-backdoor": False}
    out = str(tmp_path / "out")
    timeline.write_timeline(root, selection, out, timeline_id="t")
    copied = {r["eventID"]: r for r in identitystore.read_attributed(out)}
    attribute_store(out, "again")
    assert {r["eventID"]: r for r in identitystore.read_attributed(out)} == copied
    assert {r["originPrincipal"] for r in copied.values()} == {f"arn:aws:iam::{A}:root"}


def test_timeline_without_identity_data_has_none(tmp_path: Path) -> None:
    bare = make_store(tmp_path / "bare", attribute=False)
    run = timeline.write_timeline(bare, Selection(source_ip="10.1.2.0/24"), str(tmp_path / "out"), timeline_id="t")
    assert run["timeline"]["identity_run"] is None and run["records"]["stored"] == 3
    assert not (tmp_path / "out" / "identity").exists()


def test_events_ingested_after_attribution_leave_the_timeline_without_identity(full: str, tmp_path: Path) -> None:
    """A later ingest's file has no AttributedEvent file: the timeline gets no identity data rather than a part."""
    copy = tmp_path / "store"
    shutil.copytree(full, copy)
    late = event("e12-late", "2024-11-30T23:00:00Z", user("carol", "AKIACAROL"), "s3", "ListBuckets", ip="10.1.2.3")
    path = copy / store.EVENTS / f"account={A}" / "region=us-east-1" / "date=2024-11-30" / "part-23-r2.avro"
    path.write_bytes(event_file([late], "late"))
    out = tmp_path / "out"
    run = timeline.write_timeline(str(copy), Selection(source_ip="10.1.2.0/24"), str(out), timeline_id="t")
    assert run["records"]["stored"] == 4 and run["timeline"]["identity_run"] is None
    assert not (out / "identity").exists()
    assert picked(str(copy), Selection(principal=CAROL)) == {"e07-read": False, "e08-get-policy": False,
                                                             "e10-acl": False}


def test_same_selection_same_bytes(full: str, tmp_path: Path) -> None:
    selection = Selection(principal=ALICE, start=micros("2024-11-30T08:02:00Z"))
    for name in ("one", "two"):
        timeline.write_timeline(full, selection, str(tmp_path / name), timeline_id="t")
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*") if p.is_file())
    assert any(f.parts[0] == "identity" for f in files) and any(f.parts[0] == "events" for f in files)
    for relative in files:
        assert (tmp_path / "one" / relative).read_bytes() == (tmp_path / "two" / relative).read_bytes(), relative


def test_empty_timeline_is_a_store(full: str, tmp_path: Path) -> None:
    run = timeline.write_timeline(full, Selection(source_ip="192.0.2.99"), str(tmp_path / "out"), timeline_id="t")
    assert run["records"]["stored"] == 0 and run["first_event"] is None and events_of(str(tmp_path / "out")) == []


def test_integrity_findings_on_its_files_come_along(full: str, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(full, copy)
    _, kept = source_of("e08-get-policy")
    _, other = source_of("e07-read")
    findings = [Finding(kind=kind, severity="ok", subject=f"s3://trail/{n}", account=A, region="us-east-1",
                        trail="t", hour=None, detail="", sha256=sha)
                for n, (kind, sha) in enumerate([("log_valid", kept), ("log_valid", other), ("digest_missing", None)])]
    store.write_integrity(str(copy), "v1", findings)
    run = timeline.write_timeline(str(copy), Selection(source_ip="10.1.2.4"), str(tmp_path / "out"), timeline_id="t")
    assert run["timeline"]["integrity_findings"] == 2
    assert sorted((f["kind"], f["sha256"]) for f in store.read_integrity(str(tmp_path / "out"))) == [
        ("digest_missing", None), ("log_valid", kept)]


def test_storescan_reads_timeline_files(written: dict[str, Any]) -> None:
    for path in Path(written["out"]).glob("events/**/*.avro"):
        assert [s.event_id for s in storescan.scan(path.read_bytes())]
