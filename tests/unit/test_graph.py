"""Tests of trailbeam.graph: sessions, uses and grants -> identity graph, its exports and its queries."""

from __future__ import annotations

import io
import json
import random
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import networkx as nx
import pytest

import fixturedata
from trailbeam import timestamps
from trailbeam.attribution import Grant, grants_from
from trailbeam.graph import build_graph, node_for_principal, origin_tree, reaching, to_node_link, write_graphml
from trailbeam.sessions import Session, sessions_from
from trailbeam.usage import CredentialUse, merge_all, use_of

HOME, TARGET = "111122223333", "444455556666"
ALICE = f"arn:aws:iam::{HOME}:user/alice"
ADMIN = f"arn:aws:iam::{HOME}:user/admin"
DEPLOY = f"arn:aws:iam::{HOME}:role/Deploy"
AUDIT = f"arn:aws:iam::{TARGET}:role/Audit"
ADMIN_ROLE = f"arn:aws:iam::{TARGET}:role/Admin"
MALLORY = f"arn:aws:iam::{HOME}:user/mallory"


def micros(*args: int) -> int:
    return timestamps.datetime_micros(datetime(*args, tzinfo=timezone.utc))


T0 = micros(2024, 11, 30, 8, 0, 0)
SECOND = 1_000_000


def assumed(role_arn: str, name: str) -> str:
    """The ARN a role session's calls show: arn:aws:sts::<account>:assumed-role/<role>/<name>."""
    account, role = role_arn.split(":")[4], role_arn.rpartition("/")[2]
    return f"arn:aws:sts::{account}:assumed-role/{role}/{name}"


def make_session(event_id: str, *, key: str | None, role_arn: str | None, caller_key: str | None,
                 caller_arn: str | None, at: int, name: str | None = None, via: str = "AssumeRole",
                 **overrides: Any) -> Session:
    """An issued session with the fields a caller's copy of ``via`` shows; ``overrides`` replace any field."""
    caller_type = None if caller_arn is None else ("AssumedRole" if ":assumed-role/" in caller_arn else "IAMUser")
    fields: dict[str, Any] = dict(
        issued_by_event=event_id, via=via, access_key_id=key, role_arn=role_arn, session_name=name,
        assumed_arn=assumed(role_arn, name) if role_arn and name and ":role/" in role_arn else None,
        caller_arn=caller_arn, caller_key=caller_key, caller_type=caller_type, source_identity=None,
        issued_at=at, expires_at=at + 3600 * SECOND, account=caller_arn.split(":")[4] if caller_arn else None,
        source_ip="192.0.2.1", user_agent="aws-cli/2.15.30")
    fields.update(overrides)
    return Session(**fields)


def make_use(credential: str, *, account: str, ip: str, agent: str, calls: list[tuple[int, str]],
             failed: int = 0, principal: str | None = None) -> CredentialUse:
    """The merged aggregate of ``calls`` ((time, eventID) pairs); the first ``failed`` calls failed."""
    [use] = merge_all(use_of(credential=credential, principal_arn=principal, account=account, source_ip=ip,
                             user_agent=agent, origin_kind="iam-user", origin_principal=ALICE, event_time=t,
                             event_id=e, failed=i < failed) for i, (t, e) in enumerate(calls))
    return use


def make_grant(event_id: str, *, user: str, key: str | None, at: int, creator_key: str | None,
               creator_arn: str) -> Grant:
    identity = {"type": "IAMUser", "arn": creator_arn, **({"accessKeyId": creator_key} if creator_key else {})}
    return Grant(event_id=event_id, kind="access-key" if key else "login-profile", account=HOME, user_name=user,
                 access_key_id=key, granted_at=at,
                 creator={"eventID": event_id, "eventTime": timestamps.format_micros(at), "userIdentity": identity})


# ---- the scenario: admin creates alice's key; alice's key -> Deploy -> Audit (another account) -> Admin ------

