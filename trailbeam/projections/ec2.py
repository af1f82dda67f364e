"""EC2: security group rules, and who may use a snapshot or an image (cross-account and public sharing).

Security group state: ``exists``; ``ingress`` and ``egress``, each a collection {rule: rule id or None}.
A rule is one normalised string, ``"<protocol> <ports> <source>"``:

    "tcp 22 0.0.0.0/0"   "udp 1000-2000 sg-0abc"   "all all ::/0"   "tcp 443 pl-12ab"

Protocol numbers become names (6 -> tcp, -1 -> all), CIDRs are normalised (``10.0.0.1/8`` ->
``10.0.0.0/8``), and one request permission with several ranges becomes several rules, so the same rule
written two ways is one member. Rule ids come from the response (``securityGroupRuleSet``) and let a later
revoke by ``securityGroupRuleIds`` find its rule. A revoke naming an id never seen makes that direction
UNKNOWN: some rule went away and the log does not say which.

Snapshot state: ``exists``; ``create_volume_permission`` {account id | "all": true}. Image state: ``exists``;
``launch_permission`` {account id | "all" | organization or OU ARN: true}. "all" means public.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trailbeam.projections.base import Event, items, keep, request, response, table_projection, text
from trailbeam.projections.state import EMPTY, UNKNOWN, FrozenMap, State, members, with_member, without_member

if TYPE_CHECKING:
    from trailbeam.resources import ResourceRef

__all__ = ["IMAGE", "SECURITY_GROUP", "SNAPSHOT", "rule_key"]

_PROTOCOLS = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
_ANYWHERE_EGRESS = "all all 0.0.0.0/0"


# ---- security group rules ------------------------------------------------------------------------------

def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        return value        # kept as logged: a rule is never dropped for an odd address


def _port(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def rule_key(protocol: Any, from_port: Any, to_port: Any, source: str) -> str:
    """One rule as its normalised string.

    >>> rule_key("6", 22, 22, "10.1.2.3/8")
    'tcp 22 10.0.0.0/8'
    >>> rule_key(-1, None, None, "::/0")
    'all all ::/0'
    """
    name = "all" if protocol is None else str(protocol).lower()
    name = _PROTOCOLS.get(name, name)
    low, high = _port(from_port), _port(to_port)
    if name == "all" or low is None or (low, high) == (-1, -1):
        ports = "all"
    else:
        ports = str(low) if high in (None, low) else f"{low}-{high}"
    if "/" in source and not source.startswith(("sg-", "pl-")):
        source = _cidr(source)
    return f"{name} {ports} {source}"


def _permission_sources(permission: Mapping[str, Any]) -> list[str]:
    sources = [text(r, "cidrIp") for r in items(permission.get("ipRanges"))]
    sources += [text(r, "cidrIpv6") for r in items(permission.get("ipv6Ranges"))]
    sources += [text(r, "prefixListId") for r in items(permission.get("prefixListIds"))]
    sources += [text(r, "groupId") or text(r, "groupName") for r in items(permission.get("groups"))]
    return [source for source in sources if source is not None]


def _request_rules(params: Mapping[str, Any]) -> list[str]:
    """Rules named by a request: ``ipPermissions.items[]`` and the older top-level form."""
    rules = [rule_key(p.get("ipProtocol"), p.get("fromPort"), p.get("toPort"), source)
             for p in items(params.get("ipPermissions")) if isinstance(p, Mapping)
             for source in _permission_sources(p)]
    # Older clients send one rule at top level (cidrIp / sourceSecurityGroupName) next to an empty ipPermissions.
    source = text(params, "cidrIp") or text(params, "sourceSecurityGroupName")
    if source is not None:
        rules.append(rule_key(params.get("ipProtocol"), params.get("fromPort"), params.get("toPort"), source))
    return rules


def _response_rules(event: Event) -> list[tuple[str, str | None, bool | None]]:
    """(rule, rule id, is egress) from the response's ``securityGroupRuleSet``."""
    rules = []
    for item in items(response(event).get("securityGroupRuleSet")):
        if not isinstance(item, Mapping):
            continue
        source = (text(item, "cidrIpv4") or text(item, "cidrIpv6") or text(item, "prefixListId")
                  or text(item, "referencedGroupInfo", "groupId"))
        if source is not None:
            egress = item.get("isEgress")
            rules.append((rule_key(item.get("ipProtocol"), item.get("fromPort"), item.get("toPort"), source),
                          text(item, "securityGroupRuleId"), egress if isinstance(egress, bool) else None))
    return rules


def _rule_ids(params: Mapping[str, Any]) -> list[str]:
    ids = []
    for item in items(params.get("securityGroupRuleIds")):
        rule_id = item if isinstance(item, str) else text(item, "securityGroupRuleId")
        if rule_id:
            ids.append(rule_id)
    return ids


@dataclass(frozen=True, slots=True)
class _Authorize:
    field: str              # "ingress" or "egress"

    def __call__(self, state: State, event: Event, ref: ResourceRef) -> State:
        logged = _response_rules(event)
        if logged:
            for rule, rule_id, egress in logged:
                field = self.field if egress is None else ("egress" if egress else "ingress")
                state = with_member(state, field, rule, rule_id)
            return state
        for rule in _request_rules(request(event)):
            state = with_member(state, self.field, rule, members(state[self.field]).get(rule))
        return state


