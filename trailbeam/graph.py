"""The identity graph: who issued which credential, which role it reached, and where each key was used.

Sessions (``trailbeam.sessions``), IAM grants (``trailbeam.attribution.Grant``) and credential uses
(``trailbeam.usage.CredentialUse``) become one ``networkx.MultiDiGraph``. Edges point from cause to effect, so
the origin tree of a principal is its descendants and everyone who reached a role is its ancestors::

    user:<arn> -authenticated-> key:AKIA… -issued-> session:<eventID> -assumed-> role:<arn>
                                              session:<eventID> -holds-> key:ASIA… -issued-> session:…
    key:… -used-> account:<id>
    key:AKIA… -created-> key:AKIA… (CreateAccessKey) or user:<arn> (Create/UpdateLoginProfile)

Node ids are ``<kind>:<text>``; kinds: user (IAM user, root, federated user), role, session, key, account,
provider (SAML/OIDC), subject (``subject:<provider>:<subject>``), service, external. The edge key is the
relation name. Every attribute is a str, int, float or bool (lists joined by spaces, user agents by newlines,
times ISO 8601 UTC), so GraphML opens in Gephi and yEd and reads back with ``networkx.read_graphml``.
Nodes and edges are kept sorted, so the same inputs in any order give the same bytes.

Pure: stdlib, networkx and trailbeam's pure modules.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any

import networkx as nx

from trailbeam import timestamps
from trailbeam.attribution import Grant
from trailbeam.sessions import Session, account_of, session_index
from trailbeam.usage import CredentialUse

__all__ = ["build_graph", "node_for_principal", "origin_tree", "reaching", "to_node_link", "write_graphml",
           "xml_safe"]

# XML 1.0 cannot carry these characters at all, and parsers turn CR into LF; CloudTrail text (user
# agents, session names) is attacker-controlled, so one stray byte must not make the file unreadable.
_NOT_XML = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` with characters XML 1.0 cannot carry (and CR) replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


_iso = timestamps.format_micros     # 'YYYY-MM-DDTHH:MM:SSZ', microseconds only when non-zero


def _str(value: object) -> str | None:
    """A non-empty string from a raw CloudTrail member, else None."""
    return value if isinstance(value, str) and value else None


# ---- principals: ARN -> node id ------------------------------------------------------------------------

def _arn_parts(arn: str) -> tuple[str, str, str] | None:
    """``arn:partition:service:region:account:resource`` -> (partition, account, resource)."""
    parts = arn.split(":", 5)
    return (parts[1], parts[4], parts[5]) if len(parts) == 6 and parts[0] == "arn" else None


def _principal(arn: str, roles: Mapping[tuple[str, str], str]) -> str:
    """A principal ARN -> its node id. An assumed-role ARN stands for its role (the session is unknown here);
    ``roles`` maps (account, role name) to the full role ARN so a role path is not lost.

    >>> _principal("arn:aws:sts::111122223333:assumed-role/Deploy/ci-42", {})
    'role:arn:aws:iam::111122223333:role/Deploy'
    """
    parts = _arn_parts(arn)
    if parts is None:
        return f"external:{arn}"
    partition, account, resource = parts
    kind, _, rest = resource.partition("/")
    if kind == "role":
        return f"role:{arn}"
    if kind == "assumed-role":
        name = rest.partition("/")[0]
        return "role:" + roles.get((account, name), f"arn:{partition}:iam::{account}:role/{name}")
    if kind in ("user", "federated-user") or resource == "root":
        return f"user:{arn}"
    return f"external:{arn}"


def _role_arns(arns: Iterable[str]) -> dict[tuple[str, str], str]:
    """(account, role name) -> role ARN, for the roles among ``arns`` (the first ARN of a name wins)."""
    roles: dict[tuple[str, str], str] = {}
    for arn in arns:
        parts = _arn_parts(arn)
        if parts is not None and parts[2].startswith("role/"):
            roles.setdefault((parts[1], parts[2].rpartition("/")[2]), arn)
    return roles


def _principal_label(node_id: str) -> str:
    text = node_id.partition(":")[2]
    parts = _arn_parts(text)
    return text if parts is None else parts[2].rpartition("/")[2]


# ---- building: private helpers over a graph still under construction --------------------------------

def _node(graph: nx.MultiDiGraph, node_id: str, label: str | None = None, **attrs: Any) -> str:
    """Adds ``node_id`` once; later calls only fill attributes still missing (inputs arrive sorted)."""
    if node_id not in graph:
        kind = node_id.partition(":")[0]
        graph.add_node(node_id, kind=kind, label=label or _principal_label(node_id))
        if kind in ("user", "role"):
            attrs.setdefault("account", account_of(node_id.partition(":")[2]))
    data = graph.nodes[node_id]
    for name, value in attrs.items():
        if value is not None and value != "":
            data.setdefault(name, value)
    return node_id


def _edge(graph: nx.MultiDiGraph, source: str, target: str, relation: str, first: int | None = None,
          last: int | None = None, event_ids: Iterable[Any] = (), **attrs: Any) -> None:
    """Adds or widens one edge. ``_first``/``_last``/``_ids`` are scratch fields ``_finish`` turns into text."""
    if not graph.has_edge(source, target, relation):
        graph.add_edge(source, target, key=relation, relation=relation, _ids=set())
    data = graph.edges[source, target, relation]
    if first is not None:
        data["_first"] = min(data.get("_first", first), first)
        data["_last"] = max(data.get("_last", first), first if last is None else last)
    data["_ids"].update(event_ids)
    for name, value in attrs.items():
        if value is not None:
            data.setdefault(name, value)


def _issuer(session: Session, roles: Mapping[tuple[str, str], str], graph: nx.MultiDiGraph,
            key_owners: set[tuple[str, str]]) -> str | None:
    """The node that issued ``session``: the caller's key, SAML/OIDC subject, AWS service or principal."""
    provider = session.saml_provider or session.web_identity_provider
    if provider is not None and session.caller_key is None:
        _node(graph, f"provider:{provider}", label=provider.rpartition("/")[2])
        if session.subject is None:
            return f"provider:{provider}"
        # Same text as attribution's Origin.principal, so an origin can be looked up as a node.
        short = provider if session.saml_provider else provider.rpartition("oidc-provider/")[2]
        subject = _node(graph, f"subject:{short}:{session.subject}", label=session.subject)
        _edge(graph, subject, f"provider:{provider}", "authenticated")
        return subject
    if session.caller_type == "AWSService":
        name = session.caller_arn or next((t for t in (session.source_ip, session.user_agent)
                                           if t and t.endswith(".amazonaws.com")), "unknown-service")
        return _node(graph, f"service:{name}", label=name)
    caller = _principal(session.caller_arn, roles) if session.caller_arn else None
    if session.caller_key is not None:
        if caller is not None:
            key_owners.add((session.caller_key, caller))
        return _node(graph, f"key:{session.caller_key}", label=session.caller_key,
                     account=account_of(session.caller_arn))
    return _node(graph, caller) if caller is not None else None


