"""The projection framework: ``Projection``, ``Registry`` and the table-driven reducer the built-ins use.

A projection folds the successful calls on one resource into its state: ``reducer(state, event, ref) ->
state``, a pure function of plain values (``state.py``). ``Projection.apply`` is the only caller that
matters: it never hands a failed call (``errorCode`` present) to the reducer, so reducers need not check.

Input: one original CloudTrail event (a dict, as ``cloudtrail.original_event`` returns it) and the
``ResourceRef`` the event was grouped under. Output: the next state. Reducers must not mutate either.

Most built-ins are a ``TableReducer``: a table of eventName -> update function (one row per API call),
so supporting a new call is one new row. The helpers at the bottom read request/response members the
way every table needs them: absent members and members of the wrong type read as None or empty.
"""

from __future__ import annotations

import importlib

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from trailbeam import jsonvalue
from trailbeam.projections.state import UNKNOWN, FrozenMap, State, freeze

if TYPE_CHECKING:
    from trailbeam.resources import ResourceRef

__all__ = ["Assign", "Event", "Projection", "Reducer", "Registry", "TableReducer", "Update", "call_name", "document",
           "is_failed", "items", "keep", "refers_to", "request", "resource_name", "response", "table_projection", "text"]

Event = Mapping[str, Any]
Reducer = Callable[[State, Event, "ResourceRef"], State]
Update = Callable[[State, Event, "ResourceRef"], State]

CREATE, MODIFY, DELETE = 0, 1, 2     # replay phases of calls logged in the same second (see Projection)


@dataclass(frozen=True, slots=True, kw_only=True)
class Projection:
    """How one resource type's state is rebuilt from its events.

    ``fields`` are the top-level fields of the state; each starts as ``UNKNOWN``. ``creates`` and
    ``deletes`` name the calls (eventName without API-version suffix) that create or delete the resource:
    CloudTrail times have one-second resolution and scripts create, configure and delete resources within
    one second, so events of the same second replay creates first and deletes last (then by eventID).
    """

    resource_type: str                       # CloudFormation-style: AWS::IAM::User
    reducer: Reducer                          # (state, event, ref) -> state; never sees failed calls
    description: str                          # one line, for listings
    fields: tuple[str, ...] = ()
    creates: frozenset[str] = frozenset()
    deletes: frozenset[str] = frozenset()

    def initial(self) -> State:
        """The state before the first observed event: every field ``UNKNOWN``."""
        return FrozenMap((name, UNKNOWN) for name in self.fields)

    def phase(self, event: Event) -> int:
        """0 for a creating call, 2 for a deleting one, 1 otherwise (a sort key within one second)."""
        name = call_name(event)
        return CREATE if name in self.creates else DELETE if name in self.deletes else MODIFY

    def apply(self, state: State, event: Event, ref: ResourceRef) -> State:
        """The state after ``event``; the same state for a failed call."""
        if is_failed(event):
            return state
        return self.reducer(state, event, ref)


class Registry:
    """Resource type -> ``Projection``, with a fallback for types nobody registered.

    Registries are explicit values: pass one to ``history.build_history(..., registry=...)``. The
    module-level ``DEFAULT`` is locked, because a projection registered into a global in the launcher
    would silently be missing on Beam workers (other processes); extend a copy instead::

        registry = DEFAULT.copy()
        registry.register(my_projection)
    """

    def __init__(self, projections: Iterable[Projection] = (), *, fallback: Projection, locked: bool = False):
        self._by_type: dict[str, Projection] = {}
        self._fallback = fallback
        self._locked = False
        for projection in projections:
            self.register(projection)
        self._locked = locked

    def register(self, projection: Projection, *, replace: bool = False) -> Registry:
        """Adds ``projection`` for its resource type; returns the registry (for chaining).

        Raises:
            ValueError: the type already has a projection and ``replace`` is false.
            TypeError: the registry is locked (``DEFAULT``); register into ``DEFAULT.copy()``.
        """
        if self._locked:
            raise TypeError("this registry is locked; register into a copy (registry.copy())")
        if projection.resource_type in self._by_type and not replace:
            raise ValueError(f"{projection.resource_type} already has a projection (pass replace=True)")
        self._by_type[projection.resource_type] = projection
        return self

    def for_type(self, resource_type: str) -> Projection:
        """The projection for ``resource_type``; the fallback (generic) projection when none is registered."""
        return self._by_type.get(resource_type, self._fallback)

    @property
    def fallback(self) -> Projection:
        return self._fallback

    def types(self) -> tuple[str, ...]:
        """The registered resource types, sorted."""
        return tuple(sorted(self._by_type))

    def copy(self) -> Registry:
        """An unlocked copy holding the same projections and fallback."""
        return Registry(self._by_type.values(), fallback=self._fallback)

    def __repr__(self) -> str:
        return f"Registry({list(self.types())!r}, fallback={self._fallback.resource_type!r})"


# ---- the table-driven reducer -----------------------------------------------------------------------------

# eq=False: compared and hashed by identity, so a Projection holding one stays hashable (its table is a dict).
@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class TableReducer:
    """A reducer driven by one table of call name -> update function.

    Calls missing from the table leave the state as it is. When ``target`` names the resource a call acts
    on and that is not ``ref`` (an AuthorizeSecurityGroupIngress grouped under the *source* group it
    references), the call is ignored too. When the state has an ``exists`` field, a handled call sets it:
    False for ``deletes``, True otherwise (a successful call on a resource proves it existed).
    """

    updates: Mapping[str, Update]
    deletes: frozenset[str] = frozenset()
    target: Callable[[Event], str | None] | None = None

    def __call__(self, state: State, event: Event, ref: ResourceRef) -> State:
        name = call_name(event)
        update = self.updates.get(name)
        if update is None:
            return state
        if self.target is not None and not refers_to(ref.arn, self.target(event)):
            return state
        state = update(state, event, ref)
        if "exists" in state:
            state = state.set("exists", name not in self.deletes)
        return state


