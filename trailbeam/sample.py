"""A deterministic synthetic CloudTrail trail, delivered as AWS delivers it, with an attack story in it.

``write_sample(out_dir)`` writes what an organization trail puts in its S3 bucket over a few days for a
small company (a management, a prod and a dev account, three regions), plus ``ground-truth.json``
telling what is in it. It is the bundled demo data (``trailbeam sample``), the ingest benchmark's
generator (a million events) and test data for identity lineage, resource histories and timelines.

What is realistic, because the later work depends on it:

* The layout: ``AWSLogs/<org>/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_
  <YYYYMMDDTHHMMZ>_<16 alnum>.json.gz``, one gzip ``{"Records": [...]}`` per account, region and five
  minutes of events, foldered and named by *delivery* time (5 to 15 minutes later; a few files hours
  late), and about 0.5% of events delivered a second time, byte-identical, in a later file.
* Credential flows: every temporary (ASIA) key used by a role, federated or MFA session was issued by
  an STS event earlier in the trail (AssumeRole by users, sessions and AWS services, role chains,
  cross-account AssumeRole recorded in both accounts with one sharedEventID, AssumeRoleWithSAML from
  IAM Identity Center and Okta, AssumeRoleWithWebIdentity from GitHub Actions, GetSessionToken,
  GetFederationToken). Console sign-ins of IAM users and root get their ASIA key from the sign-in,
  as in AWS: those keys are listed as console sessions in the ground truth.
* Record shapes copied from real, anonymised records (field order included).

Randomness comes only from ``random.Random(seed)`` (UUIDs and keys too) and gzip headers carry no
time, so the same arguments give byte-identical files. Records of API calls are built only when their
file is written, so memory stays small and a million events take well under a minute.
"""

from __future__ import annotations

import base64
import gzip
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import accumulate
from pathlib import Path
from random import Random
from typing import Any

import orjson

from trailbeam.errors import InputError

Record = dict[str, Any]

MANAGEMENT = "318743026514"
PROD = "529104638271"
DEV = "740265913852"
EXTERNAL = "893614207755"      # attacker-controlled: appears only as a caller, delivers no logs
LOGGED_ACCOUNTS = (MANAGEMENT, PROD, DEV)
REGIONS = ("us-east-1", "eu-west-1", "us-west-2")    # us-east-1 carries IAM, global STS and sign-in
_ACCOUNT_NAMES = {MANAGEMENT: "acme-management", PROD: "acme-prod", DEV: "acme-dev", EXTERNAL: "external"}
_ENV = {MANAGEMENT: "mgmt", PROD: "prod", DEV: "dev"}

MIN_EVENTS = 200
_DAY = 86400
_WINDOW = 300                  # seconds of events per log file
_ERROR_RATE = 0.028            # share of fallible calls that fail
_DUPLICATE_RATE = 0.005
_LATE_FILE_RATE = 0.002
_TS_BITS, _SEQ_BITS = 28, 24   # plan keys: stream | seconds since start | sequence number
_SEQ_MASK, _TS_MASK = (1 << _SEQ_BITS) - 1, (1 << _TS_BITS) - 1

# ----------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleSummary:
    out_dir: str
    files: int                 # log files written
    records: int               # records in all files, duplicate deliveries included
    unique_events: int         # distinct eventIDs
    duplicates: int            # records - unique_events
    accounts: tuple[str, ...]  # accounts whose logs were delivered
    regions: tuple[str, ...]
    start: str                 # ISO 8601 UTC of the first eventTime
    end: str                   # ISO 8601 UTC of the last eventTime
    ground_truth: str          # path of ground-truth.json


def write_sample(
    out_dir: str | os.PathLike[str],
    *,
    events: int = 5000,
    seed: int = 7,
    start: datetime = datetime(2026, 3, 2, tzinfo=timezone.utc),
    days: int = 3,
    org_id: str | None = "o-a1b2c3d4e5",
    compresslevel: int = 6,
) -> SampleSummary:
    """Writes a synthetic organization trail and its ground truth under ``out_dir``.

    Args:
        out_dir: directory to write ``AWSLogs/...`` and ``ground-truth.json`` into (created if needed).
        events: number of distinct events (exact; duplicate deliveries come on top), at least 200.
        seed: seed of the only random source; equal arguments give byte-identical files.
        start: timezone-aware start of the first day.
        days: days covered; the attack happens on day 2 (day 1 when ``days`` is 1).
        org_id: organization id in the key prefix, or None for an account trail layout.
        compresslevel: gzip level of the log files.

    Returns:
        What was written.

    Raises:
        InputError: for events outside 200..16,777,215, days outside 1..366 or a naive ``start``.
    """
    if not MIN_EVENTS <= events <= _SEQ_MASK:
        raise InputError(f"events must be between {MIN_EVENTS} and {_SEQ_MASK}, got {events}")
    if not 1 <= days <= 366:
        raise InputError(f"days must be between 1 and 366, got {days}")
    if start.tzinfo is None:
        raise InputError("start must be timezone-aware")
    generator = _Generator(seed=seed, start=int(start.timestamp()), days=days, events=events)
    generator.plan()
    return generator.write(Path(out_dir), org_id=org_id, compresslevel=compresslevel)


# ----------------------------------------------------------------------------------------------
# Constants copied from real traffic

_UA_JAVA = ("aws-sdk-java/2.25.16 Linux/6.1.79-99.164.amzn2023.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS "
            "Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy")
_UA_SSM_AGENT = "aws-sdk-go/1.44.302 (go1.21.6; linux; amd64) amazon-ssm-agent/3.3.131.0"
_UA_LAMBDA_PY = ("Boto3/1.34.42 md/Botocore#1.34.42 ua/2.0 os/linux#5.10.209-219.812.amzn2.x86_64 md/arch#x86_64 "
                 "lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy "
                 "Botocore/1.34.42")
_UA_LAMBDA_JS = ("aws-sdk-js/3.496.0 ua/2.0 os/linux#5.10.209-219.812.amzn2.x86_64 lang/js md/nodejs#20.11.0 "
                 "api/s3#3.496.0 exec-env/AWS_Lambda_nodejs20.x")
_UA_CLI_MAC = "aws-cli/2.15.30 Python/3.11.8 Darwin/23.3.0 exe/x86_64 prompt/off"
_UA_CLI_WIN = "aws-cli/2.15.17 Python/3.11.6 Windows/10 exe/AMD64 prompt/off"
_UA_CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/122.0.0.0 Safari/537.36")
_UA_FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0"
_UA_S3_CONSOLE = ("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.661 Linux/5.10.213-180.872.amzn2int.x86_64 "
                  "OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation "
                  "cfg/retry-mode/standard]")
_UA_TERRAFORM = ("APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0 "
                 "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.2 os/linux "
                 "lang/go#1.21.8 md/GOOS#linux md/GOARCH#amd64")
_UA_GHA_CREDENTIALS = "configure-aws-credentials-for-github-actions"
_UA_GHA_CLI = "aws-cli/2.15.24 Python/3.11.8 Linux/6.5.0-1016-azure exe/x86_64.ubuntu.22 prompt/off"
_UA_JENKINS = "aws-cli/2.13.4 Python/3.11.4 Linux/5.15.0-91-generic exe/x86_64.ubuntu.22 prompt/off"
_UA_JENKINS_BOTO = ("Boto3/1.28.57 md/Botocore#1.31.57 ua/2.0 os/linux#5.15.0-91-generic md/arch#x86_64 "
                    "lang/python#3.10.12 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.31.57")
_UA_MONITORING = "aws-sdk-go/1.50.21 (go1.21.7; linux; amd64) monitoring-agent/7.51.0"
_UA_SAML2AWS = "aws-sdk-go/1.44.318 (go1.21.1; darwin; arm64) saml2aws/2.36.13"
_UA_ETL = "aws-sdk-java/1.12.661 Linux/3.10.0-1160.108.1.el7.x86_64 OpenJDK_64-Bit_Server_VM/11.0.22+7-LTS java/11.0.22"
_UA_SSO_CLI = "aws-cli/2.15.30 Python/3.11.8 Darwin/23.3.0 exe/x86_64 prompt/off command/sso.login"
_UA_SSO_PORTAL = "aws-internal/3 aws-sdk-java/1.12.646 Linux/5.10.210-178.855.amzn2int.x86_64"
ATTACKER_UA = "aws-cli/2.15.30 Python/3.11.8 Linux/6.6.9-amd64 exe/x86_64.kali.2024 prompt/off"
BACKDOOR_UA = ("Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.6.15-amd64 md/arch#x86_64 lang/python#3.11.8 "
               "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69")
ATTACKER_IPS = ("198.51.100.23", "198.51.100.77", "203.0.113.58")

_OFFICE_IPS = ("192.0.2.44", "192.0.2.45")
_JENKINS_IP = "192.0.2.10"
_ETL_IP = "192.0.2.11"
_MONITORING_IP = "54.211.172.93"
_REGION_PREFIXES = {"us-east-1": ("3.91", "54.87", "18.206", "44.201"),
                    "eu-west-1": ("34.249", "52.48", "54.78", "3.250"),
                    "us-west-2": ("44.231", "35.88", "54.190", "52.34")}
_GITHUB_PREFIXES = ("20.57", "4.175", "52.159", "172.183", "20.171")

_TLS13 = ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
_TLS12 = ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")

_VERSIONS = {"ec2": "1.10", "iam": "1.09", "sts": "1.08", "s3": "1.10", "kms": "1.10", "lambda": "1.08",
             "cloudtrail": "1.10", "ssm": "1.09", "secretsmanager": "1.09", "organizations": "1.09",
             "signin": "1.08", "sso": "1.08"}
_SOURCES = {service: f"{service}.amazonaws.com" for service in _VERSIONS}

# Activity per hour of day (UTC): office hours for people, a flatter curve for CI and for services.
_HUMAN_HOURS = (1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 12, 13, 14, 14, 13, 11, 8, 5, 3, 2, 1, 1)
_CI_HOURS = (2, 2, 4, 2, 1, 1, 2, 4, 8, 10, 10, 9, 8, 9, 10, 10, 9, 8, 6, 4, 3, 2, 2, 2)
_SERVICE_HOURS = (5, 4, 4, 4, 4, 5, 6, 7, 8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 8, 8, 7, 6, 6, 5)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_B32 = base64.b32encode
_B64 = base64.b64encode


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _aws_date(ts: int, *, comma: bool) -> str:
    """Dates in responseElements: "Nov 30, 2024, 8:43:17 PM" (STS) or "Aug 1, 2024 1:33:28 PM" (IAM)."""
    t = datetime.fromtimestamp(ts, timezone.utc)
    hour = t.hour % 12 or 12
    sep, half = (", " if comma else " "), ("AM" if t.hour < 12 else "PM")
    return f"{_MONTHS[t.month - 1]} {t.day}, {t.year}{sep}{hour}:{t.minute:02d}:{t.second:02d} {half}"


# ----------------------------------------------------------------------------------------------
# The world: principals and resources


@dataclass(frozen=True, slots=True)
class _Role:
    account: str
    name: str
    role_id: str
    arn: str


@dataclass(frozen=True, slots=True)
class _User:
    account: str
    name: str
    user_id: str
    arn: str
    key: str | None


@dataclass(frozen=True, slots=True)
class _Bucket:
    name: str
    account: str
    region: str
    keys: tuple[str, ...]
    kms_key: str | None
    host: str
    resource: Record


@dataclass(frozen=True, slots=True)
class _Instance:
    instance_id: str
    account: str
    region: str
    role: str
    public_ip: str
    private_ip: str
    vpce: str | None


@dataclass(frozen=True, slots=True)
class _Function:
    name: str
    account: str
    region: str
    role: str
    runtime: str
    arn: str
    resource: Record


@dataclass(slots=True)
class _Place:
    """Resources of one account in one region."""
    buckets: list[_Bucket] = field(default_factory=list)
    functions: list[_Function] = field(default_factory=list)
    instances: list[_Instance] = field(default_factory=list)
    keys: list[tuple[str, Record]] = field(default_factory=list)       # (key ARN, resources entry)
    secrets: list[str] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)
    instance_ids: list[str] = field(default_factory=list)    # with or without an instance profile


_APPS = {
    (MANAGEMENT, "us-east-1"): ("sec-inventory", "cost-reporter"),
    (MANAGEMENT, "eu-west-1"): ("config-aggregator",),
    (MANAGEMENT, "us-west-2"): ("terraform",),
    (PROD, "us-east-1"): ("web-frontend", "thumbnailer"),
    (PROD, "eu-west-1"): ("payments-api", "orders-worker", "invoice-renderer"),
    (PROD, "us-west-2"): ("batch", "log-shipper"),
    (DEV, "us-east-1"): ("pr-preview", "bastion"),
    (DEV, "us-west-2"): ("dev-app", "etl-nightly"),
    (DEV, "eu-west-1"): ("scratch",),
}
# (account, region, bucket, kind of object keys, SSE-KMS)
_BUCKETS = (
    (MANAGEMENT, "us-east-1", "acme-billing-reports", "billing", False),
    (MANAGEMENT, "eu-west-1", "acme-mgmt-config-euw1", "config", False),
    (MANAGEMENT, "us-west-2", "acme-mgmt-tfstate-usw2", "tfstate", True),
    (PROD, "us-east-1", "acme-prod-artifacts", "artifacts", False),
    (PROD, "us-east-1", "acme-prod-static-assets", "assets", False),
    (PROD, "eu-west-1", "acme-prod-customer-exports", "exports", True),
    (PROD, "eu-west-1", "acme-prod-app-data-euw1", "appdata", True),
    (PROD, "us-west-2", "acme-prod-backups-usw2", "backups", True),
    (DEV, "us-east-1", "acme-dev-artifacts", "artifacts", False),
    (DEV, "us-west-2", "acme-dev-sandbox-usw2", "appdata", False),
    (DEV, "eu-west-1", "acme-dev-scratch-euw1", "scratch", False),
)
EXFIL_BUCKET = "acme-prod-customer-exports"
# (account, region, function, execution role, runtime)
_FUNCTIONS = (
    (MANAGEMENT, "us-east-1", "acme-sec-inventory", "SecInventoryLambdaRole", "python3.12"),
    (MANAGEMENT, "us-east-1", "cost-reporter", "cost-reporter-role", "python3.12"),
    (MANAGEMENT, "eu-west-1", "config-aggregator-notify", "config-aggregator-notify-role", "python3.12"),
    (MANAGEMENT, "us-west-2", "tfstate-lock-reaper", "tfstate-lock-reaper-role", "python3.12"),
    (PROD, "eu-west-1", "invoice-renderer", "invoice-renderer-role", "python3.12"),
    (PROD, "us-east-1", "thumbnailer", "thumbnailer-role", "nodejs20.x"),
    (PROD, "us-west-2", "log-shipper", "log-shipper-role", "python3.12"),
    (DEV, "us-west-2", "etl-nightly", "etl-lambda-role", "python3.12"),
    (DEV, "us-east-1", "pr-preview-cleanup", "pr-preview-cleanup-role", "nodejs20.x"),
    (DEV, "eu-west-1", "scratch-janitor", "scratch-janitor-role", "python3.12"),
)
# (account, region, instance-profile role, instances, uses an S3 gateway endpoint)
_INSTANCES = (
    (PROD, "eu-west-1", "payments-api-ec2-role", 3, False),
    (PROD, "eu-west-1", "orders-worker-ec2-role", 2, True),
    (PROD, "us-east-1", "web-frontend-ec2-role", 2, False),
    (PROD, "us-west-2", "batch-ec2-role", 1, False),
    (DEV, "us-west-2", "dev-app-ec2-role", 2, False),
    (DEV, "us-east-1", "bastion-ec2-role", 1, False),
)
_ROLES = {
    MANAGEMENT: ("OrgAutomationRole", "SecInventoryLambdaRole", "cost-reporter-role", "config-aggregator-notify-role",
                 "tfstate-lock-reaper-role"),
    PROD: ("DeployAdminRole", "InfraAutomationRole", "GitHubActionsDeploy", "SecurityAudit",
           "OrganizationAccountAccessRole", "payments-api-ec2-role", "orders-worker-ec2-role",
           "web-frontend-ec2-role", "batch-ec2-role", "invoice-renderer-role", "thumbnailer-role", "log-shipper-role"),
    DEV: ("GitHubActionsCI", "OktaDevelopers", "OktaDataScience", "TerraformPlanRole", "SecurityAudit",
          "OrganizationAccountAccessRole", "dev-app-ec2-role", "bastion-ec2-role", "etl-lambda-role",
          "pr-preview-cleanup-role", "scratch-janitor-role"),
}
_PERMISSION_SETS = ("AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess")
_USERS = {MANAGEMENT: ("ops-oncall", "ops-breakglass", "billing-exporter"),
          PROD: ("jenkins-deployer", "monitoring-readonly"),
          DEV: ("legacy-etl", "partner-portal")}