def _add_session(graph: nx.MultiDiGraph, session: Session, event_ids: list[str],
                 roles: Mapping[tuple[str, str], str], key_owners: set[tuple[str, str]]) -> None:
    target = _principal(session.role_arn, roles) if session.role_arn else None
    node = _node(graph, f"session:{session.issued_by_event}", label=session.session_name or session.via,
                 account=account_of(session.role_arn) or session.account, via=session.via,
                 assumed_arn=session.assumed_arn, source_identity=session.source_identity,
                 expires_at=None if session.expires_at is None else _iso(session.expires_at),
                 event_ids=" ".join(event_ids))
    at = session.issued_at
    issuer = _issuer(session, roles, graph, key_owners)
    if issuer is not None:
        _edge(graph, issuer, node, "issued", at, event_ids=event_ids, via=session.via,
              source_ip=session.source_ip, user_agent=session.user_agent)
    if target is not None:
        # The role account's copy of a cross-account call shows the caller only as "AWSAccount".
        caller_account = account_of(session.caller_arn) or (
            session.account if session.caller_type != "AWSAccount" else None)
        target_account = account_of(session.role_arn)
        crossed = session.caller_type == "AWSAccount" or (
            None not in (caller_account, target_account) and caller_account != target_account)
        _edge(graph, node, _node(graph, target), "assumed", at, via=session.via, cross_account=crossed)
    if session.access_key_id is not None:
        key = _node(graph, f"key:{session.access_key_id}", label=session.access_key_id,
                    account=graph.nodes[node].get("account"))
        _edge(graph, node, key, "holds", at)


