"""Stored secrets: Secrets Manager secrets and SSM parameters (versions written, deletion).

Secret state: ``exists``; ``deleted`` (scheduled for deletion: DeleteSecret, undone by RestoreSecret);
``deletion_date``; ``versions`` {version id: true}; ``latest_version`` (the version the last write made).
A write's version id is the response's ``versionId``, else the request's ``clientRequestToken`` (which
Secrets Manager uses as the version id). Secret values are never logged, and never kept.

Parameter state: ``exists``; ``version`` (the number PutParameter's response gives); ``type`` (String,
StringList, SecureString).

Reads (GetSecretValue, GetParameter) change nothing and appear in the history as applied calls without
changes: who read a secret, and when, is itself evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trailbeam.projections.base import Event, keep, request, response, table_projection, text
from trailbeam.projections.state import EMPTY, OTHERS, UNKNOWN, FrozenMap, State, with_member

if TYPE_CHECKING:
    from trailbeam.resources import ResourceRef

__all__ = ["PARAMETER", "SECRET"]


# ---- Secrets Manager --------------------------------------------------------------------------------------

def _version_id(event: Event) -> str | None:
    return text(response(event), "versionId") or text(request(event), "clientRequestToken")


def _wrote_version(state: State, event: Event, ref: ResourceRef) -> State:
    version = _version_id(event)
    if version is None:
        return state
    return with_member(state, "versions", version).set("latest_version", version)


def _update_secret(state: State, event: Event, ref: ResourceRef) -> State:
    # UpdateSecret makes a version only when it changes the value; the response then names it.
    version = text(response(event), "versionId")
    return state if version is None else with_member(state, "versions", version).set("latest_version", version)


def _create_secret(state: State, event: Event, ref: ResourceRef) -> State:
    version = text(response(event), "versionId")
    state = state.update({"deleted": False, "deletion_date": None})
    if version is None:
        # Created without a value (no version), or the version was not logged: cannot tell which.
        return state.update({"versions": FrozenMap({OTHERS: UNKNOWN}), "latest_version": UNKNOWN})
    return state.update({"versions": EMPTY.set(version, True), "latest_version": version})


def _delete_secret(state: State, event: Event, ref: ResourceRef) -> State:
    return state.update({"deleted": True, "deletion_date": text(response(event), "deletionDate")})


def _restore_secret(state: State, event: Event, ref: ResourceRef) -> State:
    return state.update({"deleted": False, "deletion_date": None})


SECRET = table_projection(
    resource_type="AWS::SecretsManager::Secret",
    description="Secrets Manager secret: versions written, scheduled deletion",
    fields=("exists", "deleted", "deletion_date", "versions", "latest_version"),
    creates=("CreateSecret",),
    updates={
        "CreateSecret": _create_secret,
        "PutSecretValue": _wrote_version,
        "UpdateSecret": _update_secret,
        "RotateSecret": _wrote_version,
        "DeleteSecret": _delete_secret,
        "RestoreSecret": _restore_secret,
    },
)


# ---- SSM Parameter Store ----------------------------------------------------------------------------------

def _put_parameter(state: State, event: Event, ref: ResourceRef) -> State:
    version = response(event).get("version")
    kind = text(request(event), "type")
    # Overwriting without a type keeps the type; a write without a logged version leaves it unknown.
    state = state.set("version", version if isinstance(version, int) and not isinstance(version, bool) else UNKNOWN)
    return state if kind is None else state.set("type", kind)


PARAMETER = table_projection(
    resource_type="AWS::SSM::Parameter",
    description="SSM parameter: latest version, type, deletion",
    fields=("exists", "version", "type"),
    deletes=("DeleteParameter", "DeleteParameters"),
    updates={
        "PutParameter": _put_parameter,
        "DeleteParameter": keep,
        "DeleteParameters": keep,
    },
)
