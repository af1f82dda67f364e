"""Projection state: immutable values, the ``UNKNOWN`` sentinel, JSON rendering and field diffs.

A resource's state is a ``FrozenMap`` of field name -> value. Values are immutable and JSON-shaped:
``str``, ``int``, ``float``, ``Decimal``, ``bool``, ``None``, ``tuple`` (a JSON array), ``FrozenMap`` (a
JSON object with sorted keys), or ``UNKNOWN``.

Unknown is not empty. A log window opens on resources that already exist, so a replay starts from a
state whose every field is ``UNKNOWN``, and a field that no event touched stays ``UNKNOWN``; ``None`` and
``{}`` are claims ("no policy", "no members") that only an event can justify.

Collections (attached policies, access keys, rule sets, ...) are maps of member -> value. A collection
seen only through changes (a policy attached to a user created before the window) is *partial*: it holds
the key ``OTHERS`` mapped to ``UNKNOWN`` ("and possibly members never observed"). A collection whose
whole content is known (the resource was created in the window) has no ``OTHERS`` key.

``to_json`` renders ``UNKNOWN`` as ``{"$unknown": true}``; ``diff`` renders a member absent on one side of
a change as ``{"$absent": true}`` (or as unknown when that side's collection is partial). ``$`` never
starts an AWS name, id or ARN, so the markers cannot collide with real members.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

__all__ = ["ABSENT_JSON", "Change", "EMPTY", "FrozenMap", "OTHERS", "State", "UNKNOWN", "UNKNOWN_JSON",
           "diff", "freeze", "is_partial", "members", "to_json", "with_member", "without_member"]

OTHERS = "$others"
UNKNOWN_JSON: Mapping[str, bool] = {"$unknown": True}
ABSENT_JSON: Mapping[str, bool] = {"$absent": True}


class _Unknown:
    """The type of ``UNKNOWN``: one instance, pickled by reference, with no truth value."""

    __slots__ = ()
    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        # Unpickling looks the name up in this module, so every process shares the one instance and
        # ``is UNKNOWN`` keeps working on Beam workers.
        return "UNKNOWN"

    def __bool__(self) -> bool:
        # "Was logging on?" must never read a field nobody observed as False.
        raise TypeError("UNKNOWN has no truth value; test it with `value is UNKNOWN`")


UNKNOWN: Any = _Unknown()


class FrozenMap(Mapping[str, Any]):
    """An immutable, hashable, picklable mapping with string keys, kept in sorted key order.

    Not ``types.MappingProxyType``: a proxy cannot be pickled (Beam ships states between workers) or
    hashed. Sorted keys make iteration, ``repr`` and JSON output identical whatever the insertion order.

    >>> FrozenMap({"b": 1, "a": 2})
    FrozenMap({'a': 2, 'b': 1})
    >>> FrozenMap({"a": 1}).set("b", 2) == {"a": 1, "b": 2}
    True
    """

    __slots__ = ("_data",)
    _data: dict[str, Any]

    def __init__(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        data = dict(items)
        object.__setattr__(self, "_data", {key: data[key] for key in sorted(data)})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenMap is immutable")

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __reduce__(self) -> tuple[type[FrozenMap], tuple[tuple[tuple[str, Any], ...]]]:
        return FrozenMap, (tuple(self._data.items()),)

    def set(self, key: str, value: Any) -> FrozenMap:
        """A copy with ``key`` set to ``value``."""
        return FrozenMap({**self._data, key: value})

    def update(self, changes: Mapping[str, Any]) -> FrozenMap:
        """A copy with every item of ``changes`` set."""
        return FrozenMap({**self._data, **changes})

    def without(self, key: str) -> FrozenMap:
        """A copy without ``key`` (the same map when the key is absent)."""
        if key not in self._data:
            return self
        return FrozenMap((k, v) for k, v in self._data.items() if k != key)


State = FrozenMap
EMPTY = FrozenMap()


def freeze(value: Any) -> Any:
    """A JSON value (dicts, lists, scalars) -> the immutable form states hold (FrozenMap, tuple).

    >>> freeze({"b": [1, {"c": None}], "a": "x"})
    FrozenMap({'a': 'x', 'b': (1, FrozenMap({'c': None}))})
    """
    if isinstance(value, Mapping):
        return FrozenMap((str(key), freeze(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(freeze(item) for item in value)
    return value


def to_json(value: Any) -> Any:
    """A state or state value -> plain JSON values; ``UNKNOWN`` becomes ``{"$unknown": true}``.

    >>> to_json(FrozenMap({"exists": True, "policy": UNKNOWN, "keys": FrozenMap({"AKIA1": "Active"})}))
    {'exists': True, 'keys': {'AKIA1': 'Active'}, 'policy': {'$unknown': True}}
    """
    if value is UNKNOWN:
        return dict(UNKNOWN_JSON)
    if isinstance(value, Mapping):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [to_json(item) for item in value]
    return value


# ---- collections ----------------------------------------------------------------------------------------

def members(value: Any) -> FrozenMap:
    """A collection field's map; an ``UNKNOWN`` collection becomes an empty *partial* one."""
    if value is UNKNOWN:
        return FrozenMap({OTHERS: UNKNOWN})
    if isinstance(value, FrozenMap):
        return value
    raise TypeError(f"not a collection: {value!r:.80}")