_NO_KEY_USERS = ("ops-breakglass",)
_SSO_PEOPLE = ("alice.martin", "bob.nguyen", "carol.schmidt", "dan.okafor", "erin.kowalski", "farid.haddad",
               "grace.liu", "hiro.tanaka")
_SSO_ADMINS = ("alice.martin", "bob.nguyen")
_OKTA_PEOPLE = ("ivan.petrov", "julia.santos", "kai.mueller", "lena.fischer", "mateo.rossi", "nora.berg")
_EMAIL = "@acme.example"
_GITHUB_SUBJECTS = {
    PROD: ("repo:acme-corp/payments-api:ref:refs/heads/main", "repo:acme-corp/orders-worker:ref:refs/heads/main",
           "repo:acme-corp/infra-live:environment:production"),
    DEV: ("repo:acme-corp/payments-api:pull_request", "repo:acme-corp/web-frontend:ref:refs/heads/develop",
          "repo:acme-corp/infra-live:ref:refs/heads/main"),
}
_GITHUB_PROVIDER = "token.actions.githubusercontent.com"
_ORG_TRAIL = f"arn:aws:cloudtrail:us-east-1:{MANAGEMENT}:trail/acme-org-trail"
SIEM_TRAIL = f"arn:aws:cloudtrail:us-east-1:{MANAGEMENT}:trail/acme-security-siem"


