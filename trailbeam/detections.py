"""Built-in detections: the calls an incident report lists first, each one a ``Finding`` with its evidence.

Input: one original CloudTrail event (the dict ``cloudtrail.original_event`` returns), optionally its
``AttributedEvent`` record (for the origin behind the caller), and the names of the buckets trails deliver
to. Output: ``detect_event`` returns zero or more ``Finding`` records. Each rule looks at ONE event, so a
Beam step runs them file by file with no grouping; ``from_signals`` turns the identity dataset's
credential signals (``signals.json``) into findings of the same shape. Every rule is one row of
``RULES``: rule id -> category, severity (the highest the rule reports), title and detector.

A finding is a lead with its evidence, not a verdict: it names who made the call (``principal``, the
``userIdentity.arn``; for callers without one ``accountId:principalId`` or ``invokedBy``, as the history
dataset writes it), the origin behind them when the identity dataset knows it, the resource (the
canonical ARN of ``resources.resources_of``, so a finding joins to the resource's history), and in
``details`` the facts that made the call suspicious (the policy statement, the CIDR, the account).

**Failed calls** (``errorCode`` present) changed nothing and are not findings of change. The one exception
is ``logging.attempt``. Detectors never raise on values of unexpected types: a request that is not an
object, or a policy that is not JSON, reads as absent. Documents larger than ``_MAX_DOCUMENT`` characters
are not parsed, because AWS rejects policies a fraction of that size.

Logging tampering (category ``logging-tampering``):

``logging.stop-logging``  StopLogging on a trail: high.
``logging.delete-trail``  DeleteTrail: high.
``logging.update-trail``  UpdateTrail. High when it sets a new destination bucket (``s3BucketName``) or turns
    off log file validation, multi-region logging, global service events or the organization trail. Low
    for any other change (a new KMS key, SNS topic or log group, or turning something on). ``details``
    name every setting the call sent. Not flagged: CreateTrail.
``logging.event-selectors``  PutEventSelectors. High when management events are no longer logged at all,
    or only read-only ones are (an attacker's writes go unrecorded). Medium when read-only management
    events, or the events of some sources (``excludeManagementEventSources``, or an advanced selector's
    ``eventSource`` notEquals), are left out. Low otherwise: every PutEventSelectors is reported.
    ``details.excluded`` names what is left out. Basic and advanced selectors are both read. Management
    events count as logged when ANY selector logs them. Not flagged: PutInsightSelectors, and changes to
    data-event selectors (they are reported low, with nothing excluded).
``logging.trail-bucket``  PutBucketPolicy, DeleteBucketPolicy, DeleteBucket, PutBucketLifecycle and
    PutBucketLifecycleConfiguration on a bucket that a trail delivers to (``trail_buckets``). Deleting
    the bucket or its policy is high (delivery stops). A new policy or lifecycle rule is medium (it may
    deny CloudTrail, or expire logs early). The trail buckets come from the caller, or from
    ``trail_buckets_of`` over the same events (CreateTrail, UpdateTrail, DescribeTrails, GetTrail).
    Not flagged: any bucket nobody named as a trail destination.
``logging.vpc-flow-logs``  DeleteFlowLogs: medium.
``logging.dns-query-logs``  DeleteResolverQueryLogConfig and DisassociateResolverQueryLogConfig: medium.
``organizations.leave``  LeaveOrganization: high. The account escapes the organization's trail and its
    service control policies.
``logging.attempt``  A FAILED StopLogging, DeleteTrail, UpdateTrail, PutEventSelectors,
    LeaveOrganization, DeleteFlowLogs, DeleteResolverQueryLogConfig or
    DisassociateResolverQueryLogConfig: low, with the error code. It means someone tried. This is the
    only rule that reads failed calls.

Persistence (category ``persistence``):

``persistence.access-key-for-other-user``  CreateAccessKey whose ``userName`` is not the caller's own
    user: high. A role session or root creating a key for any user counts. Not flagged: a user creating
    a key for themselves (no ``userName``, or their own).
``persistence.login-profile``  CreateLoginProfile or UpdateLoginProfile: high for another user's console
    password, medium for the caller's own.
``persistence.trust-policy``  UpdateAssumeRolePolicy. High when the new trust policy allows anyone
    (``"*"``, or ``NotPrincipal``) or an account other than the role's own. Conditions do not lower the
    severity, but ``details`` list their keys. Low for any other trust change (services, federation, the
    role's own account), and for a document that cannot be read.
``persistence.broad-trust-role``  CreateRole whose trust policy allows anyone or another account: high.
    Not flagged: roles trusting services, identity providers or their own account.
``persistence.admin-policy``  AttachUserPolicy, AttachRolePolicy or AttachGroupPolicy of the AWS-managed
    AdministratorAccess, or PutUserPolicy, PutRolePolicy or PutGroupPolicy with an Allow statement of
    Action ``*`` on Resource ``*``: high. Not flagged: other broad policies (IAMFullAccess,
    PowerUserAccess), customer-managed policies attached by ARN (their content is not in the event),
    and CreatePolicyVersion.
``persistence.lambda-backdoor``  AddPermission letting anyone (``"*"``) or another account invoke a function:
    high. It is medium when ``"*"`` is limited by ``principalOrgID``. UpdateFunctionCode whose code
    was uploaded directly is low: the request logs no ``s3Bucket``, ``s3Key`` or ``imageUri``, which is
    how attack tools replace code. Not flagged: permissions for AWS services; code deployed from an S3
    object or an image, which is how deploy pipelines publish (an attacker who stages code in S3 is
    missed here: read the function's history).

Exposure (category ``exposure``):

``exposure.public-bucket-policy``  PutBucketPolicy with an Allow statement for ``"*"`` (``Principal: "*"``,
    ``{"AWS": "*"}``, or ``NotPrincipal``) and no condition on a key that narrows who can call (the keys S3
    itself accepts as making a policy non-public: ``aws:SourceIp``, ``aws:SourceVpc(e)``,
    ``aws:PrincipalOrgID``, ``aws:PrincipalAccount``, ...): high. ``details.statement`` is the first
    such statement. Not flagged: grants to named other accounts.
``exposure.public-bucket-acl``  PutBucketAcl or PutObjectAcl granting AllUsers or AuthenticatedUsers, by
    canned ACL (``public-read``, ``public-read-write``, ``authenticated-read``), grant header or ACL
    body: high.
``exposure.public-access-block-removed``  The S3 public access block deleted, or put with any of its four
    settings false (a setting left out of the request is false, because the call replaces the whole
    configuration). High at account level (every bucket), medium for one bucket. Not flagged: a
    configuration that was not logged.
``exposure.snapshot-shared``  ModifySnapshotAttribute adding a createVolumePermission: high, whether for
    ``all`` (public) or for an account.
``exposure.image-shared``  ModifyImageAttribute adding a launchPermission: high for ``all`` or an account,
    medium for an organization or OU.
``exposure.rds-snapshot-shared``  ModifyDBSnapshotAttribute or ModifyDBClusterSnapshotAttribute adding
    ``restore`` for ``all`` or accounts: high.
``exposure.security-group-open``  AuthorizeSecurityGroupIngress from ``0.0.0.0/0`` or ``::/0`` (any /0
    prefix): high when the ports include 22 or 3389 or are all ports, medium otherwise. Not flagged:
    narrower CIDRs, security group and prefix list sources, egress rules.

Credential misuse (category ``credential-misuse``), from ``signals.json`` through ``from_signals``:

``credential-misuse.<kind>``  One finding per signal of ``trailbeam.signals`` (session-key-moved,
    long-term-key-new-network, cross-account-chain, issuer-outside-logs, unusual-token-call), with the
    signal's severity, summary and evidence. See that module for what each flags and what it does not.

Insight (category ``insight``):

``insight.api-call-rate``, ``insight.api-error-rate``, ``insight.other``  A CloudTrail Insight event
    (``eventCategory`` Insight, or ``insightDetails`` present): low. Both the Start and the End event
    become findings. ``details`` carry the state, the call, the averages, and the shared
    ``insight_id`` that pairs them. The rule is chosen by the insight type; ``insight.other`` takes
    types AWS may add later.

Pure: stdlib and trailbeam's pure modules.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any
from urllib.parse import unquote

from trailbeam import jsonvalue, timestamps
from trailbeam.changelog import principal_of
from trailbeam.projections.base import call_name, is_failed, items, request, resource_name, response, text
from trailbeam.resources import ResourceRef, resources_of
from trailbeam.signals import Signal

__all__ = ["CATEGORIES", "SEVERITIES", "Finding", "Rule", "RULES", "detect_event", "detect_events", "from_signals",
           "sort_findings", "trail_buckets_of"]

SEVERITIES = ("high", "medium", "low")
CATEGORIES = ("logging-tampering", "persistence", "exposure", "credential-misuse", "insight")
_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}

_MAX_DOCUMENT = 256 * 1024     # characters; AWS's own limits are 20 KB (bucket policy) and less (IAM)
_MAX_LIST = 1_000              # elements read from any one list of a request
_MAX_TEXT = 1_000              # characters of a detail value
_MAX_SUMMARY = 400             # characters of a summary


# ---- records ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One detection: what happened, who did it, to what, and the events that show it."""

    rule: str                      # the rule's id in RULES: "logging.stop-logging"
    category: str                  # one of CATEGORIES
    severity: str                  # one of SEVERITIES
    title: str                     # the rule's title, plain text
    summary: str                   # one line of plain text: who did what to which resource
    time: int                      # UTC micros of the first event
    event_ids: tuple[str, ...]     # evidence, ordered by (eventTime, eventID)
    resource: str | None           # canonical ARN (resources.resources_of) or None
    principal: str | None          # the caller (userIdentity.arn); None for Insight events
    origin: str | None             # the origin principal from the identity dataset, when known
    details: tuple[tuple[str, str], ...]   # (name, value), sorted