S1 = make_session("e1", key="ASIA1111", role_arn=DEPLOY, caller_key="AKIAALICE", caller_arn=ALICE, at=T0,
                  name="ci-1")
S2 = make_session("e2", key="ASIA2222", role_arn=AUDIT, caller_key="ASIA1111", caller_arn=assumed(DEPLOY, "ci-1"),
                  at=T0 + 60 * SECOND, name="audit-2")
# The role account's copy of the cross-account call: same issued key, caller shown only as "AWSAccount".
S2_COPY = replace(S2, issued_by_event="e2-copy", caller_key=None, caller_arn=None, caller_type="AWSAccount",
                  account=TARGET)
S3 = make_session("e3", key="ASIA3333", role_arn=ADMIN_ROLE, caller_key="ASIA2222",
                  caller_arn=assumed(AUDIT, "audit-2"), at=T0 + 120 * SECOND + 250_000, name="admin-3",
                  source_ip="198.51.100.7", account=TARGET)
SESSIONS = [S1, S2, S2_COPY, S3]
USES = [
    make_use("ASIA3333", account=TARGET, ip="203.0.113.9", agent="boto3/1.34", failed=1,
             calls=[(T0 + 200 * SECOND, "u-2"), (T0 + 300 * SECOND, "u-3"), (T0 + 400 * SECOND, "u-4")]),
    make_use("ASIA3333", account=TARGET, ip="198.51.100.7", agent="aws-cli/2.15.30",
             calls=[(T0 + 130 * SECOND, "u-1")]),
    make_use(ALICE, account=HOME, ip="192.0.2.1", agent="console.amazonaws.com", principal=ALICE,
             calls=[(T0 - 60 * SECOND, "u-0")]),
]
GRANTS = [
    make_grant("g1", user="alice", key="AKIAALICE", at=T0 - 86400 * SECOND, creator_key="AKIAADMIN",
               creator_arn=ADMIN),
    make_grant("g2", user="mallory", key=None, at=T0 + 500 * SECOND, creator_key="ASIA3333",
               creator_arn=assumed(ADMIN_ROLE, "admin-3")),
]


@pytest.fixture(scope="module")
def graph() -> nx.MultiDiGraph:
    return build_graph(SESSIONS, USES, GRANTS)


def test_role_chain_from_a_long_term_key_is_one_path(graph: nx.MultiDiGraph) -> None:
    assert nx.shortest_path(graph, f"user:{ALICE}", f"role:{ADMIN_ROLE}") == [
        f"user:{ALICE}", "key:AKIAALICE", "session:e1", "key:ASIA1111", "session:e2", "key:ASIA2222",
        "session:e3", f"role:{ADMIN_ROLE}"]
    # The role account's copy joined the caller's: one node per issued key.
    assert sorted(n for n in graph if n.startswith("session:")) == ["session:e1", "session:e2", "session:e3"]


