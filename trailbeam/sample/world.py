"""The world: the accounts and regions, and every principal and resource the trail mentions.

``_World(g)`` builds roles, IAM users, Identity Center and Okta federation, and per account and region
(``_Place``) the buckets, Lambda functions, instances, KMS keys, secrets and parameters, taking every id
from the generator's one random source (so the world is part of the deterministic stream). The public
constants (``MANAGEMENT``, ``PROD``, ``DEV``, ``EXTERNAL``, ``LOGGED_ACCOUNTS``, ``REGIONS``, ...) are
re-exported by ``trailbeam.sample``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random
from typing import Any, TYPE_CHECKING

from trailbeam.sample.traffic import _ALNUM, _B64

if TYPE_CHECKING:
    from trailbeam.sample.records import _Recorder

Record = dict[str, Any]

MANAGEMENT = "318743026514"
PROD = "529104638271"
DEV = "740265913852"
EXTERNAL = "893614207755"      # attacker-controlled: appears only as a caller, delivers no logs
LOGGED_ACCOUNTS = (MANAGEMENT, PROD, DEV)
REGIONS = ("us-east-1", "eu-west-1", "us-west-2")    # us-east-1 carries IAM, global STS and sign-in
_ACCOUNT_NAMES = {MANAGEMENT: "acme-management", PROD: "acme-prod", DEV: "acme-dev", EXTERNAL: "external"}
_ENV = {MANAGEMENT: "mgmt", PROD: "prod", DEV: "dev"}



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

    def __init__(self, g: _Recorder) -> None:
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

    def add_role(self, g: _Recorder, account: str, name: str, *, path: str = "", alias: str | None = None) -> None:
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
