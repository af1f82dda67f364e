"""S3 buckets: who can read them (policy, ACL, public access block) and how they keep data.

State: ``exists``; ``policy`` (the bucket policy document, None after DeleteBucketPolicy);
``acl`` ({"canned": canned ACL or None, "grants": sorted [{"grantee", "permission"}]});
``public_access_block`` ({BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets} or
None); ``encryption``, ``versioning``, ``object_lock``, ``lifecycle`` (the configuration as logged, without
XML namespace noise, or None); ``logging`` (the LoggingEnabled target, None when logging is off).

CreateBucket makes ``policy``, ``logging``, ``lifecycle`` and ``versioning`` known (None) and ``acl`` known
(the canned ACL sent, else "private"). ``public_access_block`` and ``encryption`` stay UNKNOWN: AWS changed
their defaults for new buckets in 2023, and the event does not say which default applied. A call that
changed a field without logging its value (a redacted request) sets the field to UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trailbeam.projections.base import Assign, Event, document, items, keep, request, table_projection, text
from trailbeam.projections.state import UNKNOWN, FrozenMap, State, freeze

if TYPE_CHECKING:
    from trailbeam.resources import ResourceRef

__all__ = ["BUCKET"]

_PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_GRANT_HEADERS = {"x-amz-grant-read": "READ", "x-amz-grant-write": "WRITE", "x-amz-grant-read-acp": "READ_ACP",
                  "x-amz-grant-write-acp": "WRITE_ACP", "x-amz-grant-full-control": "FULL_CONTROL"}


def _without_xml(value: Any) -> Any:
    """S3 logs XML bodies as JSON: drop the namespace attributes, which say nothing about the bucket."""
    if isinstance(value, Mapping):
        return {key: _without_xml(item) for key, item in value.items() if not key.startswith("xmlns")}
    if isinstance(value, list):
        return [_without_xml(item) for item in value]
    return value


def _header(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and value else None


def _flag(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(str(value).lower(), value)


# ---- rows ------------------------------------------------------------------------------------------------

def _create(state: State, event: Event, ref: ResourceRef) -> State:
    params = request(event)
    lock = _header(params, "x-amz-bucket-object-lock-enabled")
    return state.update({
        "policy": None, "logging": None, "lifecycle": None, "versioning": None,
        "acl": FrozenMap({"canned": _header(params, "x-amz-acl") or "private", "grants": ()}),
        "object_lock": (FrozenMap({"ObjectLockEnabled": "Enabled"}) if lock and _flag(lock) is True else None),
    })


def _put_policy(state: State, event: Event, ref: ResourceRef) -> State:
    policy = request(event).get("bucketPolicy")
    return state.set("policy", UNKNOWN if policy is None else document(_without_xml(policy)))


def _grantee(grantee: Any) -> str | None:
    for key, kind in (("URI", "uri"), ("ID", "id"), ("EmailAddress", "email")):
        value = text(grantee, key)
        if value is not None:
            return f"{kind}:{value}"
    return None


def _header_grants(params: Mapping[str, Any]) -> list[tuple[str | None, str | None]]:
    # x-amz-grant-read: id="abc", uri="http://acs.amazonaws.com/groups/global/AllUsers"
    grants: list[tuple[str | None, str | None]] = []
    for header, permission in _GRANT_HEADERS.items():
        for part in (_header(params, header) or "").split(","):
            kind, _, value = part.strip().partition("=")
            if value:
                grants.append((f"{kind.strip().lower()}:{value.strip().strip(chr(34))}", permission))
    return grants


def _body_grants(params: Mapping[str, Any]) -> list[tuple[str | None, str | None]]:
    # AccessControlPolicy.AccessControlList.Grant is a list, or one object when there is one grant.
    policy = params.get("AccessControlPolicy")
    acl = policy.get("AccessControlList") if isinstance(policy, Mapping) else None
    grants = items(acl.get("Grant")) if isinstance(acl, Mapping) else []
    return [(_grantee(grant.get("Grantee")), text(grant, "Permission"))
            for grant in grants if isinstance(grant, Mapping)]


def _put_acl(state: State, event: Event, ref: ResourceRef) -> State:
    params = request(event)
    grants = [*_body_grants(params), *_header_grants(params)]
    canned = _header(params, "x-amz-acl")
    if canned is None and not grants:
        return state.set("acl", UNKNOWN)
    rows = sorted({(grantee or "unknown", permission or "unknown") for grantee, permission in grants})
    return state.set("acl", FrozenMap({
        "canned": canned,
        "grants": tuple(FrozenMap({"grantee": grantee, "permission": permission}) for grantee, permission in rows),
    }))


def _put_public_access_block(state: State, event: Event, ref: ResourceRef) -> State:
    body = request(event).get("PublicAccessBlockConfiguration")
    if not isinstance(body, Mapping):
        return state.set("public_access_block", UNKNOWN)
    # A flag left out of the request is false: the call replaces the whole configuration.
    return state.set("public_access_block", FrozenMap({flag: _flag(body.get(flag, False))
                                                       for flag in _PUBLIC_ACCESS_FLAGS}))


@dataclass(frozen=True, slots=True)
class _Configure:
    """A row setting ``field`` to the request member ``key`` as logged (UNKNOWN when it was not logged)."""

    field: str
    key: str

    def __call__(self, state: State, event: Event, ref: ResourceRef) -> State:
        body = request(event).get(self.key)
        return state.set(self.field, UNKNOWN if body is None else freeze(_without_xml(body)))


def _put_logging(state: State, event: Event, ref: ResourceRef) -> State:
    status = request(event).get("BucketLoggingStatus")
    if not isinstance(status, Mapping):
        return state.set("logging", UNKNOWN)
    enabled = status.get("LoggingEnabled")     # an empty BucketLoggingStatus turns logging off
    return state.set("logging", freeze(_without_xml(enabled)) if enabled else None)


def _bucket_name(event: Event) -> str | None:
    return text(request(event), "bucketName")


BUCKET = table_projection(
    resource_type="AWS::S3::Bucket",
    description="S3 bucket: policy, ACL, public access block, encryption, versioning, logging, object lock, lifecycle",
    fields=("exists", "policy", "acl", "public_access_block", "encryption", "versioning", "logging",
            "object_lock", "lifecycle"),
    creates=("CreateBucket",),
    deletes=("DeleteBucket",),
    target=_bucket_name,
    updates={
        "CreateBucket": _create,
        "DeleteBucket": keep,
        "PutBucketPolicy": _put_policy,
        "DeleteBucketPolicy": Assign("policy", None),
        "PutBucketAcl": _put_acl,
        # S3's API is PutPublicAccessBlock; CloudTrail logs it as PutBucketPublicAccessBlock. Both are here.
        "PutBucketPublicAccessBlock": _put_public_access_block,
        "PutPublicAccessBlock": _put_public_access_block,
        "DeleteBucketPublicAccessBlock": Assign("public_access_block", None),
        "DeletePublicAccessBlock": Assign("public_access_block", None),
        "PutBucketEncryption": _Configure("encryption", "ServerSideEncryptionConfiguration"),
        "DeleteBucketEncryption": Assign("encryption", None),
        "PutBucketVersioning": _Configure("versioning", "VersioningConfiguration"),
        "PutBucketLogging": _put_logging,
        "PutObjectLockConfiguration": _Configure("object_lock", "ObjectLockConfiguration"),
        "PutBucketLifecycle": _Configure("lifecycle", "LifecycleConfiguration"),
        "PutBucketLifecycleConfiguration": _Configure("lifecycle", "LifecycleConfiguration"),
        "DeleteBucketLifecycle": Assign("lifecycle", None),
    },
)
