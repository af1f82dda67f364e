"""Background sessions: the ordinary traffic of the company, one kind of client per ``k_*`` method.

``_Background`` adds to the generator the sessions of EC2 instance profiles, Lambda functions, AWS
Config, security audits, Identity Center and Okta users, GitHub Actions, Jenkins, long-term keys,
GetSessionToken and GetFederationToken users, console sign-ins, invokers and AWS-internal calls; each
issues its credential with an STS (or sign-in) event first. ``_KINDS`` gives each kind's share of all
sessions.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from trailbeam.sample.traffic import (
    _B64, _CI_HOURS, _DAY, _ETL_IP, _HUMAN_HOURS, _JENKINS_IP, _MONITORING_IP, _OFFICE_IPS, _SERVICE_HOURS, _TLS12,
    _TLS13, _UA_CHROME, _UA_CLI_MAC, _UA_CLI_WIN, _UA_ETL, _UA_FIREFOX, _UA_GHA_CLI, _UA_GHA_CREDENTIALS, _UA_JAVA,
    _UA_JENKINS, _UA_JENKINS_BOTO, _UA_LAMBDA_JS, _UA_LAMBDA_PY, _UA_MONITORING, _UA_SAML2AWS, _UA_SSM_AGENT,
    _UA_SSO_CLI, _UA_SSO_PORTAL, _UA_TERRAFORM,
)
from trailbeam.sample.world import (
    DEV, LOGGED_ACCOUNTS, MANAGEMENT, PROD, REGIONS, Record, _EMAIL, _Function, _GITHUB_PROVIDER, _GITHUB_SUBJECTS,
    _OKTA_PEOPLE, _SSO_ADMINS, _SSO_PEOPLE,
)
from trailbeam.sample.mixes import (
    _ADMIN_MIX, _APP_MIX, _AUDIT_MIX, _CI_MIX, _CONSOLE_MIX, _DATA_MIX, _DEPLOY_MIX, _INTERNAL_MIX, _INVENTORY_MIX,
    _INVOKER_MIX, _LAMBDA_MIX, _MONITORING_MIX, _Mix, _ORG_MIX, _READONLY_MIX,
)
from trailbeam.sample.sessions import _Session
from trailbeam.sample.records import _Recorder


class _Background(_Recorder):
    """Background sessions: the company's ordinary clients, one ``k_*`` method per kind."""

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

    # Kinds of background sessions and their shares of all sessions.
    _KINDS: tuple[tuple[Callable[[_Background], None], float], ...] = (
        (k_ec2, 0.16), (k_lambda, 0.10), (k_config, 0.06), (k_sec_audit, 0.06), (k_sso, 0.16), (k_okta, 0.07),
        (k_github, 0.16), (k_jenkins, 0.07), (k_longterm, 0.05), (k_session_token, 0.02), (k_federation_token, 0.02),
        (k_console, 0.005), (k_invoker, 0.05), (k_internal, 0.005))
