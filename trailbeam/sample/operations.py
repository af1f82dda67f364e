"""API calls: a table of operations, each with a builder of its record's parts.

An ``_Op`` is one API (service, eventName, read-only or not, data event or not, where it is called, how it
can fail); its ``build(g, session, region)`` returns ``(requestParameters, responseElements, resources,
additionalEventData)``. ``_OPS`` is the table, ``_OP_INDEX`` maps "service.Name" (and "kms.Decrypt@s3"
for calls S3 makes on a session's behalf) to a row, and ``_DENIED`` / ``_NOT_FOUND`` hold the error codes
and messages of failed calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trailbeam.sample.traffic import _B64, _TLS12
from trailbeam.sample.world import Record, _Bucket, _ENV, _Function, _ORG_TRAIL, _Place, _ROLES, _USERS

if TYPE_CHECKING:
    from trailbeam.sample.records import _Recorder
    from trailbeam.sample.sessions import _Session

Built = tuple[Record | None, Record | None, list[Record] | None, Record | None]
Builder = Callable[["_Recorder", "_Session", str], Built]


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
    def build(g: _Recorder, s: _Session, region: str) -> Built:
        return req, resp, None, None
    return build


def _place(g: _Recorder, s: _Session, region: str) -> _Place:
    return g.world.places[s.account, region]


def _bucket(g: _Recorder, s: _Session, region: str) -> _Bucket:
    bucket = s.buckets.get(region)
    if bucket is None:
        buckets = g.world.places[s.account, region].buckets
        bucket = buckets[int(g.rnd() * len(buckets))]
    return bucket


def _s3_extra(g: _Recorder, s: _Session, bytes_in: int, bytes_out: int) -> Record:
    return {"SignatureVersion": "SigV4", "CipherSuite": (s.tls or _TLS12)[1], "bytesTransferredIn": bytes_in,
            "AuthenticationMethod": "AuthHeader", "x-amz-id-2": g.amz_id(), "bytesTransferredOut": bytes_out}


def _s3_object(verb: str) -> Builder:
    def build(g: _Recorder, s: _Session, region: str) -> Built:
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


def _s3_list_objects(g: _Recorder, s: _Session, region: str) -> Built:
    b = _bucket(g, s, region)
    prefix = b.keys[int(g.rnd() * len(b.keys))].rsplit("/", 1)[0] + "/"
    req = {"bucketName": b.name, "Host": b.host, "list-type": "2", "prefix": prefix, "delimiter": "/",
           "encoding-type": "url"}
    return req, None, [b.resource], _s3_extra(g, s, 0, 1200 + int(g.rnd() * 20000))


def _s3_bucket_call(subresource: str) -> Builder:
    def build(g: _Recorder, s: _Session, region: str) -> Built:
        b = _bucket(g, s, region)
        return ({"bucketName": b.name, "Host": b.host, subresource: ""}, None, [b.resource],
                _s3_extra(g, s, 0, 300 + int(g.rnd() * 900)))
    return build


def _s3_put_bucket_tagging(g: _Recorder, s: _Session, region: str) -> Built:
    b = _bucket(g, s, region)
    req = {"bucketName": b.name, "Host": b.host, "tagging": "",
           "Tagging": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                       "TagSet": {"Tag": [{"Key": "cost-center", "Value": "platform"}]}}}
    return req, None, [b.resource], _s3_extra(g, s, 180, 0)


def _s3_list_buckets(g: _Recorder, s: _Session, region: str) -> Built:
    return {"Host": "s3.amazonaws.com"}, None, None, _s3_extra(g, s, 0, 2400)


def _kms_key(g: _Recorder, s: _Session, region: str) -> tuple[str, Record]:
    keys = _place(g, s, region).keys or g.world.places[s.account, "us-east-1"].keys
    return keys[int(g.rnd() * len(keys))]


def _kms_decrypt(g: _Recorder, s: _Session, region: str) -> Built:
    _, resource = _kms_key(g, s, region)
    return {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}, None, [resource], None


def _kms_decrypt_for_s3(g: _Recorder, s: _Session, region: str) -> Built:
    b = _bucket(g, s, region)
    arn, resource = _kms_key(g, s, region)
    key = b.keys[int(g.rnd() * len(b.keys))]
    req = {"encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::{b.name}/{key}"},
           "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
    return req, None, [resource], None


def _kms_generate_data_key(g: _Recorder, s: _Session, region: str) -> Built:
    arn, resource = _kms_key(g, s, region)
    return {"keyId": arn, "keySpec": "AES_256"}, None, [resource], None


def _kms_key_call(g: _Recorder, s: _Session, region: str) -> Built:
    arn, resource = _kms_key(g, s, region)
    return {"keyId": arn}, None, [resource], None


def _kms_rotate(g: _Recorder, s: _Session, region: str) -> Built:
    arn, resource = _kms_key(g, s, region)
    return None, None, [resource], None


def _secret(g: _Recorder, s: _Session, region: str) -> Built:
    secrets = _place(g, s, region).secrets or g.world.places[s.account, "us-east-1"].secrets
    return {"secretId": secrets[int(g.rnd() * len(secrets))]}, None, None, None


def _parameter(g: _Recorder, s: _Session, region: str) -> Built:
    params = _place(g, s, region).parameters or g.world.places[s.account, "us-east-1"].parameters
    return {"name": params[int(g.rnd() * len(params))], "withDecryption": True}, None, None, None


def _parameters_by_path(g: _Recorder, s: _Session, region: str) -> Built:
    params = _place(g, s, region).parameters or g.world.places[s.account, "us-east-1"].parameters
    path = params[int(g.rnd() * len(params))].rsplit("/", 1)[0] + "/"
    return {"path": path, "recursive": True, "withDecryption": True}, None, None, None


def _put_parameter(g: _Recorder, s: _Session, region: str) -> Built:
    params = _place(g, s, region).parameters or g.world.places[s.account, "us-east-1"].parameters
    return ({"name": params[int(g.rnd() * len(params))], "type": "String", "overwrite": True},
            {"version": 2 + int(g.rnd() * 40), "tier": "Standard"}, None, None)


def _update_instance_information(g: _Recorder, s: _Session, region: str) -> Built:
    instance_id = s.arn.rsplit("/", 1)[1]
    req = {"instanceId": instance_id, "agentVersion": "3.3.131.0", "agentStatus": "Active", "platformType": "Linux",
           "platformName": "Amazon Linux", "platformVersion": "2023", "iPAddress": s.private_ip or "10.20.0.10",
           "computerName": f"ip-{(s.private_ip or '10.20.0.10').replace('.', '-')}.{region}.compute.internal",
           "agentName": "amazon-ssm-agent", "availabilityZone": f"{region}a", "sSMConnectionChannel": "ssmmessages"}
    return req, None, None, None


def _association_status(g: _Recorder, s: _Session, region: str) -> Built:
    req = {"associationId": g.uuid(), "instanceId": s.arn.rsplit("/", 1)[1],
           "executionResult": {"status": "Success", "executionDate": "HIDDEN_DUE_TO_SECURITY_REASONS",
                               "outputUrl": {"s3OutputUrl": {"outputUrl": ""}}}}
    return req, None, None, None


def _put_inventory(g: _Recorder, s: _Session, region: str) -> Built:
    req = {"instanceId": s.arn.rsplit("/", 1)[1], "items": [
        {"typeName": "AWS:InstanceInformation", "schemaVersion": "1.0", "captureTime": g.iso(s.start + 60),
         "contentHash": _B64(g.rng.randbytes(24)).decode()}]}
    return req, None, None, None


def _put_secret_value(g: _Recorder, s: _Session, region: str) -> Built:
    req, _, _, _ = _secret(g, s, region)
    assert req is not None
    arn = req["secretId"]
    return ({**req, "clientRequestToken": g.uuid(), "versionStages": ["AWSPENDING"]},
            {"arn": arn, "name": arn.split(":secret:", 1)[1][:-7], "versionId": g.uuid(),
             "versionStages": ["AWSPENDING"]}, None, None)


def _function(g: _Recorder, s: _Session, region: str) -> _Function:
    fn = s.functions.get(region)
    if fn is None:
        fns = _place(g, s, region).functions
        fn = fns[int(g.rnd() * len(fns))]
    return fn


def _lambda_get(g: _Recorder, s: _Session, region: str) -> Built:
    return {"functionName": _function(g, s, region).name}, None, None, None


def _lambda_invoke(g: _Recorder, s: _Session, region: str) -> Built:
    fn = _function(g, s, region)
    req: Record = {"functionName": fn.arn}
    if s.service_host:
        req["sourceArn"] = f"arn:aws:events:{region}:{fn.account}:rule/{fn.name}-schedule"
    else:
        req["invocationType"] = "RequestResponse"
    return req, None, [fn.resource], {"functionVersion": f"{fn.arn}:$LATEST"}


def _lambda_update_code(g: _Recorder, s: _Session, region: str) -> Built:
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


def _lambda_update_configuration(g: _Recorder, s: _Session, region: str) -> Built:
    fn = _function(g, s, region)
    req = {"functionName": fn.name, "timeout": 30 + 30 * int(g.rnd() * 4), "memorySize": 512}
    return req, {"functionName": fn.name, "functionArn": fn.arn, "lastUpdateStatus": "InProgress"}, None, None


def _iam_role_call(g: _Recorder, s: _Session, region: str) -> Built:
    names = _ROLES.get(s.account, ("OrgAutomationRole",))
    return {"roleName": names[int(g.rnd() * len(names))]}, None, None, None


def _iam_user_call(g: _Recorder, s: _Session, region: str) -> Built:
    names = _USERS[s.account]
    return {"userName": names[int(g.rnd() * len(names))]}, None, None, None


def _iam_tag_role(g: _Recorder, s: _Session, region: str) -> Built:
    names = _ROLES.get(s.account, ("OrgAutomationRole",))
    return ({"roleName": names[int(g.rnd() * len(names))], "tags": [{"key": "owner", "value": "platform"}]},
            None, None, None)


def _iam_put_role_policy(g: _Recorder, s: _Session, region: str) -> Built:
    names = _ROLES.get(s.account, ("OrgAutomationRole",))
    doc = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],'
           f'"Resource":"arn:aws:s3:::acme-{_ENV[s.account]}-artifacts/*"}}]}}')
    return ({"roleName": names[int(g.rnd() * len(names))], "policyName": "artifacts-access", "policyDocument": doc},
            None, None, None)


def _instance_id(g: _Recorder, s: _Session, region: str) -> str:
    ids = _place(g, s, region).instance_ids
    return ids[int(g.rnd() * len(ids))]


def _ec2_tags(g: _Recorder, s: _Session, region: str) -> Built:
    iid = _instance_id(g, s, region)
    req = {"filterSet": {"items": [{"name": "resource-id", "valueSet": {"items": [{"value": iid}]}}]}}
    return req, None, None, None


def _ec2_create_tags(g: _Recorder, s: _Session, region: str) -> Built:
    iid = _instance_id(g, s, region)
    req = {"resourcesSet": {"items": [{"resourceId": iid}]},
           "tagSet": {"items": [{"key": "patch-group", "value": ("weekly", "monthly")[int(g.rnd() * 2)]}]}}
    return req, {"requestId": g.uuid(), "_return": True}, None, None


def _ec2_start_stop(name: str) -> Builder:
    codes = {"StopInstances": ((64, "stopping"), (16, "running")), "StartInstances": ((0, "pending"), (80, "stopped"))}

    def build(g: _Recorder, s: _Session, region: str) -> Built:
        iid = _instance_id(g, s, region)
        current, previous = codes[name]
        req = {"instancesSet": {"items": [{"instanceId": iid}]}}
        resp = {"requestId": g.uuid(), "instancesSet": {"items": [{
            "instanceId": iid, "currentState": {"code": current[0], "name": current[1]},
            "previousState": {"code": previous[0], "name": previous[1]}}]}}
        return req, resp, None, None
    return build


def _trail_call(key: str) -> Builder:
    def build(g: _Recorder, s: _Session, region: str) -> Built:
        return {key: _ORG_TRAIL}, None, None, None
    return build


def _lookup_events(g: _Recorder, s: _Session, region: str) -> Built:
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