EDGES = [
    (f"user:{ALICE}", "key:AKIAALICE", "authenticated", {"relation": "authenticated"}),
    (f"user:{ADMIN}", "key:AKIAADMIN", "authenticated", {"relation": "authenticated"}),
    ("key:AKIAADMIN", "key:AKIAALICE", "created",
     {"relation": "created", "grant": "access-key", "event_ids": "g1", "time": "2024-11-29T08:00:00Z"}),
    ("key:ASIA3333", f"user:{MALLORY}", "created",
     {"relation": "created", "grant": "login-profile", "event_ids": "g2", "time": "2024-11-30T08:08:20Z"}),
    ("key:AKIAALICE", "session:e1", "issued",
     {"relation": "issued", "via": "AssumeRole", "time": "2024-11-30T08:00:00Z", "source_ip": "192.0.2.1",
      "user_agent": "aws-cli/2.15.30", "event_ids": "e1"}),
    ("key:ASIA1111", "session:e2", "issued",
     {"relation": "issued", "via": "AssumeRole", "time": "2024-11-30T08:01:00Z", "source_ip": "192.0.2.1",
      "user_agent": "aws-cli/2.15.30", "event_ids": "e2 e2-copy"}),
    ("session:e1", f"role:{DEPLOY}", "assumed",
     {"relation": "assumed", "via": "AssumeRole", "time": "2024-11-30T08:00:00Z", "cross_account": False}),
    ("session:e2", f"role:{AUDIT}", "assumed",
     {"relation": "assumed", "via": "AssumeRole", "time": "2024-11-30T08:01:00Z", "cross_account": True}),
    ("session:e3", f"role:{ADMIN_ROLE}", "assumed",
     {"relation": "assumed", "via": "AssumeRole", "time": "2024-11-30T08:02:00.250000Z", "cross_account": False}),
    ("session:e3", "key:ASIA3333", "holds", {"relation": "holds", "time": "2024-11-30T08:02:00.250000Z"}),
    ("key:ASIA3333", f"account:{TARGET}", "used",
     {"relation": "used", "count": 4, "errors": 1, "first_seen": "2024-11-30T08:02:10Z",
      "last_seen": "2024-11-30T08:06:40Z", "source_ips": "198.51.100.7 203.0.113.9",
      "user_agents": "aws-cli/2.15.30\nboto3/1.34", "event_ids": "u-1 u-2 u-3 u-4"}),
    (f"user:{ALICE}", f"account:{HOME}", "used",
     {"relation": "used", "count": 1, "errors": 0, "first_seen": "2024-11-30T07:59:00Z",
      "last_seen": "2024-11-30T07:59:00Z", "source_ips": "192.0.2.1", "user_agents": "console.amazonaws.com",
      "event_ids": "u-0"}),
]


@pytest.mark.parametrize("source, target, relation, expected", EDGES, ids=[f"{e[2]}:{e[1]}" for e in EDGES])
def test_edge_attributes(graph: nx.MultiDiGraph, source: str, target: str, relation: str,
                         expected: dict[str, Any]) -> None:
    assert graph.edges[source, target, relation] == expected


def test_a_redelivered_event_is_one_session() -> None:
    assert build_graph([S1, S1, replace(S1)]).nodes["session:e1"]["event_ids"] == "e1"


def test_keys_issued_in_the_trail_are_explained_by_their_session_only(graph: nx.MultiDiGraph) -> None:
    for key in ("key:ASIA1111", "key:ASIA2222", "key:ASIA3333"):
        assert [relation for _, _, relation in graph.in_edges(key, keys=True)] == ["holds"]


NODES = [
    (f"user:{ALICE}", {"kind": "user", "label": "alice", "account": HOME, "first_seen": "2024-11-29T08:00:00Z",
                       "last_seen": "2024-11-30T08:00:00Z"}),
    (f"role:{AUDIT}", {"kind": "role", "label": "Audit", "account": TARGET, "first_seen": "2024-11-30T08:01:00Z",
                       "last_seen": "2024-11-30T08:01:00Z"}),
    ("session:e3", {"kind": "session", "label": "admin-3", "account": TARGET, "via": "AssumeRole",
                    "assumed_arn": assumed(ADMIN_ROLE, "admin-3"), "expires_at": "2024-11-30T09:02:00.250000Z",
                    "event_ids": "e3", "first_seen": "2024-11-30T08:02:00.250000Z",
                    "last_seen": "2024-11-30T08:02:00.250000Z"}),
    ("key:ASIA3333", {"kind": "key", "label": "ASIA3333", "account": TARGET,
                      "first_seen": "2024-11-30T08:02:00.250000Z", "last_seen": "2024-11-30T08:08:20Z"}),
    (f"account:{TARGET}", {"kind": "account", "label": TARGET, "account": TARGET,
                           "first_seen": "2024-11-30T08:02:10Z", "last_seen": "2024-11-30T08:06:40Z"}),
]