def is_partial(value: Any) -> bool:
    """True when the collection may hold members never observed (it is UNKNOWN or has ``OTHERS``)."""
    return value is UNKNOWN or (isinstance(value, Mapping) and OTHERS in value)


def with_member(state: FrozenMap, field: str, member: str, value: Any = True) -> FrozenMap:
    """``state`` with ``member`` (mapped to ``value``) in the collection ``field``."""
    return state.set(field, members(state.get(field, UNKNOWN)).set(member, value))


def without_member(state: FrozenMap, field: str, member: str) -> FrozenMap:
    """``state`` with ``member`` removed from the collection ``field`` (still partial if it was)."""
    return state.set(field, members(state.get(field, UNKNOWN)).without(member))


# ---- diffs ----------------------------------------------------------------------------------------------

class Change(NamedTuple):
    """One field that changed: its path from the state's root, and JSON values before and after."""

    path: tuple[str, ...]
    before: Any
    after: Any

    def __str__(self) -> str:
        """``field["member"]: before -> after``, JSON on both sides (for printing)."""
        head, *rest = self.path or ("<state>",)
        where = head + "".join(f"[{json.dumps(part)}]" for part in rest)
        return f"{where}: {_compact(self.before)} -> {_compact(self.after)}"


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _missing(container: Mapping[str, Any]) -> Any:
    # A member missing from a partial collection may exist unobserved; from a complete one it is absent.
    return UNKNOWN if container.get(OTHERS, None) is UNKNOWN else _ABSENT


_ABSENT = object()


def _rendered(value: Any) -> Any:
    return dict(ABSENT_JSON) if value is _ABSENT else to_json(value)


def diff(before: Any, after: Any) -> list[Change]:
    """The changed fields between two states, as ``Change`` rows sorted by path.

    Maps are compared key by key (down to collection members and document keys); any other values are
    compared whole. Unchanged states give ``[]``.

    >>> [str(c) for c in diff(FrozenMap({"a": UNKNOWN, "b": 1}), FrozenMap({"a": True, "b": 1}))]
    ['a: {"$unknown":true} -> true']
    """
    changes: list[Change] = []
    _diff_into(changes, (), before, after)
    return changes


def _diff_into(changes: list[Change], path: tuple[str, ...], before: Any, after: Any) -> None:
    if before is after or (before is not UNKNOWN and after is not UNKNOWN and _same(before, after)):
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            _diff_into(changes, (*path, key), before.get(key, _missing(before)), after.get(key, _missing(after)))
        return
    changes.append(Change(path, _rendered(before), _rendered(after)))


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types, all the way down: True == 1 in Python, but 1 -> true is a change."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)