@dataclass(frozen=True, slots=True, kw_only=True)
class _Call:
    """What an event detector reads, built once per event that some rule is interested in."""

    event: Mapping[str, Any]
    name: str                          # eventName without its API version suffix
    params: Mapping[str, Any]          # requestParameters; empty when absent or not an object
    response: Mapping[str, Any]        # responseElements; likewise
    account: str | None                # the account the call was made in (recipientAccountId)
    who: str                           # the caller as summaries name them, with the origin when known
    trail_buckets: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Hit:
    """A detector's answer; the rule's row supplies id, category and title, the event the rest."""

    severity: str
    summary: str
    details: tuple[tuple[str, str], ...] = ()


Detector = Callable[[_Call], "_Hit | None"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One row of RULES."""

    category: str
    severity: str                             # the highest severity the rule reports
    title: str
    detector: Detector | None                 # None: the rule is fed by from_signals
    calls: tuple[tuple[str, str], ...] = ()   # (eventSource, eventName) the detector runs on
    failed: bool = False                      # runs on failed calls instead of successful ones
    resource_types: tuple[str, ...] = ()      # the resource named: the first of resources_of of these types


# ---- reading values ---------------------------------------------------------------------------------------

def _strings(value: Any) -> list[str]:
    """A policy element that is one string or a list of them -> the strings (others skipped)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [item for item in islice(value, _MAX_LIST) if isinstance(item, str)]
    return []


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    """A list of objects, or one object, or EC2's ``{"items": [...]}`` -> its objects."""
    return [item for item in islice(items(value), _MAX_LIST) if isinstance(item, Mapping)]


def _flag(value: Any) -> bool | None:
    """true/false, also as the strings S3 and EC2 log; None for anything else."""
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(value.lower()) if isinstance(value, str) else None


def _port(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 8:
        return int(value)
    return None


def _show(value: Any) -> str:
    """A detail value as text: strings as they are, other JSON values as canonical JSON, at most _MAX_TEXT."""
    if isinstance(value, str):
        shown = value
    elif isinstance(value, bool):
        shown = "true" if value else "false"
    else:
        try:
            shown = jsonvalue.dumps(value).decode()
        except (TypeError, ValueError):     # a value JSON cannot hold; never expected from an event
            shown = repr(value)
    return shown if len(shown) <= _MAX_TEXT else shown[:_MAX_TEXT - 3] + "..."


def _one_line(value: str, limit: int) -> str:
    # Names in a summary come from requests: a trail name may hold newlines meant to forge report lines.
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _details(**values: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, _show(value)) for name, value in values.items() if value not in (None, "", [], ())))


def _document(value: Any) -> Mapping[str, Any] | None:
    """A policy as logged (an object, JSON text, or URL-encoded JSON text) -> the object; None if unreadable.

    Not ``projections.base.document``: it freezes the parsed value recursively, which raises
    RecursionError on a few hundred levels of nesting, and detectors must survive hostile input.
    """
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str) or len(value) > _MAX_DOCUMENT:
        return None
    for candidate in (value, unquote(value)):
        try:
            parsed = jsonvalue.loads(candidate)
        except jsonvalue.JsonError:
            continue
        return parsed if isinstance(parsed, Mapping) else None
    return None


