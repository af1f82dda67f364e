"""Tests of trailbeam.graphsvg: a self-contained, deterministic, escaped SVG of an identity graph."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET

import networkx as nx
import pytest

from trailbeam.graph import build_graph
from trailbeam.graphsvg import render_svg
from trailbeam.sessions import Session

SVG = "{http://www.w3.org/2000/svg}"
DEPLOY = "arn:aws:iam::111122223333:role/Deploy"
ALICE = "arn:aws:iam::111122223333:user/alice"


def graph_of(*edges: str, labels: dict[str, str] | None = None) -> nx.MultiDiGraph:
    """Edges as "a>b" or "a>b:relation"; node kind is the id's prefix before ":", else "node"."""
    graph = nx.MultiDiGraph()
    for edge in edges:
        pair, _, relation = edge.partition(":")
        source, target = pair.split(">")
        graph.add_edge(source, target, key=relation or "issued", relation=relation or "issued")
    for node in graph:
        graph.nodes[node].update(kind="node", label=(labels or {}).get(node, node))
    return graph


def chain(length: int, names: list[str] | None = None) -> nx.MultiDiGraph:
    names = names or [f"n{i:02d}" for i in range(length)]
    return graph_of(*(f"{a}>{b}" for a, b in zip(names, names[1:])))


def session(event_id: str, *, name: str, user_agent: str, key: str = "ASIAEVIL") -> Session:
    return Session(issued_by_event=event_id, via="AssumeRole", access_key_id=key, role_arn=DEPLOY,
                   session_name=name, assumed_arn=None, caller_arn=ALICE, caller_key="AKIAALICE",
                   caller_type="IAMUser", source_identity=None, issued_at=1_700_000_000_000_000, expires_at=None,
                   account="111122223333", source_ip="192.0.2.1", user_agent=user_agent)


def drawn(svg: str) -> dict[str, tuple[int, int, str]]:
    """node id -> (x, y, label text) of every drawn node, read back from the parsed SVG."""
    nodes = {}
    for group in ET.fromstring(svg).iter(f"{SVG}g"):
        if group.get("class") == "node":
            x, y = map(int, re.fullmatch(r"translate\((-?\d+),(-?\d+)\)", group.get("transform", "")).groups())
            node_id = group.find(f"{SVG}title").text.split("\n")[0]
            nodes[node_id] = (x, y, group.find(f"{SVG}text").text)
    return nodes


GRAPHS = {
    "empty": nx.MultiDiGraph(),
    "single": graph_of("a>b").subgraph(["a"]).copy(),
    "chain": chain(4),
    "fan-out": graph_of("s>a", "s>b", "s>c", "a>d:used"),
    "identity-graph": build_graph([session("e1", name="ci-1", user_agent="aws-cli/2")]),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_one_group_per_node_with_its_label(name: str) -> None:
    graph = GRAPHS[name]
    svg = render_svg(graph)
    nodes = drawn(svg)
    assert set(nodes) == set(graph.nodes)
    assert {node: label for node, (_, _, label) in nodes.items()} == {
        node: data["label"] for node, data in graph.nodes(data=True)}


def test_edges_are_drawn_with_short_labels() -> None:
    graph = GRAPHS["fan-out"]
    graph.edges["a", "d", "used"]["count"] = 42
    texts = {group.find(f"{SVG}text").text for group in ET.fromstring(render_svg(graph)).iter(f"{SVG}g")
             if group.get("class") == "edge"}
    assert texts == {"issued", "used \u00d742"}


def test_hostile_text_is_escaped() -> None:
    script, attribute = "<script>alert(1)</script>", "\" onerror=\"alert(1)"
    graph = build_graph([session("e1", name=script, user_agent=attribute + "]]><x a='1'>")])
    svg = render_svg(graph, title="<script>alert('t')</script>")
    assert "<script" not in svg and 'onerror="' not in svg and "]]>" not in svg and "<x " not in svg
    root = ET.fromstring(svg)
    # The text survives as text: escaped, not dropped.
    tooltips = "\n".join(t.text or "" for t in root.iter(f"{SVG}title"))
    assert script in tooltips and attribute + "]]><x a='1'>" in tooltips
    assert [e.tag for e in root.iter() if "script" in e.tag.lower() or "foreignObject" in e.tag] == []
    assert not [name for e in root.iter() for name in e.attrib if name.lower().startswith("on")]


def test_output_is_self_contained() -> None:
    svg = render_svg(GRAPHS["identity-graph"], title="t")
    assert re.findall(r"https?://[^\"']*", svg) == ["http://www.w3.org/2000/svg"]
    for needle in ("<script", "<style", "href", "@import", "javascript:", "<image", "<foreignObject"):
        assert needle not in svg


TRUNCATION = [
    ("over", 20, 5, 15),
    ("exact", 20, 20, 0),
    ("under", 20, 150, 0),
]


@pytest.mark.parametrize("length, max_nodes, hidden", [t[1:] for t in TRUNCATION], ids=[t[0] for t in TRUNCATION])
def test_truncation_keeps_the_nodes_nearest_the_sources(length: int, max_nodes: int, hidden: int) -> None:
    # Ids run against the chain, so keeping the smallest ids would keep the wrong end.
    names = [f"n{i:02d}" for i in reversed(range(length))]
    svg = render_svg(chain(length, names), max_nodes=max_nodes)
    assert set(drawn(svg)) == set(names[:length - hidden])
    notes = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("class") == "note"]
    assert notes == ([f"{hidden} more nodes not drawn (max_nodes={max_nodes})"] if hidden else [])