@pytest.mark.parametrize("node, expected", NODES, ids=[n for n, _ in NODES])
def test_node_attributes(graph: nx.MultiDiGraph, node: str, expected: dict[str, Any]) -> None:
    assert graph.nodes[node] == expected


# ---- other issuers: SAML, OIDC, services, session tokens, federation, SSO, unknown sessions ---------------

OKTA = f"arn:aws:iam::{HOME}:saml-provider/Okta"
GITHUB = f"arn:aws:iam::{HOME}:oidc-provider/token.actions.githubusercontent.com"
REPO = "repo:org/app:ref:refs/heads/main"
FED = f"arn:aws:sts::{HOME}:federated-user/fed"
TEAM_DEV = f"arn:aws:iam::{HOME}:role/team/Dev"


def _other(event_id: str, **fields: Any) -> Session:
    defaults: dict[str, Any] = dict(key=f"ASIA{event_id.upper()}", role_arn=DEPLOY, caller_key=None,
                                    caller_arn=None, at=T0, name=event_id)
    return make_session(event_id, **{**defaults, **fields})


ISSUERS = [
    ("saml", [_other("saml", via="AssumeRoleWithSAML", caller_type="SAMLUser", saml_provider=OKTA,
                     subject="alice@example.com")], [], {
        (f"subject:{OKTA}:alice@example.com", f"provider:{OKTA}", "authenticated"),
        (f"subject:{OKTA}:alice@example.com", "session:saml", "issued"),
        ("session:saml", f"role:{DEPLOY}", "assumed"), ("session:saml", "key:ASIASAML", "holds")}),
    # The subject node spells the provider as attribution's Origin.principal does ("<host>:<subject>").
    ("oidc", [_other("oidc", via="AssumeRoleWithWebIdentity", caller_type="WebIdentityUser",
                     web_identity_provider=GITHUB, subject=REPO)], [], {
        (f"subject:token.actions.githubusercontent.com:{REPO}", f"provider:{GITHUB}", "authenticated"),
        (f"subject:token.actions.githubusercontent.com:{REPO}", "session:oidc", "issued"),
        ("session:oidc", f"role:{DEPLOY}", "assumed"), ("session:oidc", "key:ASIAOIDC", "holds")}),
    ("aws-service", [_other("svc", caller_type="AWSService", source_ip="ec2.amazonaws.com",
                            user_agent="ec2.amazonaws.com")], [], {
        ("service:ec2.amazonaws.com", "session:svc", "issued"),
        ("session:svc", f"role:{DEPLOY}", "assumed"), ("session:svc", "key:ASIASVC", "holds")}),
    # A session token acts as its user: the graph has a cycle.
    ("session-token", [_other("gst", via="GetSessionToken", role_arn=ALICE, caller_key="AKIAALICE",
                              caller_arn=ALICE)], [], {
        (f"user:{ALICE}", "key:AKIAALICE", "authenticated"), ("key:AKIAALICE", "session:gst", "issued"),
        ("session:gst", f"user:{ALICE}", "assumed"), ("session:gst", "key:ASIAGST", "holds")}),
    ("federation", [_other("fed", via="GetFederationToken", role_arn=FED, caller_key="AKIAALICE",
                           caller_arn=ALICE)], [], {
        (f"user:{ALICE}", "key:AKIAALICE", "authenticated"), ("key:AKIAALICE", "session:fed", "issued"),
        ("session:fed", f"user:{FED}", "assumed"), ("session:fed", "key:ASIAFED", "holds")}),
    ("sso-without-key", [_other("sso", via="GetRoleCredentials", key=None, role_arn=None)], [], set()),
    ("console-key", [_other("con", caller_key="ASIACONSOLE", caller_arn=ALICE)], [], {
        (f"user:{ALICE}", "key:ASIACONSOLE", "authenticated"), ("key:ASIACONSOLE", "session:con", "issued"),
        ("session:con", f"role:{DEPLOY}", "assumed"), ("session:con", "key:ASIACON", "holds")}),
    # A caller key whose session is not in the trail: the role behind the assumed-role ARN, path kept.
    ("unknown-session", [_other("dev", role_arn=TEAM_DEV, key="ASIADEV", at=T0),
                         _other("next", caller_key="ASIAOLD", caller_arn=assumed(TEAM_DEV, "old"))], [], {
        ("session:dev", f"role:{TEAM_DEV}", "assumed"), ("session:dev", "key:ASIADEV", "holds"),
        (f"role:{TEAM_DEV}", "key:ASIAOLD", "authenticated"), ("key:ASIAOLD", "session:next", "issued"),
        ("session:next", f"role:{DEPLOY}", "assumed"), ("session:next", "key:ASIANEXT", "holds")}),
    ("use-names-the-owner", [], [make_use("AKIABOB", account=HOME, ip="192.0.2.9", agent="curl",
                                          principal=f"arn:aws:iam::{HOME}:user/bob", calls=[(T0, "u")])], {
        (f"user:arn:aws:iam::{HOME}:user/bob", "key:AKIABOB", "authenticated"),
        ("key:AKIABOB", f"account:{HOME}", "used")}),
]


