"""The attack story: a leaked key, reconnaissance, role chaining, exfiltration and persistence.

``_Attack.attack_story()`` writes the attacker's events as fixed events (on day 2, or day 1 of a one-day
trail) and describes them, step by step, in ``self.attack`` for the ground truth.
"""

from __future__ import annotations

from typing import Any

from trailbeam.sample.traffic import ATTACKER_IPS, ATTACKER_UA, BACKDOOR_UA, _DAY, _TLS13, _UA_FIREFOX, _aws_date
from trailbeam.sample.world import (
    EXFIL_BUCKET, EXTERNAL, MANAGEMENT, PROD, Record, SIEM_TRAIL, _ORG_TRAIL, _Role, _User,
)
from trailbeam.sample.operations import _DENIED, _NOT_FOUND, _s3_extra
from trailbeam.sample.sessions import _Session
from trailbeam.sample.background import _Background


class _Attack(_Background):
    """The attack story, planned before the background sessions."""

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
