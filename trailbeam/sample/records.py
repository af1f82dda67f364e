"""The generator's core: its random source, ids, CloudTrail records, identities and STS issuers.

``_Recorder`` owns the one ``random.Random`` and what is planned (fixed events, sessions, credentials,
console sessions). It makes ids (UUIDs, access keys, principal ids, request ids), builds records in
CloudTrail's field order (``event``, ``call``, ``error``), userIdentity blocks, and the STS events that
issue temporary credentials (``assume_role``, ``service_assume_role``), recording each credential for the
ground truth. Sessions, the attack and delivery build on it (``background``, ``attack``, ``delivery``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import accumulate
from random import Random

from trailbeam.sample.traffic import (
    _B32, _B64, _DAY, _GITHUB_PREFIXES, _REGION_PREFIXES, _SOURCES, _UA_S3_CONSOLE, _VARIANT, _VERSIONS, _aws_date,
    _iso,
)
from trailbeam.sample.world import LOGGED_ACCOUNTS, REGIONS, Record, _Role, _User, _World
from trailbeam.sample.operations import _DENIED, _NOT_FOUND, _Op
from trailbeam.sample.sessions import _Session

_ERROR_RATE = 0.028            # share of fallible calls that fail


@dataclass(slots=True)
class _Fixed:
    """An event built up front (STS, sign-in, attack): its time, its stream and the record."""
    ts: int
    stream: int
    record: Record


class _Recorder:
    """The generator's core: one ``Random`` drives everything; ids, records, identities, STS issuers."""

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