@dataclass(frozen=True, slots=True)
class _Revoke:
    field: str

    def __call__(self, state: State, event: Event, ref: ResourceRef) -> State:
        params = request(event)
        for rule in _request_rules(params):
            state = without_member(state, self.field, rule)
        for rule_id in _rule_ids(params):
            current = state[self.field]
            found = [rule for rule, known in members(current).items() if known == rule_id]
            if not found:
                return state.set(self.field, UNKNOWN)
            state = without_member(state, self.field, found[0])
        return state


def _create_group(state: State, event: Event, ref: ResourceRef) -> State:
    # A new VPC security group has no inbound rules and one outbound rule allowing everything.
    return state.update({"ingress": EMPTY, "egress": FrozenMap({_ANYWHERE_EGRESS: None})})


def _group_id(event: Event) -> str | None:
    # By groupName (default VPC only) the log does not show the id: cannot tell, so it applies.
    return text(request(event), "groupId") or text(response(event), "groupId")


SECURITY_GROUP = table_projection(
    resource_type="AWS::EC2::SecurityGroup",
    description="EC2 security group: ingress and egress rules, normalised",
    fields=("exists", "ingress", "egress"),
    creates=("CreateSecurityGroup",),
    deletes=("DeleteSecurityGroup",),
    target=_group_id,
    updates={
        "CreateSecurityGroup": _create_group,
        "DeleteSecurityGroup": keep,
        "AuthorizeSecurityGroupIngress": _Authorize("ingress"),
        "AuthorizeSecurityGroupEgress": _Authorize("egress"),
        "RevokeSecurityGroupIngress": _Revoke("ingress"),
        "RevokeSecurityGroupEgress": _Revoke("egress"),
    },
)


# ---- snapshot and image sharing ----------------------------------------------------------------------------

def _grantee(item: Any) -> str | None:
    """An account id, "all" (public), or an organization / OU ARN."""
    return (text(item, "userId") or text(item, "group") or text(item, "userGroup") or text(item, "groupName")
            or text(item, "organizationArn") or text(item, "organizationalUnitArn"))


@dataclass(frozen=True, slots=True)
class _Share:
    """ModifySnapshotAttribute / ModifyImageAttribute: the ``add`` and ``remove`` lists of ``member``."""

    field: str       # the state field
    member: str      # the request member: createVolumePermission, launchPermission

    def __call__(self, state: State, event: Event, ref: ResourceRef) -> State:
        params = request(event)
        permission = params.get(self.member)
        if isinstance(permission, Mapping):
            removed = [_grantee(i) for i in items(permission.get("remove"))]
            added = [_grantee(i) for i in items(permission.get("add"))]
        else:
            # The older form: operationType add|remove with userIds / groupNames (userGroups for images).
            operation = text(params, "operationType")
            if operation not in ("add", "remove"):
                return state        # another attribute (a description, product codes)
            named = [i if isinstance(i, str) else _grantee(i)
                     for key in ("userIds", "groupNames", "userGroups") for i in items(params.get(key))]
            added, removed = (named, []) if operation == "add" else ([], named)
        for grantee in removed:
            if grantee is not None:
                state = without_member(state, self.field, grantee)
        for grantee in added:
            if grantee is not None:
                state = with_member(state, self.field, grantee)
        return state


@dataclass(frozen=True, slots=True)
class _Private:
    """Creating, copying or resetting the attribute: nobody but the owner may use it."""

    field: str

    def __call__(self, state: State, event: Event, ref: ResourceRef) -> State:
        return state.set(self.field, EMPTY)


def _snapshot_id(event: Event) -> str | None:
    return text(request(event), "snapshotId") or text(response(event), "snapshotId")


def _image_id(event: Event) -> str | None:
    return text(request(event), "imageId") or text(response(event), "imageId")


SNAPSHOT = table_projection(
    resource_type="AWS::EC2::Snapshot",
    description="EBS snapshot: accounts allowed to create volumes from it (\"all\": public)",
    fields=("exists", "create_volume_permission"),
    creates=("CreateSnapshot", "CopySnapshot"),
    deletes=("DeleteSnapshot",),
    target=_snapshot_id,
    updates={
        "CreateSnapshot": _Private("create_volume_permission"),
        "CopySnapshot": _Private("create_volume_permission"),
        "DeleteSnapshot": keep,
        "ModifySnapshotAttribute": _Share("create_volume_permission", "createVolumePermission"),
        "ResetSnapshotAttribute": _Private("create_volume_permission"),
    },
)

IMAGE = table_projection(
    resource_type="AWS::EC2::Image",
    description="AMI: accounts, organizations and OUs allowed to launch it (\"all\": public)",
    fields=("exists", "launch_permission"),
    creates=("CreateImage", "RegisterImage", "CopyImage"),
    deletes=("DeregisterImage",),
    target=_image_id,
    updates={
        "CreateImage": _Private("launch_permission"),
        "RegisterImage": _Private("launch_permission"),
        "CopyImage": _Private("launch_permission"),
        "DeregisterImage": keep,
        "ModifyImageAttribute": _Share("launch_permission", "launchPermission"),
        "ResetImageAttribute": _Private("launch_permission"),
    },
)
