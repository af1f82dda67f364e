"""CloudTrail trails: whether the trail was logging, what it selected, and where its logs went.

State: ``exists``; ``logging`` (StartLogging / StopLogging; a deleted trail logs nothing);
``event_selectors`` ({"eventSelectors": [...]} or {"advancedEventSelectors": [...]}, as logged: PutEventSelectors
replaces one kind with the other); ``log_file_validation``; ``s3_bucket``; ``multi_region``; ``kms_key``.

CreateTrail does not start logging (StartLogging does), and a trail created without selectors logs all
management events, read and write: the documented default is what ``event_selectors`` holds after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trailbeam.projections.base import Assign, Event, request, table_projection, text
from trailbeam.projections.state import FrozenMap, State, freeze

if TYPE_CHECKING:
    from trailbeam.resources import ResourceRef

__all__ = ["TRAIL"]

_DEFAULT_SELECTORS = freeze({"eventSelectors": [{"readWriteType": "All", "includeManagementEvents": True,
                                                 "dataResources": [], "excludeManagementEventSources": []}]})

# request member -> (state field, value when CreateTrail leaves the member out)
_SETTINGS: Mapping[str, tuple[str, Any]] = {
    "s3BucketName": ("s3_bucket", None),
    "enableLogFileValidation": ("log_file_validation", False),
    "isMultiRegionTrail": ("multi_region", False),
    "kmsKeyId": ("kms_key", None),
}


def _settings(params: Mapping[str, Any], *, defaults: bool) -> dict[str, Any]:
    values = {}
    for member, (field, default) in _SETTINGS.items():
        if member in params:
            values[field] = freeze(params[member])
        elif defaults:
            values[field] = default
    return values


def _create(state: State, event: Event, ref: ResourceRef) -> State:
    return state.update({"logging": False, "event_selectors": _DEFAULT_SELECTORS,
                         **_settings(request(event), defaults=True)})


def _update(state: State, event: Event, ref: ResourceRef) -> State:
    return state.update(_settings(request(event), defaults=False))


def _delete(state: State, event: Event, ref: ResourceRef) -> State:
    return state.set("logging", False)


def _put_selectors(state: State, event: Event, ref: ResourceRef) -> State:
    params = request(event)
    selectors = {key: freeze(params[key]) for key in ("eventSelectors", "advancedEventSelectors") if key in params}
    return state.set("event_selectors", FrozenMap(selectors)) if selectors else state


def _trail_name(event: Event) -> str | None:
    params = request(event)
    return text(params, "name") or text(params, "trailName")


TRAIL = table_projection(
    resource_type="AWS::CloudTrail::Trail",
    description="CloudTrail trail: logging on/off, event selectors, validation, destination, multi-region",
    fields=("exists", "logging", "event_selectors", "log_file_validation", "s3_bucket", "multi_region", "kms_key"),
    creates=("CreateTrail",),
    deletes=("DeleteTrail",),
    target=_trail_name,
    updates={
        "CreateTrail": _create,
        "UpdateTrail": _update,
        "DeleteTrail": _delete,
        "StartLogging": Assign("logging", True),
        "StopLogging": Assign("logging", False),
        "PutEventSelectors": _put_selectors,
    },
)
