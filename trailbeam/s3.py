"""CloudTrail trails in S3, through boto3: check the bucket, plan listings, list, fetch.

Launcher side: ``check_bucket`` (fails fast on configuration errors), then ``plan`` (a few
``Delimiter="/"`` listings to find orgs, accounts and regions; never a listing of every object) gives
``ListTask``s. Worker side: ``list_objects(task)`` yields ``S3Object``s, ``fetch(uri)`` returns bytes.

Errors: configuration problems (no credentials, unreachable endpoint, missing bucket) raise
``errors.InputError``; per-object problems raise ``ObjectGone`` or ``ReadFailed`` so that the caller can
quarantine one object and go on.

Clients: ``make_client`` costs ~50–150 ms (a boto3 session loads its data files); a client is thread-safe
and reusable, so make one per worker (in ``DoFn.setup``) from the picklable ``S3Settings``. Credentials
come from boto3's standard chain, or, with ``S3Settings.role_arn``, from that role assumed with the Google
Cloud VM's identity (``webidentity``: for Dataflow workers); they never appear in settings, messages or
logs.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore import exceptions as boto_errors
from botocore.config import Config

from trailbeam import errors, s3paths, timestamps, webidentity
from trailbeam.s3paths import ListTask

_LOGGER = logging.getLogger(__name__)

# Error codes that mean the credentials, not the object, are wrong.
_CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                               "TokenRefreshRequired", "AuthorizationHeaderMalformed"})
_CREDENTIAL_ERRORS = (boto_errors.NoCredentialsError, boto_errors.PartialCredentialsError,
                      boto_errors.CredentialRetrievalError, boto_errors.TokenRetrievalError,
                      boto_errors.SSOError)
# Raised while reading a body, after botocore's own retries of the request are over.
_BODY_ERRORS = (boto_errors.IncompleteReadError, boto_errors.ResponseStreamingError,
                boto_errors.ReadTimeoutError, boto_errors.ConnectionClosedError,
                boto_errors.FlexibleChecksumError)


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Settings:
    """How to reach S3. Picklable and free of secrets: credentials come from boto3's chain.

    ``role_arn`` replaces that chain: the role is assumed with the Google identity of the VM (see
    ``webidentity`` for the trust policy), with ``web_identity_audience`` as the token's audience
    (default ``webidentity.DEFAULT_AUDIENCE``), at STS's regional endpoint or ``sts_endpoint_url``.
    ``max_attempts`` counts every attempt, the first included (like ``AWS_MAX_ATTEMPTS``). The
    standard retry mode backs off per request; "adaptive" also slows every later request of the
    client after throttling, which costs seconds per fault on a batch read (measured here).
    ``max_connections`` must cover the worker's concurrent reads.
    """

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    max_attempts: int = 8
    retry_mode: str = "standard"
    connect_timeout: float = 5
    read_timeout: float = 30
    max_connections: int = 32
    role_arn: str | None = None
    web_identity_audience: str | None = None
    sts_endpoint_url: str | None = None

    def __post_init__(self) -> None:
        if self.role_arn is not None:
            webidentity.check_role_arn(self.role_arn)
            if self.profile is not None:
                raise errors.InputError("give an AWS profile or a role ARN to assume, not both")
        elif self.web_identity_audience is not None or self.sts_endpoint_url is not None:
            raise errors.InputError("a web identity audience or STS endpoint needs a role ARN to assume")


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Object:
    uri: str
    size: int
    etag: str            # as S3 gives it, quotes included: pass it back to fetch() unchanged
    last_modified: str   # ISO 8601 UTC


class ObjectGone(errors.TrailbeamError):
    """The object vanished between listing and reading it (NoSuchKey / 404)."""

    def __init__(self, uri: str, detail: str = "no longer exists (deleted after it was listed)") -> None:
        super().__init__(f"{uri}: {detail}")
        self.uri = uri
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.uri, self.detail)


class ReadFailed(errors.TrailbeamError):
    """An object (or a listing) could not be read: retries exhausted, body truncated, object changed."""

    def __init__(self, uri: str, detail: str) -> None:
        super().__init__(f"{uri}: {detail}")
        self.uri = uri
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.uri, self.detail)


def make_client(settings: S3Settings) -> Any:
    """A boto3 S3 client with the retry mode, attempts and timeouts of ``settings``.

    Raises:
        errors.InputError: an unknown profile, a malformed endpoint URL or retry mode; with a role ARN,
            no identity token or no role (see ``webidentity``).
    """
    s3_options = {"addressing_style": "path"} if _is_loopback(settings.endpoint_url) else None
    try:
        config = Config(retries={"mode": settings.retry_mode, "total_max_attempts": settings.max_attempts},
                        connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout,
                        s3=s3_options, max_pool_connections=settings.max_connections)
        return make_session(settings).client("s3", endpoint_url=settings.endpoint_url, config=config)
    except boto_errors.ProfileNotFound:
        raise errors.InputError(f"no AWS profile named {settings.profile!r}") from None
    except (ValueError, boto_errors.BotoCoreError) as err:
        raise errors.InputError(f"cannot make an S3 client: {err}") from None


def for_launcher(settings: S3Settings) -> S3Settings:
    """The settings a pipeline's launcher lists S3 with (workers always use ``settings`` as given).

    A flex-template launcher runs on Google Cloud and assumes the role as its workers do. A responder
    launching a Dataflow job from a laptop has no Google identity to exchange: the launcher then lists
    with the standard AWS chain of whoever launches (said in a warning), and only the workers assume
    the role. Without a role, ``settings`` as given.
    """
    audience = settings.web_identity_audience or webidentity.DEFAULT_AUDIENCE
    if settings.role_arn is None or webidentity.has_google_identity(audience):
        return settings
    _LOGGER.warning("no Google identity on this machine: listing S3 with the standard AWS credential chain; "
                    "the workers will assume %s", settings.role_arn)
    return replace(settings, role_arn=None, web_identity_audience=None, sts_endpoint_url=None)


def make_session(settings: S3Settings) -> boto3.session.Session:
    """A boto3 session of its own (the default session is not thread-safe) with the credentials of ``settings``.

    Raises:
        errors.InputError: with a role ARN, no identity token or no role (see ``webidentity``).
    """
    if settings.role_arn is None:
        return boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
    return webidentity.session(webidentity.WebIdentity(
        role_arn=settings.role_arn, audience=settings.web_identity_audience or webidentity.DEFAULT_AUDIENCE,
        region=settings.region, sts_endpoint_url=settings.sts_endpoint_url))


def check_bucket(settings: S3Settings, bucket: str) -> None:
    """Fails fast, with a one-line message, when ``bucket`` cannot be listed with these settings.

    Uses its own client with two attempts and short timeouts (a run's client retries for minutes).

    Raises:
        errors.InputError: no credentials, endpoint unreachable, no such bucket, access denied, ...
    """
    quick = dataclasses.replace(settings, max_attempts=2, retry_mode="standard",
                                connect_timeout=min(settings.connect_timeout, 2),
                                read_timeout=min(settings.read_timeout, 10))
    client = make_client(quick)
    where = f"s3://{bucket}"
    try:
        client.head_bucket(Bucket=bucket)
    except boto_errors.ClientError as err:
        status, code = _status_code(err)
        if status == 404 or code in {"404", "NoSuchBucket"}:
            raise errors.InputError(f"no such bucket: {where} (at {_endpoint(client)})") from None
        if status == 403 or code in {"403", "AccessDenied"}:
            raise errors.InputError(f"access denied to {where}: the credentials may not list it "
                                    "(s3:ListBucket), or belong to another account") from None
        if status == 301:
            region = err.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
            raise errors.InputError(f"{where} is in region {region or 'another region'}; "
                                    "set the region to match") from None
        raise errors.InputError(f"cannot use {where}: S3 answered {status} {code}") from None
    except boto_errors.ReadTimeoutError:
        raise errors.InputError(f"S3 endpoint {_endpoint(client)} did not answer within "
                                f"{quick.read_timeout:g} s") from None
    except boto_errors.BotoCoreError as err:
        raise _configuration_error(err, client) or errors.InputError(f"cannot use {where}: {err}") from None


def discover(client: Any, *, bucket: str, base: str, org_id: str | None, accounts: Sequence[str] | None,
             regions: Sequence[str] | None, kind: str = s3paths.LOG_KIND,
             ) -> list[tuple[str | None, str, str]]:
    """The ``(org_id, account, region)`` folders of one kind, found with ``Delimiter="/"`` listings only.

    ``org_id`` given: only that org's folder, and given ``accounts`` are used as is. Otherwise
    ``AWSLogs/`` is listed once: its ``o-...`` folders are org trails, its 12-digit folders are
    older non-org trails of the same bucket; both are included. Given ``accounts`` are then kept where
    their folder exists (one probe per org and account). Given ``regions`` are used as is.

    Raises:
        errors.InputError: a malformed name, a missing bucket, or a configuration error.
    """
    return _discover(client, bucket=bucket, base=base, org_id=org_id, accounts=accounts, regions=regions,
                     kinds=(kind,), non_org_only=False)[kind]


def plan(client: Any, *, source: str, accounts: Sequence[str] | None = None,
         regions: Sequence[str] | None = None, org_id: str | None = None, start: int | None = None,
         end: int | None = None, today: date, margin_hours: int = 1, lead_minutes: int = 5,
         kinds: Sequence[str] = s3paths.INGEST_KINDS) -> list[ListTask]:
    """The listings that find every trail file under ``source`` with events in ``[start, end)``.

    Args:
        source: ``s3://bucket[/prefix]``. The prefix is the trail's S3 key prefix (the part before
            ``AWSLogs/``), or goes below ``AWSLogs/``: an org, account, kind or region folder narrows the
            discovery; anything deeper (a month, a day) is listed as one task, bounded by the window.
        start, end: eventTime bounds, UTC micros, ``end`` exclusive (see ``s3paths`` for the margins).
        today: the current UTC date (no later day folder is listed).
        kinds: ``CloudTrail`` and/or ``CloudTrail-Insight``; digests are never listed for ingest.

    Raises:
        errors.InputError: a malformed source or name, a source that contradicts the other arguments,
            nothing to read under the source, or a configuration error.
    """
    uri = s3paths.parse_s3_uri(source)
    scope = s3paths.source_scope(uri.key)
    for kind in kinds:
        s3paths.check_names(kind=kind)
    if scope.account is not None and scope.org_id is None and org_id is not None:
        raise errors.InputError(f"the source {source} is a non-org trail folder but org id {org_id} was asked for")
    org_id = _narrow("org id", org_id, scope.org_id)
    accounts = _narrow_list("account", accounts, scope.account)
    regions = _narrow_list("region", regions, scope.region)
    kinds = _narrow_list("kind", kinds, scope.kind) or ()
    window = {"start": start, "end": end, "margin_hours": margin_hours, "lead_minutes": lead_minutes}
    if scope.below_region is not None:
        assert scope.account is not None and scope.kind is not None and scope.region is not None
        start_after, stop_after = s3paths.delivery_bounds(
            base=scope.base, org_id=scope.org_id, account=scope.account, kind=scope.kind,
            region=scope.region, **window)
        return [ListTask(bucket=uri.bucket, prefix=scope.below_region, start_after=start_after,
                         stop_after=stop_after)]
    found = _discover(client, bucket=uri.bucket, base=scope.base, org_id=org_id, accounts=accounts,
                      regions=regions, kinds=kinds, non_org_only=scope.account is not None and org_id is None)
    if not any(found.values()):
        raise errors.InputError(f"no {' or '.join(kinds)} folders under "
                                f"s3://{uri.bucket}/{s3paths.logs_prefix(scope.base)}"
                                " (check the prefix, accounts and regions)")
    tasks = []
    for kind, folders in found.items():
        for org, account, region in folders:
            tasks += s3paths.day_tasks(bucket=uri.bucket, base=scope.base, account=account, region=region,
                                       org_id=org, kind=kind, today=today, **window)
    return tasks


def list_objects(client: Any, task: ListTask) -> Iterator[S3Object]:
    """The objects of one task, in key order (folder markers skipped); stops after ``task.stop_after``.

    Raises:
        errors.InputError: a missing bucket or a configuration error.
        ReadFailed: the listing failed after the client's retries.
    """
    arguments = {"Bucket": task.bucket, "Prefix": task.prefix}
    if task.start_after is not None:
        arguments["StartAfter"] = task.start_after
    where = f"s3://{task.bucket}/{task.prefix}"
    try:
        for page in client.get_paginator("list_objects_v2").paginate(**arguments):
            for item in page.get("Contents", ()):
                key = item["Key"]
                if task.stop_after is not None and key > task.stop_after:
                    return   # keys come in order: the rest of the listing is after the window
                if key.endswith("/"):
                    continue
                yield S3Object(uri=f"s3://{task.bucket}/{key}", size=item["Size"], etag=item["ETag"],
                               last_modified=_iso(item["LastModified"]))
    except (boto_errors.ClientError, boto_errors.BotoCoreError) as err:
        raise _listing_error(err, client, where) from None


def fetch(client: Any, uri: str, *, expected_size: int | None = None, etag: str | None = None,
          body_attempts: int = 4) -> bytes:
    """The whole body of one object (see ``fetch_with_metadata``)."""
    return fetch_with_metadata(client, uri, expected_size=expected_size, etag=etag, body_attempts=body_attempts)[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectMetadata:
    """What an object carries besides its body: user metadata (a digest's signature) and Object Lock."""

    user: dict[str, str]                 # x-amz-meta-* (CloudTrail digests: signature, signature-algorithm)
    etag: str | None
    lock_mode: str | None                # GOVERNANCE or COMPLIANCE retention
    lock_retain_until: str | None        # ISO UTC
    legal_hold: str | None               # ON or OFF


def fetch_with_metadata(client: Any, uri: str, *, expected_size: int | None = None, etag: str | None = None,
                        body_attempts: int = 4) -> tuple[bytes, ObjectMetadata]:
    """The whole body of one object, and its metadata.

    The request itself is retried by the client (throttling, 5xx, resets). A body that ends early is
    fetched again, up to ``body_attempts`` reads in all. ``etag`` makes the read conditional
    (``IfMatch``), so an object replaced since it was listed is noticed; so is a size other than
    ``expected_size``.

    Raises:
        ObjectGone: the object no longer exists.
        ReadFailed: retries exhausted, the body stayed truncated, or the object changed since listing
            (its ETag no longer matches, or its size is not ``expected_size``).
        errors.InputError: a malformed URI or a configuration error (credentials, endpoint).
    """
    location = s3paths.parse_s3_uri(uri)
    arguments = {"Bucket": location.bucket, "Key": location.key}
    if etag is not None:
        arguments["IfMatch"] = etag
    problem = ""
    for attempt in range(body_attempts):
        if attempt:
            _LOGGER.debug("reading %s again (attempt %d): %s", uri, attempt + 1, problem)
            time.sleep(min(0.1 * 2 ** attempt, 2.0))
        try:
            response = client.get_object(**arguments)
        except boto_errors.ClientError as err:
            raise _object_error(err, uri) from None
        except boto_errors.BotoCoreError as err:   # the client's retries are over
            raise _configuration_error(err, client) or ReadFailed(uri, str(err)) from None
        try:
            data: bytes = response["Body"].read()
        except (boto_errors.IncompleteReadError, boto_errors.ResponseStreamingError) as err:
            problem = f"body truncated: {err}"
            continue
        except _BODY_ERRORS as err:
            problem = f"body read failed: {err}"
            continue
        finally:
            response["Body"].close()
        sent = response.get("ContentLength")
        if sent is not None and len(data) < sent:   # botocore checks this too; cheap to be sure
            problem = f"body truncated: got {len(data)} of {sent} bytes"
            continue
        if expected_size is not None and len(data) != expected_size:
            # The whole object came, with another size: re-reading will not help.
            raise ReadFailed(uri, f"changed since it was listed ({len(data)} bytes, {expected_size} listed)")
        retain = response.get("ObjectLockRetainUntilDate")
        return data, ObjectMetadata(user=dict(response.get("Metadata") or {}), etag=response.get("ETag"),
                                    lock_mode=response.get("ObjectLockMode"),
                                    lock_retain_until=_iso(retain) if retain is not None else None,
                                    legal_hold=response.get("ObjectLockLegalHoldStatus"))
    raise ReadFailed(uri, f"{problem}; gave up after {body_attempts} reads")


# ---- discovery ----------------------------------------------------------------------------------------


def _discover(client: Any, *, bucket: str, base: str, org_id: str | None, accounts: Sequence[str] | None,
              regions: Sequence[str] | None, kinds: Sequence[str], non_org_only: bool,
              ) -> dict[str, list[tuple[str | None, str, str]]]:
    s3paths.check_names(org_id=org_id)
    for name in accounts or ():
        s3paths.check_names(account=name)
    for name in regions or ():
        s3paths.check_names(region=name)
    logs = s3paths.logs_prefix(base)
    pairs: list[tuple[str | None, str]] = []
    if org_id is not None:
        roots = [org_id]
    else:
        top = _folders(client, bucket, logs)
        listed = sorted(name for name in top if s3paths.ACCOUNT_ID.fullmatch(name))
        pairs += [(None, name) for name in listed if accounts is None or name in accounts]
        roots = [] if non_org_only else sorted(name for name in top if s3paths.ORG_ID.fullmatch(name))
    for org in roots:
        if accounts is None:
            pairs += [(org, name) for name in _folders(client, bucket, f"{logs}{org}/")
                      if s3paths.ACCOUNT_ID.fullmatch(name)]
        elif org_id is not None:
            pairs += [(org, name) for name in accounts]
        else:
            pairs += [(org, name) for name in accounts if _has_folder(client, bucket, f"{logs}{org}/{name}/")]
    found: dict[str, list[tuple[str | None, str, str]]] = {}
    for kind in kinds:
        found[kind] = []
        for org, account in pairs:
            if regions is not None:
                names = list(regions)
            else:
                folder = f"{logs}{org + '/' if org else ''}{account}/{kind}/"
                names = sorted(name for name in _folders(client, bucket, folder) if s3paths.REGION.fullmatch(name))
            found[kind] += [(org, account, region) for region in names]
    _LOGGER.debug("discovered %s", {kind: len(folders) for kind, folders in found.items()})
    return found


def _folders(client: Any, bucket: str, prefix: str) -> list[str]:
    """The names of the folders right below ``prefix`` (a ``Delimiter="/"`` listing, all pages)."""
    names = []
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
        for page in pages:
            names += [common["Prefix"][len(prefix):-1] for common in page.get("CommonPrefixes", ())]
    except (boto_errors.ClientError, boto_errors.BotoCoreError) as err:
        raise _listing_error(err, client, f"s3://{bucket}/{prefix}") from None
    return names


def _has_folder(client: Any, bucket: str, prefix: str) -> bool:
    try:
        page = client.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/", MaxKeys=1)
    except (boto_errors.ClientError, boto_errors.BotoCoreError) as err:
        raise _listing_error(err, client, f"s3://{bucket}/{prefix}") from None
    return bool(page.get("KeyCount") or page.get("Contents") or page.get("CommonPrefixes"))


def _narrow(what: str, given: str | None, from_source: str | None) -> str | None:
    if from_source is None or given is None or given == from_source:
        return from_source if from_source is not None else given
    raise errors.InputError(f"the source names {what} {from_source} but {given} was asked for")


def _narrow_list(what: str, given: Sequence[str] | None, from_source: str | None) -> list[str] | None:
    if from_source is None:
        return None if given is None else list(given)
    if given is not None and from_source not in given:
        raise errors.InputError(f"the source names {what} {from_source}, which is not among {', '.join(given)}")
    return [from_source]


# ---- errors -------------------------------------------------------------------------------------------


def _status_code(err: boto_errors.ClientError) -> tuple[int | None, str]:
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status, str(err.response.get("Error", {}).get("Code", status))


def _configuration_error(err: Exception, client: Any) -> errors.InputError | None:
    """The InputError for a configuration problem (credentials, endpoint), else None."""
    if isinstance(err, boto_errors.NoCredentialsError):
        return errors.InputError("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
                                 "AWS_SECRET_ACCESS_KEY, run with an instance or task role, or on Google "
                                 "Cloud give a role to assume with the VM's identity (--aws_role_arn)")
    if isinstance(err, _CREDENTIAL_ERRORS):
        return errors.InputError(f"cannot get AWS credentials: {err}")
    if isinstance(err, boto_errors.ConnectionError):   # refused, DNS, connect timeout, proxy, TLS
        return errors.InputError(f"cannot connect to the S3 endpoint {_endpoint(client)}: {err}")
    if isinstance(err, boto_errors.ClientError) and _status_code(err)[1] in _CREDENTIAL_CODES:
        return errors.InputError(f"S3 rejected the credentials: {_status_code(err)[1]}")
    return None


def _listing_error(err: Exception, client: Any, where: str) -> errors.TrailbeamError:
    if isinstance(err, boto_errors.ClientError):
        status, code = _status_code(err)
        if code == "NoSuchBucket":
            return errors.InputError(f"no such bucket: {where}")
        if status == 403 or code == "AccessDenied":
            return errors.InputError(f"access denied listing {where}")
        return _configuration_error(err, client) or ReadFailed(where, f"listing failed: {code} (HTTP {status}) "
                                                                      "after the client's retries")
    return _configuration_error(err, client) or ReadFailed(where, f"listing failed: {err}")


def _object_error(err: boto_errors.ClientError, uri: str) -> errors.TrailbeamError:
    status, code = _status_code(err)
    if status == 404 or code in {"NoSuchKey", "404"}:
        return ObjectGone(uri)
    if status == 412 or code == "PreconditionFailed":
        return ReadFailed(uri, "changed since it was listed (its ETag no longer matches)")
    if code in _CREDENTIAL_CODES:
        return errors.InputError(f"S3 rejected the credentials: {code}")
    if status == 403 or code == "AccessDenied":
        return ReadFailed(uri, "access denied (bucket policy, object owner or KMS key)")
    attempts = err.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
    return ReadFailed(uri, f"{code} (HTTP {status}) after {attempts + 1} attempts")


def _endpoint(client: Any) -> str:
    """The client's endpoint without any user info or path (safe to show)."""
    parts = urlsplit(client.meta.endpoint_url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def _is_loopback(endpoint_url: str | None) -> bool:
    host = urlsplit(endpoint_url).hostname if endpoint_url else None
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _iso(moment: datetime) -> str:
    return timestamps.format_micros(timestamps.datetime_micros(moment))