class _World:
    """Every principal and resource the trail mentions; ids come from the generator's random source."""

    def __init__(self, g: _Generator) -> None:
        self.roles: dict[tuple[str, str], _Role] = {}
        for account, names in _ROLES.items():
            for name in names:
                self.add_role(g, account, name)
        for account in LOGGED_ACCOUNTS:
            self.add_role(g, account, "AWSServiceRoleForConfig", path="aws-service-role/config.amazonaws.com/")
            for permission_set in _PERMISSION_SETS:
                suffix = "%016x" % g.rng.getrandbits(64)
                self.add_role(g, account, f"AWSReservedSSO_{permission_set}_{suffix}",
                              path="aws-reserved/sso.amazonaws.com/", alias=f"sso:{permission_set}")
        self.users: dict[tuple[str, str], _User] = {}
        for account, names in _USERS.items():
            for name in names:
                self.users[account, name] = _User(account, name, g.principal_id("AIDA"),
                                                  f"arn:aws:iam::{account}:user/{name}",
                                                  None if name in _NO_KEY_USERS else g.access_key("AKIA"))
        self.identity_store = f"d-90{'%08x' % g.rng.getrandbits(32)}"
        self.identity_store_arn = f"arn:aws:identitystore::{MANAGEMENT}:identitystore/{self.identity_store}"
        self.sso_users = {person: f"{self.identity_store[2:]}-{g.uuid()}" for person in _SSO_PEOPLE}
        self.sso_providers = {
            a: f"arn:aws:iam::{a}:saml-provider/AWSSSO_{'%016x' % g.rng.getrandbits(64)}_DO_NOT_DELETE"
            for a in LOGGED_ACCOUNTS}
        self.sso_qualifiers = {a: _B64(g.rng.randbytes(20)).decode() for a in LOGGED_ACCOUNTS}
        self.okta_issuer = f"http://www.okta.com/exk{''.join(g.rng.choices(_ALNUM, k=17))}"
        self.okta_qualifier = _B64(g.rng.randbytes(20)).decode()
        self.attacker_principal = g.principal_id("AIDA")

        self.places = {(a, r): _Place() for a in LOGGED_ACCOUNTS for r in REGIONS}
        for (account, region), apps in _APPS.items():
            place, env = self.places[account, region], _ENV[account]
            for app in apps:
                key_arn = f"arn:aws:kms:{region}:{account}:key/{g.uuid()}"
                place.keys.append((key_arn, {"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}))
                place.secrets.append(f"arn:aws:secretsmanager:{region}:{account}:secret:{env}/{app}/db-credentials-"
                                     + "".join(g.rng.choices(_ALNUM, k=6)))
                place.parameters.extend(f"/{env}/{app}/{name}" for name in ("config", "db-host", "feature-flags"))
        for account, region, name, kind, kms in _BUCKETS:
            place = self.places[account, region]
            keys = tuple(_object_keys(g.rng, kind, account, region))
            resource = {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{name}"}
            place.buckets.append(_Bucket(name, account, region, keys, place.keys[0][0] if kms else None,
                                         f"{name}.s3.{region}.amazonaws.com", resource))
        for account, region, name, role, runtime in _FUNCTIONS:
            arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
            self.places[account, region].functions.append(_Function(
                name, account, region, role, runtime, arn,
                {"accountId": account, "type": "AWS::Lambda::Function", "ARN": arn}))
        for account, region, role, count, vpce in _INSTANCES:
            endpoint = f"vpce-0{'%016x' % g.rng.getrandbits(64)}" if vpce else None
            for _ in range(count):
                private_ip = f"10.{20 + REGIONS.index(region)}.{g.rng.randrange(1, 255)}.{g.rng.randrange(2, 255)}"
                self.places[account, region].instances.append(_Instance(
                    f"i-0{'%016x' % g.rng.getrandbits(64)}", account, region, role, g.aws_ip(region), private_ip,
                    endpoint))
        for place in self.places.values():
            place.instance_ids.extend(i.instance_id for i in place.instances)
            place.instance_ids.extend(f"i-0{'%016x' % g.rng.getrandbits(64)}" for _ in range(1 + g.rng.randrange(3)))
        self.instances = [i for p in self.places.values() for i in p.instances]
        self.functions = [f for p in self.places.values() for f in p.functions]

    def add_role(self, g: _Generator, account: str, name: str, *, path: str = "", alias: str | None = None) -> None:
        role = _Role(account, name, g.principal_id("AROA"), f"arn:aws:iam::{account}:role/{path}{name}")
        self.roles[account, alias or name] = role

    def role(self, account: str, name: str) -> _Role:
        return self.roles[account, name]

    def user(self, account: str, name: str) -> _User:
        return self.users[account, name]


def _object_keys(rng: Random, kind: str, account: str, region: str) -> list[str]:
    n = rng.randrange(40, 120)
    if kind == "exports":
        return [f"exports/2026/02/{1 + i % 28:02d}/{('customers', 'invoices', 'payments')[i % 3]}-{i:04d}.csv.gz"
                for i in range(n)]
    if kind == "artifacts":
        apps = ("payments-api", "orders-worker", "web-frontend", "invoice-renderer")
        return [f"releases/{apps[i % 4]}/1.{40 + i // 4}.{i % 7}/{apps[i % 4]}.zip" for i in range(n)]
    if kind == "assets":
        return [f"static/{folder}/main.{'%08x' % rng.getrandbits(32)}.{ext}"
                for folder, ext in (("js", "js"), ("css", "css"), ("img", "png")) * (n // 3)]
    if kind == "backups":
        return [f"rds/payments/2026-0{2 + i % 2}-{1 + i % 28:02d}/snapshot-part-{i:03d}.gz" for i in range(n)]
    if kind == "billing":
        return [f"cur/acme-cur/2026020{1 + i % 3}/acme-cur-{i:05d}.csv.gz" for i in range(n)]
    if kind == "config":
        return [f"AWSLogs/{account}/Config/{region}/2026/3/{1 + i % 3}/ConfigSnapshot/{account}_Config_{region}_"
                f"ConfigSnapshot_{'%08x' % rng.getrandbits(32)}.json.gz" for i in range(n)]
    if kind == "tfstate":
        return [f"env/{('network', 'iam', 'org', 'dns', 'security')[i % 5]}-{i}/terraform.tfstate" for i in range(n)]
    if kind == "scratch":
        return [f"tmp/{_OKTA_PEOPLE[i % len(_OKTA_PEOPLE)]}/{'%08x' % rng.getrandbits(32)}.json" for i in range(n)]
    return [f"uploads/{'%032x' % rng.getrandbits(128)}/{('document.pdf', 'avatar.png', 'statement.csv')[i % 3]}"
            for i in range(n)]


# ----------------------------------------------------------------------------------------------
# Sessions: one credential used by one client


class _Session:
    """A credential in use: the userIdentity it shows, where calls come from and which calls it makes."""

    __slots__ = ("identity", "account", "arn", "key", "ip", "ua", "agent_ua", "tls", "regions", "region_weights",
                 "sts_region", "ops", "op_weights", "start", "end", "console", "vpce", "private_ip", "can_fail",
                 "weight", "buckets", "functions", "_via_s3", "service_host")

    def __init__(self, *, identity: Record, account: str, arn: str, key: str | None, ip: str, ua: str,
                 ops: Sequence[tuple[str, float]], start: int, end: int, regions: Sequence[str] = ("us-east-1",),
                 region_weights: Sequence[float] | None = None, sts_region: str = "us-east-1",
                 tls: tuple[str, str] | None = _TLS13, console: bool = False, agent_ua: str | None = None,
                 can_fail: bool = True, weight: float = 1.0, instance: _Instance | None = None,
                 buckets: Sequence[_Bucket] = (), functions: Sequence[_Function] = ()) -> None:
        self.identity, self.account, self.arn, self.key = identity, account, arn, key
        self.ip, self.ua, self.agent_ua, self.tls, self.console = ip, ua, agent_ua or ua, tls, console
        self.regions = tuple(REGIONS.index(r) for r in regions)
        self.region_weights = list(accumulate(region_weights or [1.0] * len(regions)))
        self.sts_region = sts_region
        self.ops = [_OP_INDEX[name] for name, _ in ops]
        self.op_weights = list(accumulate(w for _, w in ops))
        self.start, self.end, self.can_fail, self.weight = start, end, can_fail, weight
        self.vpce = instance.vpce if instance else None
        self.private_ip = instance.private_ip if instance else None
        self.buckets = {b.region: b for b in buckets}
        self.functions = {f.region: f for f in functions}
        self._via_s3: Record | None = None
        self.service_host = tls is None     # calls come from an AWS service, not over the internet

    def via_s3(self) -> Record:
        """The identity S3 shows when it calls KMS for this session (SSE-KMS objects)."""
        if self._via_s3 is None:
            self._via_s3 = {**self.identity, "invokedBy": "s3.amazonaws.com"}
        return self._via_s3


# ----------------------------------------------------------------------------------------------
# API calls: a table of operations, each a builder of (requestParameters, responseElements,
# resources, additionalEventData) for a session in a region.

Built = tuple[Record | None, Record | None, list[Record] | None, Record | None]
Builder = Callable[["_Generator", _Session, str], Built]


@dataclass(frozen=True, slots=True)
class _Op:
    service: str
    name: str
    build: Builder
    read_only: bool = True
    data: bool = False
    where: str = "home"            # home: a region of the session; global: us-east-1; sts: the session's STS region
    errors: tuple[str, ...] = ("denied",)
    agent: bool = False            # made by the instance's SSM agent, not the application
    via_s3: bool = False           # made by S3 on the session's behalf
    event_type: str = "AwsApiCall"
    host: str = ""                 # clientProvidedHostHeader; "{r}" is the region, "" means requestParameters.Host

    @property
    def action(self) -> str:
        """The IAM action: "GetFunction20150331v2" -> "lambda:GetFunction"."""
        name = self.name
        if name[-8:].isdigit() or name[-10:-2].isdigit():
            name = name[: -10 if name.endswith("v2") else -8]
        return f"{self.service}:{name}"


def _const(req: Record | None, resp: Record | None = None) -> Builder:
    def build(g: _Generator, s: _Session, region: str) -> Built:
        return req, resp, None, None
    return build


def _place(g: _Generator, s: _Session, region: str) -> _Place:
    return g.world.places[s.account, region]


def _bucket(g: _Generator, s: _Session, region: str) -> _Bucket:
    bucket = s.buckets.get(region)
    if bucket is None:
        buckets = g.world.places[s.account, region].buckets
        bucket = buckets[int(g.rnd() * len(buckets))]
    return bucket


def _s3_extra(g: _Generator, s: _Session, bytes_in: int, bytes_out: int) -> Record:
    return {"SignatureVersion": "SigV4", "CipherSuite": (s.tls or _TLS12)[1], "bytesTransferredIn": bytes_in,
            "AuthenticationMethod": "AuthHeader", "x-amz-id-2": g.amz_id(), "bytesTransferredOut": bytes_out}


def _s3_object(verb: str) -> Builder:
    def build(g: _Generator, s: _Session, region: str) -> Built:
        b = _bucket(g, s, region)
        if verb == "PutObject":
            key = b.keys[int(g.rnd() * len(b.keys))].rsplit("/", 1)[0] + f"/{'%012x' % g.rng.getrandbits(48)}.json"
        else:
            key = b.keys[int(g.rnd() * len(b.keys))]
        req = {"bucketName": b.name, "Host": b.host, "key": key}
        resources = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{b.name}/{key}"}, b.resource]
        size = 200 + int(g.rng.expovariate(1 / 180000))
        resp: Record | None = None
        if verb == "PutObject":
            resp = ({"x-amz-server-side-encryption": "aws:kms",
                     "x-amz-server-side-encryption-aws-kms-key-id": b.kms_key}
                    if b.kms_key else {"x-amz-server-side-encryption": "AES256"})
            return req, resp, resources, _s3_extra(g, s, size, 0)
        return req, resp, resources, _s3_extra(g, s, 0, 0 if verb == "HeadObject" else size)
    return build


def _s3_list_objects(g: _Generator, s: _Session, region: str) -> Built:
    b = _bucket(g, s, region)
    prefix = b.keys[int(g.rnd() * len(b.keys))].rsplit("/", 1)[0] + "/"
    req = {"bucketName": b.name, "Host": b.host, "list-type": "2", "prefix": prefix, "delimiter": "/",
           "encoding-type": "url"}
    return req, None, [b.resource], _s3_extra(g, s, 0, 1200 + int(g.rnd() * 20000))


def _s3_bucket_call(subresource: str) -> Builder:
    def build(g: _Generator, s: _Session, region: str) -> Built:
        b = _bucket(g, s, region)
        return ({"bucketName": b.name, "Host": b.host, subresource: ""}, None, [b.resource],
                _s3_extra(g, s, 0, 300 + int(g.rnd() * 900)))
    return build


def _s3_put_bucket_tagging(g: _Generator, s: _Session, region: str) -> Built:
    b = _bucket(g, s, region)
    req = {"bucketName": b.name, "Host": b.host, "tagging": "",
           "Tagging": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                       "TagSet": {"Tag": [{"Key": "cost-center", "Value": "platform"}]}}}
    return req, None, [b.resource], _s3_extra(g, s, 180, 0)


def _s3_list_buckets(g: _Generator, s: _Session, region: str) -> Built:
    return {"Host": "s3.amazonaws.com"}, None, None, _s3_extra(g, s, 0, 2400)


def _kms_key(g: _Generator, s: _Session, region: str) -> tuple[str, Record]:
    keys = _place(g, s, region).keys or g.world.places[s.account, "us-east-1"].keys
    return keys[int(g.rnd() * len(keys))]


def _kms_decrypt(g: _Generator, s: _Session, region: str) -> Built:
    _, resource = _kms_key(g, s, region)
    return {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}, None, [resource], None


def _kms_decrypt_for_s3(g: _Generator, s: _Session, region: str) -> Built:
    b = _bucket(g, s, region)
    arn, resource = _kms_key(g, s, region)
    key = b.keys[int(g.rnd() * len(b.keys))]
    req = {"encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{b.name}/{key}"},
           "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    return req, None, [resource], None


def _kms_generate_data_key(g: _Generator, s: _Session, region: str) -> Built:
    arn, resource = _kms_key(g, s, region)
    return {"keyId": arn, "keySpec": "AES_256"}, None, [resource], None


def _kms_key_call(g: _Generator, s: _Session, region: str) -> Built:
    arn, resource = _kms_key(g, s, region)
    return {"keyId": arn}, None, [resource], None


def _kms_rotate(g: _Generator, s: _Session, region: str) -> Built:
    arn, resource = _kms_key(g, s, region)
    return None, None, [resource], None


def _secret(g: _Generator, s: _Session, region: str) -> Built:
    secrets = _place(g, s, region).secrets or g.world.places[s.account, "us-east-1"].secrets
    return {"secretId": secrets[int(g.rnd() * len(secrets))]}, None, None, None


def _parameter(g: _Generator, s: _Session, region: str) -> Built:
    params = _place(g, s, region).parameters or g.world.places[s.account, "us-east-1"].parameters
    return {"name": params[int(g.rnd() * len(params))], "withDecryption": True}, None, None, None


def _parameters_by_path(g: _Generator, s: _Session, region: str) -> Built:
    params = _place(g, s, region).parameters or g.world.places[s.account, "us-east-1"].parameters
    path = params[int(g.rnd() * len(params))].rsplit("/", 1)[0] + "/"
    return {"path": path, "recursive": True, "withDecryption": True}, None, None, None


def _put_parameter(g: _Generator, s: _Session, region: str) -> Built:
    params = _place(g, s, region).parameters or g.world.places[s.account, "us-east-1"].parameters
    return ({"name": params[int(g.rnd() * len(params))], "type": "String", "overwrite": True},
            {"version": 2 + int(g.rnd() * 40), "tier": "Standard"}, None, None)


def _update_instance_information(g: _Generator, s: _Session, region: str) -> Built:
    instance_id = s.arn.rsplit("/", 1)[1]
    req = {"instanceId": instance_id, "agentVersion": "3.3.131.0", "agentStatus": "Active", "platformType": "Linux",
           "platformName": "Amazon Linux", "platformVersion": "2023", "iPAddress": s.private_ip or "10.20.0.10",
           "computerName": f"ip-{(s.private_ip or '10.20.0.10').replace('.', '-')}.{region}.compute.internal",
           "agentName": "amazon-ssm-agent", "availabilityZone": f"{region}a", "sSMConnectionChannel": "ssmmessages"}
    return req, None, None, None


def _association_status(g: _Generator, s: _Session, region: str) -> Built:
    req = {"associationId": g.uuid(), "instanceId": s.arn.rsplit("/", 1)[1],
           "executionResult": {"status": "Success", "executionDate": "HIDDEN_DUE_TO_SECURITY_REASONS",
                               "outputUrl": {"s3OutputUrl": {"outputUrl": ""}}}}
    return req, None, None, None


def _put_inventory(g: _Generator, s: _Session, region: str) -> Built:
    req = {"instanceId": s.arn.rsplit("/", 1)[1], "items": [
        {"typeName": "AWS:InstanceInformation", "schemaVersion": "1.0", "captureTime": g.iso(s.start + 60),
         "contentHash": _B64(g.rng.randbytes(24)).decode()}]}
    return req, None, None, None


def _put_secret_value(g: _Generator, s: _Session, region: str) -> Built:
    req, _, _, _ = _secret(g, s, region)
    assert req is not None
    arn = req["secretId"]
    return ({**req, "clientRequestToken": g.uuid(), "versionStages": ["AWSPENDING"]},
            {"arn": arn, "name": arn.split(":secret:", 1)[1][:-7], "versionId": g.uuid(),
             "versionStages": ["AWSPENDING"]}, None, None)


def _function(g: _Generator, s: _Session, region: str) -> _Function:
    fn = s.functions.get(region)
    if fn is None:
        fns = _place(g, s, region).functions
        fn = fns[int(g.rnd() * len(fns))]
    return fn


def _lambda_get(g: _Generator, s: _Session, region: str) -> Built:
    return {"functionName": _function(g, s, region).name}, None, None, None


def _lambda_invoke(g: _Generator, s: _Session, region: str) -> Built:
    fn = _function(g, s, region)
    req: Record = {"functionName": fn.arn}
    if s.service_host:
        req["sourceArn"] = f"arn:aws:events:{region}:{fn.account}:rule/{fn.name}-schedule"
    else:
        req["invocationType"] = "RequestResponse"
    return req, None, [fn.resource], {"functionVersion": f"{fn.arn}:$LATEST"}


def _lambda_update_code(g: _Generator, s: _Session, region: str) -> Built:
    fn = _function(g, s, region)
    req = {"functionName": fn.name, "s3Bucket": f"acme-{_ENV[fn.account]}-artifacts",
           "s3Key": f"releases/{fn.name}/{'%07x' % g.rng.getrandbits(28)}.zip", "publish": True}
    resp = {"functionName": fn.name, "functionArn": fn.arn, "runtime": fn.runtime,
            "role": f"arn:aws:iam::{fn.account}:role/{fn.role}", "handler": "app.handler",
            "codeSize": 1000 + int(g.rnd() * 9000000), "timeout": 30, "memorySize": 512,
            "codeSha256": _B64(g.rng.randbytes(32)).decode(), "version": str(2 + int(g.rnd() * 90)),
            "state": "Active", "lastUpdateStatus": "InProgress", "packageType": "Zip",
            "architectures": ["x86_64"]}
    return req, resp, None, None


def _lambda_update_configuration(g: _Generator, s: _Session, region: str) -> Built:
    fn = _function(g, s, region)
    req = {"functionName": fn.name, "timeout": 30 + 30 * int(g.rnd() * 4), "memorySize": 512}
    return req, {"functionName": fn.name, "functionArn": fn.arn, "lastUpdateStatus": "InProgress"}, None, None


def _iam_role_call(g: _Generator, s: _Session, region: str) -> Built:
    names = _ROLES.get(s.account, ("OrgAutomationRole",))
    return {"roleName": names[int(g.rnd() * len(names))]}, None, None, None


def _iam_user_call(g: _Generator, s: _Session, region: str) -> Built:
    names = _USERS[s.account]
    return {"userName": names[int(g.rnd() * len(names))]}, None, None, None


def _iam_tag_role(g: _Generator, s: _Session, region: str) -> Built:
    names = _ROLES.get(s.account, ("OrgAutomationRole",))
    return ({"roleName": names[int(g.rnd() * len(names))], "tags": [{"key": "owner", "value": "platform"}]},
            None, None, None)


def _iam_put_role_policy(g: _Generator, s: _Session, region: str) -> Built:
    names = _ROLES.get(s.account, ("OrgAutomationRole",))
    doc = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],'
           f'"Resource":"arn:aws:s3:::acme-{_ENV[s.account]}-artifacts/*"}}]}}')
    return ({"roleName": names[int(g.rnd() * len(names))], "policyName": "artifacts-access", "policyDocument": doc},
            None, None, None)


def _instance_id(g: _Generator, s: _Session, region: str) -> str:
    ids = _place(g, s, region).instance_ids
    return ids[int(g.rnd() * len(ids))]


def _ec2_tags(g: _Generator, s: _Session, region: str) -> Built:
    iid = _instance_id(g, s, region)
    req = {"filterSet": {"items": [{"name": "resource-id", "valueSet": {"items": [{"value": iid}]}}]}}
    return req, None, None, None


def _ec2_create_tags(g: _Generator, s: _Session, region: str) -> Built:
    iid = _instance_id(g, s, region)
    req = {"resourcesSet": {"items": [{"resourceId": iid}]},
           "tagSet": {"items": [{"key": "patch-group", "value": ("weekly", "monthly")[int(g.rnd() * 2)]}]}}
    return req, {"requestId": g.uuid(), "_return": True}, None, None


def _ec2_start_stop(name: str) -> Builder:
    codes = {"StopInstances": ((64, "stopping"), (16, "running")), "StartInstances": ((0, "pending"), (80, "stopped"))}

    def build(g: _Generator, s: _Session, region: str) -> Built:
        iid = _instance_id(g, s, region)
        current, previous = codes[name]
        req = {"instancesSet": {"items": [{"instanceId": iid}]}}
        resp = {"requestId": g.uuid(), "instancesSet": {"items": [{
            "instanceId": iid, "currentState": {"code": current[0], "name": current[1]},
            "previousState": {"code": previous[0], "name": previous[1]}}]}}
        return req, resp, None, None
    return build


def _trail_call(key: str) -> Builder:
    def build(g: _Generator, s: _Session, region: str) -> Built:
        return {key: _ORG_TRAIL}, None, None, None
    return build


def _lookup_events(g: _Generator, s: _Session, region: str) -> Built:
    value = ("ConsoleLogin", "AssumeRole", "RunInstances", "PutBucketPolicy")[int(g.rnd() * 4)]
    return ({"lookupAttributes": [{"attributeKey": "EventName", "attributeValue": value}], "maxResults": 50},
            None, None, None)


_EMPTY = _const(None)
_OPS: tuple[_Op, ...] = (
    _Op("sts", "GetCallerIdentity", _EMPTY, where="sts", errors=(), host="sts"),
    _Op("ec2", "DescribeInstances", _const({"instancesSet": {}, "filterSet": {}}), host="ec2.{r}.amazonaws.com"),
    _Op("ec2", "DescribeSecurityGroups", _const({"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}),
        host="ec2.{r}.amazonaws.com"),
    _Op("ec2", "DescribeVpcs", _const({"vpcSet": {}, "filterSet": {}}), host="ec2.{r}.amazonaws.com"),
    _Op("ec2", "DescribeSubnets", _const({"subnetSet": {}, "filterSet": {}}), host="ec2.{r}.amazonaws.com"),
    _Op("ec2", "DescribeVolumes", _const({"volumeSet": {}, "filterSet": {}}), host="ec2.{r}.amazonaws.com"),
    _Op("ec2", "DescribeSnapshots", _const({"snapshotSet": {}, "ownersSet": {"items": [{"owner": "self"}]},
                                            "sharedUsersSet": {}, "filterSet": {}}), host="ec2.{r}.amazonaws.com"),
    _Op("ec2", "DescribeNetworkInterfaces", _const({"networkInterfaceIdSet": {}, "filterSet": {}}),
        host="ec2.{r}.amazonaws.com"),
    _Op("ec2", "DescribeTags", _ec2_tags, host="ec2.{r}.amazonaws.com"),
    _Op("ec2", "DescribeRegions", _const({"regionSet": {}, "allRegions": False}), host="ec2.{r}.amazonaws.com"),
    _Op("ec2", "CreateTags", _ec2_create_tags, read_only=False, host="ec2.{r}.amazonaws.com"),
    _Op("ec2", "StopInstances", _ec2_start_stop("StopInstances"), read_only=False, host="ec2.{r}.amazonaws.com"),
    _Op("ec2", "StartInstances", _ec2_start_stop("StartInstances"), read_only=False, host="ec2.{r}.amazonaws.com"),
    _Op("iam", "ListUsers", _EMPTY, where="global", host="iam.amazonaws.com"),
    _Op("iam", "ListRoles", _EMPTY, where="global", host="iam.amazonaws.com"),
    _Op("iam", "ListPolicies", _const({"scope": "Local", "onlyAttached": False}), where="global",
        host="iam.amazonaws.com"),
    _Op("iam", "GetAccountSummary", _EMPTY, where="global", host="iam.amazonaws.com"),
    _Op("iam", "GetRole", _iam_role_call, where="global", errors=("denied", "notfound"), host="iam.amazonaws.com"),
    _Op("iam", "ListAttachedRolePolicies", _iam_role_call, where="global", host="iam.amazonaws.com"),
    _Op("iam", "ListRolePolicies", _iam_role_call, where="global", host="iam.amazonaws.com"),
    _Op("iam", "GetUser", _iam_user_call, where="global", errors=("denied", "notfound"), host="iam.amazonaws.com"),
    _Op("iam", "ListAccessKeys", _iam_user_call, where="global", host="iam.amazonaws.com"),
    _Op("iam", "TagRole", _iam_tag_role, read_only=False, where="global", host="iam.amazonaws.com"),
    _Op("iam", "PutRolePolicy", _iam_put_role_policy, read_only=False, where="global", host="iam.amazonaws.com"),
    _Op("s3", "ListBuckets", _s3_list_buckets, where="global"),
    _Op("s3", "GetBucketLocation", _s3_bucket_call("location")),
    _Op("s3", "GetBucketPolicy", _s3_bucket_call("policy"), errors=("denied", "notfound")),
    _Op("s3", "GetBucketAcl", _s3_bucket_call("acl")),
    _Op("s3", "GetBucketEncryption", _s3_bucket_call("encryption")),
    _Op("s3", "GetBucketVersioning", _s3_bucket_call("versioning")),
    _Op("s3", "GetBucketPublicAccessBlock", _s3_bucket_call("publicAccessBlock")),
    _Op("s3", "PutBucketTagging", _s3_put_bucket_tagging, read_only=False),
    _Op("s3", "GetObject", _s3_object("GetObject"), data=True, errors=("denied", "notfound")),
    _Op("s3", "HeadObject", _s3_object("HeadObject"), data=True, errors=("notfound",)),
    _Op("s3", "PutObject", _s3_object("PutObject"), read_only=False, data=True),
    _Op("s3", "ListObjects", _s3_list_objects, data=True),
    _Op("kms", "Decrypt", _kms_decrypt, host="kms.{r}.amazonaws.com"),
    _Op("kms", "Decrypt", _kms_decrypt_for_s3, errors=(), via_s3=True),
    _Op("kms", "GenerateDataKey", _kms_generate_data_key, host="kms.{r}.amazonaws.com"),
    _Op("kms", "DescribeKey", _kms_key_call, host="kms.{r}.amazonaws.com"),
    _Op("kms", "GetKeyRotationStatus", _kms_key_call, host="kms.{r}.amazonaws.com"),
    _Op("kms", "ListKeys", _EMPTY, host="kms.{r}.amazonaws.com"),
    _Op("kms", "ListAliases", _EMPTY, host="kms.{r}.amazonaws.com"),
    _Op("kms", "RotateKey", _kms_rotate, read_only=False, errors=(), event_type="AwsServiceEvent"),
    _Op("secretsmanager", "ListSecrets", _EMPTY, host="secretsmanager.{r}.amazonaws.com"),
    _Op("secretsmanager", "DescribeSecret", _secret, host="secretsmanager.{r}.amazonaws.com"),
    _Op("secretsmanager", "GetSecretValue", _secret, errors=("denied", "notfound"),
        host="secretsmanager.{r}.amazonaws.com"),
    _Op("ssm", "GetParameter", _parameter, errors=("denied", "notfound"), host="ssm.{r}.amazonaws.com"),
    _Op("ssm", "GetParametersByPath", _parameters_by_path, host="ssm.{r}.amazonaws.com"),
    _Op("ssm", "DescribeInstanceInformation", _const({"maxResults": 50}), host="ssm.{r}.amazonaws.com"),
    _Op("ssm", "PutParameter", _put_parameter, read_only=False, host="ssm.{r}.amazonaws.com"),
    _Op("ssm", "UpdateInstanceInformation", _update_instance_information, read_only=False, errors=(), agent=True,
        host="ssm.{r}.amazonaws.com"),
    _Op("ssm", "UpdateInstanceAssociationStatus", _association_status, read_only=False, errors=(), agent=True,
        host="ssm.{r}.amazonaws.com"),
    _Op("ssm", "PutInventory", _put_inventory, read_only=False, errors=(), agent=True, host="ssm.{r}.amazonaws.com"),
    _Op("secretsmanager", "PutSecretValue", _put_secret_value, read_only=False,
        host="secretsmanager.{r}.amazonaws.com"),
    _Op("lambda", "ListFunctions20150331", _EMPTY, host="lambda.{r}.amazonaws.com"),
    _Op("lambda", "GetFunction20150331v2", _lambda_get, errors=("denied", "notfound"), host="lambda.{r}.amazonaws.com"),
    _Op("lambda", "GetFunctionConfiguration20150331v2", _lambda_get, host="lambda.{r}.amazonaws.com"),
    _Op("lambda", "UpdateFunctionCode20150331v2", _lambda_update_code, read_only=False,
        host="lambda.{r}.amazonaws.com"),
    _Op("lambda", "UpdateFunctionConfiguration20150331v2", _lambda_update_configuration, read_only=False,
        host="lambda.{r}.amazonaws.com"),
    _Op("lambda", "Invoke", _lambda_invoke, read_only=False, data=True, host="lambda.{r}.amazonaws.com"),
    _Op("cloudtrail", "DescribeTrails", _const({"trailNameList": [], "includeShadowTrails": True}),
        host="cloudtrail.{r}.amazonaws.com"),
    _Op("cloudtrail", "GetTrailStatus", _trail_call("name"), host="cloudtrail.{r}.amazonaws.com"),
    _Op("cloudtrail", "GetEventSelectors", _trail_call("trailName"), host="cloudtrail.{r}.amazonaws.com"),
    _Op("cloudtrail", "LookupEvents", _lookup_events, host="cloudtrail.{r}.amazonaws.com"),
    _Op("organizations", "DescribeOrganization", _EMPTY, where="global", host="organizations.us-east-1.amazonaws.com"),
    _Op("organizations", "ListAccounts", _EMPTY, where="global", host="organizations.us-east-1.amazonaws.com"),
)


def _op_key(op: _Op) -> str:
    return f"{op.service}.{op.name}" + ("@s3" if op.via_s3 else "")


_OP_INDEX = {_op_key(op): i for i, op in enumerate(_OPS)}

_DENIED_POLICY = ("User: {arn} is not authorized to perform: {action} on resource: {resource} "
                  "because no identity-based policy allows the {action} action")
_DENIED = {
    "ec2": ("Client.UnauthorizedOperation", "You are not authorized to perform this operation. User: {arn} is not "
            "authorized to perform: {action} because no identity-based policy allows the {action} action"),
    "iam": ("AccessDenied", _DENIED_POLICY),
    "s3": ("AccessDenied", "Access Denied"),
    "kms": ("AccessDenied", _DENIED_POLICY),
    "secretsmanager": ("AccessDenied", _DENIED_POLICY),
    "lambda": ("AccessDeniedException", _DENIED_POLICY),
    "ssm": ("AccessDeniedException", _DENIED_POLICY),
    "cloudtrail": ("AccessDeniedException", _DENIED_POLICY),
    "organizations": ("AccessDeniedException", "You don't have permissions to access this resource."),
}
_NOT_FOUND = {
    "GetRole": ("NoSuchEntityException", "The role with name {name} cannot be found."),
    "GetUser": ("NoSuchEntityException", "The user with name {name} cannot be found."),
    "GetBucketPolicy": ("NoSuchBucketPolicy", "The bucket policy does not exist"),
    "GetObject": ("NoSuchKey", "The specified key does not exist."),
    "HeadObject": ("NoSuchKey", "The specified key does not exist."),
    "GetSecretValue": ("ResourceNotFoundException", "Secrets Manager can't find the specified secret."),
    "GetParameter": ("ParameterNotFound", "Parameter {name} not found."),
    "GetFunction20150331v2": ("ResourceNotFoundException", "Function not found: {name}"),
}

# Operation mixes, by the kind of client.
_Mix = tuple[tuple[str, float], ...]
_APP_MIX: _Mix = (("s3.GetObject", 24), ("s3.PutObject", 8), ("s3.HeadObject", 5), ("kms.Decrypt", 8),
                  ("kms.Decrypt@s3", 5), ("kms.GenerateDataKey", 3), ("ssm.UpdateInstanceInformation", 16),
                  ("ssm.UpdateInstanceAssociationStatus", 4), ("ssm.PutInventory", 3),
                  ("ssm.GetParameter", 6), ("ssm.GetParametersByPath", 2), ("secretsmanager.GetSecretValue", 5),
                  ("ec2.DescribeTags", 3), ("ec2.DescribeInstances", 2), ("sts.GetCallerIdentity", 3),
                  ("lambda.Invoke", 5))
_LAMBDA_MIX: _Mix = (("s3.GetObject", 22), ("s3.PutObject", 12), ("s3.ListObjects", 4), ("kms.Decrypt", 14),
                     ("kms.GenerateDataKey", 6), ("secretsmanager.GetSecretValue", 14), ("ssm.GetParameter", 18),
                     ("secretsmanager.PutSecretValue", 2),
                     ("sts.GetCallerIdentity", 3))
_INVENTORY_MIX: _Mix = (
    ("ec2.DescribeInstances", 6), ("ec2.DescribeSecurityGroups", 6), ("ec2.DescribeVpcs", 4),
    ("ec2.DescribeSubnets", 4),
    ("ec2.DescribeVolumes", 4), ("ec2.DescribeSnapshots", 3), ("ec2.DescribeNetworkInterfaces", 5),
    ("ec2.DescribeRegions", 1), ("iam.ListRoles", 3), ("iam.ListUsers", 2), ("iam.GetRole", 5),
    ("iam.ListAttachedRolePolicies", 5), ("iam.ListRolePolicies", 4), ("iam.ListPolicies", 2),
    ("iam.GetAccountSummary", 1), ("iam.ListAccessKeys", 2), ("s3.GetBucketLocation", 3), ("s3.GetBucketPolicy", 3),
    ("s3.GetBucketAcl", 3), ("s3.GetBucketEncryption", 2), ("s3.GetBucketVersioning", 2),
    ("s3.GetBucketPublicAccessBlock", 2), ("kms.DescribeKey", 2), ("kms.GetKeyRotationStatus", 2), ("kms.ListKeys", 1),
    ("kms.ListAliases", 1), ("lambda.ListFunctions20150331", 2), ("lambda.GetFunctionConfiguration20150331v2", 2),
    ("cloudtrail.DescribeTrails", 1), ("cloudtrail.GetTrailStatus", 1), ("cloudtrail.GetEventSelectors", 1),
    ("secretsmanager.ListSecrets", 1), ("secretsmanager.DescribeSecret", 2), ("ssm.DescribeInstanceInformation", 2))
_AUDIT_MIX: _Mix = _INVENTORY_MIX + (("sts.GetCallerIdentity", 2), ("s3.ListBuckets", 2))
_ADMIN_MIX: _Mix = (
    ("ec2.DescribeInstances", 10), ("ec2.DescribeSecurityGroups", 4), ("ec2.DescribeVpcs", 2), ("ec2.DescribeTags", 2),
    ("s3.ListBuckets", 5), ("s3.GetBucketPolicy", 2), ("s3.GetBucketAcl", 1), ("s3.ListObjects", 4),
    ("s3.GetObject", 5), ("s3.PutObject", 2), ("iam.ListRoles", 3), ("iam.GetRole", 3), ("iam.ListUsers", 2),
    ("iam.ListAttachedRolePolicies", 2),
    ("lambda.ListFunctions20150331", 3), ("lambda.GetFunction20150331v2", 3), ("cloudtrail.LookupEvents", 4),
    ("ssm.GetParameter", 2), ("ssm.DescribeInstanceInformation", 2), ("secretsmanager.ListSecrets", 2),
    ("secretsmanager.DescribeSecret", 1), ("kms.ListKeys", 1), ("kms.ListAliases", 1), ("sts.GetCallerIdentity", 2),
    ("ec2.CreateTags", 3), ("ec2.StopInstances", 1), ("ec2.StartInstances", 1), ("ssm.PutParameter", 3),
    ("lambda.UpdateFunctionConfiguration20150331v2", 2), ("iam.TagRole", 1), ("iam.PutRolePolicy", 1),
    ("s3.PutBucketTagging", 1))
_READONLY_MIX: _Mix = tuple((name, w) for name, w in _ADMIN_MIX
                            if not name.split(".")[1].startswith(("Create", "Stop", "Start", "Put", "Update", "Tag")))
_CI_MIX: _Mix = (("sts.GetCallerIdentity", 8), ("s3.PutObject", 22), ("s3.ListObjects", 5), ("s3.HeadObject", 6),
                 ("s3.GetObject", 6), ("lambda.GetFunction20150331v2", 10), ("lambda.UpdateFunctionCode20150331v2", 9),
                 ("lambda.UpdateFunctionConfiguration20150331v2", 3), ("lambda.GetFunctionConfiguration20150331v2", 5),
                 ("ssm.GetParameter", 9), ("ssm.PutParameter", 3), ("ec2.DescribeInstances", 4), ("iam.GetRole", 4),
                 ("kms.GenerateDataKey", 3))
_DEPLOY_MIX: _Mix = _CI_MIX + (("ec2.CreateTags", 4), ("iam.TagRole", 1), ("iam.PutRolePolicy", 1),
                               ("ec2.DescribeSecurityGroups", 3), ("cloudtrail.DescribeTrails", 1))
_ORG_MIX: _Mix = (("organizations.DescribeOrganization", 3), ("organizations.ListAccounts", 6),
                  ("iam.ListRoles", 3), ("iam.GetRole", 3), ("cloudtrail.DescribeTrails", 2),
                  ("cloudtrail.GetTrailStatus", 2), ("sts.GetCallerIdentity", 2), ("s3.ListBuckets", 2))
_DATA_MIX: _Mix = (("s3.GetObject", 50), ("s3.PutObject", 25), ("s3.ListObjects", 10), ("kms.Decrypt", 5),
                   ("sts.GetCallerIdentity", 2))
_MONITORING_MIX: _Mix = (("ec2.DescribeInstances", 8), ("ec2.DescribeVolumes", 3), ("ec2.DescribeNetworkInterfaces", 2),
                         ("lambda.ListFunctions20150331", 4), ("s3.ListBuckets", 3), ("s3.GetBucketLocation", 3),
                         ("cloudtrail.DescribeTrails", 1), ("kms.ListKeys", 1), ("ssm.DescribeInstanceInformation", 2),
                         ("sts.GetCallerIdentity", 1))
_CONSOLE_MIX: _Mix = (("iam.GetAccountSummary", 3), ("iam.ListUsers", 3), ("iam.ListRoles", 2),
                      ("organizations.DescribeOrganization", 2), ("organizations.ListAccounts", 2),
                      ("cloudtrail.DescribeTrails", 1), ("ec2.DescribeRegions", 1), ("s3.ListBuckets", 2))
_INVOKER_MIX: _Mix = (("lambda.Invoke", 1),)
_INTERNAL_MIX: _Mix = (("kms.RotateKey", 1),)


# ----------------------------------------------------------------------------------------------
# The generator


@dataclass(slots=True)
class _Fixed:
    """An event built up front (STS, sign-in, attack): its time, its stream and the record."""
    ts: int
    stream: int
    record: Record


class _Generator:
    """Plans sessions and their calls, then writes files; one ``Random`` drives everything."""

    def __init__(self, *, seed: int, start: int, days: int, events: int) -> None:
        self.rng = Random(seed)
        self.rnd = self.rng.random
        self.seed, self.t0, self.days, self.events = seed, start, days, events
        self.t1 = start + days * _DAY
        self.fixed: list[_Fixed] = []
        self.sessions: list[_Session] = []
        self.credentials: list[Record] = []
        self.console_sessions: list[Record] = []
        self.attack: Record = {}
        self._tls: dict[tuple[str, tuple[str, str]], Record] = {}
        self._days: dict[int, str] = {}
        self._rhythms: dict[tuple[int, ...], tuple[list[int], list[float]]] = {}
        self.calls: list[int] = []
        self.world = _World(self)

    # -- ids and small values ------------------------------------------------------------------

    def uuid(self) -> str:
        h = "%032x" % self.rng.getrandbits(128)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"

    def access_key(self, prefix: str) -> str:
        return prefix + _B32(self.rng.randbytes(10)).decode()

    def principal_id(self, prefix: str) -> str:
        return prefix + _B32(self.rng.randbytes(11)).decode()[:17]

    def session_token(self) -> str:
        return "IQoJb3JpZ2luX2VjE" + _B64(self.rng.randbytes(330 + int(self.rnd() * 120))).decode()

    def amz_id(self) -> str:
        return _B64(self.rng.randbytes(57)).decode()

    def s3_request_id(self) -> str:
        return _B32(self.rng.randbytes(10)).decode()

    def aws_ip(self, region: str) -> str:
        prefixes = _REGION_PREFIXES[region]
        return f"{prefixes[int(self.rnd() * len(prefixes))]}.{self.rng.randrange(1, 255)}.{self.rng.randrange(1, 255)}"

    def github_ip(self) -> str:
        prefix = _GITHUB_PREFIXES[int(self.rnd() * len(_GITHUB_PREFIXES))]
        return f"{prefix}.{self.rng.randrange(1, 255)}.{self.rng.randrange(1, 255)}"

    def iso(self, ts: int) -> str:
        day, rest = divmod(ts, _DAY)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = self._days[day] = _iso(day * _DAY)[:11]
        hour, rest = divmod(rest, 3600)
        return f"{prefix}{hour:02d}:{rest // 60:02d}:{rest % 60:02d}Z"

    def tls(self, host: str, version: tuple[str, str]) -> Record:
        details = self._tls.get((host, version))
        if details is None:
            details = self._tls[host, version] = {"tlsVersion": version[0], "cipherSuite": version[1],
                                                  "clientProvidedHostHeader": host}
        return details

    def when(self, hours: tuple[int, ...], *, weekend: float) -> int:
        """A second in the covered days, following a daily rhythm (and quieter weekends)."""
        table = self._rhythms.get(hours)
        if table is None:
            slots, weights = [], []
            for day in range(self.days):
                weekday = datetime.fromtimestamp(self.t0 + day * _DAY, timezone.utc).weekday()
                for hour, w in enumerate(hours):
                    slots.append(day * _DAY + hour * 3600)
                    weights.append(w * (weekend if weekday >= 5 else 1.0))
            table = self._rhythms[hours] = (slots, list(accumulate(weights)))
        slot = self.rng.choices(table[0], cum_weights=table[1])[0]
        return min(self.t0 + slot + int(self.rnd() * 3600), self.t1 - 600)

    def stream(self, account: str, region: str) -> int:
        return LOGGED_ACCOUNTS.index(account) * len(REGIONS) + REGIONS.index(region)

    # -- records ---------------------------------------------------------------------------------

    def event(self, ts: int, identity: Record, service: str, name: str, region: str, account: str, ip: str, ua: str,
              *, req: Record | None = None, resp: Record | None = None, extra: Record | None = None,
              read_only: bool = True, data: bool = False, resources: list[Record] | None = None,
              event_type: str = "AwsApiCall", error: tuple[str, str] | None = None, shared: str | None = None,
              tls: Record | None = None, console: bool = False, vpce: str | None = None,
              details: Record | None = None, request_id: str | None = "", version: str | None = None) -> Record:
        """One CloudTrail record, with fields in the order CloudTrail writes them."""
        rec: Record = {"eventVersion": version or _VERSIONS[service], "userIdentity": identity,
                       "eventTime": self.iso(ts), "eventSource": _SOURCES[service], "eventName": name,
                       "awsRegion": region, "sourceIPAddress": ip, "userAgent": ua}
        if error is not None:
            rec["errorCode"], rec["errorMessage"] = error
            resp = None
        rec["requestParameters"] = req
        rec["responseElements"] = resp
        if extra is not None:
            rec["additionalEventData"] = extra
        if request_id is not None:
            rec["requestID"] = request_id or (self.s3_request_id() if service == "s3" else self.uuid())
        rec["eventID"] = self.uuid()
        rec["readOnly"] = read_only
        if resources:
            rec["resources"] = resources
        rec["eventType"] = event_type
        rec["managementEvent"] = not data
        rec["recipientAccountId"] = account
        if shared is not None:
            rec["sharedEventID"] = shared
        if vpce is not None:
            rec["vpcEndpointId"], rec["vpcEndpointAccountId"] = vpce, account
        if details is not None:
            rec["serviceEventDetails"] = details
        rec["eventCategory"] = "Data" if data else "Management"
        if tls is not None:
            rec["tlsDetails"] = tls
        if console:
            rec["sessionCredentialFromConsole"] = "true"
        return rec

    def fix(self, ts: int, rec: Record) -> Record:
        self.fixed.append(_Fixed(ts, self.stream(rec["recipientAccountId"], rec["awsRegion"]), rec))
        return rec

    def call(self, s: _Session, op: _Op, region: str, ts: int) -> Record:
        """A background API call of a session, built when its file is written."""
        req, resp, resources, extra = op.build(self, s, region)
        error = None
        if op.errors and s.can_fail and self.rnd() < _ERROR_RATE:
            error = self.error(s, op, region, req, resources)
        vpce = None
        if op.via_s3:
            identity, ip, ua, tls = s.via_s3(), "s3.amazonaws.com", "s3.amazonaws.com", None
        else:
            identity, ip = s.identity, s.ip
            ua = s.agent_ua if op.agent else s.ua
            host = op.host.replace("{r}", region) if op.host else (req or {}).get("Host", "s3.amazonaws.com")
            if host == "sts":      # the global endpoint is logged in us-east-1
                host = "sts.amazonaws.com" if region == "us-east-1" else f"sts.{region}.amazonaws.com"
            tls = self.tls(host, s.tls) if s.tls is not None else None
            if op.service == "s3" and not s.service_host:
                ua = _UA_S3_CONSOLE if s.console else f"[{ua}]"
                if s.vpce is not None and s.private_ip is not None:
                    vpce, ip = s.vpce, s.private_ip
        details = None
        if op.event_type == "AwsServiceEvent" and resources:
            details = {"keyId": resources[0]["ARN"].rsplit("/", 1)[1]}
        return self.event(ts, identity, op.service, op.name, region, s.account, ip, ua, req=req, resp=resp,
                          extra=extra, read_only=op.read_only, data=op.data, resources=resources,
                          event_type=op.event_type, error=error, tls=tls, console=s.console, vpce=vpce,
                          details=details, request_id=None if details is not None else "")

    def error(self, s: _Session, op: _Op, region: str, req: Record | None,
              resources: list[Record] | None) -> tuple[str, str]:
        if "notfound" in op.errors and op.name in _NOT_FOUND and ("denied" not in op.errors or self.rnd() < 0.5):
            code, template = _NOT_FOUND[op.name]
            name = next(iter((req or {"name": "unknown"}).values()))
            return code, template.format(name=name if isinstance(name, str) else "unknown")
        code, template = _DENIED[op.service]
        req = req or {}
        if resources:
            resource = resources[0]["ARN"]
        elif op.service == "iam":
            kind = "role" if "Role" in op.name else "user"
            resource = f"arn:aws:iam::{s.account}:{kind}/{req.get('roleName') or req.get('userName') or ''}"
        elif "secretId" in req:
            resource = req["secretId"]
        elif op.service == "ssm" and "name" in req:
            resource = f"arn:aws:ssm:{region}:{s.account}:parameter{req['name']}"
        elif op.service == "lambda" and "functionName" in req:
            resource = f"arn:aws:lambda:{region}:{s.account}:function:{req['functionName']}"
        else:
            resource = f"arn:aws:{op.service}:{region}:{s.account}:*"
        return code, template.format(arn=s.arn, action=op.action, resource=resource)

    # -- identities ------------------------------------------------------------------------------

    @staticmethod
    def user_identity(user: _User, key: str | None, *, session: Record | None = None) -> Record:
        identity: Record = {"type": "IAMUser", "principalId": user.user_id, "arn": user.arn, "accountId": user.account}
        if key is not None:
            identity["accessKeyId"] = key
        identity["userName"] = user.name
        if session is not None:
            identity["sessionContext"] = session
        return identity

    def user_session(self, created: int, *, mfa: bool) -> Record:
        """sessionContext of an IAM user's or root's temporary key (GetSessionToken, console sign-in)."""
        return {"sessionIssuer": {}, "webIdFederationData": {},
                "attributes": {"creationDate": self.iso(created), "mfaAuthenticated": "true" if mfa else "false"}}

    def role_identity(self, role: _Role, name: str, key: str, created: int, *, mfa: bool = False,
                      source_identity: str | None = None, web: Record | None = None, ec2: bool = False,
                      invoked_by: str | None = None, on_behalf: Record | None = None) -> Record:
        context: Record = {"sessionIssuer": {"type": "Role", "principalId": role.role_id, "arn": role.arn,
                                             "accountId": role.account, "userName": role.name}}
        if web is not None:
            context["webIdFederationData"] = web
        context["attributes"] = {"creationDate": self.iso(created), "mfaAuthenticated": "true" if mfa else "false"}
        if source_identity is not None:
            context["sourceIdentity"] = source_identity
        if ec2:
            context["ec2RoleDelivery"] = "2.0"
        identity: Record = {"type": "AssumedRole", "principalId": f"{role.role_id}:{name}",
                            "arn": f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{name}",
                            "accountId": role.account, "accessKeyId": key, "sessionContext": context}
        if invoked_by is not None:
            identity["invokedBy"] = invoked_by
        if on_behalf is not None:
            identity["onBehalfOf"] = on_behalf
        return identity

    def credentials_block(self, key: str, ts: int, duration: int) -> Record:
        return {"accessKeyId": key, "sessionToken": self.session_token(),
                "expiration": _aws_date(ts + duration, comma=True)}

    def credential(self, rec: Record, *, key: str, ts: int, duration: int, principal_arn: str, session_name: str,
                   session_arn: str, issuer_type: str, issuer: str, origin_type: str, origin: str,
                   parent_key: str | None = None, role_account_event: Record | None = None,
                   source_identity: str | None = None, attack: bool = False, subject: str | None = None) -> Record:
        entry = {"event_id": rec["eventID"], "event_name": rec["eventName"], "event_time": rec["eventTime"],
                 "account": rec["recipientAccountId"], "region": rec["awsRegion"], "access_key_id": key,
                 "role_arn": principal_arn, "session_name": session_name, "session_arn": session_arn,
                 "expiration": _iso(ts + duration), "issuer_type": issuer_type, "issuer": issuer,
                 "issuer_subject": subject, "issuer_access_key_id": parent_key, "origin_type": origin_type,
                 "origin": origin, "source_identity": source_identity, "attack": attack,
                 "role_account_event_id": role_account_event["eventID"] if role_account_event else None,
                 "shared_event_id": rec.get("sharedEventID")}
        self.credentials.append(entry)
        return entry

    # -- STS issuers -----------------------------------------------------------------------------

    def assume_role(self, parent: _Session, role: _Role, name: str, ts: int, *, duration: int = 3600,
                    origin: tuple[str, str], mfa: bool = False, source_identity: str | None = None,
                    attack: bool = False, region: str | None = None) -> tuple[Record, Record, str]:
        """AssumeRole by a user or a session: the records (caller's copy, role account's copy) and the new key."""
        key = self.access_key("ASIA")
        region = region or parent.sts_region
        identity = self.role_identity(role, name, key, ts, mfa=mfa, source_identity=source_identity)
        req: Record = {"roleArn": role.arn, "roleSessionName": name, "durationSeconds": duration}
        resp: Record = {"credentials": self.credentials_block(key, ts, duration),
                        "assumedRoleUser": {"assumedRoleId": f"{role.role_id}:{name}", "arn": identity["arn"]}}
        if source_identity is not None:
            resp["sourceIdentity"] = source_identity
        host = "sts.amazonaws.com" if region == "us-east-1" else f"sts.{region}.amazonaws.com"
        tls = self.tls(host, parent.tls) if parent.tls else None
        cross = role.account != parent.account
        shared = self.uuid() if cross else None
        resources = [{"accountId": role.account, "type": "AWS::IAM::Role", "ARN": role.arn}]
        caller = self.event(ts, parent.identity, "sts", "AssumeRole", region, parent.account, parent.ip, parent.ua,
                            req=req, resp=resp, resources=resources, shared=shared, tls=tls, console=parent.console)
        self.fix(ts, caller)
        copy = None
        if cross:
            copy = dict(caller)
            copy["userIdentity"] = {"type": "AWSAccount", "principalId": parent.identity.get("principalId", ""),
                                    "accountId": parent.account}
            copy["eventID"] = self.uuid()
            copy["recipientAccountId"] = role.account
            copy.pop("sessionCredentialFromConsole", None)
            self.fix(ts, copy)
        self.credential(caller, key=key, ts=ts, duration=duration, principal_arn=role.arn, session_name=name,
                        session_arn=identity["arn"], issuer_type=parent.identity["type"], issuer=parent.arn,
                        origin_type=origin[0], origin=origin[1], parent_key=parent.key, role_account_event=copy,
                        source_identity=source_identity, attack=attack)
        return caller, identity, key

    def service_assume_role(self, service: str, role: _Role, name: str, ts: int, region: str, *, duration: int,
                            ec2: bool = False, invoked: bool = False) -> tuple[Record, str]:
        key = self.access_key("ASIA")
        identity = self.role_identity(role, name, key, ts, ec2=ec2, invoked_by=service if invoked else None)
        req = {"roleArn": role.arn, "roleSessionName": name}
        resp = {"credentials": self.credentials_block(key, ts, duration),
                "assumedRoleUser": {"assumedRoleId": f"{role.role_id}:{name}", "arn": identity["arn"]}}
        rec = self.fix(ts, self.event(
            ts, {"type": "AWSService", "invokedBy": service}, "sts", "AssumeRole", region, role.account, service,
            service, req=req, resp=resp,
            resources=[{"accountId": role.account, "type": "AWS::IAM::Role", "ARN": role.arn}], shared=self.uuid()))
        self.credential(rec, key=key, ts=ts, duration=duration, principal_arn=role.arn, session_name=name,
                        session_arn=identity["arn"], issuer_type="AWSService", issuer=service,
                        origin_type="AWSService", origin=service)
        return identity, key

    # -- background sessions ---------------------------------------------------------------------

    def new_session(self, **kwargs: Any) -> _Session:
        s = _Session(**kwargs)
        if s.end > s.start:
            self.sessions.append(s)
        return s

    def window(self, ts: int, active: int, expires: int) -> int:
        """The last second a session started at ``ts`` is used: before expiry and before the trail ends."""
        return min(ts + active, ts + expires - 1, self.t1 - 1)

    def k_ec2(self) -> None:
        inst = self.world.instances[int(self.rnd() * len(self.world.instances))]
        ts = self.when(_SERVICE_HOURS, weekend=0.7)
        role = self.world.role(inst.account, inst.role)
        identity, key = self.service_assume_role("ec2.amazonaws.com", role, inst.instance_id, ts, inst.region,
                                                 duration=6 * 3600, ec2=True)
        place = self.world.places[inst.account, inst.region]
        self.new_session(identity=identity, account=inst.account, arn=identity["arn"], key=key, ip=inst.public_ip,
                         ua=_UA_JAVA, agent_ua=_UA_SSM_AGENT, ops=_APP_MIX, start=ts,
                         end=self.window(ts, 5 * 3600, 6 * 3600), regions=(inst.region,), sts_region=inst.region,
                         weight=6.0 * _SERVICE_HOURS[(ts // 3600) % 24] / 9, instance=inst,
                         buckets=place.buckets[1:] or place.buckets, functions=place.functions)

    def lambda_session(self, fn: _Function, ts: int, *, mix: _Mix, weight: float) -> _Session:
        role = self.world.role(fn.account, fn.role)
        identity, key = self.service_assume_role("lambda.amazonaws.com", role, fn.name, ts, fn.region,
                                                 duration=12 * 3600)
        return self.new_session(identity=identity, account=fn.account, arn=identity["arn"], key=key,
                                ip=self.aws_ip(fn.region),
                                ua=_UA_LAMBDA_JS if fn.runtime.startswith("node") else _UA_LAMBDA_PY,
                                ops=mix, start=ts, end=self.window(ts, 600 + int(self.rnd() * 10800), 12 * 3600),
                                regions=(fn.region,), sts_region=fn.region, weight=weight, functions=(fn,))

    def k_lambda(self) -> None:
        fns = [f for f in self.world.functions if f.name != "acme-sec-inventory"]
        fn = fns[int(self.rnd() * len(fns))]
        self.lambda_session(fn, self.when(_SERVICE_HOURS, weekend=0.8), mix=_LAMBDA_MIX, weight=3.0)

    def k_config(self) -> None:
        account = LOGGED_ACCOUNTS[int(self.rnd() * 3)]
        region = REGIONS[int(self.rnd() * 3)]
        ts = self.when(_SERVICE_HOURS, weekend=1.0)
        role = self.world.role(account, "AWSServiceRoleForConfig")
        identity, key = self.service_assume_role("config.amazonaws.com", role, "AWSConfig-Describe", ts, region,
                                                 duration=3600, invoked=True)
        self.new_session(identity=identity, account=account, arn=identity["arn"], key=key, ip="config.amazonaws.com",
                         ua="config.amazonaws.com", tls=None, ops=_INVENTORY_MIX, start=ts,
                         end=self.window(ts, 1800, 3600), regions=(region,), sts_region=region, weight=8.0)

    def k_sec_audit(self) -> None:
        fn = next(f for f in self.world.functions if f.name == "acme-sec-inventory")
        ts = self.when(_SERVICE_HOURS, weekend=1.0)
        parent = self.lambda_session(fn, ts, mix=_ORG_MIX, weight=0.5)
        for account in (PROD, DEV):
            if self.rnd() < 0.75:
                t = min(ts + 2 + int(self.rnd() * 60), self.t1 - 300)
                name = f"sec-inventory-{t}"
                _, identity, key = self.assume_role(parent, self.world.role(account, "SecurityAudit"), name, t,
                                                    origin=("AWSService", "lambda.amazonaws.com"))
                self.new_session(identity=identity, account=account, arn=identity["arn"], key=key, ip=parent.ip,
                                 ua=parent.ua, ops=_AUDIT_MIX, start=t, end=self.window(t, 900, 3600),
                                 regions=REGIONS, region_weights=(4, 3, 3), sts_region="us-east-1", weight=5.0)

    def k_sso(self) -> None:
        person = _SSO_PEOPLE[int(self.rnd() * len(_SSO_PEOPLE))]
        admin = person in _SSO_ADMINS
        account = LOGGED_ACCOUNTS[int(self.rnd() * 3)]
        permission_set = "AdministratorAccess" if admin else ("PowerUserAccess" if account == DEV else "ReadOnlyAccess")
        role = self.world.role(account, f"sso:{permission_set}")
        ts = self.when(_HUMAN_HOURS, weekend=0.1)
        console = self.rnd() < 0.45
        ip = _OFFICE_IPS[int(self.rnd() * 2)] if self.rnd() < 0.6 else f"192.0.2.{100 + _SSO_PEOPLE.index(person)}"
        ua = _UA_CHROME if console else (_UA_CLI_MAC if self.rnd() < 0.7 else _UA_CLI_WIN)
        email = person + _EMAIL
        on_behalf = {"userId": self.world.sso_users[person], "identityStoreArn": self.world.identity_store_arn}
        credential_id = "AAAAAG" + base64.urlsafe_b64encode(self.rng.randbytes(60)).decode()
        portal_identity = {"type": "IdentityCenterUser", "accountId": MANAGEMENT, "onBehalfOf": on_behalf,
                           "credentialId": credential_id}
        self.fix(ts, self.event(ts, portal_identity, "sso", "Federate" if console else "GetRoleCredentials",
                                "us-east-1", MANAGEMENT, ip, ua if console else _UA_SSO_CLI, read_only=True,
                                event_type="AwsServiceEvent",
                                details={"role_name": permission_set, "account_id": account}))
        t = ts + 1
        key = self.access_key("ASIA")
        duration = 8 * 3600
        qualifier = self.world.sso_qualifiers[account]
        identity = self.role_identity(role, email, key, t, on_behalf=on_behalf)
        saml_user = {"type": "SAMLUser", "principalId": f"{qualifier}:{email}", "userName": email,
                     "identityProvider": qualifier}
        provider = self.world.sso_providers[account]
        req = {"sAMLAssertionID": f"_{self.uuid()}", "roleSessionName": email, "roleArn": role.arn,
               "principalArn": provider, "durationSeconds": duration}
        resp = {"credentials": self.credentials_block(key, t, duration),
                "assumedRoleUser": {"assumedRoleId": f"{role.role_id}:{email}", "arn": identity["arn"]},
                "subject": email, "subjectType": "persistent",
                "issuer": "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/"
                          + _B64(self.rng.randbytes(36)).decode(),
                "audience": "https://signin.aws.amazon.com/saml", "nameQualifier": qualifier}
        rec = self.fix(t, self.event(
            t, saml_user, "sts", "AssumeRoleWithSAML", "us-east-1", account, self.aws_ip("us-east-1"),
            _UA_SSO_PORTAL, req=req, resp=resp,
            resources=[{"accountId": account, "type": "AWS::IAM::Role", "ARN": role.arn},
                       {"accountId": account, "type": "AWS::IAM::SAMLProvider", "ARN": provider}],
            tls=self.tls("sts.us-east-1.amazonaws.com", _TLS13)))
        origin = ("IdentityCenterUser", on_behalf["userId"])
        self.credential(rec, key=key, ts=t, duration=duration, principal_arn=role.arn, session_name=email,
                        session_arn=identity["arn"], issuer_type="SAMLUser", issuer=provider, subject=email,
                        origin_type=origin[0], origin=origin[1])
        if console:
            self.console_login(t + 1, {k: v for k, v in identity.items() if k != "accessKeyId"}, account, ip, ua,
                               mfa=False, saml_provider=provider)
        mix = _ADMIN_MIX if permission_set != "ReadOnlyAccess" else _READONLY_MIX
        s = self.new_session(identity=identity, account=account, arn=identity["arn"], key=key, ip=ip, ua=ua, ops=mix,
                             start=t + 1, end=self.window(t + 1, 900 + int(self.rnd() * 9000), duration),
                             regions=REGIONS, region_weights=(4, 4, 2) if account == PROD else (5, 2, 3),
                             console=console, weight=2.0)
        if admin and account == MANAGEMENT and self.rnd() < 0.35:
            target = (PROD, DEV)[int(self.rnd() * 2)]
            tc = min(t + 60 + int(self.rnd() * 1200), s.end)
            _, child, child_key = self.assume_role(s, self.world.role(target, "OrganizationAccountAccessRole"), email,
                                                   tc, origin=origin)
            self.new_session(identity=child, account=target, arn=child["arn"], key=child_key, ip=ip, ua=ua,
                             ops=_ADMIN_MIX, start=tc, end=self.window(tc, 1800, 3600), regions=REGIONS,
                             region_weights=(3, 4, 3), console=console, weight=1.5)

    def k_okta(self) -> None:
        person = _OKTA_PEOPLE[int(self.rnd() * len(_OKTA_PEOPLE))]
        role = self.world.role(DEV, "OktaDataScience" if person in ("mateo.rossi", "nora.berg") else "OktaDevelopers")
        ts = self.when(_HUMAN_HOURS, weekend=0.1)
        console = self.rnd() < 0.4
        ip = _OFFICE_IPS[int(self.rnd() * 2)] if self.rnd() < 0.5 else f"192.0.2.{150 + _OKTA_PEOPLE.index(person)}"
        ua = _UA_FIREFOX if console else _UA_CLI_MAC
        email = person + _EMAIL
        key = self.access_key("ASIA")
        duration = 4 * 3600
        identity = self.role_identity(role, email, key, ts, source_identity=email)
        provider = f"arn:aws:iam::{DEV}:saml-provider/Okta"
        qualifier = self.world.okta_qualifier
        req = {"sAMLAssertionID": f"id{self.rng.getrandbits(100)}", "roleSessionName": email, "roleArn": role.arn,
               "principalArn": provider, "durationSeconds": duration, "sourceIdentity": email}
        resp = {"credentials": self.credentials_block(key, ts, duration),
                "assumedRoleUser": {"assumedRoleId": f"{role.role_id}:{email}", "arn": identity["arn"]},
                "subject": email, "subjectType": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
                "issuer": self.world.okta_issuer, "audience": "https://signin.aws.amazon.com/saml",
                "nameQualifier": qualifier, "sourceIdentity": email}
        rec = self.fix(ts, self.event(
            ts, {"type": "SAMLUser", "principalId": f"{qualifier}:{email}", "userName": email,
                 "identityProvider": qualifier},
            "sts", "AssumeRoleWithSAML", "us-east-1", DEV, ip, ua if console else _UA_SAML2AWS, req=req, resp=resp,
            resources=[{"accountId": DEV, "type": "AWS::IAM::Role", "ARN": role.arn},
                       {"accountId": DEV, "type": "AWS::IAM::SAMLProvider", "ARN": provider}],
            tls=self.tls("sts.amazonaws.com", _TLS13)))
        origin = ("SAMLUser", f"{provider}:{email}")
        self.credential(rec, key=key, ts=ts, duration=duration, principal_arn=role.arn, session_name=email,
                        session_arn=identity["arn"], issuer_type="SAMLUser", issuer=provider, subject=email,
                        origin_type=origin[0], origin=origin[1], source_identity=email)
        if console:
            self.console_login(ts + 1, {k: v for k, v in identity.items() if k != "accessKeyId"}, DEV, ip, ua,
                               mfa=False, saml_provider=provider)
        s = self.new_session(identity=identity, account=DEV, arn=identity["arn"], key=key, ip=ip, ua=ua, ops=_ADMIN_MIX,
                             start=ts + 1, end=self.window(ts + 1, 1200 + int(self.rnd() * 7200), duration),
                             regions=REGIONS, region_weights=(3, 1, 6), console=console, weight=2.0)
        if not console and self.rnd() < 0.3:
            tc = min(ts + 30 + int(self.rnd() * 900), s.end)
            _, child, child_key = self.assume_role(s, self.world.role(DEV, "TerraformPlanRole"), person, tc,
                                                   origin=origin, source_identity=email)
            self.new_session(identity=child, account=DEV, arn=child["arn"], key=child_key, ip=ip, ua=_UA_TERRAFORM,
                             ops=_INVENTORY_MIX, start=tc, end=self.window(tc, 600, 3600), regions=("us-west-2",),
                             weight=2.0)

    def k_github(self) -> None:
        account = PROD if self.rnd() < 0.5 else DEV
        subjects = _GITHUB_SUBJECTS[account]
        subject = subjects[int(self.rnd() * len(subjects))]
        role = self.world.role(account, "GitHubActionsDeploy" if account == PROD else "GitHubActionsCI")
        ts = self.when(_CI_HOURS, weekend=0.2)
        ip = self.github_ip()
        key = self.access_key("ASIA")
        provider = f"arn:aws:iam::{account}:oidc-provider/{_GITHUB_PROVIDER}"
        web = {"federatedProvider": provider, "attributes": {}}
        identity = self.role_identity(role, "GitHubActions", key, ts, web=web)
        duration = 3600
        req = {"roleArn": role.arn, "roleSessionName": "GitHubActions", "durationSeconds": duration}
        resp = {"credentials": self.credentials_block(key, ts, duration), "subjectFromWebIdentityToken": subject,
                "assumedRoleUser": {"assumedRoleId": f"{role.role_id}:GitHubActions", "arn": identity["arn"]},
                "provider": provider, "audience": "sts.amazonaws.com"}
        rec = self.fix(ts, self.event(
            ts, {"type": "WebIdentityUser", "principalId": f"{provider}:sts.amazonaws.com:{subject}",
                 "userName": subject, "identityProvider": provider},
            "sts", "AssumeRoleWithWebIdentity", "us-east-1", account, ip, _UA_GHA_CREDENTIALS, req=req, resp=resp,
            resources=[{"accountId": account, "type": "AWS::IAM::Role", "ARN": role.arn},
                       {"accountId": account, "type": "AWS::IAM::OidcProvider", "ARN": provider}],
            tls=self.tls("sts.us-east-1.amazonaws.com", _TLS13)))
        origin = ("WebIdentityUser", f"{_GITHUB_PROVIDER}:{subject}")
        self.credential(rec, key=key, ts=ts, duration=duration, principal_arn=role.arn, session_name="GitHubActions",
                        session_arn=identity["arn"], issuer_type="WebIdentityUser", issuer=provider, subject=subject,
                        origin_type=origin[0], origin=origin[1])
        region = "eu-west-1" if account == PROD else "us-west-2"
        s = self.new_session(identity=identity, account=account, arn=identity["arn"], key=key, ip=ip, ua=_UA_GHA_CLI,
                             ops=_CI_MIX, start=ts + 1, end=self.window(ts + 1, 120 + int(self.rnd() * 1000), duration),
                             regions=(region, "us-east-1"), region_weights=(3, 1), sts_region="us-east-1", weight=1.0)
        if "infra-live" in subject and account == PROD:
            self.chain_infra(s, origin, ts, attack=False)

    def chain_infra(self, s: _Session, origin: tuple[str, str], ts: int, *, attack: bool) -> None:
        tc = min(ts + 20 + int(self.rnd() * 120), s.end)
        _, child, key = self.assume_role(s, self.world.role(PROD, "InfraAutomationRole"), f"infra-{tc}", tc,
                                         origin=origin, attack=attack)
        infra = self.new_session(identity=child, account=PROD, arn=child["arn"], key=key, ip=s.ip, ua=_UA_TERRAFORM,
                                 ops=_DEPLOY_MIX, start=tc, end=self.window(tc, 600, 3600),
                                 regions=REGIONS, region_weights=(3, 5, 2), weight=1.5)
        if self.rnd() < 0.3:
            tm = min(tc + 30 + int(self.rnd() * 300), infra.end)
            _, org, org_key = self.assume_role(infra, self.world.role(MANAGEMENT, "OrgAutomationRole"), f"org-{tm}", tm,
                                               origin=origin)
            self.new_session(identity=org, account=MANAGEMENT, arn=org["arn"], key=org_key, ip=s.ip, ua=_UA_TERRAFORM,
                             ops=_ORG_MIX, start=tm, end=self.window(tm, 300, 3600), weight=0.6)

    def k_jenkins(self) -> None:
        user = self.world.user(PROD, "jenkins-deployer")
        ts = self.when(_CI_HOURS, weekend=0.3)
        identity = self.user_identity(user, user.key)
        s = self.new_session(identity=identity, account=PROD, arn=user.arn, key=user.key, ip=_JENKINS_IP,
                             ua=_UA_JENKINS if self.rnd() < 0.6 else _UA_JENKINS_BOTO, ops=_CI_MIX, start=ts,
                             end=self.window(ts, 300 + int(self.rnd() * 2400), _DAY),
                             regions=("eu-west-1", "us-east-1"), region_weights=(3, 2), weight=1.0)
        if self.rnd() < 0.6:
            tc = min(ts + 10 + int(self.rnd() * 120), s.end)
            build = f"jenkins-{4000 + int(self.rnd() * 900)}"
            _, child, key = self.assume_role(s, self.world.role(PROD, "DeployAdminRole"), build, tc,
                                             origin=("IAMUser", user.arn))
            deploy = self.new_session(identity=child, account=PROD, arn=child["arn"], key=key, ip=_JENKINS_IP,
                                      ua=s.ua, ops=_DEPLOY_MIX, start=tc, end=self.window(tc, 900, 3600),
                                      regions=("eu-west-1", "us-east-1", "us-west-2"), region_weights=(5, 3, 2),
                                      weight=1.5)
            if self.rnd() < 0.2:
                self.chain_infra(deploy, ("IAMUser", user.arn), tc, attack=False)

    def k_longterm(self) -> None:
        choice = int(self.rnd() * 3)
        account, name, ip, ua, mix, regions, weights = (
            (PROD, "monitoring-readonly", _MONITORING_IP, _UA_MONITORING, _MONITORING_MIX, REGIONS, (3, 4, 3)),
            (DEV, "legacy-etl", _ETL_IP, _UA_ETL, _DATA_MIX, ("us-west-2",), None),
            (MANAGEMENT, "billing-exporter", _ETL_IP, _UA_ETL, _DATA_MIX, ("us-east-1",), None))[choice]
        user = self.world.user(account, name)
        ts = self.when(_SERVICE_HOURS if choice == 0 else _CI_HOURS, weekend=0.8)
        self.new_session(identity=self.user_identity(user, user.key), account=account, arn=user.arn, key=user.key,
                         ip=ip, ua=ua, ops=mix, start=ts, end=self.window(ts, 600 + int(self.rnd() * 6000), _DAY),
                         regions=regions, region_weights=weights, weight=2.5)

    def k_session_token(self) -> None:
        user = self.world.user(MANAGEMENT, "ops-oncall")
        ts = self.when(_HUMAN_HOURS, weekend=0.3)
        ip = f"192.0.2.{60 + int(self.rnd() * 4)}"
        key = self.access_key("ASIA")
        duration = 12 * 3600
        mfa_device = f"arn:aws:iam::{MANAGEMENT}:mfa/ops-oncall"
        rec = self.fix(ts, self.event(
            ts, self.user_identity(user, user.key), "sts", "GetSessionToken", "us-east-1", MANAGEMENT, ip, _UA_CLI_MAC,
            req={"durationSeconds": duration, "serialNumber": mfa_device},
            resp={"credentials": self.credentials_block(key, ts, duration)},
            tls=self.tls("sts.amazonaws.com", _TLS13)))
        self.credential(rec, key=key, ts=ts, duration=duration, principal_arn=user.arn, session_name=user.name,
                        session_arn=user.arn, issuer_type="IAMUser", issuer=user.arn, origin_type="IAMUser",
                        origin=user.arn, parent_key=user.key)
        identity = self.user_identity(user, key, session=self.user_session(ts, mfa=True))
        s = self.new_session(identity=identity, account=MANAGEMENT, arn=user.arn, key=key, ip=ip, ua=_UA_CLI_MAC,
                             ops=_ORG_MIX, start=ts + 1,
                             end=self.window(ts + 1, 3600 + int(self.rnd() * 10800), duration), weight=2.0)
        if self.rnd() < 0.4:
            target = (PROD, DEV)[int(self.rnd() * 2)]
            tc = min(ts + 60 + int(self.rnd() * 1800), s.end)
            _, child, child_key = self.assume_role(s, self.world.role(target, "OrganizationAccountAccessRole"),
                                                   "ops-oncall", tc, origin=("IAMUser", user.arn), mfa=True)
            self.new_session(identity=child, account=target, arn=child["arn"], key=child_key, ip=ip, ua=_UA_CLI_MAC,
                             ops=_ADMIN_MIX, start=tc, end=self.window(tc, 1200, 3600), regions=REGIONS, weight=1.0)

    def k_federation_token(self) -> None:
        user = self.world.user(DEV, "partner-portal")
        ts = self.when(_HUMAN_HOURS, weekend=0.5)
        name = f"partner-{100 + int(self.rnd() * 40)}"
        key = self.access_key("ASIA")
        duration = 3600
        arn = f"arn:aws:sts::{DEV}:federated-user/{name}"
        policy = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],'
                  f'"Resource":"arn:aws:s3:::acme-dev-sandbox-usw2/partners/{name}/*"}}]}}')
        rec = self.fix(ts, self.event(
            ts, self.user_identity(user, user.key), "sts", "GetFederationToken", "us-west-2", DEV, "54.190.20.31",
            _UA_ETL, req={"name": name, "policy": policy, "durationSeconds": duration},
            resp={"credentials": self.credentials_block(key, ts, duration),
                  "federatedUser": {"arn": arn, "federatedUserId": f"{DEV}:{name}"}, "packedPolicySize": 9},
            tls=self.tls("sts.us-west-2.amazonaws.com", _TLS12)))
        self.credential(rec, key=key, ts=ts, duration=duration, principal_arn=arn, session_name=name, session_arn=arn,
                        issuer_type="IAMUser", issuer=user.arn, origin_type="IAMUser", origin=user.arn,
                        parent_key=user.key)
        identity = {"type": "FederatedUser", "principalId": f"{DEV}:{name}", "arn": arn, "accountId": DEV,
                    "accessKeyId": key,
                    "sessionContext": {"sessionIssuer": {"type": "IAMUser", "principalId": user.user_id,
                                                         "arn": user.arn, "accountId": DEV, "userName": user.name},
                                       "webIdFederationData": {},
                                       "attributes": {"creationDate": self.iso(ts), "mfaAuthenticated": "false"}}}
        self.new_session(identity=identity, account=DEV, arn=arn, key=key, ip="54.190.20.31", ua=_UA_ETL,
                         ops=(("s3.GetObject", 3), ("s3.PutObject", 5), ("s3.ListObjects", 1)), start=ts + 1,
                         end=self.window(ts + 1, 1800, duration), regions=("us-west-2",), weight=1.0)

    def console_login(self, ts: int, identity: Record, account: str, ip: str, ua: str, *, mfa: bool,
                      saml_provider: str | None = None) -> Record:
        extra: Record = {}
        if saml_provider is not None:
            extra["SamlProviderArn"] = saml_provider
        extra["LoginTo"] = "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true"
        extra["MobileVersion"] = "No"
        if mfa and identity["type"] in ("IAMUser", "Root"):
            extra["MFAIdentifier"] = f"arn:aws:iam::{account}:mfa/{identity.get('userName', 'root-account-mfa-device')}"
        extra["MFAUsed"] = "Yes" if mfa else "No"
        return self.fix(ts, self.event(ts, identity, "signin", "ConsoleLogin", "us-east-1", account, ip, ua,
                                       resp={"ConsoleLogin": "Success"}, extra=extra, read_only=False,
                                       event_type="AwsConsoleSignIn", request_id=None,
                                       tls=self.tls("signin.aws.amazon.com", _TLS13)))

    def console_session(self, identity: Record, account: str, arn: str, ts: int, ip: str, ua: str, *, mfa: bool,
                        mix: _Mix, weight: float, attack: bool = False) -> tuple[_Session, Record]:
        """A console sign-in of an IAM user or root and the session it opens (its ASIA key comes from sign-in)."""
        login = self.console_login(ts, identity, account, ip, ua, mfa=mfa)
        key = self.access_key("ASIA")
        session_identity = {**identity, "accessKeyId": key, "sessionContext": self.user_session(ts, mfa=mfa)}
        if identity["type"] == "IAMUser":    # userName stays last, as CloudTrail writes it
            session_identity["userName"] = session_identity.pop("userName")
            session_identity["sessionContext"] = session_identity.pop("sessionContext")
        self.console_sessions.append({"event_id": login["eventID"], "event_time": login["eventTime"],
                                      "account": account, "principal": arn, "access_key_id": key,
                                      "source_ip": ip, "mfa": mfa, "attack": attack})
        s = self.new_session(identity=session_identity, account=account, arn=arn, key=key, ip=ip, ua=ua, ops=mix,
                             start=ts + 5, end=self.window(ts + 5, 900, 12 * 3600), console=True, weight=weight)
        return s, login

    def k_console(self) -> None:
        ts = self.when(_HUMAN_HOURS, weekend=0.2)
        if self.rnd() < 0.3:
            identity = {"type": "Root", "principalId": MANAGEMENT, "arn": f"arn:aws:iam::{MANAGEMENT}:root",
                        "accountId": MANAGEMENT}
        else:
            identity = self.user_identity(self.world.user(MANAGEMENT, "ops-breakglass"), None)
        self.console_session(identity, MANAGEMENT, identity["arn"], ts, _OFFICE_IPS[0], _UA_CHROME, mfa=True,
                             mix=_CONSOLE_MIX, weight=0.5)

    def k_invoker(self) -> None:
        fn = self.world.functions[int(self.rnd() * len(self.world.functions))]
        ts = self.when(_SERVICE_HOURS, weekend=1.0)
        service = "events.amazonaws.com" if self.rnd() < 0.7 else "s3.amazonaws.com"
        self.new_session(identity={"type": "AWSService", "invokedBy": service}, account=fn.account, arn=service,
                         key=None, ip=service, ua=service, tls=None, ops=_INVOKER_MIX, start=ts,
                         end=self.window(ts, 3 * 3600, _DAY), regions=(fn.region,), can_fail=False, weight=1.5,
                         functions=(fn,))

    def k_internal(self) -> None:
        account = LOGGED_ACCOUNTS[int(self.rnd() * 3)]
        region = REGIONS[int(self.rnd() * 3)]
        ts = self.when(_SERVICE_HOURS, weekend=1.0)
        self.new_session(identity={"accountId": account, "invokedBy": "AWS Internal"}, account=account,
                         arn="AWS Internal", key=None, ip="AWS Internal", ua="AWS Internal", tls=None,
                         ops=_INTERNAL_MIX, start=ts, end=self.window(ts, 60, _DAY), regions=(region,),
                         can_fail=False, weight=0.05)

    # -- the attack -----------------------------------------------------------------------------

    def host(self, service: str, region: str) -> str:
        if service in ("iam", "s3"):
            return f"{service}.amazonaws.com"
        if service == "organizations":
            return "organizations.us-east-1.amazonaws.com"
        if service == "sts" and region == "us-east-1":
            return "sts.amazonaws.com"
        return f"{service}.{region}.amazonaws.com"

    def attack_story(self) -> None:
        """The attack in the prod account, recorded step by step for ground-truth.json.

        A leaked long-term key of ``jenkins-deployer`` is used from a new IP with a Kali aws-cli:
        discovery with failures, AssumeRole into DeployAdminRole, a chain into InfraAutomationRole, a
        cross-account AssumeRole into the management account's OrgAutomationRole, a backdoor user
        with an access key, AdministratorAccess and a console password, the SIEM trail stopped and
        narrowed, the customer-exports bucket made public and read from the attacker's own account,
        and hours later the backdoor key and console password used from a third IP.
        """
        w, rng = self.world, self.rng
        t = self.t0 + (1 if self.days >= 2 else 0) * _DAY + 3 * 3600 + 12 * 60 + 7
        user = w.user(PROD, "jenkins-deployer")
        assert user.key is not None
        ip1, ip2, ip3 = ATTACKER_IPS
        steps: list[Record] = []
        chain: list[Record] = [{"hop": 0, "type": "IAMUser", "principal": user.arn, "account": PROD,
                                "access_key_id": user.key, "via": None, "event_id": None}]
        origin = ("IAMUser", user.arn)

        def session(identity: Record, account: str, arn: str, key: str | None, ip: str, ua: str,
                    console: bool = False) -> _Session:
            return _Session(identity=identity, account=account, arn=arn, key=key, ip=ip, ua=ua, ops=(), start=t,
                            end=t, console=console)

        def step(phase: str, rec: Record, s: _Session, **more: Any) -> Record:
            identity = rec["userIdentity"]
            principal = identity.get("arn") or f"{identity.get('accountId')}:{identity.get('principalId')}"
            steps.append({"step": len(steps) + 1, "phase": phase, "event_id": rec["eventID"],
                          "event_name": rec["eventName"], "event_source": rec["eventSource"],
                          "account": rec["recipientAccountId"], "region": rec["awsRegion"], "time": rec["eventTime"],
                          "principal": principal,
                          "access_key_id": identity.get("accessKeyId"),
                          "session_arn": identity["arn"] if identity.get("type") == "AssumedRole" else None,
                          "source_ip": rec["sourceIPAddress"], "error_code": rec.get("errorCode"), **more})
            return rec

        def call(phase: str, ts: int, s: _Session, service: str, name: str, region: str = "us-east-1", *,
                 req: Record | None = None, resp: Record | None = None, denied: str | None = None,
                 error: tuple[str, str] | None = None, read_only: bool = True, resources: list[Record] | None = None,
                 extra: Record | None = None, data: bool = False, shared: str | None = None,
                 host: str | None = None) -> Record:
            if denied is not None:
                code, template = _DENIED[service]
                action = f"{service}:{name}"
                error = (code, template.format(arn=s.arn, action=action, resource=denied))
            ua = f"[{s.ua}]" if service == "s3" else s.ua
            rec = self.fix(ts, self.event(ts, s.identity, service, name, region, s.account, s.ip, ua, req=req,
                                          resp=resp, error=error, read_only=read_only, resources=resources,
                                          extra=extra, data=data, shared=shared, console=s.console,
                                          tls=self.tls(host or self.host(service, region), s.tls or _TLS13)))
            return step(phase, rec, s)

        def hop(phase: str, parent: _Session, role: _Role, ts: int) -> _Session:
            name = f"botocore-session-{ts - 2}"
            before = len(self.fixed)
            caller, identity, key = self.assume_role(parent, role, name, ts, origin=origin, attack=True)
            copy = self.fixed[-1].record if len(self.fixed) - before == 2 else None
            step(phase, caller, parent, role_account_event_id=copy["eventID"] if copy else None)
            chain.append({"hop": len(chain), "type": "AssumedRole", "via": "AssumeRole", "event_id": caller["eventID"],
                          "role_account_event_id": copy["eventID"] if copy else None,
                          "shared_event_id": caller.get("sharedEventID"), "role_arn": role.arn,
                          "principal": identity["arn"], "account": role.account, "access_key_id": key,
                          "issued_by_access_key_id": parent.key, "time": caller["eventTime"]})
            return session(identity, role.account, identity["arn"], key, parent.ip, parent.ua)

        leaked = session(self.user_identity(user, user.key), PROD, user.arn, user.key, ip1, ATTACKER_UA)
        call("discovery", t, leaked, "sts", "GetCallerIdentity")
        s3_extra = _s3_extra(self, leaked, 0, 2400)
        call("discovery", t + 9, leaked, "s3", "ListBuckets", req={"Host": "s3.amazonaws.com"}, extra=s3_extra)
        call("discovery", t + 21, leaked, "iam", "ListUsers", denied=f"arn:aws:iam::{PROD}:user/")
        call("discovery", t + 30, leaked, "iam", "ListAttachedUserPolicies", req={"userName": user.name},
             denied=user.arn)
        call("discovery", t + 44, leaked, "secretsmanager", "ListSecrets", "eu-west-1",
             denied=f"arn:aws:secretsmanager:eu-west-1:{PROD}:secret:*")
        call("discovery", t + 58, leaked, "ec2", "DescribeInstances", "eu-west-1",
             req={"instancesSet": {}, "filterSet": {}})
        call("discovery", t + 75, leaked, "iam", "ListRoles", denied=f"arn:aws:iam::{PROD}:role/")

        deploy = hop("privilege_escalation", leaked, w.role(PROD, "DeployAdminRole"), t + 130)
        call("privilege_escalation", t + 140, deploy, "sts", "GetCallerIdentity")
        call("privilege_escalation", t + 152, deploy, "iam", "ListRoles")
        call("privilege_escalation", t + 170, deploy, "iam", "GetRole", req={"roleName": "InfraAutomationRole"})
        call("privilege_escalation", t + 185, deploy, "iam", "ListAttachedRolePolicies",
             req={"roleName": "InfraAutomationRole"})
        infra = hop("privilege_escalation", deploy, w.role(PROD, "InfraAutomationRole"), t + 240)
        call("discovery", t + 250, infra, "sts", "GetCallerIdentity")
        call("discovery", t + 262, infra, "organizations", "DescribeOrganization")
        call("discovery", t + 270, infra, "organizations", "ListAccounts",
             error=_DENIED["organizations"])
        org = hop("lateral_movement", infra, w.role(MANAGEMENT, "OrgAutomationRole"), t + 300)

        call("persistence", t + 315, org, "sts", "GetCallerIdentity")
        call("persistence", t + 330, org, "iam", "ListUsers")
        backdoor_name = "svc-cloudops-sync"
        backdoor = _User(MANAGEMENT, backdoor_name, self.principal_id("AIDA"),
                         f"arn:aws:iam::{MANAGEMENT}:user/{backdoor_name}", self.access_key("AKIA"))
        assert backdoor.key is not None
        created = call("persistence", t + 360, org, "iam", "CreateUser", req={"userName": backdoor_name},
                       resp={"user": {"path": "/", "userName": backdoor_name, "userId": backdoor.user_id,
                                      "arn": backdoor.arn, "createDate": _aws_date(t + 360, comma=False)}},
                       read_only=False)
        key_event = call("persistence", t + 372, org, "iam", "CreateAccessKey", req={"userName": backdoor_name},
                         resp={"accessKey": {"userName": backdoor_name, "accessKeyId": backdoor.key,
                                             "status": "Active", "createDate": _aws_date(t + 372, comma=False)}},
                         read_only=False)
        call("persistence", t + 381, org, "iam", "AttachUserPolicy",
             req={"userName": backdoor_name, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
             read_only=False)
        call("persistence", t + 395, org, "iam", "CreateLoginProfile",
             req={"userName": backdoor_name, "passwordResetRequired": False},
             resp={"loginProfile": {"userName": backdoor_name, "createDate": _aws_date(t + 395, comma=False),
                                    "passwordResetRequired": False}}, read_only=False)

        call("defense_evasion", t + 430, org, "cloudtrail", "DescribeTrails",
             req={"trailNameList": [], "includeShadowTrails": True})
        call("defense_evasion", t + 445, org, "cloudtrail", "GetTrailStatus", req={"name": SIEM_TRAIL})
        call("defense_evasion", t + 460, org, "cloudtrail", "StopLogging", req={"name": SIEM_TRAIL}, read_only=False)
        selectors = [{"readWriteType": "ReadOnly", "includeManagementEvents": True, "dataResources": [],
                      "excludeManagementEventSources": []}]
        call("defense_evasion", t + 475, org, "cloudtrail", "PutEventSelectors",
             req={"trailName": SIEM_TRAIL, "eventSelectors": selectors},
             resp={"trailARN": SIEM_TRAIL, "eventSelectors": selectors}, read_only=False)

        bucket = next(b for b in w.places[PROD, "eu-west-1"].buckets if b.name == EXFIL_BUCKET)
        base = {"bucketName": bucket.name, "Host": bucket.host}
        call("exfiltration", t + 560, infra, "s3", "GetBucketPolicy", "eu-west-1", req={**base, "policy": ""},
             error=_NOT_FOUND["GetBucketPolicy"], resources=[bucket.resource], extra=_s3_extra(self, infra, 0, 0),
             host=bucket.host)
        call("exfiltration", t + 575, infra, "s3", "DeleteBucketPublicAccessBlock", "eu-west-1",
             req={**base, "publicAccessBlock": ""}, read_only=False, resources=[bucket.resource],
             extra=_s3_extra(self, infra, 0, 0), host=bucket.host)
        policy = {"Version": "2012-10-17", "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                                                          "Action": "s3:GetObject",
                                                          "Resource": f"arn:aws:s3:::{bucket.name}/*"}]}
        call("exfiltration", t + 590, infra, "s3", "PutBucketPolicy", "eu-west-1",
             req={**base, "bucketPolicy": policy, "policy": ""}, read_only=False, resources=[bucket.resource],
             extra=_s3_extra(self, infra, 310, 0), host=bucket.host)
        outsider = session({"type": "AWSAccount", "principalId": w.attacker_principal, "accountId": EXTERNAL},
                           PROD, f"{EXTERNAL}:{w.attacker_principal}", None, ip2, ATTACKER_UA)
        call("exfiltration", t + 700, outsider, "s3", "ListObjects", "eu-west-1",
             req={**base, "list-type": "2", "prefix": "exports/", "encoding-type": "url"}, data=True,
             resources=[bucket.resource], extra=_s3_extra(self, outsider, 0, 48213), shared=self.uuid(),
             host=bucket.host)
        n = max(10, min(150, self.events // 100))
        objects = rng.sample(bucket.keys, min(n, len(bucket.keys)))
        ts = t + 720
        for key in objects:
            ts += 2 + int(self.rnd() * 12)
            call("exfiltration", ts, outsider, "s3", "GetObject", "eu-west-1", req={**base, "key": key}, data=True,
                 resources=[{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket.name}/{key}"}, bucket.resource],
                 extra=_s3_extra(self, outsider, 0, 400000 + int(self.rnd() * 9000000)), shared=self.uuid(),
                 host=bucket.host)

        tb = min(t + 16 * 3600 + 35 * 60, self.t1 - 1800)
        later = session(self.user_identity(backdoor, backdoor.key), MANAGEMENT, backdoor.arn, backdoor.key, ip3,
                        BACKDOOR_UA)
        call("backdoor_use", tb, later, "sts", "GetCallerIdentity")
        call("backdoor_use", tb + 12, later, "iam", "ListUsers")
        call("backdoor_use", tb + 25, later, "organizations", "ListAccounts")
        call("backdoor_use", tb + 40, later, "s3", "ListBuckets", req={"Host": "s3.amazonaws.com"},
             extra=_s3_extra(self, later, 0, 2400))
        call("backdoor_use", tb + 55, later, "secretsmanager", "ListSecrets")
        login = self.console_login(tb + 300, self.user_identity(backdoor, None), MANAGEMENT, ip3, _UA_FIREFOX,
                                   mfa=False)
        step("backdoor_use", login, later)
        console_key = self.access_key("ASIA")
        console_identity = self.user_identity(backdoor, console_key, session=self.user_session(tb + 300, mfa=False))
        self.console_sessions.append({"event_id": login["eventID"], "event_time": login["eventTime"],
                                      "account": MANAGEMENT, "principal": backdoor.arn, "access_key_id": console_key,
                                      "source_ip": ip3, "mfa": False, "attack": True})
        console = session(console_identity, MANAGEMENT, backdoor.arn, console_key, ip3, _UA_FIREFOX, console=True)
        call("backdoor_use", tb + 320, console, "iam", "ListUsers")
        call("backdoor_use", tb + 341, console, "organizations", "DescribeOrganization")
        call("backdoor_use", tb + 377, console, "iam", "GetAccountSummary")

        self.attack = {
            "account": PROD,
            "summary": ("Leaked long-term key of jenkins-deployer used from a new IP; AssumeRole chain "
                        "DeployAdminRole -> InfraAutomationRole -> OrgAutomationRole (management account); "
                        "backdoor IAM user with AdministratorAccess, access key and console password; SIEM trail "
                        "stopped and narrowed; customer-exports bucket made public and read from an external "
                        "account; backdoor key and password used later."),
            "attacker": {"ips": list(ATTACKER_IPS), "user_agents": [ATTACKER_UA, BACKDOOR_UA, _UA_FIREFOX],
                         "external_account": EXTERNAL, "external_principal_id": w.attacker_principal},
            "leaked_access_key_id": user.key, "leaked_principal": user.arn,
            "origin_principal": user.arn, "final_session": chain[-1]["principal"],
            "final_access_key_id": chain[-1]["access_key_id"],
            "chain": chain,
            "backdoor": {"user": backdoor.arn, "user_id": backdoor.user_id, "access_key_id": backdoor.key,
                         "created_by_access_key_id": org.key, "create_user_event_id": created["eventID"],
                         "create_access_key_event_id": key_event["eventID"], "console_login_event_id": login["eventID"],
                         "console_access_key_id": console_key},
            "tampered_trail": SIEM_TRAIL, "organization_trail": _ORG_TRAIL,
            "public_bucket": bucket.resource["ARN"],
            "exfiltrated_objects": [f"arn:aws:s3:::{bucket.name}/{k}" for k in objects],
            "start": steps[0]["time"], "end": steps[-1]["time"],
            "steps": steps,
        }

    # -- planning and writing ----------------------------------------------------------------------

    # Kinds of background sessions and their shares of all sessions.
    _KINDS: tuple[tuple[Callable[[_Generator], None], float], ...] = (
        (k_ec2, 0.16), (k_lambda, 0.10), (k_config, 0.06), (k_sec_audit, 0.06), (k_sso, 0.16), (k_okta, 0.07),
        (k_github, 0.16), (k_jenkins, 0.07), (k_longterm, 0.05), (k_session_token, 0.02), (k_federation_token, 0.02),
        (k_console, 0.005), (k_invoker, 0.05), (k_internal, 0.005))

    def plan(self) -> None:
        """Creates the attack and the background sessions, and shares the remaining events among them.

        Sessions grow in number like events**0.6 (about 250 for 5,000 events, 6,000 for a million), so
        bigger trails have busier sessions rather than only more of them.
        """
        self.attack_story()
        target = max(len(self._KINDS), min(int(1.5 * self.events ** 0.6), self.events // 12))
        for kind, _ in self._KINDS:                       # one of each, then at random by share
            kind(self)
        kinds = [k for k, _ in self._KINDS]
        cum = list(accumulate(w for _, w in self._KINDS))
        consoles = 1
        while len(self.sessions) < target:
            kind = self.rng.choices(kinds, cum_weights=cum)[0]
            if kind is _Generator.k_console:             # break-glass sign-ins stay rare
                if consoles >= 3:
                    continue
                consoles += 1
            kind(self)
        budget = self.events - len(self.fixed)
        if budget < 1:
            raise InputError(f"{self.events} events cannot hold the story; ask for more")
        while budget < len(self.sessions):                # tiny trails: drop surplus sessions' calls
            self.sessions.pop()
        weights = [s.weight * self.rng.lognormvariate(0, 0.6) for s in self.sessions]
        total = sum(weights)
        spare = budget - len(self.sessions)
        shares = [w / total * spare for w in weights]
        calls = [1 + int(x) for x in shares]
        remainder = budget - sum(calls)
        order = sorted(range(len(shares)), key=lambda i: int(shares[i]) - shares[i])
        for i in order[:remainder]:
            calls[i] += 1
        self.calls = calls

    def write(self, out: Path, *, org_id: str | None, compresslevel: int) -> SampleSummary:
        """Lays the plan out as log files (building each call's record as its file is written)."""
        t0, rng, rnd = self.t0, self.rng, self.rnd
        fixed, sessions, nfixed = self.fixed, self.sessions, len(self.fixed)
        keys = [(f.stream << (_TS_BITS + _SEQ_BITS)) | ((f.ts - t0) << _SEQ_BITS) | seq for seq, f in enumerate(fixed)]
        where = [op.where for op in _OPS]
        session_of: list[int] = []
        op_of: list[int] = []
        seq = nfixed
        for index, (s, n) in enumerate(zip(sessions, self.calls)):
            base = LOGGED_ACCOUNTS.index(s.account) * len(REGIONS)
            sts_region = REGIONS.index(s.sts_region)
            span = s.end - s.start
            regions, region_weights = s.regions, s.region_weights
            for op in rng.choices(s.ops, cum_weights=s.op_weights, k=n):
                place = where[op]
                if place == "global":
                    r = 0
                elif place == "sts":
                    r = sts_region
                elif len(regions) == 1:
                    r = regions[0]
                else:
                    r = rng.choices(regions, cum_weights=region_weights)[0]
                ts = s.start + 1 + int(rnd() * span)
                keys.append(((base + r) << (_TS_BITS + _SEQ_BITS)) | ((ts - t0) << _SEQ_BITS) | seq)
                session_of.append(index)
                op_of.append(op)
                seq += 1
        keys.sort()

        # Files: one per stream (account, region) and five-minute window, in stream then time order.
        files: list[tuple[int, int, int, int]] = []     # (stream, window, first key, end key)
        lo, current = 0, -1
        for i, k in enumerate(keys + [-1]):
            window = -1 if k < 0 else (k >> (_TS_BITS + _SEQ_BITS)) << 20 | (k >> _SEQ_BITS & _TS_MASK) // _WINDOW
            if window != current:
                if current >= 0:
                    files.append((current >> 20, current & 0xFFFFF, lo, i))
                lo, current = i, window
        late = set(rng.sample(range(len(files)), min(len(files), max(2, round(len(files) * _LATE_FILE_RATE)))))

        prefix = os.path.join(out, "AWSLogs", org_id) if org_id else os.path.join(out, "AWSLogs")
        made: set[str] = set()
        stats = _Totals()
        dumps = orjson.dumps
        carried: list[tuple[bytes, str]] = []

        def emit(stream: int, window: int, parts: list[bytes], is_late: bool) -> None:
            account, region = LOGGED_ACCOUNTS[stream // len(REGIONS)], REGIONS[stream % len(REGIONS)]
            delivered = t0 + (window + 1) * _WINDOW + rng.randint(300, 900)
            if is_late:
                delivered += rng.randint(3600, 6 * 3600)
            when = datetime.fromtimestamp(delivered, timezone.utc)
            folder = f"{prefix}/{account}/CloudTrail/{region}/{when:%Y/%m/%d}"
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            name = f"{account}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{''.join(rng.choices(_ALNUM, k=16))}.json.gz"
            data = b'{"Records":[' + b",".join(parts) + b"]}"
            with open(f"{folder}/{name}", "wb") as f:
                f.write(gzip.compress(data, compresslevel=compresslevel, mtime=0))
            stats.file(account, region, len(parts))
            if is_late:
                stats.late.append(f"{folder}/{name}"[len(str(out)) + 1:])

        for index, (stream, window, lo, hi) in enumerate(files):
            region = REGIONS[stream % len(REGIONS)]
            account = LOGGED_ACCOUNTS[stream // len(REGIONS)]
            parts: list[bytes] = []
            duplicates: list[tuple[bytes, str]] = []
            for k in keys[lo:hi]:
                seq = k & _SEQ_MASK
                if seq < nfixed:
                    rec = fixed[seq].record
                else:
                    i = seq - nfixed
                    rec = self.call(sessions[session_of[i]], _OPS[op_of[i]], region, t0 + (k >> _SEQ_BITS & _TS_MASK))
                data = dumps(rec)
                parts.append(data)
                if rnd() < _DUPLICATE_RATE:
                    duplicates.append((data, rec["eventID"]))
            stats.events(account, region, hi - lo, keys[lo] >> _SEQ_BITS & _TS_MASK,
                         keys[hi - 1] >> _SEQ_BITS & _TS_MASK)
            for data, event_id in carried:      # earlier events CloudTrail delivers again, in this later file
                parts.insert(rng.randint(0, len(parts)), data)
                stats.duplicates.append(event_id)
            carried = duplicates
            emit(stream, window, parts, index in late)
            last_of_stream = index + 1 == len(files) or files[index + 1][0] != stream
            if last_of_stream and carried:
                stats.duplicates.extend(event_id for _, event_id in carried)
                emit(stream, window + 1, [data for data, _ in carried], False)
                carried = []
        return self.finish(out, org_id=org_id, stats=stats)

    def finish(self, out: Path, *, org_id: str | None, stats: _Totals) -> SampleSummary:
        unique = sum(stats.unique[a] for a in LOGGED_ACCOUNTS)
        records = sum(stats.records[a] for a in LOGGED_ACCOUNTS)
        start, end = _iso(self.t0 + stats.first), _iso(self.t0 + stats.last)
        truth = {
            "generator": {"module": "trailbeam.sample", "format": 1, "seed": self.seed, "events": self.events,
                          "start": _iso(self.t0), "days": self.days, "org_id": org_id},
            "layout": ("AWSLogs/" + (f"{org_id}/" if org_id else "") +
                       "<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_"
                       "<16 alnum>.json.gz; folder and name carry the delivery time"),
            "accounts": {a: {"name": _ACCOUNT_NAMES[a], "logs_delivered": a in LOGGED_ACCOUNTS,
                             "role": {MANAGEMENT: "management", PROD: "prod", DEV: "dev", EXTERNAL: "external"}[a]}
                         for a in (*LOGGED_ACCOUNTS, EXTERNAL)},
            "regions": list(REGIONS),
            "organization_trail": _ORG_TRAIL,
            "totals": {"files": stats.files, "records": records, "unique_events": unique,
                       "duplicates": records - unique, "late_files": len(stats.late), "start": start, "end": end,
                       "per_account": {a: {"records": stats.records[a], "unique_events": stats.unique[a]}
                                       for a in LOGGED_ACCOUNTS},
                       "per_region": {r: {"records": stats.records[r], "unique_events": stats.unique[r]}
                                      for r in REGIONS}},
            "duplicate_event_ids": sorted(stats.duplicates),
            "late_files": sorted(stats.late),
            "attack": self.attack,
            "credentials": sorted(self.credentials, key=lambda c: (c["event_time"], c["event_id"])),
            "console_sessions": sorted(self.console_sessions, key=lambda c: (c["event_time"], c["event_id"])),
        }
        path = out / "ground-truth.json"
        path.write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        return SampleSummary(out_dir=str(out), files=stats.files, records=records, unique_events=unique,
                             duplicates=records - unique,
                             accounts=tuple(a for a in LOGGED_ACCOUNTS if stats.records[a]),
                             regions=tuple(r for r in REGIONS if stats.records[r]),
                             start=start, end=end, ground_truth=str(path))


class _Totals:
    """Counts kept while writing."""

    def __init__(self) -> None:
        self.files = 0
        self.records: dict[str, int] = dict.fromkeys((*LOGGED_ACCOUNTS, *REGIONS), 0)
        self.unique: dict[str, int] = dict.fromkeys((*LOGGED_ACCOUNTS, *REGIONS), 0)
        self.duplicates: list[str] = []
        self.late: list[str] = []
        self.first, self.last = _TS_MASK, 0

    def events(self, account: str, region: str, n: int, first: int, last: int) -> None:
        self.unique[account] += n
        self.unique[region] += n
        self.first, self.last = min(self.first, first), max(self.last, last)

    def file(self, account: str, region: str, records: int) -> None:
        self.files += 1
        self.records[account] += records
        self.records[region] += records