@dataclass(frozen=True, slots=True)
class Assign:
    """A table row that sets one field to a constant: ``Assign("login_profile", False)``."""

    field: str
    value: Any

    def __call__(self, state: State, event: Event, ref: ResourceRef) -> State:
        return state.set(self.field, self.value)


def keep(state: State, event: Event, ref: ResourceRef) -> State:
    """A table row that changes no field (the table still sets ``exists``): DeleteUser, DeleteBucket."""
    return state


def table_projection(*, resource_type: str, description: str, fields: tuple[str, ...],
                     updates: Mapping[str, Update], creates: Iterable[str] = (), deletes: Iterable[str] = (),
                     target: Callable[[Event], str | None] | None = None) -> Projection:
    """A ``Projection`` whose reducer is a ``TableReducer`` (``creates``/``deletes`` shared by both)."""
    deleting = frozenset(deletes)
    return Projection(
        resource_type=resource_type, description=description, fields=fields,
        creates=frozenset(creates), deletes=deleting,
        reducer=TableReducer(updates=dict(updates), deletes=deleting, target=target),
    )


_VERSION_SUFFIX = re.compile(r"\d{8}(?:v\d+)?$")


def call_name(event: Event) -> str:
    """The eventName without the API-version suffix some services log.

    >>> call_name({"eventName": "UpdateFunctionCode20150331v2"})
    'UpdateFunctionCode'
    """
    name = event.get("eventName")
    return _VERSION_SUFFIX.sub("", name) if isinstance(name, str) else ""


def is_failed(event: Event) -> bool:
    """True when the call failed: CloudTrail logs an ``errorCode`` (any non-empty value)."""
    code = event.get("errorCode")
    return code is not None and code != ""


def resource_name(arn: str) -> str:
    """The last name in an ARN's resource part (a bucket, user, group id, trail or function name).

    >>> resource_name("arn:aws:iam::111122223333:user/division/alice")
    'alice'
    >>> resource_name("arn:aws:lambda:us-east-1:111122223333:function:fn:PROD")
    'fn'
    """
    parts = arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else arn
    if resource.startswith("function:"):
        return resource.split(":")[1]
    return resource.rsplit("/", 1)[-1]


def refers_to(arn: str, target: str | None) -> bool:
    """Whether a call whose target is ``target`` (a name, id or ARN; None: cannot tell) acts on ``arn``."""
    if target is None:
        return True
    return resource_name(arn) == (resource_name(target) if target.startswith("arn:") else target)


# ---- reading request and response members ----------------------------------------------------------------

def request(event: Event) -> Mapping[str, Any]:
    """``requestParameters`` as a mapping; empty when absent, null or not an object."""
    value = event.get("requestParameters")
    return value if isinstance(value, Mapping) else {}


def response(event: Event) -> Mapping[str, Any]:
    """``responseElements`` as a mapping; empty when absent, null or not an object."""
    value = event.get("responseElements")
    return value if isinstance(value, Mapping) else {}


def text(value: Any, *path: str) -> str | None:
    """The non-empty string at ``path`` inside ``value``; None otherwise."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value if isinstance(value, str) and value else None


def items(value: Any) -> list[Any]:
    """The elements of a CloudTrail list: ``{"items": [...]}`` (EC2's shape), a plain list, or one object."""
    if isinstance(value, Mapping):
        inner = value.get("items")
        if isinstance(inner, list):
            return inner
        return [value] if value else []
    return list(value) if isinstance(value, list) else []


def document(value: Any) -> Any:
    """A policy document as logged -> its frozen JSON value.

    IAM logs documents as JSON text in requests and URL-encoded JSON text in responses; S3 logs objects.
    Text that is JSON neither as is nor URL-decoded is kept as text (never dropped).

    >>> document('%7B%22Version%22%3A%222012-10-17%22%7D')
    FrozenMap({'Version': '2012-10-17'})
    """
    try:
        if not isinstance(value, str):
            return freeze(value)
        for candidate in (value, unquote(value)):
            try:
                return freeze(jsonvalue.loads(candidate))
            except jsonvalue.JsonError:
                continue
    except RecursionError:
        # An attacker-made document nested hundreds of levels deep is kept as text, never a crash.
        return value if isinstance(value, str) else jsonvalue.dumps(value).decode()
    return value


def load_registry(specs: Iterable[str], base: Registry) -> Registry:
    """``base`` plus the projections named by ``specs``, each ``module:attribute`` (importable on every
    worker: install the module with the pipeline's package). The attribute is a ``Projection``, an
    iterable of them, or a whole ``Registry`` (which then replaces ``base``). A projection for a type
    ``base`` already has replaces it.

    Raises:
        ValueError: a spec that is not ``module:attribute``, cannot be imported, or names something else.
    """
    registry = base.copy()
    for spec in specs:
        module_name, _, attribute = spec.partition(":")
        if not module_name or not attribute:
            raise ValueError(f"projection {spec!r}: give module:attribute, e.g. my_projections:INSTANCE")
        try:
            found = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"projection {spec!r}: {err}") from None
        if isinstance(found, Registry):
            registry = found.copy()
            continue
        for projection in (found,) if isinstance(found, Projection) else tuple(found):
            if not isinstance(projection, Projection):
                raise ValueError(f"projection {spec!r}: {projection!r:.60} is not a Projection")
            registry = registry.register(projection, replace=True)
    return registry