@pytest.mark.parametrize("name, sessions, uses, expected", ISSUERS, ids=[case[0] for case in ISSUERS])
def test_edges_of_each_issuer(name: str, sessions: list[Session], uses: list[CredentialUse],
                              expected: set[tuple[str, str, str]]) -> None:
    graph = build_graph(sessions, uses)
    assert set(graph.edges(keys=True)) == expected
    assert all(data["kind"] == node.partition(":")[0] for node, data in graph.nodes(data=True))


def test_provider_and_subject_labels_are_short() -> None:
    graph = build_graph(ISSUERS[0][1])
    assert graph.nodes[f"provider:{OKTA}"]["label"] == "Okta"
    assert graph.nodes[f"subject:{OKTA}:alice@example.com"]["label"] == "alice@example.com"


# ---- real records ----------------------------------------------------------------------------------------

def test_stratus_records_make_the_expected_paths() -> None:
    names = ("aws.defense-evasion.organizations-leave.json", "aws.persistence.iam-backdoor-user.json")
    records = [r for name in names for r in fixturedata.records_in(fixturedata.STRATUS / name)]
    graph = build_graph([s for r in records for s in sessions_from(r)], (), [g for r in records for g in grants_from(r)])
    christophe = "user:arn:aws:iam::307578594326:user/christophe"
    role = "role:arn:aws:iam::307578594326:role/stratus-red-team-leave-org-role"
    assert nx.shortest_path(graph, christophe, role) == [
        christophe, "key:AKIADVISM0T50G52IF0D", "session:099bfd30-232c-4dff-9998-3821921063ca", role]
    assert set(reaching(graph, role)) == {christophe, "key:AKIADVISM0T50G52IF0D", role,
                                          "session:099bfd30-232c-4dff-9998-3821921063ca",
                                          "session:e3441619-0bf6-4818-bf18-391fb65ba98e"}
    assert graph.edges["key:AKIA30BEZSJBVKOFKZW0", "key:AKIAL80DWDVKKM0UXEER", "created"]["event_ids"] == \
        "c64c4ded-ef03-4e5c-81eb-153b118d72f2"


# ---- exports -----------------------------------------------------------------------------------------------

def graphml_bytes(graph: nx.MultiDiGraph) -> bytes:
    buffer = io.BytesIO()
    write_graphml(graph, buffer)
    return buffer.getvalue()


def edge_set(graph: nx.MultiDiGraph) -> list[tuple[str, str, str, dict[str, Any]]]:
    return sorted(graph.edges(keys=True, data=True), key=lambda e: e[:3])


