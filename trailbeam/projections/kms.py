"""KMS keys: whether a key can be used, whether it is about to be destroyed, and who may use it.

State: ``exists``; ``enabled``; ``pending_deletion`` (None, or {"deletion_date", "pending_window_days"} as
logged, None where not logged); ``key_policy`` (the policy document).

A key scheduled for deletion cannot be used, and CancelKeyDeletion leaves it disabled, so both set
``enabled`` to false. KMS logs the final deletion as the service event DeleteKey. CreateKey without a
policy gets the default key policy, which the event does not show: ``key_policy`` stays UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from trailbeam.projections.base import Assign, Event, document, request, response, table_projection, text
from trailbeam.projections.state import UNKNOWN, FrozenMap, State

if TYPE_CHECKING:
    from trailbeam.resources import ResourceRef

__all__ = ["KEY"]


def _create(state: State, event: Event, ref: ResourceRef) -> State:
    metadata = response(event).get("keyMetadata")
    enabled = metadata.get("enabled") if isinstance(metadata, Mapping) else None     # False for imported keys
    policy = request(event).get("policy")
    return state.update({
        "enabled": enabled if isinstance(enabled, bool) else True,
        "pending_deletion": None,
        "key_policy": UNKNOWN if policy is None else document(policy),
    })


def _schedule_deletion(state: State, event: Event, ref: ResourceRef) -> State:
    days = response(event).get("pendingWindowInDays", request(event).get("pendingWindowInDays"))
    return state.update({
        "enabled": False,
        "pending_deletion": FrozenMap({"deletion_date": text(response(event), "deletionDate"),
                                       "pending_window_days": days if isinstance(days, int) else None}),
    })


def _cancel_deletion(state: State, event: Event, ref: ResourceRef) -> State:
    return state.update({"enabled": False, "pending_deletion": None})


def _put_policy(state: State, event: Event, ref: ResourceRef) -> State:
    policy = request(event).get("policy")
    return state.set("key_policy", UNKNOWN if policy is None else document(policy))


def _deleted(state: State, event: Event, ref: ResourceRef) -> State:
    return state.update({"enabled": False, "pending_deletion": None})


def _key_id(event: Event) -> str | None:
    key = text(request(event), "keyId") or text(response(event), "keyMetadata", "keyId")
    # An alias names the key only through the alias table, which the event does not carry: cannot tell.
    if key is None or key.startswith("alias/") or ":alias/" in key:
        return None
    return key


KEY = table_projection(
    resource_type="AWS::KMS::Key",
    description="KMS key: enabled, pending deletion, key policy",
    fields=("exists", "enabled", "pending_deletion", "key_policy"),
    creates=("CreateKey",),
    deletes=("DeleteKey",),
    target=_key_id,
    updates={
        "CreateKey": _create,
        "EnableKey": Assign("enabled", True),
        "DisableKey": Assign("enabled", False),
        "ScheduleKeyDeletion": _schedule_deletion,
        "CancelKeyDeletion": _cancel_deletion,
        "PutKeyPolicy": _put_policy,
        "DeleteKey": _deleted,
    },
)
