"""The fallback projection: the last request parameters of every call, for types nobody modelled.

State: ``calls`` {call name: requestParameters of its last successful call}. It is a log of what was
asked, not a model of the resource: a call never seen is simply not listed. Read-only calls
(``readOnly: true``) are left out, since their parameters describe a question, not the resource.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trailbeam.projections.base import Event, Projection, call_name
from trailbeam.projections.state import UNKNOWN, FrozenMap, State, freeze

if TYPE_CHECKING:
    from trailbeam.resources import ResourceRef

__all__ = ["GENERIC"]


def _is_read_only(event: Event) -> bool:
    flag = event.get("readOnly")
    return flag is True or (isinstance(flag, str) and flag.lower() == "true")


def _record_call(state: State, event: Event, ref: ResourceRef) -> State:
    if _is_read_only(event):
        return state
    calls = state.get("calls", UNKNOWN)
    calls = FrozenMap() if calls is UNKNOWN else calls
    return state.set("calls", calls.set(call_name(event), freeze(event.get("requestParameters"))))


GENERIC = Projection(
    resource_type="*",
    description="any other resource: last requestParameters per call",
    fields=("calls",),
    reducer=_record_call,
)
