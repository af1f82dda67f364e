"""Which AWS resources a CloudTrail event touched: the index behind resource histories (issue 6).

``resources_of(event)`` takes one CloudTrail record (the original JSON object) and returns the
resources it touched, each a ``ResourceRef`` named by an ARN, deduplicated and sorted by
(type, arn). A resource's history is every event whose ``resources_of`` holds its ARN, so the rule
above all others is *one resource, one ARN*: every way an event can name a resource (a name, an id,
a partial or full ARN, CloudTrail's own ``resources[]``) must come out as the same string.
``canonical_arn`` is that mapping, public so that ARNs from elsewhere (``userIdentity.arn``, an
analyst's query) can be joined with the index.

Where the ARNs come from (the first source to name an ARN gives its type):

1. ``resources[]``: the ARNs (and CloudFormation-style types) CloudTrail itself recorded.
2. ``_RULES``, one table. A key is an ``eventSource`` (the service's row: the identifier fields
   every call of that service uses) or an ``(eventSource, eventName)`` pair (what only that call
   carries: a resource created in its response, an owner the caller implies, an account setting).
   Both rows of an event apply; API-version suffixes (``UpdateFunctionCode20150331v2``) are dropped
   from the name first. A row is a tuple of extractors, nearly always
   ``_fields(namer, "requestParameters.userName", ...)``: the strings at those paths (lists on the
   way are walked) turned into ARNs by a namer such as ``_iam_user``. A new rule is one row.
3. A generic fallback when the table found nothing (unknown services, new calls): every string in
   requestParameters/responseElements that is a well-formed ARN, plus a few unambiguous id fields
   (``bucketName``, ``instanceId`` ``i-…``, ``groupId`` ``sg-…``, ``functionName``, ``roleName``).
   The caller's own ARN is skipped: it names the actor, not a resource. ``userName`` is not one of
   the fields: Transfer, Cognito and others use it for users that are not IAM users, and an IAM
   user's history must not gain their events.

"Touched" means named by the request as its target or operand (both sides of an attach), or created
by the call (its response). ARNs only referenced as settings (a function's execution role, a
trail's bucket) are not resources of the event, except in the generic fallback, which cannot tell.

ARN conventions: AWS's formats, built from the event (departures marked *):

- partition: that of the caller's ARN (``userIdentity.arn``), else of ``resources[]``, else from
  ``awsRegion`` (``cn-`` aws-cn, ``us-gov-`` aws-us-gov, ``us-iso-``/``us-isob-``/``eu-isoe-``/
  ``us-isof-`` aws-iso*, ``eusc-`` aws-eusc, else aws). The caller's ARN wins because it is what
  AWS wrote, and a principal only ever calls endpoints of its own partition.
- account: ``recipientAccountId`` (else ``userIdentity.accountId``) for names and ids; an ARN in
  the event keeps its own (a cross-account role, a partial Lambda ARN). ``ResourceRef.account`` is
  the ARN's 12-digit account, else the ``accountId`` CloudTrail gave in ``resources[]``, else None
  (S3, EC2 images and snapshots, AWS-managed policies have no account in their ARN).
- region: ``awsRegion``; global resources have an empty region, as AWS writes them (IAM, STS,
  S3, Organizations), and ``ResourceRef.region`` None.
- IAM users, roles, groups, managed policies, instance profiles, MFA devices:
  ``arn:P:iam::A:user/NAME``. *Paths are dropped: most calls name only the NAME (unique per
  account whatever the path), so keeping AWS's ``role/service-role/NAME`` where an event has it
  would split one role's history in two. Inline policies, login profiles, passwords, signing keys
  are part of their owner (user, role or group). AWS-managed policies keep their ARN.
- *IAM access keys (AWS gives them no ARN): ``<owner ARN>/accesskey/<key id>``, type
  ``AWS::IAM::AccessKey``; the owner is ``userName``, else the calling user (or root).
- MFA devices: ``arn:P:iam::A:mfa/NAME`` (a virtual device's serial number is this ARN; *a hardware
  serial becomes ``mfa/SERIAL``), also touching the user they are enabled for.
- *The account itself (account-level settings, root sign-in, LeaveOrganization, an account an
  Organizations call names): ``arn:P:iam::A:root``, type ``AWS::::Account`` (AWS Config's name):
  the ARN by which policies name the whole account.
- STS: ``AssumeRole*`` touches the role (``roleArn``) and the session
  (``assumedRoleUser.arn``, ``AWS::STS::AssumedRole``); ``GetFederationToken`` the federated user.
- S3: ``arn:P:s3:::BUCKET`` and objects ``arn:P:s3:::BUCKET/KEY``.
- EC2: ``arn:P:ec2:R:A:instance/ID`` (also security-group, volume, vpc, subnet, vpc-flow-log,
  network-interface, ...), ``key-pair/NAME``; images and snapshots have no account:
  ``arn:P:ec2:R::image/ami-…``. Every id under a known key anywhere in the request or response
  counts (RunInstances: every instance launched, and the image and subnet it names).
- Lambda: ``arn:P:lambda:R:A:function:NAME`` from a name, partial or full ARN; *qualifiers
  (versions, aliases) are dropped, so permissions, aliases and versions are part of the function.
  Layers ``layer:NAME`` likewise without their version.
- *Secrets Manager: ``arn:P:secretsmanager:R:A:secret:NAME``, the partial ARN AWS accepts: calls
  naming a secret by name cannot know the six-character suffix of its full ARN, so it is dropped.
- SSM parameters: ``arn:P:ssm:R:A:parameter/NAME`` with one slash whether or not NAME starts with
  ``/``; version and label selectors (``NAME:3``) are dropped. Sessions ``session/ID``.
- KMS: ``key/ID`` or ``alias/NAME`` (``keyId`` may be either, or an ARN of either).
- RDS: ``arn:P:rds:R:A:db:ID`` (``snapshot:``, ``cluster:``, ``cluster-snapshot:``), identifiers
  lower-cased as RDS stores them.
- *Organizations: AWS's ARNs carry the organization id (and a policy's type), which most
  Organizations events do not; so OUs, roots, policies and handshakes are
  ``arn:P:organizations::MGMT:ou/ou-…`` (``root/r-…``, ``policy/p-…``, ``handshake/h-…``) and
  exact ARNs found in events are rewritten to that form (MGMT is the calling account, ``aws`` for
  AWS-managed policies such as ``p-FullAWSAccess``). Organizations are exact
  (``organization/o-…``); member accounts are the account resource above.
- Also: Route 53 Resolver query-log configs, rules and endpoints, EKS clusters, CloudTrail trails
  (``name`` or ARN; event and insight selectors are part of the trail), Bedrock foundation models
  (``arn:P:bedrock:R::foundation-model/ID``), GuardDuty detectors, log groups, DynamoDB tables,
  SQS queues (from ``queueUrl``), SNS topics.
- ARNs are recognised by the brief's grammar widened to the isolated partitions (aws-iso*,
  aws-eusc) and to the ``aws`` account of AWS-managed policies.

Work is bounded whatever the input: at most ``_MAX_LIST`` elements are taken from any one list, a
walk visits at most ``_MAX_NODES`` values, an event yields at most ``_MAX_REFS`` ARNs from each of
the table and the fallback, and strings longer than ``_MAX_ARN`` are never names.
Values of any JSON type in any place are skipped, never raised on, and so are the placeholders
CloudTrail writes for withheld values (``HIDDEN_DUE_TO_SECURITY_REASONS``).
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceRef:
    """One resource an event touched, named by its ARN."""

    arn: str                      # the resource's ARN (synthesised in AWS's ARN format when the event has none)
    type: str                     # CloudFormation-style type: AWS::IAM::User, AWS::S3::Bucket, AWS::EC2::SecurityGroup
    account: str | None
    region: str | None            # None for global resources (IAM, S3 bucket ARNs)


@dataclass(frozen=True, slots=True, kw_only=True)
class Coverage:
    """How much of a run's write activity the index can place on a resource."""

    write_events: int
    unresolved: int                             # write events for which resources_of found nothing
    unresolved_share: float                     # unresolved / write_events; 0.0 without write events
    top_unresolved: tuple[tuple[str, str, int], ...]   # (eventSource, eventName, count), most first