def test_max_nodes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_nodes"):
        render_svg(chain(3), max_nodes=0)


CYCLES = {
    "three-cycle-no-source": graph_of("a>b", "b>c", "c>a"),
    "self-loop": graph_of("a>a", "a>b"),
    "session-token": graph_of("user>key:authenticated", "key>session", "session>user:assumed"),
    "two-cycles": graph_of("s>a", "a>b", "b>a", "b>c", "c>s"),
}


@pytest.mark.parametrize("name", sorted(CYCLES))
def test_cycles_render(name: str) -> None:
    graph = CYCLES[name]
    svg = render_svg(graph)
    assert set(drawn(svg)) == set(graph.nodes)
    edges = [g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "edge"]
    assert len(edges) == len(set(graph.edges()))
    assert render_svg(graph) == svg


LAYERS = [
    ("chain", graph_of("a>b", "b>c", "c>d"), {"a": 0, "b": 1, "c": 2, "d": 3}),
    ("diamond", graph_of("a>b", "a>c", "b>d", "c>d"), {"a": 0, "b": 1, "c": 1, "d": 2}),
    ("longest-path", graph_of("a>d", "a>b", "b>c", "c>d"), {"a": 0, "b": 1, "c": 2, "d": 3}),
    ("two-sources", graph_of("x>b", "a>b", "b>c"), {"a": 0, "x": 0, "b": 1, "c": 2}),
    ("cycle-from-source", graph_of("s>a", "a>b", "b>a"), {"s": 0, "a": 1, "b": 2}),
]


@pytest.mark.parametrize("graph, layers", [t[1:] for t in LAYERS], ids=[t[0] for t in LAYERS])
def test_layers_run_left_to_right(graph: nx.MultiDiGraph, layers: dict[str, int]) -> None:
    xs = {node: x for node, (x, _, _) in drawn(render_svg(graph)).items()}
    columns = sorted(set(xs.values()))
    assert {node: columns.index(x) for node, x in xs.items()} == layers


def test_barycentre_ordering_uncrosses_edges() -> None:
    # By id alone t1 would sit above t2 and the two edges would cross.
    ys = {node: y for node, (_, y, _) in drawn(render_svg(graph_of("s1>t2", "s2>t1"))).items()}
    assert ys["s1"] < ys["s2"] and ys["t2"] < ys["t1"]


def test_legend_names_the_kinds_drawn_in_table_order() -> None:
    svg = render_svg(GRAPHS["identity-graph"])
    legend = [g.find(f"{SVG}text").text for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "legend"]
    assert legend == ["user", "role", "session", "key"]


def test_same_graph_same_bytes_whatever_the_insertion_order() -> None:
    edges = [f"{a}>{b}" for a, b in [("s", "a"), ("s", "b"), ("a", "c"), ("b", "c"), ("c", "s"), ("b", "d")]]
    expected = render_svg(graph_of(*edges), title="t")
    for seed in range(4):
        shuffled = random.Random(seed).sample(edges, len(edges))
        assert render_svg(graph_of(*shuffled), title="t") == expected


def test_identity_graph_from_shuffled_sessions_draws_the_same_bytes() -> None:
    sessions = [session(f"e{i}", name=f"s{i}", user_agent="aws-cli/2", key=f"ASIA{i}") for i in range(6)]
    expected = render_svg(build_graph(sessions))
    for seed in range(3):
        assert render_svg(build_graph(random.Random(seed).sample(sessions, len(sessions)))) == expected