HOSTILE = make_session("evil", key="ASIAEVIL", role_arn=DEPLOY, caller_key="AKIAALICE", caller_arn=ALICE, at=T0,
                       name="<script>alert(1)</script>", user_agent="\" onerror=\"alert(1)\x00\x1b[31m\r]]>")
GRAPHS = {"scenario": (SESSIONS, USES, GRANTS), "hostile": ([HOSTILE], [], []),
          **{f"issuer-{case[0]}": (case[1], case[2], []) for case in ISSUERS}}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_attributes_are_plain_values(name: str) -> None:
    graph = build_graph(*GRAPHS[name])
    values = [v for _, data in graph.nodes(data=True) for v in data.values()]
    values += [v for _, _, data in graph.edges(data=True) for v in data.values()]
    assert all(type(v) in (str, int, float, bool) for v in values)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graphml_round_trip(name: str) -> None:
    graph = build_graph(*GRAPHS[name])
    back = nx.read_graphml(io.BytesIO(graphml_bytes(graph)), force_multigraph=True)
    assert dict(back.nodes(data=True)) == dict(graph.nodes(data=True))
    assert edge_set(back) == edge_set(graph)


def test_graphml_carries_hostile_text_as_data() -> None:
    graph = build_graph([HOSTILE])
    data = graphml_bytes(graph)
    assert b"<script" not in data and b"\x00" not in data
    back = nx.read_graphml(io.BytesIO(data), force_multigraph=True)
    assert back.nodes["session:evil"]["label"] == "<script>alert(1)</script>"
    # Characters XML cannot carry (and CR, which parsers rewrite) are replaced, the rest kept.
    assert back.edges["key:AKIAALICE", "session:evil", "issued"]["user_agent"] == \
        "\" onerror=\"alert(1)\ufffd\ufffd[31m\ufffd]]>"


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_node_link_round_trip(name: str) -> None:
    graph = build_graph(*GRAPHS[name])
    data = json.loads(json.dumps(to_node_link(graph)))
    assert [n["id"] for n in data["nodes"]] == sorted(graph.nodes)
    assert [(e["source"], e["target"], e["key"]) for e in data["links"]] == sorted(graph.edges(keys=True))
    back = nx.node_link_graph(data, edges="links")
    assert back.is_multigraph() and back.is_directed()
    assert dict(back.nodes(data=True)) == dict(graph.nodes(data=True))
    assert edge_set(back) == edge_set(graph)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_input_order_does_not_change_the_output(seed: int) -> None:
    rng = random.Random(seed)
    shuffled = [rng.sample(items, len(items)) for items in (SESSIONS, USES, GRANTS)]
    expected, actual = build_graph(SESSIONS, USES, GRANTS), build_graph(*shuffled)
    assert graphml_bytes(actual) == graphml_bytes(expected)
    assert json.dumps(to_node_link(actual)) == json.dumps(to_node_link(expected))


def test_writers_sort_a_graph_built_elsewhere() -> None:
    forward, backward = nx.MultiDiGraph(), nx.MultiDiGraph()
    forward.add_edge("a", "b", key="r", relation="r")
    forward.add_node("c", kind="x", label="c")
    backward.add_node("c", label="c", kind="x")
    backward.add_edge("a", "b", key="r", relation="r")
    assert graphml_bytes(forward) == graphml_bytes(backward)
    assert json.dumps(to_node_link(forward)) == json.dumps(to_node_link(backward))


# ---- queries -------------------------------------------------------------------------------------------------

CHAIN_BELOW_ALICE = {"key:AKIAALICE", "session:e1", f"role:{DEPLOY}", "key:ASIA1111", "session:e2", f"role:{AUDIT}",
                     "key:ASIA2222", "session:e3", f"role:{ADMIN_ROLE}", "key:ASIA3333", f"account:{TARGET}",
                     f"user:{MALLORY}"}