_MAX_LIST = 200       # elements taken from any one list (a 10,000-name request costs 200)
_MAX_NODES = 5_000    # values one walk of requestParameters or responseElements visits
_MAX_ARN = 2_048      # AWS's own limit on ARN length; longer strings are documents, not names
_MAX_REFS = 1_000     # ARNs taken from the table, and again from the generic fallback, per event

# The brief's ARN grammar, widened to the isolated partitions and to the "aws" account of
# AWS-managed policies. fullmatch and `.` (no newline) keep policy documents from matching.
_ARN = re.compile(r"arn:(aws(?:-cn|-us-gov|-iso(?:-[bef])?|-eusc)?):([a-z0-9-]+):([a-z0-9-]*):(\d{12}|aws)?:(.+)")
_ACCOUNT_ID = re.compile(r"\d{12}")
_IAM_NAME = re.compile(r"[\w+=,.@-]{1,128}")
_ID = re.compile(r"[\w.-]{1,128}")
_NAME = re.compile(r"[\w.+=,@/#-]{1,512}")
_BUCKET = re.compile(r"[\w.-]{1,255}")
_ACCESS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]{1,1024}")
_API_VERSION = re.compile(r"(?:\d{8}(?:v\d+)?|\d{4}_\d{2}_\d{2})$")
_READ_PREFIXES = ("Get", "Describe", "List", "Head", "Lookup")
_ROOT_USER_NAME = "AWS ROOT USER"   # what IAM writes as userName when root acts on itself
# What CloudTrail writes in place of a value it withholds (an unknown user name at sign-in, tags):
# valid-looking names, which would otherwise merge every such event into one fake resource.
_REDACTED = frozenset({"HIDDEN_DUE_TO_SECURITY_REASONS", "<sensitiveDataRemoved>"})
_REGION_PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"),
                      ("us-isof-", "aws-iso-f"), ("us-iso-", "aws-iso"), ("eu-isoe-", "aws-iso-e"),
                      ("eusc-", "aws-eusc"))


# ---- ARNs: canonical form and type ------------------------------------------------------------

def _iam_canonical(resource: str) -> str:
    owner, sep, key = resource.partition("/accesskey/")
    kind, slash, rest = owner.partition("/")
    if slash and kind in ("user", "role", "group", "policy", "instance-profile", "mfa", "server-certificate"):
        owner = f"{kind}/{rest.rsplit('/', 1)[-1]}"
    return owner + sep + key


def _organizations_canonical(partition: str, account: str, resource: str) -> str:
    kind, _, rest = resource.partition("/")
    last = rest.rsplit("/", 1)[-1]
    if kind == "account" and _ACCOUNT_ID.fullmatch(last):
        return f"arn:{partition}:iam::{last}:root"
    if kind in ("ou", "root", "policy", "handshake"):
        return f"arn:{partition}:organizations::{account}:{kind}/{last}"
    return f"arn:{partition}:organizations::{account}:{resource}"


_SECRET_SUFFIX = re.compile(r"^(secret:.+)-[A-Za-z0-9]{6}\Z")
_LAMBDA_QUALIFIED = re.compile(r"^((?:function|layer):[^:]+):.*\Z")
_LOG_GROUP_ALL = re.compile(r"^(log-group:.+):\*\Z")

# Rewrites of one service's resource part, so that every spelling of a resource is one key.
_CANONICAL_RESOURCE: Mapping[str, Callable[[str], str]] = {
    "iam": _iam_canonical,
    "lambda": lambda r: _LAMBDA_QUALIFIED.sub(r"\1", r),
    "secretsmanager": lambda r: _SECRET_SUFFIX.sub(r"\1", r),
    "logs": lambda r: _LOG_GROUP_ALL.sub(r"\1", r),
}