def _add_use(graph: nx.MultiDiGraph, use: CredentialUse, roles: Mapping[tuple[str, str], str],
             key_owners: set[tuple[str, str]]) -> None:
    if use.credential.startswith("arn:"):
        source = _node(graph, _principal(use.credential, roles))
    else:
        # No account from the use: recipientAccountId names the resource owner, not the key's account.
        source = _node(graph, f"key:{use.credential}", label=use.credential)
        if use.principal_arn:
            key_owners.add((use.credential, _principal(use.principal_arn, roles)))
    account = _node(graph, f"account:{use.account or 'unknown'}", label=use.account or "unknown",
                    account=use.account)
    _edge(graph, source, account, "used", use.first_seen, use.last_seen, event_ids=use.evidence)
    data = graph.edges[source, account, "used"]
    data["count"] = data.get("count", 0) + use.count
    data["errors"] = data.get("errors", 0) + use.errors
    data.setdefault("_ips", set()).add(use.source_ip or "-")
    data.setdefault("_agents", set()).add(use.user_agent or "-")


def _add_grant(graph: nx.MultiDiGraph, grant: Grant, roles: Mapping[tuple[str, str], str],
               key_owners: set[tuple[str, str]]) -> None:
    identity = grant.creator.get("userIdentity")
    identity = identity if isinstance(identity, dict) else {}
    key, arn = _str(identity.get("accessKeyId")), _str(identity.get("arn"))
    caller = _principal(arn, roles) if arn else None
    if key is not None:
        creator = _node(graph, f"key:{key}", label=key, account=_str(identity.get("accountId")))
        if caller is not None:
            key_owners.add((key, caller))
    else:
        creator = _node(graph, caller or f"external:{_str(identity.get('principalId')) or 'unknown'}")
    # The grant shows only the user name, so a user with an IAM path gets a second node; the ARN a key is
    # seen signing with (uses, sessions) is preferred as its owner.
    user = f"user:arn:aws:iam::{grant.account or ''}:user/{grant.user_name}"
    if grant.access_key_id is None:
        created = _node(graph, user, label=grant.user_name)
    else:
        created = _node(graph, f"key:{grant.access_key_id}", label=grant.access_key_id, account=grant.account)
        if not any(key == grant.access_key_id for key, _ in key_owners):
            key_owners.add((grant.access_key_id, user))
    _edge(graph, creator, created, "created", grant.granted_at, event_ids=[grant.event_id], grant=grant.kind)


def _finish(graph: nx.MultiDiGraph) -> None:
    """Scratch fields -> GraphML-safe attributes; node first/last seen from the times of their edges."""
    seen: dict[str, tuple[int, int]] = {}
    untimed: list[tuple[str, str]] = []
    for source, target, relation, data in graph.edges(keys=True, data=True):
        first, last = data.pop("_first", None), data.pop("_last", None)
        ids = data.pop("_ids")
        if ids:
            # Evidence is (time, eventID) in uses; elsewhere eventIDs alone sort well enough.
            data["event_ids"] = " ".join(sorted(ids) if relation != "used" else
                                         [i for _, i in sorted(ids)])
        if relation == "used":
            data["source_ips"] = " ".join(sorted(data.pop("_ips")))
            data["user_agents"] = "\n".join(sorted(data.pop("_agents")))
        if first is None:
            untimed.append((source, target))
            continue
        if relation == "used":
            data["first_seen"], data["last_seen"] = _iso(first), _iso(last)
        else:
            data["time"] = _iso(first)
        for node in (source, target):
            low, high = seen.get(node, (first, last))
            seen[node] = (min(low, first), max(high, last))
    # A user behind a key, or a provider behind a subject, was active whenever the other end was.
    timed = dict(seen)
    for pair in untimed:
        spans = [timed[node] for node in pair if node in timed]
        if spans:
            low, high = min(span[0] for span in spans), max(span[1] for span in spans)
            for node in pair:
                known = seen.get(node, (low, high))
                seen[node] = (min(known[0], low), max(known[1], high))
    for node, (first, last) in seen.items():
        graph.nodes[node]["first_seen"], graph.nodes[node]["last_seen"] = _iso(first), _iso(last)


