"""A self-contained SVG drawing of an identity graph (``trailbeam.graph``), laid out left to right.

Responders open the file in a browser or attach it to a ticket, so it carries no scripts, no CSS and no
external references, and nothing in it comes from the data unescaped: labels, session names and user agents
are attacker-controlled CloudTrail fields. Node details are in ``<title>`` tooltips.

Layout (a small Sugiyama): cycles are broken by dropping the back edges of a depth-first search (drawn as
curves below the nodes); each node's layer is its longest path from a source; within a layer, nodes are
ordered by the barycentre of their neighbours over a few down and up sweeps, ties by node id. Everything
is sorted, so the same graph gives the same bytes.

Pure: stdlib, networkx and ``trailbeam.graph``.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

import networkx as nx

from trailbeam.graph import xml_safe

__all__ = ["render_svg"]

_COL, _ROW = 270, 56           # distance between layers, between rows
_W, _H = 180, 34               # node size
_LEFT, _TOP = 20, 84           # room for the title and the legend
_LABEL, _TIP = 24, 300         # characters shown in a label, in each tooltip line
_SWEEPS = 5                    # odd: the last sweep runs downwards, as the eye reads

# kind -> (shape, fill); also the legend, in this order.
_STYLES: Mapping[str, tuple[str, str]] = {
    "user": ("ellipse", "#a6cee3"), "role": ("rect", "#b2df8a"), "session": ("round", "#fdbf6f"),
    "key": ("hexagon", "#fb9a99"), "account": ("diamond", "#cab2d6"), "provider": ("round", "#ffff99"),
    "subject": ("ellipse", "#fccde5"), "service": ("round", "#8dd3c7"), "external": ("dashed", "#d9d9d9"),
}
_OTHER = ("dashed", "#ffffff")
_LEGEND_ORDER = {kind: i for i, kind in enumerate(_STYLES)}


def _text(value: object, limit: int | None = None) -> str:
    """Data -> XML-escaped text (quotes included, so it is inert in attributes too)."""
    text = xml_safe(str(value))
    if limit is not None and len(text) > limit:
        text = text[:limit - 1] + "\u2026"
    return escape(text, {'"': "&quot;", "'": "&apos;"})


def _shape(kind: str, w: int, h: int) -> str:
    """The outline of a node of ``kind``, ``w`` by ``h``, centred on the origin."""
    shape, fill = _STYLES.get(kind, _OTHER)
    x, y = w // 2, h // 2
    paint = f'fill="{fill}" stroke="#333"'
    if shape == "ellipse":
        return f'<ellipse rx="{x}" ry="{y}" {paint}/>'
    if shape in ("hexagon", "diamond"):
        cut = y if shape == "hexagon" else x
        points = f"{-x},0 {cut - x},{-y} {x - cut},{-y} {x},0 {x - cut},{y} {cut - x},{y}"
        return f'<polygon points="{points}" {paint}/>'
    extra = {"round": ' rx="10"', "dashed": ' stroke-dasharray="4 3"'}.get(shape, "")
    return f'<rect x="{-x}" y="{-y}" width="{w}" height="{h}"{extra} {paint}/>'


# ---- layout --------------------------------------------------------------------------------------------

def _back_edges(nodes: list[str], succ: Mapping[str, list[str]]) -> set[tuple[str, str]]:
    """Edges closing a cycle in a depth-first search from the sources, then from the other nodes, by id."""
    has_pred = {m for n in nodes for m in succ[n]}
    state: dict[str, int] = {}                      # 1: on the stack, 2: done
    back: set[tuple[str, str]] = set()
    for root in sorted(nodes, key=lambda n: (n in has_pred, n)):
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:                                 # iterative: a long role chain must not hit the recursion limit
            node, pending = stack[-1]
            for nxt in pending:
                if state.get(nxt) == 1:
                    back.add((node, nxt))
                elif nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, iter(succ[nxt])))
                    break
            else:
                state[node] = 2
                stack.pop()
    return back


def _layers(nodes: list[str], pred: Mapping[str, list[str]], succ: Mapping[str, list[str]]
            ) -> tuple[dict[str, int], dict[str, int]]:
    """(longest path from a source, shortest path from a source) of every node of a DAG."""
    missing = {n: len(pred[n]) for n in nodes}
    ready = [n for n in nodes if not missing[n]]
    heapq.heapify(ready)
    longest = dict.fromkeys(nodes, 0)
    shortest = {n: 0 for n in ready}
    while ready:
        node = heapq.heappop(ready)
        for nxt in succ[node]:
            longest[nxt] = max(longest[nxt], longest[node] + 1)
            shortest[nxt] = min(shortest.get(nxt, len(nodes)), shortest[node] + 1)
            missing[nxt] -= 1
            if not missing[nxt]:
                heapq.heappush(ready, nxt)
    return longest, shortest


def _dag(graph: nx.MultiDiGraph, nodes: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(predecessors, successors) among ``nodes`` with the back edges dropped, each list sorted."""
    kept = set(nodes)
    succ = {n: sorted(set(graph.successors(n)) & kept) for n in nodes}
    back = _back_edges(nodes, succ)
    succ = {n: [m for m in succ[n] if (n, m) not in back] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for node in nodes:
        for nxt in succ[node]:
            pred[nxt].append(node)
    return pred, succ


def _layout(graph: nx.MultiDiGraph, max_nodes: int) -> tuple[list[list[str]], int]:
    """Rows of node ids per layer, and how many nodes were left out to stay within ``max_nodes``."""
    nodes = sorted(graph.nodes)
    if len(nodes) > max_nodes:
        _, shortest = _layers(nodes, *_dag(graph, nodes))
        nodes = sorted(sorted(nodes, key=lambda n: (shortest[n], n))[:max_nodes])
    pred, succ = _dag(graph, nodes)
    longest, _ = _layers(nodes, pred, succ)
    rows: list[list[str]] = [[] for _ in range(max(longest.values(), default=-1) + 1)]
    for node in nodes:
        rows[longest[node]].append(node)
    for sweep in range(_SWEEPS):
        down = sweep % 2 == 0
        for row in (rows[1:] if down else rows[-2::-1]):
            place = {n: i - (len(r) - 1) / 2 for r in rows for i, n in enumerate(r)}   # centred, as drawn
            near = pred if down else succ
            row.sort(key=lambda n: (sum(place[m] for m in near[n]) / len(near[n]) if near[n] else place[n], n))
    return rows, len(graph) - len(nodes)


# ---- drawing -------------------------------------------------------------------------------------------

def _tooltip(sections: list[tuple[str, Mapping[str, Any]]]) -> str:
    """One ``<title>`` (an element shows only its first): a heading and ``name: value`` lines per section."""
    lines = [line for head, attrs in sections
             for line in (head, *(f"{name}: {value}" for name, value in sorted(attrs.items())))]
    return "<title>" + "&#10;".join(_text(line, _TIP) for line in lines) + "</title>"


def _edge(source: tuple[int, int], target: tuple[int, int], label: str, tip: str, near_target: bool) -> str:
    """One arrow with its label; ``near_target`` puts the label at the target end, where fan-out spreads."""
    (x1, y1), (x2, y2) = source, target
    if source == target:                                            # a self loop, at the top right
        sx, sy = x1 + _W // 2 - 20, y1 - _H // 2
        path, at = f"M{sx},{sy} C{sx + 50},{sy - 40} {sx + 60},{y1} {sx + 20},{y1}", (sx + 40, sy - 24)
    elif x2 > x1:                                                   # forward, between layers
        sx, ex, mid = x1 + _W // 2, x2 - _W // 2, (x1 + x2) // 2
        t = 0.7 if near_target else 0.3                           # a point on the curve
        bend = 3 * (1 - t) * t
        at = (round(sx * (1 - t) ** 3 + mid * bend + ex * t ** 3),
              round(y1 + (y2 - y1) * t * t * (3 - 2 * t)) - 4)
        path = f"M{sx},{y1} C{mid},{y1} {mid},{y2} {ex},{y2}"
    else:                                                           # a back edge: a curve below the nodes
        sy, ey, drop = y1 + _H // 2, y2 + _H // 2, _ROW
        path = f"M{x1},{sy} C{x1},{sy + drop} {x2},{ey + drop} {x2},{ey}"
        at = ((x1 + x2) // 2, max(sy, ey) + drop * 3 // 4)
    return (f'<g class="edge">{tip}<path d="{path}" fill="none" stroke="#555" marker-end="url(#arrow)"/>'
            f'<text x="{at[0]}" y="{at[1]}" text-anchor="middle" font-size="10" fill="#333">'
            f"{_text(label, _LABEL)}</text></g>")


def render_svg(graph: nx.MultiDiGraph, *, title: str | None = None, max_nodes: int = 150) -> str:
    """Draws ``graph`` as a standalone SVG document.

    Args:
        graph: a graph from ``trailbeam.graph`` (any directed graph with string node ids works).
        title: a heading drawn above the graph.
        max_nodes: nodes drawn at most; the ones closest to the sources are kept and a note counts the rest.

    Returns:
        The SVG text; the same graph always gives the same text.

    Raises:
        ValueError: ``max_nodes`` is less than 1.
    """
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, not {max_nodes}")
    rows, hidden = _layout(graph, max_nodes)
    tallest = max((len(row) for row in rows), default=0)
    at = {node: (_LEFT + layer * _COL + _W // 2, _TOP + (tallest - len(row)) * _ROW // 2 + i * _ROW + _ROW // 2)
          for layer, row in enumerate(rows) for i, node in enumerate(row)}
    kind_of = {node: str(graph.nodes[node].get("kind") or node.partition(":")[0]) for node in at}
    kinds = sorted(set(kind_of.values()), key=lambda k: (_LEGEND_ORDER.get(k, len(_LEGEND_ORDER)), k))
    width = max(_LEFT * 2 + len(rows) * _COL, _LEFT * 2 + len(kinds) * 120, 360)
    height = _TOP + tallest * _ROW + _ROW + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f"<title>{_text(title or 'identity graph')}</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
           f'<rect width="{width}" height="{height}" fill="#fff"/>']
    if title:
        out.append(f'<text x="{_LEFT}" y="24" font-size="16" font-weight="bold">{_text(title)}</text>')
    for i, kind in enumerate(kinds):
        x = _LEFT + i * 120
        out.append(f'<g class="legend" transform="translate({x + 14},52)">{_shape(kind, 28, 14)}'
                   f'<text x="20" y="4">{_text(kind)}</text></g>')

    pairs: dict[tuple[str, str], list[tuple[str, Mapping[str, Any]]]] = {}
    for source, target, key, data in graph.edges(keys=True, data=True):
        if source in at and target in at:
            pairs.setdefault((source, target), []).append((str(key), data))
    fan_in = Counter(target for _, target in pairs)
    for (source, target), edges in sorted(pairs.items()):
        edges.sort(key=lambda e: e[0])
        label = ", ".join(f"{k} \u00d7{d['count']}" if k == "used" and "count" in d else k for k, d in edges)
        tip = _tooltip([(f"{source} -{key}-> {target}", data) for key, data in edges])
        out.append(_edge(at[source], at[target], label, tip, near_target=fan_in[target] == 1))
    for node in sorted(at):
        data, (x, y) = graph.nodes[node], at[node]
        out.append(f'<g class="node" transform="translate({x},{y})">{_tooltip([(node, data)])}'
                   f'{_shape(kind_of[node], _W, _H)}<text text-anchor="middle" dy="4">'
                   f'{_text(data.get("label") or node, _LABEL)}</text></g>')
    if not at:
        out.append(f'<text x="{_LEFT}" y="{_TOP + 16}">empty graph</text>')
    if hidden:
        out.append(f'<text class="note" x="{_LEFT}" y="{height - 16}" fill="#b00">'
                   f"{hidden} more nodes not drawn (max_nodes={max_nodes})</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