def _statements(policy: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    body = policy.get("Statement") if policy is not None else None
    return [s for s in islice(body if isinstance(body, list) else [body], _MAX_LIST) if isinstance(s, Mapping)]


def _allows(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect") == "Allow"


def _principals(statement: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) of a statement's principals; Allow with NotPrincipal is everyone but a few: ("AWS", "*")."""
    if "NotPrincipal" in statement:
        return [("AWS", "*")]
    principal = statement.get("Principal")
    if principal == "*":
        return [("AWS", "*")]
    if not isinstance(principal, Mapping):
        return []
    return [(str(kind), value) for kind, values in principal.items() for value in _strings(values)]


_PRINCIPAL_ACCOUNT = re.compile(r"arn:[\w-]+:(?:iam|sts)::(\d{12}):")
_ACCOUNT_ID = re.compile(r"\d{12}")


def _account_of(principal: str) -> str | None:
    """"*" -> "*"; an account id or an IAM/STS ARN -> its account; anything else -> None."""
    if principal == "*" or _ACCOUNT_ID.fullmatch(principal):
        return principal
    match = _PRINCIPAL_ACCOUNT.match(principal)
    return match.group(1) if match else None


def _condition_keys(statement: Mapping[str, Any]) -> list[str]:
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return []
    return sorted({str(key) for body in condition.values() if isinstance(body, Mapping) for key in body})


@dataclass(frozen=True, slots=True, kw_only=True)
class _Trust:
    """Who a trust policy lets assume the role, beyond the role's own account and services."""

    anyone: bool
    accounts: tuple[str, ...]          # other accounts, sorted
    principals: tuple[str, ...]        # every principal named, "kind:value", sorted
    conditions: tuple[str, ...]        # condition keys of the statements that open it

    @property
    def broad(self) -> bool:
        return self.anyone or bool(self.accounts)

    @property
    def opened_to(self) -> list[str]:
        return (["anyone"] if self.anyone else []) + [f"account {account}" for account in self.accounts]


def _trust(policy: Mapping[str, Any] | None, own: str | None) -> _Trust:
    anyone, accounts, named, conditions = False, set(), set(), set()
    for statement in filter(_allows, _statements(policy)):
        opens = False
        for kind, value in _principals(statement):
            named.add(f"{kind}:{value}")
            account = _account_of(value) if kind == "AWS" else None
            if account == "*":
                anyone = opens = True
            elif account is not None and account != own:
                accounts.add(account)
                opens = True
        if opens:
            conditions.update(_condition_keys(statement))
    return _Trust(anyone=anyone, accounts=tuple(sorted(accounts)), principals=tuple(sorted(named)),
                  conditions=tuple(sorted(conditions)))


# Condition keys that narrow who can use a statement to fixed callers or networks: those S3's own "is this
# policy public" evaluation accepts (any operator on them counts, which can only under-report).
_RESTRICTING = frozenset({
    "aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:principalorgid", "aws:principalorgpaths",
    "aws:principalaccount", "aws:principalarn", "aws:principalservicename", "aws:sourcearn", "aws:sourceaccount",
    "aws:sourceowner", "aws:sourceorgid", "aws:sourceorgpaths", "aws:userid", "aws:username",
    "s3:dataaccesspointaccount", "s3:dataaccesspointarn",
})


def _public_statements(policy: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    return [s for s in filter(_allows, _statements(policy))
            if any(kind == "AWS" and value == "*" for kind, value in _principals(s))
            and not any(key.lower() in _RESTRICTING for key in _condition_keys(s))]


def _grants_everything(statement: Mapping[str, Any]) -> bool:
    return (_allows(statement) and "NotAction" not in statement
            and bool({"*", "*:*"} & set(_strings(statement.get("Action"))))
            and "*" in _strings(statement.get("Resource")))


def _own_user(event: Mapping[str, Any]) -> str | None:
    """The IAM user the caller is, when it is one (a role session or root is nobody's user)."""
    identity = event.get("userIdentity")
    if text(identity, "type") != "IAMUser":
        return None
    return text(identity, "userName") or (resource_name(arn) if (arn := text(identity, "arn")) else None)


def _named(value: str | None, fallback: str = "unknown") -> str:
    """A resource name or ARN as a summary shows it: the last name in an ARN."""
    return resource_name(value) if value else fallback


# ---- logging tampering -------------------------------------------------------------------------------------

def _trail(call: _Call) -> str:
    return _named(text(call.params, "name") or text(call.params, "trailName"))


def _stop_logging(call: _Call) -> _Hit:
    return _Hit(severity="high", summary=f"{call.who} stopped logging of trail {_trail(call)}")


def _delete_trail(call: _Call) -> _Hit:
    return _Hit(severity="high", summary=f"{call.who} deleted trail {_trail(call)}")


# UpdateTrail member -> its name in details.
_TRAIL_SETTINGS: Mapping[str, str] = {
    "s3BucketName": "destination_bucket", "s3KeyPrefix": "key_prefix",
    "enableLogFileValidation": "log_file_validation", "isMultiRegionTrail": "multi_region",
    "includeGlobalServiceEvents": "global_service_events", "isOrganizationTrail": "organization_trail",
    "kmsKeyId": "kms_key", "snsTopicName": "sns_topic", "cloudWatchLogsLogGroupArn": "log_group",
    "cloudWatchLogsRoleArn": "log_group_role",
}
# The settings that weaken the trail: a new destination (logs go elsewhere), or these switched off.
_SWITCHED_OFF = ("enableLogFileValidation", "isMultiRegionTrail", "includeGlobalServiceEvents", "isOrganizationTrail")


def _update_trail(call: _Call) -> _Hit:
    settings = {detail: call.params[member] for member, detail in _TRAIL_SETTINGS.items() if member in call.params}
    weakened = ["destination bucket"] if text(call.params, "s3BucketName") else []
    weakened += [_TRAIL_SETTINGS[member].replace("_", " ") for member in _SWITCHED_OFF
                 if _flag(call.params.get(member)) is False]
    what = f"weakened {', '.join(weakened)}" if weakened else f"changed {', '.join(sorted(settings)) or 'nothing'}"
    return _Hit(severity="high" if weakened else "low", summary=f"{call.who} updated trail {_trail(call)}: {what}",
                details=_details(**settings))


def _selector_gaps(params: Mapping[str, Any]) -> tuple[str, list[tuple[str, str]]] | None:
    """(kind, [(severity, what is no longer logged)]) of a PutEventSelectors; None when none were logged."""
    if isinstance(params.get("advancedEventSelectors"), list):
        return "advanced", _advanced_gaps(_mappings(params["advancedEventSelectors"]))
    if isinstance(params.get("eventSelectors"), list):
        return "basic", _basic_gaps(_mappings(params["eventSelectors"]))
    return None


def _gaps(reads: bool, writes: bool, sources: set[str] | None) -> list[tuple[str, str]]:
    found = []
    if not writes:
        found.append(("high", "write management events"))
    if not reads:
        found.append(("medium", "read-only management events"))
    if sources:
        found.append(("medium", f"management events from {', '.join(sorted(sources))}"))
    return found


def _basic_gaps(selectors: list[Mapping[str, Any]]) -> list[tuple[str, str]]:
    # AWS's defaults: includeManagementEvents true, readWriteType All.
    managed = [s for s in selectors if _flag(s.get("includeManagementEvents", True)) is not False]
    if not managed:
        return [("high", "management events")]
    kinds = {s.get("readWriteType") or "All" for s in managed}
    excluded = set.intersection(*(set(_strings(s.get("excludeManagementEventSources"))) for s in managed))
    return _gaps(bool(kinds & {"All", "ReadOnly"}), bool(kinds & {"All", "WriteOnly"}), excluded)


def _advanced_gaps(selectors: list[Mapping[str, Any]]) -> list[tuple[str, str]]:
    reads = writes = False
    excluded: set[str] | None = None
    managed = False
    for selector in selectors:
        fields = {text(f, "field"): f for f in _mappings(selector.get("fieldSelectors"))}
        if "Management" not in _strings((fields.get("eventCategory") or {}).get("Equals")):
            continue
        managed = True
        read_only = {value.lower() for value in _strings((fields.get("readOnly") or {}).get("Equals"))}
        reads = reads or not read_only or "true" in read_only
        writes = writes or not read_only or "false" in read_only
        left_out = set(_strings((fields.get("eventSource") or {}).get("NotEquals")))
        excluded = left_out if excluded is None else excluded & left_out
    if not managed:
        return [("high", "management events")]
    return _gaps(reads, writes, excluded)


def _event_selectors(call: _Call) -> _Hit:
    found = _selector_gaps(call.params)
    trail = _trail(call)
    if found is None:
        return _Hit(severity="low", summary=f"{call.who} changed the event selectors of trail {trail}",
                    details=_details(selectors="not logged"))
    kind, gaps = found
    severity = min((s for s, _ in gaps), key=_RANK.__getitem__, default="low")
    excluded = ", ".join(what for _, what in gaps)
    summary = (f"{call.who} changed the event selectors of trail {trail}: {excluded} no longer logged" if gaps
               else f"{call.who} changed the event selectors of trail {trail} (no management events excluded)")
    return _Hit(severity=severity, summary=summary, details=_details(selectors=kind, excluded=excluded))


_TRAIL_BUCKET_CALLS = {"DeleteBucket": "high", "DeleteBucketPolicy": "high", "PutBucketPolicy": "medium",
                       "PutBucketLifecycle": "medium", "PutBucketLifecycleConfiguration": "medium"}


def _trail_bucket(call: _Call) -> _Hit | None:
    bucket = text(call.params, "bucketName")
    if bucket is None or bucket not in call.trail_buckets:
        return None
    return _Hit(severity=_TRAIL_BUCKET_CALLS[call.name],
                summary=f"{call.who} called {call.name} on trail bucket {bucket}", details=_details(bucket=bucket))


def _flow_logs(call: _Call) -> _Hit:
    ids = [ref.arn.rsplit("/", 1)[-1] for ref in resources_of(call.event) if ref.type == "AWS::EC2::FlowLog"]
    return _Hit(severity="medium", summary=f"{call.who} deleted VPC flow logs {', '.join(ids) or 'unknown'}",
                details=_details(flow_logs=", ".join(ids)))


def _dns_query_logs(call: _Call) -> _Hit:
    config = text(call.params, "resolverQueryLogConfigId")
    verb = "deleted" if call.name.startswith("Delete") else "detached"
    return _Hit(severity="medium", summary=f"{call.who} {verb} Route 53 Resolver query logging {config or 'unknown'}",
                details=_details(config=config, vpc=text(call.params, "resourceId"),
                                 destination=text(call.response, "resolverQueryLogConfig", "destinationArn")))


def _leave_organization(call: _Call) -> _Hit:
    return _Hit(severity="high", summary=f"{call.who} made account {call.account or 'unknown'} leave its organization")


def _attempt(call: _Call) -> _Hit:
    code = _show(call.event.get("errorCode"))
    return _Hit(severity="low", summary=f"{call.who} tried {call.name} and failed ({_one_line(code, 80)})",
                details=_details(call=call.name, error_code=code, error_message=call.event.get("errorMessage")))


# ---- persistence -------------------------------------------------------------------------------------------

def _access_key_for_other_user(call: _Call) -> _Hit | None:
    user = text(call.params, "userName")
    if user is None or user == _own_user(call.event):
        return None
    key = text(call.response, "accessKey", "accessKeyId")
    return _Hit(severity="high", summary=f"{call.who} created access key {key or 'unknown'} for user {user}",
                details=_details(user=user, access_key_id=key))


def _login_profile(call: _Call) -> _Hit:
    own = _own_user(call.event)
    user = text(call.params, "userName") or own
    other = user is None or user != own
    verb = "created" if call.name == "CreateLoginProfile" else "changed"
    whose = f"user {user or 'unknown'}" if other else "their own user"
    return _Hit(severity="high" if other else "medium", summary=f"{call.who} {verb} the console password of {whose}",
                details=_details(user=user, password_reset_required=call.params.get("passwordResetRequired")))


def _trust_details(trust: _Trust, readable: bool) -> tuple[tuple[str, str], ...]:
    return _details(trusted_accounts=", ".join(trust.accounts), anyone=trust.anyone or None,
                    principals=", ".join(trust.principals), conditions=", ".join(trust.conditions),
                    policy=None if readable else "unreadable")


def _trust_policy(call: _Call) -> _Hit:
    policy = _document(call.params.get("policyDocument"))
    trust = _trust(policy, call.account)
    role = text(call.params, "roleName") or "unknown"
    what = f"to trust {', '.join(trust.opened_to)}" if trust.broad else "(no other account trusted)"
    return _Hit(severity="high" if trust.broad else "low",
                summary=f"{call.who} changed the trust policy of role {role} {what}",
                details=_trust_details(trust, policy is not None))


def _broad_trust_role(call: _Call) -> _Hit | None:
    trust = _trust(_document(call.params.get("assumeRolePolicyDocument")), call.account)
    if not trust.broad:
        return None
    role = text(call.params, "roleName") or "unknown"
    return _Hit(severity="high", summary=f"{call.who} created role {role} trusting {', '.join(trust.opened_to)}",
                details=_trust_details(trust, True))


_ADMIN_POLICY = re.compile(r"arn:[\w-]+:iam::aws:policy/AdministratorAccess")


def _target(params: Mapping[str, Any]) -> str:
    for key, kind in (("userName", "user"), ("roleName", "role"), ("groupName", "group")):
        if (name := text(params, key)) is not None:
            return f"{kind} {name}"
    return "unknown"


def _admin_policy(call: _Call) -> _Hit | None:
    if call.name.startswith("Attach"):
        policy = text(call.params, "policyArn")
        if policy is None or not _ADMIN_POLICY.fullmatch(policy):
            return None
        return _Hit(severity="high", summary=f"{call.who} attached AdministratorAccess to {_target(call.params)}",
                    details=_details(policy=policy))
    statement = next(filter(_grants_everything, _statements(_document(call.params.get("policyDocument")))), None)
    if statement is None:
        return None
    name = text(call.params, "policyName") or "unknown"
    return _Hit(severity="high",
                summary=f"{call.who} gave {_target(call.params)} inline policy {name} allowing every action",
                details=_details(policy=name, statement=statement))


def _lambda_backdoor(call: _Call) -> _Hit | None:
    function = _named(text(call.params, "functionName"))
    if call.name == "UpdateFunctionCode":
        if any(text(call.params, key) for key in ("s3Bucket", "s3Key", "imageUri")):
            return None
        return _Hit(severity="low", summary=f"{call.who} uploaded new code to function {function}",
                    details=_details(publish=call.params.get("publish")))
    principal = text(call.params, "principal")
    account = _account_of(principal) if principal else None
    org = text(call.params, "principalOrgID")
    if account is None or account == call.account:
        return None
    who_may = "anyone" if account == "*" else f"account {account}"
    return _Hit(severity="medium" if account == "*" and org else "high",
                summary=f"{call.who} let {who_may} invoke function {function}",
                details=_details(principal=principal, action=call.params.get("action"), principal_org_id=org,
                                 function_url_auth_type=call.params.get("functionUrlAuthType"),
                                 statement_id=call.params.get("statementId")))


# ---- exposure ----------------------------------------------------------------------------------------------

def _public_bucket_policy(call: _Call) -> _Hit | None:
    public = _public_statements(_document(call.params.get("bucketPolicy")))
    if not public:
        return None
    bucket = text(call.params, "bucketName") or "unknown"
    actions = sorted({action for s in public for action in _strings(s.get("Action"))})
    return _Hit(severity="high",
                summary=f"{call.who} made bucket {bucket} public by policy ({', '.join(actions) or 'no actions'})",
                details=_details(statement=public[0], public_statements=str(len(public)), actions=", ".join(actions)))


_PUBLIC_GROUPS = ("AllUsers", "AuthenticatedUsers")
_CANNED_PUBLIC = {"public-read": "AllUsers READ", "public-read-write": "AllUsers READ, AllUsers WRITE",
                  "authenticated-read": "AuthenticatedUsers READ"}
_GRANT_HEADERS = {"x-amz-grant-read": "READ", "x-amz-grant-write": "WRITE", "x-amz-grant-read-acp": "READ_ACP",
                  "x-amz-grant-write-acp": "WRITE_ACP", "x-amz-grant-full-control": "FULL_CONTROL"}


def _public_group(uri: str | None) -> str | None:
    """http://acs.amazonaws.com/groups/global/AllUsers -> AllUsers; any other grantee -> None."""
    group = (uri or "").rstrip("/").rsplit("/", 1)[-1]
    return group if group in _PUBLIC_GROUPS and "acs.amazonaws.com/groups/" in (uri or "") else None


def _public_grants(params: Mapping[str, Any]) -> list[str]:
    grants = []
    policy = params.get("AccessControlPolicy")
    acl = policy.get("AccessControlList") if isinstance(policy, Mapping) else None
    for grant in _mappings(acl.get("Grant") if isinstance(acl, Mapping) else None):
        if (group := _public_group(text(grant, "Grantee", "URI"))) is not None:
            grants.append(f"{group} {text(grant, 'Permission') or 'unknown'}")
    for header, permission in _GRANT_HEADERS.items():
        for value in _strings(params.get(header)):
            for part in value.split(","):    # uri="http://acs.amazonaws.com/groups/global/AllUsers", id="..."
                kind, _, target = part.strip().partition("=")
                if kind.strip().lower() == "uri" and (group := _public_group(target.strip().strip('"'))):
                    grants.append(f"{group} {permission}")
    for canned in _strings(params.get("x-amz-acl")):
        if canned in _CANNED_PUBLIC:
            grants.extend(_CANNED_PUBLIC[canned].split(", "))
    return sorted(set(grants))


def _public_bucket_acl(call: _Call) -> _Hit | None:
    grants = _public_grants(call.params)
    if not grants:
        return None
    bucket, key = text(call.params, "bucketName") or "unknown", text(call.params, "key")
    target = f"object {key} in bucket {bucket}" if call.name == "PutObjectAcl" else f"bucket {bucket}"
    return _Hit(severity="high", summary=f"{call.who} granted {', '.join(grants)} on {target} by ACL",
                details=_details(grants=", ".join(grants),
                                 canned_acl=", ".join(_strings(call.params.get("x-amz-acl")))))


_PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _public_access_block(call: _Call) -> _Hit | None:
    account_level = "Account" in call.name
    scope = f"account {call.account or 'unknown'}" if account_level else \
        f"bucket {text(call.params, 'bucketName') or 'unknown'}"
    if call.name.startswith("Delete"):
        off = list(_PUBLIC_ACCESS_FLAGS)
        summary = f"{call.who} deleted the S3 public access block of {scope}"
    else:
        body = call.params.get("PublicAccessBlockConfiguration")
        if not isinstance(body, Mapping):
            return None
        # A flag left out is false: the call replaces the whole configuration.
        off = [flag for flag in _PUBLIC_ACCESS_FLAGS if _flag(body.get(flag, False)) is not True]
        if not off:
            return None
        summary = f"{call.who} turned off {', '.join(off)} in the S3 public access block of {scope}"
    return _Hit(severity="high" if account_level else "medium", summary=summary,
                details=_details(off=", ".join(off), scope="account" if account_level else "bucket"))


def _shared_with(section: Any) -> tuple[list[str], list[str], list[str]]:
    """The "add" part of an EC2 permission -> (public groups, account ids, organization/OU ARNs)."""
    added = section.get("add") if isinstance(section, Mapping) else None
    groups, accounts, orgs = [], [], []
    for entry in _mappings(added):
        if (group := text(entry, "group")) is not None:
            groups.append(group)
        if (account := text(entry, "userId")) is not None:
            accounts.append(account)
        orgs.extend(value for key in ("organizationArn", "organizationalUnitArn") if (value := text(entry, key)))
    return sorted(set(groups)), sorted(set(accounts)), sorted(set(orgs))


def _share(call: _Call, what: str, identifier: str, section: str, *, org_severity: str) -> _Hit | None:
    groups, accounts, orgs = _shared_with(call.params.get(section))
    accounts = [a for a in accounts if a != call.account]
    if not (groups or accounts or orgs):
        return None
    with_whom = [*(("everyone" if g == "all" else f"group {g}") for g in groups),
                 *(f"account {a}" for a in accounts), *orgs]
    severity = "high" if groups or accounts else org_severity
    name = text(call.params, identifier) or "unknown"
    return _Hit(severity=severity, summary=f"{call.who} shared {what} {name} with {', '.join(with_whom)}",
                details=_details(public="true" if "all" in groups else None, accounts=", ".join(accounts),
                                 groups=", ".join(groups), organizations=", ".join(orgs)))


def _snapshot_shared(call: _Call) -> _Hit | None:
    return _share(call, "snapshot", "snapshotId", "createVolumePermission", org_severity="high")


def _image_shared(call: _Call) -> _Hit | None:
    return _share(call, "image", "imageId", "launchPermission", org_severity="medium")


def _rds_snapshot_shared(call: _Call) -> _Hit | None:
    if text(call.params, "attributeName") != "restore":
        return None
    added = [value for value in _strings(call.params.get("valuesToAdd")) if value != call.account]
    if not added:
        return None
    name = text(call.params, "dBSnapshotIdentifier") or text(call.params, "dBClusterSnapshotIdentifier") or "unknown"
    with_whom = ["everyone" if value == "all" else f"account {value}" for value in added]
    return _Hit(severity="high", summary=f"{call.who} shared database snapshot {name} with {', '.join(with_whom)}",
                details=_details(public="true" if "all" in added else None,
                                 accounts=", ".join(sorted(v for v in added if v != "all"))))


_ADMIN_PORTS = (22, 3389)


def _is_world(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def _ports(protocol: Any, low: Any, high: Any) -> tuple[str, bool]:
    """(ports as text, whether they include an admin port or all ports) of one permission."""
    proto = str(protocol).lower() if isinstance(protocol, str | int) and not isinstance(protocol, bool) else "unknown"
    if proto in ("-1", "all"):
        return "all ports", True
    start, end = _port(low), _port(high)
    if proto not in ("tcp", "udp", "6", "17"):
        return proto, False
    if start is None or end is None:
        return f"{proto} ports unknown", False
    shown = f"{proto} {start}" if start == end else f"{proto} {start}-{end}"
    everything = (start <= 0 and end >= 65535) or start == end == -1
    return shown, everything or any(start <= port <= end for port in _ADMIN_PORTS)


def _permissions(params: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], list[str]]]:
    """(permission, its CIDRs) of an AuthorizeSecurityGroupIngress: the legacy flat form and ipPermissions."""
    found = []
    if (cidr := text(params, "cidrIp")) is not None:
        found.append((params, [cidr]))
    for permission in _mappings(params.get("ipPermissions")):
        cidrs = [c for r in _mappings(permission.get("ipRanges")) if (c := text(r, "cidrIp"))]
        cidrs += [c for r in _mappings(permission.get("ipv6Ranges")) if (c := text(r, "cidrIpv6"))]
        found.append((permission, cidrs))
    return found


def _security_group_open(call: _Call) -> _Hit | None:
    cidrs, ports, admin = set(), set(), False
    for permission, ranges in _permissions(call.params):
        world = [cidr for cidr in ranges if _is_world(cidr)]
        if world:
            shown, dangerous = _ports(permission.get("ipProtocol"), permission.get("fromPort"),
                                      permission.get("toPort"))
            cidrs.update(world)
            ports.add(shown)
            admin = admin or dangerous
    if not cidrs:
        return None
    group = text(call.params, "groupId") or text(call.params, "groupName") or "unknown"
    return _Hit(severity="high" if admin else "medium",
                summary=(f"{call.who} opened security group {group} to {', '.join(sorted(cidrs))} "
                         f"on {', '.join(sorted(ports))}"),
                details=_details(cidr=", ".join(sorted(cidrs)), ports=", ".join(sorted(ports)), group=group))


# ---- insight -----------------------------------------------------------------------------------------------

_INSIGHT = "insight"        # the eventSource of the dispatch key of Insight events (which have none)


def _is_insight(event: Mapping[str, Any]) -> bool:
    return (event.get("eventCategory") == "Insight" or event.get("eventType") == "AwsCloudTrailInsight"
            or isinstance(event.get("insightDetails"), Mapping))


def _insight(call: _Call) -> _Hit:
    found = call.event.get("insightDetails")
    found = found if isinstance(found, Mapping) else {}
    state, kind = text(found, "state") or "unknown", text(found, "insightType") or "unknown"
    source, name = text(found, "eventSource") or "unknown", text(found, "eventName") or "unknown"
    context = found.get("insightContext")
    statistics = context.get("statistics") if isinstance(context, Mapping) else None
    baseline = (statistics or {}).get("baseline") if isinstance(statistics, Mapping) else None
    insight = (statistics or {}).get("insight") if isinstance(statistics, Mapping) else None
    base_avg = baseline.get("average") if isinstance(baseline, Mapping) else None
    insight_avg = insight.get("average") if isinstance(insight, Mapping) else None
    callers = []
    attributions = context.get("attributions") if isinstance(context, Mapping) else None
    for attribution in _mappings(attributions):
        if attribution.get("attribute") == "userIdentityArn":
            callers += [v for entry in _mappings(attribution.get("insight")) if (v := text(entry, "value"))]
    verb = {"Start": "started", "End": "ended"}.get(state, f"reported ({state})")
    rates = (f": {_show(insight_avg)} per minute against a baseline of {_show(base_avg)}"
             if insight_avg is not None and base_avg is not None else "")
    return _Hit(severity="low", summary=f"CloudTrail Insight {kind} {verb} for {source} {name}{rates}",
                details=_details(state=state, insight_type=kind, event_source=source, event_name=name,
                                 error_code=found.get("errorCode"), insight_average=insight_avg,
                                 baseline_average=base_avg, insight_id=call.event.get("sharedEventID"),
                                 callers=", ".join(callers)))


# ---- the table ---------------------------------------------------------------------------------------------

_CT, _IAM, _S3, _EC2 = "cloudtrail.amazonaws.com", "iam.amazonaws.com", "s3.amazonaws.com", "ec2.amazonaws.com"
_RESOLVER, _LAMBDA = "route53resolver.amazonaws.com", "lambda.amazonaws.com"
_ORGS, _RDS = "organizations.amazonaws.com", "rds.amazonaws.com"
_TRAIL_TYPE, _ACCOUNT_TYPE = ("AWS::CloudTrail::Trail",), ("AWS::::Account",)
_RESOLVER_TYPE = ("AWS::Route53Resolver::ResolverQueryLoggingConfig",)
_LOGGING_CALLS = {
    "logging.stop-logging": ((_CT, "StopLogging"),),
    "logging.delete-trail": ((_CT, "DeleteTrail"),),
    "logging.update-trail": ((_CT, "UpdateTrail"),),
    "logging.event-selectors": ((_CT, "PutEventSelectors"),),
    "logging.vpc-flow-logs": ((_EC2, "DeleteFlowLogs"),),
    "logging.dns-query-logs": ((_RESOLVER, "DeleteResolverQueryLogConfig"),
                               (_RESOLVER, "DisassociateResolverQueryLogConfig")),
    "organizations.leave": ((_ORGS, "LeaveOrganization"),),
}


def _signal_rule(title: str, severity: str) -> Rule:
    return Rule(category="credential-misuse", severity=severity, title=title, detector=None)


RULES: Mapping[str, Rule] = {
    # logging tampering
    "logging.stop-logging": Rule(
        category="logging-tampering", severity="high", title="Trail logging stopped", detector=_stop_logging,
        calls=_LOGGING_CALLS["logging.stop-logging"], resource_types=_TRAIL_TYPE),
    "logging.delete-trail": Rule(
        category="logging-tampering", severity="high", title="Trail deleted", detector=_delete_trail,
        calls=_LOGGING_CALLS["logging.delete-trail"], resource_types=_TRAIL_TYPE),
    "logging.update-trail": Rule(
        category="logging-tampering", severity="high", title="Trail settings changed", detector=_update_trail,
        calls=_LOGGING_CALLS["logging.update-trail"], resource_types=_TRAIL_TYPE),
    "logging.event-selectors": Rule(
        category="logging-tampering", severity="high", title="Trail event selectors changed",
        detector=_event_selectors, calls=_LOGGING_CALLS["logging.event-selectors"], resource_types=_TRAIL_TYPE),
    "logging.trail-bucket": Rule(
        category="logging-tampering", severity="high", title="Trail bucket changed", detector=_trail_bucket,
        calls=tuple((_S3, name) for name in _TRAIL_BUCKET_CALLS), resource_types=("AWS::S3::Bucket",)),
    "logging.vpc-flow-logs": Rule(
        category="logging-tampering", severity="medium", title="VPC flow logs deleted", detector=_flow_logs,
        calls=_LOGGING_CALLS["logging.vpc-flow-logs"], resource_types=("AWS::EC2::FlowLog",)),
    "logging.dns-query-logs": Rule(
        category="logging-tampering", severity="medium", title="DNS query logging removed",
        detector=_dns_query_logs, calls=_LOGGING_CALLS["logging.dns-query-logs"], resource_types=_RESOLVER_TYPE),
    "organizations.leave": Rule(
        category="logging-tampering", severity="high", title="Account left its organization",
        detector=_leave_organization, calls=_LOGGING_CALLS["organizations.leave"], resource_types=_ACCOUNT_TYPE),
    "logging.attempt": Rule(
        category="logging-tampering", severity="low", title="Failed attempt to weaken logging", detector=_attempt,
        calls=tuple(call for calls in _LOGGING_CALLS.values() for call in calls), failed=True,
        resource_types=(*_TRAIL_TYPE, *_ACCOUNT_TYPE, "AWS::EC2::FlowLog", *_RESOLVER_TYPE)),
    # persistence
    "persistence.access-key-for-other-user": Rule(
        category="persistence", severity="high", title="Access key created for another user",
        detector=_access_key_for_other_user, calls=((_IAM, "CreateAccessKey"),), resource_types=("AWS::IAM::User",)),
    "persistence.login-profile": Rule(
        category="persistence", severity="high", title="Console password set", detector=_login_profile,
        calls=((_IAM, "CreateLoginProfile"), (_IAM, "UpdateLoginProfile")), resource_types=("AWS::IAM::User",)),
    "persistence.trust-policy": Rule(
        category="persistence", severity="high", title="Role trust policy changed", detector=_trust_policy,
        calls=((_IAM, "UpdateAssumeRolePolicy"),), resource_types=("AWS::IAM::Role",)),
    "persistence.broad-trust-role": Rule(
        category="persistence", severity="high", title="Role created with broad trust", detector=_broad_trust_role,
        calls=((_IAM, "CreateRole"),), resource_types=("AWS::IAM::Role",)),
    "persistence.admin-policy": Rule(
        category="persistence", severity="high", title="Administrator permissions granted", detector=_admin_policy,
        calls=tuple((_IAM, f"{verb}{kind}Policy") for verb in ("Attach", "Put") for kind in ("User", "Role", "Group")),
        resource_types=("AWS::IAM::User", "AWS::IAM::Role", "AWS::IAM::Group")),
    "persistence.lambda-backdoor": Rule(
        category="persistence", severity="high", title="Lambda function opened or its code replaced",
        detector=_lambda_backdoor, calls=((_LAMBDA, "AddPermission"), (_LAMBDA, "UpdateFunctionCode")),
        resource_types=("AWS::Lambda::Function",)),
    # exposure
    "exposure.public-bucket-policy": Rule(
        category="exposure", severity="high", title="Bucket made public by policy", detector=_public_bucket_policy,
        calls=((_S3, "PutBucketPolicy"),), resource_types=("AWS::S3::Bucket",)),
    "exposure.public-bucket-acl": Rule(
        category="exposure", severity="high", title="Bucket or object made public by ACL", detector=_public_bucket_acl,
        calls=((_S3, "PutBucketAcl"), (_S3, "PutObjectAcl")), resource_types=("AWS::S3::Object", "AWS::S3::Bucket")),
    "exposure.public-access-block-removed": Rule(
        category="exposure", severity="high", title="S3 public access block removed",
        detector=_public_access_block,
        # S3's API names and the names CloudTrail logs (PutBucketPublicAccessBlock) are both here.
        calls=tuple((_S3, f"{verb}{scope}PublicAccessBlock") for verb in ("Put", "Delete")
                    for scope in ("", "Bucket", "Account")),
        resource_types=("AWS::S3::Bucket", *_ACCOUNT_TYPE)),
    "exposure.snapshot-shared": Rule(
        category="exposure", severity="high", title="EBS snapshot shared", detector=_snapshot_shared,
        calls=((_EC2, "ModifySnapshotAttribute"),), resource_types=("AWS::EC2::Snapshot",)),
    "exposure.image-shared": Rule(
        category="exposure", severity="high", title="Machine image shared", detector=_image_shared,
        calls=((_EC2, "ModifyImageAttribute"),), resource_types=("AWS::EC2::Image",)),
    "exposure.rds-snapshot-shared": Rule(
        category="exposure", severity="high", title="Database snapshot shared", detector=_rds_snapshot_shared,
        calls=((_RDS, "ModifyDBSnapshotAttribute"), (_RDS, "ModifyDBClusterSnapshotAttribute")),
        resource_types=("AWS::RDS::DBSnapshot", "AWS::RDS::DBClusterSnapshot")),
    "exposure.security-group-open": Rule(
        category="exposure", severity="high", title="Security group opened to the internet",
        detector=_security_group_open, calls=((_EC2, "AuthorizeSecurityGroupIngress"),),
        resource_types=("AWS::EC2::SecurityGroup",)),
    # credential misuse: one row per trailbeam.signals detector, fed by from_signals (the severity is the
    # highest that detector gives; each finding keeps its signal's own)
    "credential-misuse.session-key-moved": _signal_rule("Session key used from elsewhere", "high"),
    "credential-misuse.long-term-key-new-network": _signal_rule("Long-term key used from a new network", "medium"),
    "credential-misuse.cross-account-chain": _signal_rule("Role chain across accounts", "medium"),
    "credential-misuse.issuer-outside-logs": _signal_rule("Sessions issued by a session not in the logs", "low"),
    "credential-misuse.unusual-token-call": _signal_rule("Unusual token call", "medium"),
    # CloudTrail Insight events
    "insight.api-call-rate": Rule(
        category="insight", severity="low", title="Unusual API call rate (CloudTrail Insight)", detector=_insight,
        calls=((_INSIGHT, "ApiCallRateInsight"),)),
    "insight.api-error-rate": Rule(
        category="insight", severity="low", title="Unusual API error rate (CloudTrail Insight)", detector=_insight,
        calls=((_INSIGHT, "ApiErrorRateInsight"),)),
    "insight.other": Rule(
        category="insight", severity="low", title="CloudTrail Insight", detector=_insight),
}

# (eventSource, eventName, failed) -> the rules that read such calls, in RULES order.
_BY_CALL: Mapping[tuple[str, str, bool], tuple[str, ...]] = {
    key: tuple(rule_id for rule_id, rule in RULES.items() for source, name in rule.calls
               if (source, name, rule.failed) == key)
    for key in {(source, name, rule.failed) for rule in RULES.values() for source, name in rule.calls}
}


# ---- public API --------------------------------------------------------------------------------------------

def _rules_for(event: Mapping[str, Any]) -> tuple[str, ...]:
    if _is_insight(event):
        found = _BY_CALL.get((_INSIGHT, text(event, "insightDetails", "insightType") or "", False))
        return found or ("insight.other",)
    source = event.get("eventSource")
    if not isinstance(source, str):
        return ()
    return _BY_CALL.get((source, call_name(event), is_failed(event)), ())


def _origin(event: Mapping[str, Any], attributed: Mapping[str, Any] | None) -> str | None:
    if attributed is None:
        return None
    joined = attributed.get("eventID")
    if joined is not None and joined != event.get("eventID"):
        # A wrong join would name somebody else's origin: a bug in the caller, never a data error.
        raise ValueError(f"attributed record {joined!r} is not event {event.get('eventID')!r}")
    origin = attributed.get("originPrincipal")
    return origin if isinstance(origin, str) and origin else None


def _resource(refs: tuple[ResourceRef, ...], types: tuple[str, ...]) -> str | None:
    for type_ in types:
        for ref in refs:
            if ref.type == type_:
                return ref.arn
    return None


def detect_event(event: Any, attributed: Mapping[str, Any] | None = None, *,
                 trail_buckets: Iterable[str] = ()) -> list[Finding]:
    """The findings of every event rule on one CloudTrail event, in ``sort_findings`` order.

    Args:
        event: one original CloudTrail record (a dict as AWS wrote it). Anything else gives no findings.
        attributed: the event's ``AttributedEvent`` record (or any mapping with ``eventID`` and
            ``originPrincipal``), for the origin behind the caller; None when not attributed.
        trail_buckets: names of buckets trails deliver to (``trail_buckets_of``), for ``logging.trail-bucket``.

    Raises:
        ValueError: ``attributed`` is another event's record, or an event a rule matched has no
            ``eventID`` or no valid ``eventTime`` (the event store never holds such an event).
    """
    if not isinstance(event, Mapping):
        return []
    rule_ids = _rules_for(event)
    if not rule_ids:
        return []
    principal, origin = principal_of(event), _origin(event, attributed)
    who = principal or "an unknown caller"
    if origin is not None and origin != principal:
        who = f"{who} (origin {origin})"
    account = text(event, "recipientAccountId") or text(event, "userIdentity", "accountId")
    call = _Call(event=event, name=call_name(event), params=request(event), response=response(event),
                 account=account, who=who, trail_buckets=frozenset(trail_buckets))
    hits = [(rule_id, hit) for rule_id in rule_ids if (hit := RULES[rule_id].detector(call)) is not None]
    if not hits:
        return []
    event_id = event.get("eventID")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"event without an eventID: {call.name or 'Insight'}")
    time = timestamps.parse_micros(event.get("eventTime"))
    refs = resources_of(event) if any(RULES[rule_id].resource_types for rule_id, _ in hits) else ()
    return sort_findings(
        Finding(rule=rule_id, category=RULES[rule_id].category, severity=hit.severity, title=RULES[rule_id].title,
                summary=_one_line(hit.summary, _MAX_SUMMARY), time=time, event_ids=(event_id,),
                resource=_resource(refs, RULES[rule_id].resource_types), principal=principal, origin=origin,
                details=hit.details)
        for rule_id, hit in hits)


def trail_buckets_of(event: Any) -> frozenset[str]:
    """The buckets a successful CreateTrail, UpdateTrail, DescribeTrails or GetTrail names as a trail's
    destination: a first pass over the events collects them for ``logging.trail-bucket``."""
    if not isinstance(event, Mapping) or event.get("eventSource") != _CT or is_failed(event):
        return frozenset()
    params, answer = request(event), response(event)
    found = [text(params, "s3BucketName"), text(answer, "s3BucketName"), text(answer, "trail", "s3BucketName")]
    found += [text(trail, "s3BucketName") for trail in _mappings(answer.get("trailList"))]
    return frozenset(name for name in found if name is not None)


def detect_events(events: Iterable[Any], *, attributed: Iterable[Mapping[str, Any]] = (),
                  trail_buckets: Iterable[str] = ()) -> list[Finding]:
    """Every finding of a collection of events held in memory, in ``sort_findings`` order.

    Trail buckets are learned from the events themselves (``trail_buckets_of``) and added to
    ``trail_buckets``; ``attributed`` records are joined to events by eventID. A pipeline does the same in
    two passes: the trail buckets as a side input, then ``detect_event`` file by file.
    """
    held = list(events)
    buckets = frozenset(trail_buckets).union(*(trail_buckets_of(event) for event in held))
    origins = {record.get("eventID"): record for record in attributed}
    return sort_findings(finding for event in held
                         for finding in detect_event(event, origins.get(event.get("eventID"))
                                                     if isinstance(event, Mapping) else None,
                                                     trail_buckets=buckets))


# Signals whose principal is the origin of a chain of sessions, not the caller of one event.
_ORIGIN_SIGNALS = frozenset({"session-key-moved", "cross-account-chain"})


def _signal_fields(signal: Signal | Mapping[str, Any]) -> tuple[str, str, str, str, Any, Any, Any, Any, Any]:
    if isinstance(signal, Signal):
        return (signal.kind, signal.severity, signal.summary, signal.principal, signal.credential,
                signal.first_seen, signal.last_seen, signal.event_ids, dict(signal.details))
    fields = ("kind", "severity", "summary", "principal", "credential", "first_seen", "last_seen", "event_ids",
              "details")
    missing = [name for name in fields if name not in signal]
    if missing:
        raise ValueError(f"signal record without {', '.join(missing)}")
    first, last = (timestamps.parse_micros(signal[name]) for name in ("first_seen", "last_seen"))
    return (*(signal[name] for name in fields[:5]), first, last, signal["event_ids"], signal["details"])


def from_signals(signals: Iterable[Signal | Mapping[str, Any]]) -> list[Finding]:
    """Credential signals -> findings of category credential-misuse, in ``sort_findings`` order.

    Args:
        signals: records of the identity dataset's ``signals.json`` (``identityreport.signal_record``:
            times as ISO 8601) or ``signals.Signal`` values.

    Raises:
        ValueError: a record misses a field, has a kind no rule covers or a severity not in SEVERITIES.
    """
    found = []
    for signal in signals:
        kind, severity, summary, principal, credential, first, last, event_ids, details = _signal_fields(signal)
        rule_id = f"credential-misuse.{kind}"
        if rule_id not in RULES:
            raise ValueError(f"no rule for signal kind {kind!r}")
        if severity not in _RANK:
            raise ValueError(f"signal severity {severity!r} is not one of {', '.join(SEVERITIES)}")
        named = {str(k): v for k, v in (details.items() if isinstance(details, Mapping) else ())}
        named.setdefault("credential", credential)
        named.setdefault("last_seen", timestamps.format_micros(last))
        origin = principal if kind in _ORIGIN_SIGNALS else named.get("origin")
        found.append(Finding(
            rule=rule_id, category=RULES[rule_id].category, severity=severity, title=RULES[rule_id].title,
            summary=_one_line(str(summary), _MAX_SUMMARY), time=first,
            event_ids=tuple(str(e) for e in event_ids), resource=None, principal=principal,
            origin=origin if isinstance(origin, str) and origin else None, details=_details(**named)))
    return sort_findings(found)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings by (time, severity with high first, rule, event ids), then resource and summary: the same
    findings in any order give the same list."""
    return sorted(findings, key=lambda f: (f.time, _RANK[f.severity], f.rule, f.event_ids, f.resource or "",
                                           f.summary))