TREES = [
    ("from-first-hop-key", "key:ASIA1111", CHAIN_BELOW_ALICE - {"key:AKIAALICE", "session:e1", f"role:{DEPLOY}"}),
    ("from-alice", f"user:{ALICE}", CHAIN_BELOW_ALICE | {f"user:{ALICE}", f"account:{HOME}"}),
    # The admin who created alice's key reaches everything done with it, but not alice's own console use.
    ("from-key-creator", f"user:{ADMIN}", CHAIN_BELOW_ALICE | {f"user:{ADMIN}", "key:AKIAADMIN"}),
    ("leaf", f"role:{DEPLOY}", {f"role:{DEPLOY}"}),
]


@pytest.mark.parametrize("node, expected", [t[1:] for t in TREES], ids=[t[0] for t in TREES])
def test_origin_tree(graph: nx.MultiDiGraph, node: str, expected: set[str]) -> None:
    tree = origin_tree(graph, node)
    assert set(tree) == expected
    assert set(tree.edges(keys=True)) == set(graph.subgraph(expected).edges(keys=True))


ORIGINS = {f"user:{ALICE}", "key:AKIAALICE", f"user:{ADMIN}", "key:AKIAADMIN"}
REACHING = [
    ("first-role", f"role:{DEPLOY}", ORIGINS | {f"role:{DEPLOY}", "session:e1"}),
    ("cross-account-role", f"role:{AUDIT}", ORIGINS | {f"role:{AUDIT}", "session:e2", "key:ASIA1111", "session:e1"}),
    ("third-hop", f"role:{ADMIN_ROLE}", ORIGINS | {f"role:{ADMIN_ROLE}", "session:e3", "key:ASIA2222", "session:e2",
                                                   "key:ASIA1111", "session:e1"}),
]


@pytest.mark.parametrize("node, expected", [t[1:] for t in REACHING], ids=[t[0] for t in REACHING])
def test_reaching(graph: nx.MultiDiGraph, node: str, expected: set[str]) -> None:
    assert set(reaching(graph, node)) == expected


@pytest.mark.parametrize("query", [origin_tree, reaching])
def test_queries_name_a_missing_node(graph: nx.MultiDiGraph, query: Any) -> None:
    with pytest.raises(KeyError, match="role:nope"):
        query(graph, "role:nope")


LOOKUPS = [
    ("user-arn", ALICE, f"user:{ALICE}"),
    ("role-arn", AUDIT, f"role:{AUDIT}"),
    ("node-id", "session:e2", "session:e2"),
    ("key-id", "AKIAALICE", "key:AKIAALICE"),
    ("issuing-event-id", "e2", "session:e2"),
    ("session-name", "audit-2", "session:e2"),
    ("assumed-role-arn", assumed(ADMIN_ROLE, "admin-3"), "session:e3"),
    ("assumed-role-arn-without-session", assumed(DEPLOY, "someone-else"), f"role:{DEPLOY}"),
    ("account", TARGET, f"account:{TARGET}"),
    ("unknown-arn", f"arn:aws:iam::{HOME}:user/nobody", None),
    ("unknown-text", "nobody", None),
]


@pytest.mark.parametrize("text, expected", [t[1:] for t in LOOKUPS], ids=[t[0] for t in LOOKUPS])
def test_node_for_principal(graph: nx.MultiDiGraph, text: str, expected: str | None) -> None:
    assert node_for_principal(graph, text) == expected


def test_node_for_principal_finds_subjects_and_services() -> None:
    graph = build_graph([ISSUERS[1][1][0], ISSUERS[2][1][0]])
    assert node_for_principal(graph, f"token.actions.githubusercontent.com:{REPO}") == \
        f"subject:token.actions.githubusercontent.com:{REPO}"
    assert node_for_principal(graph, "ec2.amazonaws.com") == "service:ec2.amazonaws.com"