def canonical_arn(arn: str) -> str:
    """The one ARN ``resources_of`` uses for the resource ``arn`` names; other strings unchanged.

    >>> canonical_arn("arn:aws:iam::111122223333:role/service-role/Deploy")
    'arn:aws:iam::111122223333:role/Deploy'
    >>> canonical_arn("arn:aws:lambda:us-east-1:111122223333:function:f:PROD")
    'arn:aws:lambda:us-east-1:111122223333:function:f'
    """
    match = _ARN.fullmatch(arn) if len(arn) <= _MAX_ARN else None
    if match is None:
        return arn
    partition, service, region, account, resource = match.groups()
    if service == "organizations":
        return _organizations_canonical(partition, account or "", resource)
    rewrite = _CANONICAL_RESOURCE.get(service)
    if rewrite is None or (service == "iam" and account == "aws"):
        return arn
    return f"arn:{partition}:{service}:{region}:{account or ''}:{rewrite(resource)}"


# CloudFormation's spelling of service names; others are capitalised (codebuild -> Codebuild).
_SERVICE_NAMES = {
    "iam": "IAM", "sts": "STS", "s3": "S3", "ec2": "EC2", "kms": "KMS", "rds": "RDS", "ssm": "SSM",
    "eks": "EKS", "ecr": "ECR", "ecs": "ECS", "sns": "SNS", "sqs": "SQS", "dynamodb": "DynamoDB",
    "lambda": "Lambda", "cloudtrail": "CloudTrail", "secretsmanager": "SecretsManager",
    "route53resolver": "Route53Resolver", "route53": "Route53", "organizations": "Organizations",
    "rolesanywhere": "RolesAnywhere", "guardduty": "GuardDuty", "cloudformation": "CloudFormation",
    "elasticloadbalancing": "ElasticLoadBalancingV2", "apigateway": "ApiGateway", "states": "StepFunctions",
    "sagemaker": "SageMaker", "cloudfront": "CloudFront", "codebuild": "CodeBuild", "securityhub": "SecurityHub",
    "elasticfilesystem": "EFS", "es": "OpenSearchService", "acm": "CertificateManager", "wafv2": "WAFv2",
}
# Types the kebab-to-Pascal rule (security-group -> SecurityGroup) would spell differently.
_TYPES = {
    ("iam", "policy"): "AWS::IAM::ManagedPolicy", ("iam", "mfa"): "AWS::IAM::MFADevice",
    ("iam", "root"): "AWS::::Account", ("iam", "saml-provider"): "AWS::IAM::SAMLProvider",
    ("iam", "oidc-provider"): "AWS::IAM::OIDCProvider", ("ec2", "vpc"): "AWS::EC2::VPC",
    ("ec2", "vpc-flow-log"): "AWS::EC2::FlowLog", ("ec2", "elastic-ip"): "AWS::EC2::EIP",
    ("ec2", "natgateway"): "AWS::EC2::NatGateway", ("ec2", "vpc-endpoint"): "AWS::EC2::VPCEndpoint",
    ("ec2", "vpc-peering-connection"): "AWS::EC2::VPCPeeringConnection",
    ("rds", "db"): "AWS::RDS::DBInstance", ("rds", "snapshot"): "AWS::RDS::DBSnapshot",
    ("rds", "cluster"): "AWS::RDS::DBCluster", ("rds", "cluster-snapshot"): "AWS::RDS::DBClusterSnapshot",
    ("lambda", "layer"): "AWS::Lambda::LayerVersion",
    ("cloudtrail", "eventdatastore"): "AWS::CloudTrail::EventDataStore",
    ("organizations", "ou"): "AWS::Organizations::OrganizationalUnit",
    ("route53resolver", "resolver-query-log-config"): "AWS::Route53Resolver::ResolverQueryLoggingConfig",
}
# Services whose ARNs have no resource-type segment (arn:aws:sns:us-east-1:111122223333:topic).
_UNTYPED = {"sns": "AWS::SNS::Topic", "sqs": "AWS::SQS::Queue"}


def arn_type(arn: str) -> str:
    """The CloudFormation-style type of the resource an ARN names, from its service and type segment.

    >>> arn_type("arn:aws:dynamodb:us-east-1:111122223333:table/orders")
    'AWS::DynamoDB::Table'
    """
    match = _ARN.fullmatch(arn) if len(arn) <= _MAX_ARN else None
    if match is None:
        return "AWS::Unknown::Resource"
    _, service, _, _, resource = match.groups()
    service_name = _SERVICE_NAMES.get(service) or service.replace("-", " ").title().replace(" ", "")
    if service == "s3":
        return "AWS::S3::Object" if "/" in resource else "AWS::S3::Bucket"
    if service == "iam" and "/accesskey/" in resource:
        return "AWS::IAM::AccessKey"
    segment = re.split(r"[/:]", resource, maxsplit=1)[0]
    if segment == resource and (service, segment) not in _TYPES:
        return _UNTYPED.get(service, f"AWS::{service_name}::Resource")
    pascal = "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", segment))
    return _TYPES.get((service, segment), f"AWS::{service_name}::{pascal}")


def _ref(arn: str, account: str | None = None, type_: str | None = None) -> ResourceRef | None:
    arn = canonical_arn(arn)
    match = _ARN.fullmatch(arn) if len(arn) <= _MAX_ARN else None
    if match is None:
        return None
    arn_account = match.group(4)
    return ResourceRef(arn=arn, type=type_ or arn_type(arn),
                       account=arn_account if arn_account and arn_account != "aws" else account,
                       region=match.group(3) or None)


# ---- reading the event ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Where:
    """Where the event happened: what a name or id is completed with to make an ARN."""

    partition: str
    region: str | None
    account: str | None


def _is_wrapper(value: Any) -> bool:
    """EC2's query-API shape for one value: {"content": "fl-0e17aa62a21d4bbfe", "tag": 1}."""
    return isinstance(value, dict) and "content" in value and value.keys() <= {"content", "tag"}


def _text(value: Any) -> str | None:
    """A non-empty string that could be a name (EC2's wrappers unwrapped); None for anything else."""
    if _is_wrapper(value):
        value = value["content"]
    return value if type(value) is str and 0 < len(value) <= _MAX_ARN and value not in _REDACTED else None


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _where(event: Mapping[str, Any]) -> _Where:
    region = _text(event.get("awsRegion"))
    account = next((a for a in (_text(event.get("recipientAccountId")), _text(_get(event, "userIdentity", "accountId")))
                    if a and _ACCOUNT_ID.fullmatch(a)), None)
    resources = event.get("resources")
    own_arns = [_text(_get(event, "userIdentity", "arn"))]
    if isinstance(resources, list):
        own_arns += [_text(_get(entry, "ARN")) for entry in islice(resources, _MAX_LIST)]
    for arn in own_arns:
        if arn and (match := _ARN.fullmatch(arn)):
            return _Where(match.group(1), region, account)
    partition = next((p for prefix, p in _REGION_PARTITIONS if (region or "").startswith(prefix)), "aws")
    return _Where(partition, region, account)


