"""IAM users and roles: who can sign in, with which keys, and what they may do.

User state: ``exists``; ``attached_policies`` {policy ARN: true}; ``inline_policies`` {name: document};
``groups`` {group name: true}; ``access_keys`` {key id: "Active" | "Inactive"}; ``login_profile`` (a console
password exists); ``mfa_devices`` {serial: true}; ``permissions_boundary`` (policy ARN or None).

Role state: ``exists``; ``trust_policy`` (the assume-role policy document); ``attached_policies``;
``inline_policies``; ``permissions_boundary``.

Documents are parsed JSON: IAM logs them as JSON text in requests and URL-encoded JSON in responses.
A create call makes every collection known and empty; changes seen without the create leave the
collection partial (see ``state.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trailbeam.projections.base import Assign, Event, document, keep, request, response, table_projection, text
from trailbeam.projections.state import EMPTY, UNKNOWN, State, with_member, without_member

if TYPE_CHECKING:
    from trailbeam.resources import ResourceRef

__all__ = ["ROLE", "USER"]


# ---- shared rows ------------------------------------------------------------------------------------------

def _attach(state: State, event: Event, ref: ResourceRef) -> State:
    arn = text(request(event), "policyArn")
    return state if arn is None else with_member(state, "attached_policies", arn)


def _detach(state: State, event: Event, ref: ResourceRef) -> State:
    arn = text(request(event), "policyArn")
    return state if arn is None else without_member(state, "attached_policies", arn)


def _put_inline(state: State, event: Event, ref: ResourceRef) -> State:
    params = request(event)
    name = text(params, "policyName")
    if name is None:
        return state
    return with_member(state, "inline_policies", name, document(params.get("policyDocument")))


def _delete_inline(state: State, event: Event, ref: ResourceRef) -> State:
    name = text(request(event), "policyName")
    return state if name is None else without_member(state, "inline_policies", name)


def _put_boundary(state: State, event: Event, ref: ResourceRef) -> State:
    return state.set("permissions_boundary", text(request(event), "permissionsBoundary"))




# ---- users ------------------------------------------------------------------------------------------------

def _create_user(state: State, event: Event, ref: ResourceRef) -> State:
    return state.update({
        "attached_policies": EMPTY, "inline_policies": EMPTY, "groups": EMPTY, "access_keys": EMPTY,
        "login_profile": False, "mfa_devices": EMPTY,
        "permissions_boundary": text(request(event), "permissionsBoundary"),
    })


def _add_to_group(state: State, event: Event, ref: ResourceRef) -> State:
    group = text(request(event), "groupName")
    return state if group is None else with_member(state, "groups", group)


def _remove_from_group(state: State, event: Event, ref: ResourceRef) -> State:
    group = text(request(event), "groupName")
    return state if group is None else without_member(state, "groups", group)


def _create_access_key(state: State, event: Event, ref: ResourceRef) -> State:
    key = response(event).get("accessKey")
    key_id = text(key, "accessKeyId")
    if key_id is None:
        return state
    return with_member(state, "access_keys", key_id, text(key, "status") or "Active")


def _update_access_key(state: State, event: Event, ref: ResourceRef) -> State:
    params = request(event)
    key_id, status = text(params, "accessKeyId"), text(params, "status")
    if key_id is None or status is None:
        return state
    return with_member(state, "access_keys", key_id, status)


def _delete_access_key(state: State, event: Event, ref: ResourceRef) -> State:
    key_id = text(request(event), "accessKeyId")
    return state if key_id is None else without_member(state, "access_keys", key_id)


def _enable_mfa(state: State, event: Event, ref: ResourceRef) -> State:
    serial = text(request(event), "serialNumber")
    return state if serial is None else with_member(state, "mfa_devices", serial)


def _deactivate_mfa(state: State, event: Event, ref: ResourceRef) -> State:
    serial = text(request(event), "serialNumber")
    return state if serial is None else without_member(state, "mfa_devices", serial)


def _user_target(event: Event) -> str | None:
    # Calls without userName act on the calling user; the caller grouped them, so they apply.
    return text(request(event), "userName") or text(response(event), "user", "userName")


USER = table_projection(
    resource_type="AWS::IAM::User",
    description="IAM user: existence, managed and inline policies, groups, access keys, console password, MFA",
    fields=("exists", "attached_policies", "inline_policies", "groups", "access_keys", "login_profile",
            "mfa_devices", "permissions_boundary"),
    creates=("CreateUser",),
    deletes=("DeleteUser",),
    target=_user_target,
    updates={
        "CreateUser": _create_user,
        "DeleteUser": keep,          # exists=False; the last configuration stays visible
        "AttachUserPolicy": _attach,
        "DetachUserPolicy": _detach,
        "PutUserPolicy": _put_inline,
        "DeleteUserPolicy": _delete_inline,
        "AddUserToGroup": _add_to_group,
        "RemoveUserFromGroup": _remove_from_group,
        "CreateAccessKey": _create_access_key,
        "UpdateAccessKey": _update_access_key,
        "DeleteAccessKey": _delete_access_key,
        "CreateLoginProfile": Assign("login_profile", True),
        "UpdateLoginProfile": Assign("login_profile", True),     # only an existing password can be updated
        "DeleteLoginProfile": Assign("login_profile", False),
        "EnableMFADevice": _enable_mfa,
        "DeactivateMFADevice": _deactivate_mfa,
        "PutUserPermissionsBoundary": _put_boundary,
        "DeleteUserPermissionsBoundary": Assign("permissions_boundary", None),
    },
)


# ---- roles ------------------------------------------------------------------------------------------------

def _create_role(state: State, event: Event, ref: ResourceRef) -> State:
    params = request(event)
    trust = params.get("assumeRolePolicyDocument") or text(response(event), "role", "assumeRolePolicyDocument")
    return state.update({
        "trust_policy": UNKNOWN if trust is None else document(trust),
        "attached_policies": EMPTY, "inline_policies": EMPTY,
        "permissions_boundary": text(params, "permissionsBoundary"),
    })


def _update_trust(state: State, event: Event, ref: ResourceRef) -> State:
    policy = request(event).get("policyDocument")
    return state if policy is None else state.set("trust_policy", document(policy))


def _role_target(event: Event) -> str | None:
    return text(request(event), "roleName") or text(response(event), "role", "roleName")


ROLE = table_projection(
    resource_type="AWS::IAM::Role",
    description="IAM role: existence, trust policy, managed and inline policies, permissions boundary",
    fields=("exists", "trust_policy", "attached_policies", "inline_policies", "permissions_boundary"),
    creates=("CreateRole",),
    deletes=("DeleteRole",),
    target=_role_target,
    updates={
        "CreateRole": _create_role,
        "DeleteRole": keep,
        "UpdateAssumeRolePolicy": _update_trust,
        "AttachRolePolicy": _attach,
        "DetachRolePolicy": _detach,
        "PutRolePolicy": _put_inline,
        "DeleteRolePolicy": _delete_inline,
        "PutRolePermissionsBoundary": _put_boundary,
        "DeleteRolePermissionsBoundary": Assign("permissions_boundary", None),
    },
)