def _canonical(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A sorted copy (nodes, edges and attribute names) with XML-safe text: writers emit insertion order."""
    def clean(attrs: Mapping[str, Any]) -> dict[str, Any]:
        return {k: xml_safe(v) if isinstance(v, str) else v for k, v in sorted(attrs.items()) if v is not None}

    copy = nx.MultiDiGraph()
    copy.graph.update(clean(graph.graph))
    for node in sorted(graph.nodes):
        copy.add_node(xml_safe(node), **clean(graph.nodes[node]))
    for source, target, key, data in sorted(graph.edges(keys=True, data=True), key=lambda e: e[:3]):
        copy.add_edge(xml_safe(source), xml_safe(target), key=xml_safe(key), **clean(data))
    return copy


def build_graph(sessions: Iterable[Session], uses: Iterable[CredentialUse] = (),
                grants: Iterable[Grant] = ()) -> nx.MultiDiGraph:
    """The identity graph of a trail.

    Args:
        sessions: every issued session; copies of one issuance (the same key logged in two accounts, or
            delivered twice) become one session node, the one ``sessions.session_index`` prefers, whose
            ``event_ids`` name every copy.
        uses: ``CredentialUse`` aggregates; one ``used`` edge per (credential, account) sums them.
        grants: CreateAccessKey / …LoginProfile grants; each becomes a ``created`` edge.

    Returns:
        A sorted MultiDiGraph whose attributes are all str, int, float or bool.
    """
    sessions = sorted(sessions, key=lambda s: (s.issued_at, s.issued_by_event))
    index = session_index(sessions)
    copies: dict[str, list[str]] = {}
    for session in sessions:
        if session.access_key_id is not None:
            copies.setdefault(session.access_key_id, []).append(session.issued_by_event)
    roles = _role_arns(s.role_arn for s in sessions if s.role_arn)
    graph = nx.MultiDiGraph()
    key_owners: set[tuple[str, str]] = set()
    for session in sessions:
        key = session.access_key_id
        if key is None:
            _add_session(graph, session, [session.issued_by_event], roles, key_owners)
        elif index[key] is session:
            _add_session(graph, session, sorted(set(copies[key])), roles, key_owners)
    for use in sorted(uses, key=lambda u: tuple((v is not None, v or "") for v in u.key)):
        _add_use(graph, use, roles, key_owners)
    for grant in sorted(grants, key=lambda g: (g.granted_at, g.event_id)):
        _add_grant(graph, grant, roles, key_owners)
    # A key no session in the trail holds is explained by the principal seen signing with it.
    for key, owner in sorted(key_owners):
        node = f"key:{key}"
        if not any(relation == "holds" for _, _, relation in graph.in_edges(node, keys=True)):
            _edge(graph, _node(graph, owner), node, "authenticated")
    _finish(graph)
    return _canonical(graph)


# ---- output --------------------------------------------------------------------------------------------

def write_graphml(graph: nx.MultiDiGraph, path_or_file: str | os.PathLike[str] | IO[bytes]) -> None:
    """Writes GraphML (UTF-8) that Gephi, yEd and ``networkx.read_graphml`` open; sorted, so byte-stable."""
    nx.write_graphml(_canonical(graph), path_or_file, encoding="utf-8")


def to_node_link(graph: nx.MultiDiGraph) -> dict[str, Any]:
    """``networkx.node_link_data`` (edges under "links"), sorted; ``json.dumps`` takes it as it is."""
    return nx.node_link_data(_canonical(graph), edges="links")


# ---- queries -------------------------------------------------------------------------------------------

def origin_tree(graph: nx.MultiDiGraph, node_id: str) -> nx.MultiDiGraph:
    """``node_id`` and everything it led to. Raises KeyError when the node is not in the graph."""
    if node_id not in graph:
        raise KeyError(node_id)
    return _canonical(graph.subgraph({node_id, *nx.descendants(graph, node_id)}))


def reaching(graph: nx.MultiDiGraph, role_node_id: str) -> nx.MultiDiGraph:
    """``role_node_id`` and everyone who reached it. Raises KeyError when the node is not in the graph."""
    if role_node_id not in graph:
        raise KeyError(role_node_id)
    return _canonical(graph.subgraph({role_node_id, *nx.ancestors(graph, role_node_id)}))


def node_for_principal(graph: nx.MultiDiGraph, text: str) -> str | None:
    """The node ``text`` names, or None.

    ``text`` may be a node id, access key id, principal ARN, ``<provider>:<subject>``, service name, account
    id, session eventID, or a session's assumed-role ARN or name (several sessions match: the smallest id;
    an assumed-role ARN no session shows falls back to its role).
    """
    for node in (text, *(f"{kind}:{text}" for kind in ("key", "subject", "service", "account", "session"))):
        if node in graph:
            return node
    principal = None
    if _arn_parts(text) is not None:
        principal = _principal(text, _role_arns(n[len("role:"):] for n in graph if n.startswith("role:")))
        if principal in graph and ":assumed-role/" not in text:
            return principal
    for attr in ("assumed_arn", "label"):
        found = sorted(n for n, value in graph.nodes(data=attr) if value == text and n.startswith("session:"))
        if found:
            return found[0]
    return principal if principal in graph else None