def _flat(nodes: Iterable[Any]) -> Iterator[Any]:
    for node in nodes:
        if isinstance(node, list):
            yield from islice(node, _MAX_LIST)
        else:
            yield node


def _at(event: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[str]:
    """The strings at a dotted path, walking every list met on the way (at most _MAX_LIST of each)."""
    level: list[Any] = [event]
    for key in path:
        level = [child for node in _flat(level) if (child := _get(node, key)) is not None]
    for leaf in _flat(level):
        if (text := _text(leaf)) is not None:
            yield text


def _walk(node: Any) -> Iterator[tuple[str, str]]:
    """(key, string) for every string below node, breadth first; list elements carry their list's key.

    Iterative, so that deep nesting cannot exhaust the stack, and stopping after _MAX_NODES values.
    """
    queue: deque[tuple[str, Any]] = deque([("", node)])
    for _ in range(_MAX_NODES):
        if not queue:
            return
        key, node = queue.popleft()
        if isinstance(node, dict) and not _is_wrapper(node):
            queue.extend((k if type(k) is str else "", v) for k, v in islice(node.items(), _MAX_NODES))
        elif isinstance(node, list):
            queue.extend((key, v) for v in islice(node, _MAX_NODES))
        elif (text := _text(node)) is not None:
            yield key, text


# ---- namers: one value (a name, an id or an ARN) -> an ARN -------------------------------------

_Namer = Callable[[str, _Where], "str | None"]


def _fill(template: str, where: _Where, name: str) -> str | None:
    if ("{region}" in template and not where.region) or ("{account}" in template and not where.account):
        return None
    return template.format(partition=where.partition, region=where.region, account=where.account, id=name)


def _named(template: str, valid: re.Pattern[str] = _NAME, prepare: Callable[[str], str] = str) -> _Namer:
    """A namer filling ``template``'s {id} with a valid name; an ARN given instead is taken as it is."""
    def name(value: str, where: _Where) -> str | None:
        if _ARN.fullmatch(value):
            return value
        return _fill(template, where, prepare(value)) if valid.fullmatch(value) else None
    return name


def _arn_only(value: str, where: _Where) -> str | None:
    return value if _ARN.fullmatch(value) else None


def _account_of(value: str, where: _Where) -> str | None:
    if _ACCOUNT_ID.fullmatch(value):
        return f"arn:{where.partition}:iam::{value}:root"
    return _arn_only(value, where)


_IAM = "arn:{partition}:iam::{account}:"
_IAM_ROLE = _named(_IAM + "role/{id}", _IAM_NAME)
_IAM_GROUP = _named(_IAM + "group/{id}", _IAM_NAME)
_IAM_POLICY = _named(_IAM + "policy/{id}", _IAM_NAME)
_IAM_INSTANCE_PROFILE = _named(_IAM + "instance-profile/{id}", _IAM_NAME)
_IAM_MFA = _named(_IAM + "mfa/{id}", _IAM_NAME)
_IAM_SERVER_CERTIFICATE = _named(_IAM + "server-certificate/{id}", _IAM_NAME)
_IAM_NAMED_USER = _named(_IAM + "user/{id}", _IAM_NAME)


def _iam_user(value: str, where: _Where) -> str | None:
    if value == _ROOT_USER_NAME and where.account:
        return f"arn:{where.partition}:iam::{where.account}:root"
    return _IAM_NAMED_USER(value, where)


_EC2 = "arn:{partition}:ec2:{region}:{account}:"
_EC2_IMAGE = _named("arn:{partition}:ec2:{region}::image/{id}", _ID)
_EC2_SNAPSHOT = _named("arn:{partition}:ec2:{region}::snapshot/{id}", _ID)
_EC2_KEY_PAIR = _named(_EC2 + "key-pair/{id}", _PRINTABLE)
# An EC2 id's prefix says what it names: for fields that take several kinds (resourceId, target).
_EC2_PREFIXES: Mapping[str, _Namer] = {
    "ami": _EC2_IMAGE, "snap": _EC2_SNAPSHOT,
    **{prefix: _named(_EC2 + kind + "/{id}", _ID) for prefix, kind in (
        ("i", "instance"), ("sg", "security-group"), ("vol", "volume"), ("vpc", "vpc"), ("subnet", "subnet"),
        ("fl", "vpc-flow-log"), ("eni", "network-interface"), ("igw", "internet-gateway"),
        ("rtb", "route-table"), ("nat", "natgateway"), ("acl", "network-acl"), ("eipalloc", "elastic-ip"),
        ("lt", "launch-template"), ("pcx", "vpc-peering-connection"), ("tgw", "transit-gateway"),
        ("vpce", "vpc-endpoint"))},
}


def _ec2_id(value: str, where: _Where) -> str | None:
    namer = _EC2_PREFIXES.get(value.partition("-")[0])
    return namer(value, where) if namer is not None and "-" in value else _arn_only(value, where)


def _prefixed(prefix: str) -> _Namer:
    """Only ids with this EC2 prefix (the generic fallback's ``instanceId`` must be an instance)."""
    def name(value: str, where: _Where) -> str | None:
        return _ec2_id(value, where) if value.startswith(prefix + "-") else None
    return name


_EC2_INSTANCE = _EC2_PREFIXES["i"]
# EC2 request and response members holding ids, by lower-cased key, wherever they appear.
_EC2_KEYS: Mapping[str, _Namer] = {
    **{key.lower(): _EC2_PREFIXES[prefix] for key, prefix in (
        ("instanceId", "i"), ("groupId", "sg"), ("securityGroupId", "sg"), ("securityGroupIds", "sg"),
        ("volumeId", "vol"), ("vpcId", "vpc"), ("subnetId", "subnet"), ("flowLogId", "fl"),
        ("flowLogIds", "fl"), ("networkInterfaceId", "eni"), ("allocationId", "eipalloc"),
        ("internetGatewayId", "igw"), ("routeTableId", "rtb"), ("natGatewayId", "nat"),
        ("networkAclId", "acl"), ("launchTemplateId", "lt"), ("vpcPeeringConnectionId", "pcx"),
        ("transitGatewayId", "tgw"), ("vpcEndpointId", "vpce"),
        ("imageId", "ami"), ("sourceImageId", "ami"), ("snapshotId", "snap"), ("sourceSnapshotId", "snap"))},
    "keyname": _EC2_KEY_PAIR,
    "resourceid": _ec2_id,   # CreateTags and friends: any kind of id
}


def _lambda_function(value: str, where: _Where) -> str | None:
    if _ARN.fullmatch(value):
        return value
    # A name, "name:qualifier", or a partial ARN "111122223333:function:name[:qualifier]".
    match = re.fullmatch(r"(?:(\d{12}):function:)?([\w-]{1,140})(?::[\w$-]{1,128})?", value)
    if match is None:
        return None
    account, name = match.groups()
    return _fill("arn:{partition}:lambda:{region}:{account}:function:{id}",
                 _Where(where.partition, where.region, account or where.account), name)


def _ssm_parameter(value: str, where: _Where) -> str | None:
    if _ARN.fullmatch(value):
        return value
    name = value.split(":", 1)[0]   # "name:3" and "name:label" select a version of one parameter
    if not _NAME.fullmatch(name):
        return None
    return _fill("arn:{partition}:ssm:{region}:{account}:parameter/{id}", where, name.removeprefix("/"))


def _ssm_target(value: str, where: _Where) -> str | None:
    if value.startswith("mi-") and _ID.fullmatch(value):
        return _fill("arn:{partition}:ssm:{region}:{account}:managed-instance/{id}", where, value)
    return _ec2_id(value, where)


def _kms(value: str, where: _Where) -> str | None:
    if _ARN.fullmatch(value):
        return value
    if value.startswith("alias/") and _NAME.fullmatch(value):
        return _fill("arn:{partition}:kms:{region}:{account}:{id}", where, value)
    return _fill("arn:{partition}:kms:{region}:{account}:key/{id}", where, value) if _ID.fullmatch(value) else None


_ORG_KINDS = {"ou": "ou", "r": "root", "p": "policy", "h": "handshake", "o": "organization"}


def _organizations(value: str, where: _Where) -> str | None:
    if _ACCOUNT_ID.fullmatch(value) or _ARN.fullmatch(value):
        return _account_of(value, where)
    kind = _ORG_KINDS.get(value.partition("-")[0])
    if kind is None or not _ID.fullmatch(value):
        return None
    # AWS-managed policies (p-FullAWSAccess) belong to no organization; customer ids are lower case.
    owner = "aws" if kind == "policy" and value != value.lower() else where.account
    return f"arn:{where.partition}:organizations::{owner}:{kind}/{value}" if owner else None


def _sqs_queue(value: str, where: _Where) -> str | None:
    match = re.fullmatch(r"https?://[^/]+/(\d{12})/([\w-]{1,80}(?:\.fifo)?)", value)
    if match is None:
        return _arn_only(value, where)
    return _fill("arn:{partition}:sqs:{region}:{account}:{id}",
                 _Where(where.partition, where.region, match.group(1)), match.group(2))


_TRAIL = _named("arn:{partition}:cloudtrail:{region}:{account}:trail/{id}")
_FUNCTION_LAYER = _named("arn:{partition}:lambda:{region}:{account}:layer:{id}")
_EVENT_SOURCE_MAPPING = _named("arn:{partition}:lambda:{region}:{account}:event-source-mapping:{id}", _ID)
_SECRET = _named("arn:{partition}:secretsmanager:{region}:{account}:secret:{id}")
_SSM_DOCUMENT = _named("arn:{partition}:ssm:{region}:{account}:document/{id}")
_SSM_SESSION = _named("arn:{partition}:ssm:{region}:{account}:session/{id}", _ID)
_RDS = "arn:{partition}:rds:{region}:{account}:"
_RDS_DB = _named(_RDS + "db:{id}", _ID, str.lower)
_RDS_SNAPSHOT = _named(_RDS + "snapshot:{id}", _ID, str.lower)
_RDS_CLUSTER = _named(_RDS + "cluster:{id}", _ID, str.lower)
_RDS_CLUSTER_SNAPSHOT = _named(_RDS + "cluster-snapshot:{id}", _ID, str.lower)
_RESOLVER = "arn:{partition}:route53resolver:{region}:{account}:"
_RESOLVER_QUERY_LOG_CONFIG = _named(_RESOLVER + "resolver-query-log-config/{id}", _ID)
_RESOLVER_RULE = _named(_RESOLVER + "resolver-rule/{id}", _ID)
_RESOLVER_ENDPOINT = _named(_RESOLVER + "resolver-endpoint/{id}", _ID)
_EKS_CLUSTER = _named("arn:{partition}:eks:{region}:{account}:cluster/{id}")
_BEDROCK_MODEL = _named("arn:{partition}:bedrock:{region}::foundation-model/{id}", re.compile(r"[\w.:-]{1,256}"))
_GUARDDUTY_DETECTOR = _named("arn:{partition}:guardduty:{region}:{account}:detector/{id}", _ID)
_LOG_GROUP = _named("arn:{partition}:logs:{region}:{account}:log-group:{id}")
_DYNAMODB_TABLE = _named("arn:{partition}:dynamodb:{region}:{account}:table/{id}")
_S3_BUCKET = _named("arn:{partition}:s3:::{id}", _BUCKET)


# ---- extractors: an event -> ARNs ------------------------------------------------------------

_Extractor = Callable[[Mapping[str, Any], _Where], Iterable[str]]


@dataclass(frozen=True, slots=True)
class _Fields:
    """The strings at some paths of the event, each named by one namer."""

    namer: _Namer
    paths: tuple[tuple[str, ...], ...]

    def __call__(self, event: Mapping[str, Any], where: _Where) -> Iterator[str]:
        for path in self.paths:
            for value in _at(event, path):
                if (arn := self.namer(value, where)) is not None:
                    yield arn


def _fields(namer: _Namer, *paths: str) -> _Fields:
    return _Fields(namer, tuple(tuple(path.split(".")) for path in paths))


@dataclass(frozen=True, slots=True)
class _Keyed:
    """Every string under one of some keys (lower-cased) anywhere in the request and response."""

    namers: Mapping[str, _Namer]

    def __call__(self, event: Mapping[str, Any], where: _Where) -> Iterator[str]:
        for section in ("requestParameters", "responseElements"):
            for key, value in _walk(event.get(section)):
                namer = self.namers.get(key.lower())
                if namer is not None and (arn := namer(value, where)) is not None:
                    yield arn


def _account(event: Mapping[str, Any], where: _Where) -> Iterator[str]:
    """The account itself: account-level settings, an account leaving its organization."""
    if where.account:
        yield f"arn:{where.partition}:iam::{where.account}:root"


def _caller(event: Mapping[str, Any], where: _Where) -> Iterator[str]:
    """The principal acting on itself (sign-in, ChangePassword): a user, a role, the account."""
    identity = event.get("userIdentity")
    kind = _text(_get(identity, "type"))
    arn = _text(_get(identity, "arn"))
    if kind == "Root":
        yield from _account(event, where)
    elif kind == "IAMUser":
        user = arn or (_iam_user(name, where) if (name := _text(_get(identity, "userName"))) else None)
        if user is not None:
            yield user
    elif kind == "AssumedRole":
        yield from filter(None, [_text(_get(identity, "sessionContext", "sessionIssuer", "arn"))])
    elif kind == "FederatedUser" and arn is not None:
        yield arn


def _access_key(event: Mapping[str, Any], where: _Where) -> Iterator[str]:
    """An access key and its owner: ``userName``, else whoever called (IAM's default)."""
    owner_name = next(_at(event, ("requestParameters", "userName")), None) or \
        next(_at(event, ("responseElements", "accessKey", "userName")), None)
    owner = _iam_user(owner_name, where) if owner_name else next(iter(_caller(event, where)), None)
    if owner is None:
        return
    yield owner
    key = next(_at(event, ("requestParameters", "accessKeyId")), None) or \
        next(_at(event, ("responseElements", "accessKey", "accessKeyId")), None)
    if key is not None and _ACCESS_KEY_ID.fullmatch(key):
        yield f"{canonical_arn(owner)}/accesskey/{key}"


def _s3(event: Mapping[str, Any], where: _Where) -> Iterator[str]:
    for bucket in _at(event, ("requestParameters", "bucketName")):
        if (arn := _S3_BUCKET(bucket, where)) is not None:
            yield arn
            for key in _at(event, ("requestParameters", "key")):
                if _PRINTABLE.fullmatch(key):
                    yield f"{arn}/{key}"


_GENERIC_KEYS: Mapping[str, _Namer] = {
    "bucketName": _S3_BUCKET, "instanceId": _prefixed("i"), "groupId": _prefixed("sg"),
    "functionName": _lambda_function, "roleName": _IAM_ROLE,
}


def _generic(event: Mapping[str, Any], where: _Where) -> Iterator[str]:
    """Any ARN, and the unambiguous id fields, anywhere in the request and response but the caller's."""
    identity = event.get("userIdentity")
    actors = {_text(_get(identity, "arn")), _text(_get(identity, "sessionContext", "sessionIssuer", "arn"))}
    for section in ("requestParameters", "responseElements"):
        for key, value in _walk(event.get(section)):
            if _ARN.fullmatch(value):
                if value not in actors:
                    yield value
            elif (namer := _GENERIC_KEYS.get(key)) is not None and (arn := namer(value, where)) is not None:
                yield arn


# ---- the table --------------------------------------------------------------------------------

_IAM_SOURCE, _EC2_SOURCE, _SSM_SOURCE = "iam.amazonaws.com", "ec2.amazonaws.com", "ssm.amazonaws.com"
_CLOUDTRAIL, _ORGANIZATIONS = "cloudtrail.amazonaws.com", "organizations.amazonaws.com"
_TRAIL_BY_NAME = (_fields(_TRAIL, "requestParameters.name"),)
_PARAMETERS = (_fields(_ssm_parameter, "requestParameters.name", "requestParameters.names"),)
_DOCUMENT = (_fields(_SSM_DOCUMENT, "requestParameters.name"),)
_ACCOUNT = (_account,)

_RULES: Mapping[str | tuple[str, str], tuple[_Extractor, ...]] = {
    # IAM: inline policies, login profiles and passwords are part of their owner.
    _IAM_SOURCE: (
        _fields(_iam_user, "requestParameters.userName", "requestParameters.newUserName"),
        _fields(_IAM_ROLE, "requestParameters.roleName"),
        _fields(_IAM_GROUP, "requestParameters.groupName", "requestParameters.newGroupName"),
        _fields(_IAM_POLICY, "requestParameters.policyArn"),
        _fields(_IAM_INSTANCE_PROFILE, "requestParameters.instanceProfileName"),
        _fields(_IAM_MFA, "requestParameters.serialNumber", "requestParameters.virtualMFADeviceName",
                "responseElements.virtualMFADevice.serialNumber"),
        _fields(_IAM_SERVER_CERTIFICATE, "requestParameters.serverCertificateName"),
        _fields(_arn_only, "requestParameters.sAMLProviderArn", "responseElements.sAMLProviderArn",
                "requestParameters.openIDConnectProviderArn", "responseElements.openIDConnectProviderArn"),
    ),
    (_IAM_SOURCE, "CreatePolicy"): (_fields(_IAM_POLICY, "requestParameters.policyName"),),
    (_IAM_SOURCE, "CreateServiceLinkedRole"): (_fields(_IAM_ROLE, "responseElements.role.arn"),),
    (_IAM_SOURCE, "CreateAccessKey"): (_access_key,),
    (_IAM_SOURCE, "UpdateAccessKey"): (_access_key,),
    (_IAM_SOURCE, "DeleteAccessKey"): (_access_key,),
    (_IAM_SOURCE, "ChangePassword"): (_caller,),
    (_IAM_SOURCE, "UpdateAccountPasswordPolicy"): _ACCOUNT,
    (_IAM_SOURCE, "DeleteAccountPasswordPolicy"): _ACCOUNT,
    (_IAM_SOURCE, "CreateAccountAlias"): _ACCOUNT,
    (_IAM_SOURCE, "DeleteAccountAlias"): _ACCOUNT,
    (_IAM_SOURCE, "SetSecurityTokenServicePreferences"): _ACCOUNT,
    # STS: the role assumed and the session it became; AssumeRoot's target is an account.
    "sts.amazonaws.com": (
        _fields(_IAM_ROLE, "requestParameters.roleArn"),
        _fields(_arn_only, "responseElements.assumedRoleUser.arn", "responseElements.federatedUser.arn",
                "requestParameters.principalArn"),
        _fields(_account_of, "requestParameters.targetPrincipal"),
    ),
    "signin.amazonaws.com": (_caller,),
    "s3.amazonaws.com": (_s3,),
    ("s3.amazonaws.com", "PutAccountPublicAccessBlock"): _ACCOUNT,
    ("s3.amazonaws.com", "DeleteAccountPublicAccessBlock"): _ACCOUNT,
    _EC2_SOURCE: (_Keyed(_EC2_KEYS),),
    (_EC2_SOURCE, "EnableSerialConsoleAccess"): _ACCOUNT,
    (_EC2_SOURCE, "DisableSerialConsoleAccess"): _ACCOUNT,
    (_EC2_SOURCE, "EnableEbsEncryptionByDefault"): _ACCOUNT,
    (_EC2_SOURCE, "DisableEbsEncryptionByDefault"): _ACCOUNT,
    (_EC2_SOURCE, "ModifyEbsDefaultKmsKeyId"): _ACCOUNT,
    (_EC2_SOURCE, "ResetEbsDefaultKmsKeyId"): _ACCOUNT,
    (_EC2_SOURCE, "EnableImageBlockPublicAccess"): _ACCOUNT,
    (_EC2_SOURCE, "DisableImageBlockPublicAccess"): _ACCOUNT,
    (_EC2_SOURCE, "EnableSnapshotBlockPublicAccess"): _ACCOUNT,
    (_EC2_SOURCE, "DisableSnapshotBlockPublicAccess"): _ACCOUNT,
    "ec2-instance-connect.amazonaws.com": (_fields(_EC2_INSTANCE, "requestParameters.instanceId"),),
    "kms.amazonaws.com": (
        _fields(_kms, "requestParameters.keyId", "requestParameters.targetKeyId", "requestParameters.sourceKeyId",
                "requestParameters.destinationKeyId", "requestParameters.aliasName",
                "responseElements.keyMetadata.arn"),
    ),
    # CloudTrail: event selectors, insight selectors and tags are part of the trail.
    _CLOUDTRAIL: (
        _fields(_TRAIL, "requestParameters.trailName", "responseElements.trailARN"),
        _fields(_arn_only, "requestParameters.resourceId", "requestParameters.eventDataStore",
                "responseElements.eventDataStoreArn"),
    ),
    (_CLOUDTRAIL, "CreateTrail"): _TRAIL_BY_NAME,
    (_CLOUDTRAIL, "UpdateTrail"): _TRAIL_BY_NAME,
    (_CLOUDTRAIL, "DeleteTrail"): _TRAIL_BY_NAME,
    (_CLOUDTRAIL, "StartLogging"): _TRAIL_BY_NAME,
    (_CLOUDTRAIL, "StopLogging"): _TRAIL_BY_NAME,
    (_CLOUDTRAIL, "GetTrailStatus"): _TRAIL_BY_NAME,
    (_CLOUDTRAIL, "GetTrail"): _TRAIL_BY_NAME,
    # Lambda: permissions, aliases, versions, code and configuration are part of the function.
    "lambda.amazonaws.com": (
        _fields(_lambda_function, "requestParameters.functionName"),
        _fields(_FUNCTION_LAYER, "requestParameters.layerName"),
        _fields(_EVENT_SOURCE_MAPPING, "requestParameters.uUID", "responseElements.uUID"),
    ),
    "secretsmanager.amazonaws.com": (
        _fields(_SECRET, "requestParameters.secretId", "requestParameters.secretIdList",
                "requestParameters.name", "responseElements.arn"),
    ),
    _SSM_SOURCE: (
        _fields(_EC2_INSTANCE, "requestParameters.instanceId", "requestParameters.instanceIds"),
        _fields(_ssm_target, "requestParameters.target"),
        _fields(_SSM_SESSION, "requestParameters.sessionId", "responseElements.sessionId"),
    ),
    (_SSM_SOURCE, "GetParameter"): _PARAMETERS,
    (_SSM_SOURCE, "GetParameters"): _PARAMETERS,
    (_SSM_SOURCE, "GetParameterHistory"): _PARAMETERS,
    (_SSM_SOURCE, "PutParameter"): _PARAMETERS,
    (_SSM_SOURCE, "DeleteParameter"): _PARAMETERS,
    (_SSM_SOURCE, "DeleteParameters"): _PARAMETERS,
    (_SSM_SOURCE, "LabelParameterVersion"): _PARAMETERS,
    (_SSM_SOURCE, "UnlabelParameterVersion"): _PARAMETERS,
    (_SSM_SOURCE, "CreateDocument"): _DOCUMENT,
    (_SSM_SOURCE, "UpdateDocument"): _DOCUMENT,
    (_SSM_SOURCE, "DeleteDocument"): _DOCUMENT,
    (_SSM_SOURCE, "UpdateDocumentDefaultVersion"): _DOCUMENT,
    (_SSM_SOURCE, "ModifyDocumentPermission"): _DOCUMENT,
    "rds.amazonaws.com": (
        _fields(_RDS_DB, "requestParameters.dBInstanceIdentifier", "requestParameters.sourceDBInstanceIdentifier",
                "requestParameters.newDBInstanceIdentifier"),
        _fields(_RDS_SNAPSHOT, "requestParameters.dBSnapshotIdentifier",
                "requestParameters.sourceDBSnapshotIdentifier", "requestParameters.targetDBSnapshotIdentifier"),
        _fields(_RDS_CLUSTER, "requestParameters.dBClusterIdentifier"),
        _fields(_RDS_CLUSTER_SNAPSHOT, "requestParameters.dBClusterSnapshotIdentifier",
                "requestParameters.sourceDBClusterSnapshotIdentifier",
                "requestParameters.targetDBClusterSnapshotIdentifier"),
        _fields(_arn_only, "requestParameters.resourceName"),
    ),
    # Organizations: ids in the request (an id's prefix says its kind), ARNs of what a call created.
    _ORGANIZATIONS: (_Keyed({key.lower(): _organizations for key in (
        "accountId", "organizationalUnitId", "policyId", "parentId", "targetId", "rootId", "sourceParentId",
        "destinationParentId", "handshakeId", "arn")}),),
    (_ORGANIZATIONS, "LeaveOrganization"): _ACCOUNT,
    "route53resolver.amazonaws.com": (
        _fields(_RESOLVER_QUERY_LOG_CONFIG, "requestParameters.resolverQueryLogConfigId",
                "responseElements.resolverQueryLogConfig.id"),
        _fields(_RESOLVER_RULE, "requestParameters.resolverRuleId", "responseElements.resolverRule.id"),
        _fields(_RESOLVER_ENDPOINT, "requestParameters.resolverEndpointId", "responseElements.resolverEndpoint.id"),
        _fields(_ec2_id, "requestParameters.resourceId"),
    ),
    # EKS names its cluster "name" in every cluster-scoped path (/clusters/{name}/...).
    "eks.amazonaws.com": (_fields(_EKS_CLUSTER, "requestParameters.name", "requestParameters.clusterName"),),
    "bedrock.amazonaws.com": (_fields(_BEDROCK_MODEL, "requestParameters.modelId"),),
    ("bedrock.amazonaws.com", "PutUseCaseForModelAccess"): _ACCOUNT,
    "guardduty.amazonaws.com": (_fields(_GUARDDUTY_DETECTOR, "requestParameters.detectorId",
                                        "responseElements.detectorId"),),
    "logs.amazonaws.com": (_fields(_LOG_GROUP, "requestParameters.logGroupName"),),
    "dynamodb.amazonaws.com": (_fields(_DYNAMODB_TABLE, "requestParameters.tableName"),),
    "sqs.amazonaws.com": (_fields(_sqs_queue, "requestParameters.queueUrl"),),
    "sns.amazonaws.com": (_fields(_arn_only, "requestParameters.topicArn", "responseElements.topicArn"),),
}


# ---- public API -------------------------------------------------------------------------------

def _declared(event: Mapping[str, Any]) -> Iterator[ResourceRef]:
    """CloudTrail's own resources[]: ARN, type and the owning account as it recorded them."""
    resources = event.get("resources")
    for entry in islice(resources if isinstance(resources, list) else (), _MAX_LIST):
        arn = _text(_get(entry, "ARN")) or _text(_get(entry, "arn"))
        type_ = _text(_get(entry, "type"))
        account = _text(_get(entry, "accountId"))
        ref = _ref(arn, account if account and _ACCOUNT_ID.fullmatch(account) else None,
                   type_ if type_ and type_.startswith("AWS::") else None) if arn else None
        if ref is not None:
            yield ref


def _from_rules(event: Mapping[str, Any], where: _Where) -> Iterator[str]:
    source, name = _text(event.get("eventSource")), _text(event.get("eventName"))
    if source is None:
        return
    rules = (*_RULES.get(source, ()), *_RULES.get((source, _API_VERSION.sub("", name or "")), ()))
    for extract in rules:
        yield from extract(event, where)


def resources_of(event: Any) -> tuple[ResourceRef, ...]:
    """The resources one CloudTrail event touched, deduplicated, sorted by (type, arn).

    Args:
        event: one CloudTrail record, the JSON object as AWS wrote it. Anything else (or any value
            of an unexpected type inside it) yields no resources rather than an error.

    Returns:
        One ``ResourceRef`` per distinct canonical ARN; CloudTrail's ``resources[]`` first decides
        a type, then the table, then the generic fallback (see the module docstring).
    """
    if not isinstance(event, dict):
        return ()
    where = _where(event)
    found: dict[str, ResourceRef] = {}
    for ref in _declared(event):
        found.setdefault(ref.arn, ref)
    arns = list(islice(_from_rules(event, where), _MAX_REFS))
    if not arns:
        arns = list(islice(_generic(event, where), _MAX_REFS))
    for arn in arns:
        if (ref := _ref(arn)) is not None and ref.arn not in found:
            found[ref.arn] = ref
    return tuple(sorted(found.values(), key=lambda ref: (ref.type, ref.arn)))


def is_write(event: Any) -> bool:
    """Whether an event may have changed something: ``readOnly`` false, or, where CloudTrail left
    ``readOnly`` out, an API call whose name is not a read (Get/Describe/List/Head/Lookup...)."""
    if not isinstance(event, dict) or event.get("eventType") == "AwsCloudTrailInsight":
        return False
    read_only = event.get("readOnly")
    if type(read_only) is bool:
        return not read_only
    name = _text(event.get("eventName"))
    return name is not None and not name.startswith(_READ_PREFIXES)


def coverage(events: Iterable[Any], *, top: int = 10) -> Coverage:
    """The share of write events for which ``resources_of`` found no resource, and which calls.

    Args:
        events: CloudTrail records (anything else counts as a read).
        top: how many (eventSource, eventName) pairs without a resource to report.
    """
    writes = 0
    missing: Counter[tuple[str, str]] = Counter()
    for event in events:
        if not is_write(event):
            continue
        writes += 1
        if not resources_of(event):
            missing[(_text(event.get("eventSource")) or "", _text(event.get("eventName")) or "")] += 1
    unresolved = sum(missing.values())
    ranked = sorted(missing.items(), key=lambda item: (-item[1], item[0]))[:top]
    return Coverage(write_events=writes, unresolved=unresolved,
                    unresolved_share=unresolved / writes if writes else 0.0,
                    top_unresolved=tuple((source, name, count) for (source, name), count in ranked))
