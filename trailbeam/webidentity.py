"""AWS credentials for Google Cloud workers: the VM's Google identity, exchanged for an AWS role.

On Dataflow (or any GCE VM) nothing secret may travel in pipeline options: Dataflow stores them with
the job. Instead each worker asks its metadata server for a Google-signed ID token of the VM's service
account, and exchanges it with STS ``AssumeRoleWithWebIdentity`` for temporary credentials of the role
named by ``WebIdentity.role_arn`` (not a secret). botocore refreshes them before they expire: the
exchange runs again with a fresh token.

    WebIdentity(role_arn=...) -> credentials(identity) -> RefreshableCredentials ("gce-web-identity")
                              -> session(identity)     -> boto3 Session (its clients sign with them)

The metadata server is ``metadata.google.internal``, or ``$GCE_METADATA_HOST`` (host[:port], the
variable google-auth reads too). STS is called unsigned (the call needs no AWS credentials), at the
region's endpoint or at ``sts_endpoint_url``.

The AWS role trusts the service account, not the audience. A Google service-account ID token carries
``azp`` (and ``sub``) = the account's unique numeric id and ``aud`` = the audience asked for. When
``azp`` is present, IAM maps the condition key ``accounts.google.com:aud`` to ``azp`` and
``accounts.google.com:oaud`` to the token's ``aud``. The trust policy that admits only this service
account, and only tokens minted for trailbeam:

    {
      "Version": "2012-10-17",
      "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": "accounts.google.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
          "accounts.google.com:aud": "<service account unique id, 21 digits>",
          "accounts.google.com:sub": "<service account unique id, 21 digits>",
          "accounts.google.com:oaud": "trailbeam"
        }}
      }]
    }

(``gcloud iam service-accounts describe SA_EMAIL --format='value(uniqueId)'`` gives the id;
``trailbeam`` is ``DEFAULT_AUDIENCE``: use the audience actually configured.) Pinning ``oaud`` keeps a
token that the same service account minted for another service from being replayed to AWS.

Errors: every failure to get credentials is an ``errors.InputError`` with a one-line message; the
token never appears in messages or logs.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import botocore
import botocore.session
from botocore import exceptions as boto_errors
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials

from trailbeam import errors

_LOGGER = logging.getLogger(__name__)

METHOD = "gce-web-identity"
# The token's aud claim (accounts.google.com:oaud in the trust policy). A constant of trailbeam's own,
# not sts.amazonaws.com: with a Google token that claim is not what accounts.google.com:aud checks.
DEFAULT_AUDIENCE = "trailbeam"
DEFAULT_DURATION = 3600          # the default MaxSessionDuration of a role
METADATA_HOST_ENV = "GCE_METADATA_HOST"
METADATA_HOST = "metadata.google.internal"
_IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"

ROLE_ARN = re.compile(r"arn:aws[-a-z]*:iam::\d{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}", re.ASCII)
_SESSION_CHARACTER = re.compile(r"[^\w+=,.@-]", re.ASCII)   # STS: RoleSessionName is [\w+=,.@-]{2,64}


@dataclass(frozen=True, slots=True, kw_only=True)
class WebIdentity:
    """Which role to assume, and where to ask. Picklable and free of secrets.

    ``region`` picks the regional STS endpoint (None: botocore's configuration, else the global one);
    ``sts_endpoint_url`` overrides it. ``session_name`` names the session in the role's CloudTrail
    (default ``trailbeam-<hostname>``, so each worker's reads are attributable).
    """

    role_arn: str
    audience: str = DEFAULT_AUDIENCE
    region: str | None = None
    sts_endpoint_url: str | None = None
    session_name: str | None = None
    duration_seconds: int = DEFAULT_DURATION


def check_role_arn(arn: str) -> str:
    """``arn`` when it names an IAM role, else InputError.

    >>> check_role_arn("arn:aws:iam::111122223333:role/trailbeam-reader")
    'arn:aws:iam::111122223333:role/trailbeam-reader'

    Raises:
        errors.InputError: anything but ``arn:<partition>:iam::<12 digits>:role/[path/]name``.
    """
    if not ROLE_ARN.fullmatch(arn):
        raise errors.InputError(f"{arn!r} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/NAME)")
    return arn


def default_session_name(hostname: str | None = None) -> str:
    """``trailbeam-<hostname>``, cut to the characters and length STS accepts.

    >>> default_session_name("beamapp-0528-harness-x7k2.c.project.internal")
    'trailbeam-beamapp-0528-harness-x7k2.c.project.internal'
    """
    name = _SESSION_CHARACTER.sub("-", f"trailbeam-{hostname if hostname is not None else socket.gethostname()}")
    return name[:64]


def metadata_host() -> str:
    return os.environ.get(METADATA_HOST_ENV) or METADATA_HOST


def fetch_identity_token(audience: str, *, host: str | None = None, timeout: float = 2.0,
                         attempts: int = 3) -> str:
    """A Google-signed ID token (a JWT) of the VM's default service account, for ``audience``.

    ``format=full`` adds the project and instance claims. Connection failures and 5xx/429 answers are
    retried, up to ``attempts`` in all; other answers are final.

    Raises:
        errors.InputError: the metadata server cannot be reached or refuses (not on Google Cloud, or
            no service account on the VM), or answers with something that is not a token.
    """
    host = host or metadata_host()
    query = urllib.parse.urlencode({"audience": audience, "format": "full"})
    request = urllib.request.Request(f"http://{host}{_IDENTITY_PATH}?{query}",
                                     headers={"Metadata-Flavor": "Google"})
    # The metadata server is a link-local hop: a proxy from the environment would only get in the way.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    problem = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(0.2 * 2 ** (attempt - 1))
        try:
            with opener.open(request, timeout=timeout) as response:
                token = response.read().decode("ascii", "replace").strip()
                break
        except urllib.error.HTTPError as err:
            problem = f"answered HTTP {err.code}"
            if err.code < 500 and err.code != 429:
                raise errors.InputError(f"the GCE metadata server at {host} {problem} for an identity token "
                                        "(no service account on this VM?)") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            problem = f"cannot be reached ({getattr(err, 'reason', err)})"
    else:
        raise errors.InputError(f"the GCE metadata server at {host} {problem} after {attempts} attempts "
                                "(not on Google Cloud? assuming a role this way needs a GCE or Dataflow "
                                "VM with a service account)")
    if token.count(".") != 2:
        raise errors.InputError(f"the GCE metadata server at {host} did not answer with an ID token")
    return token


def has_google_identity(audience: str = DEFAULT_AUDIENCE, *, host: str | None = None) -> bool:
    """Whether this machine can get a Google identity token: a GCE VM with a service account (a Dataflow
    worker or flex-template launcher), not a laptop. One quick try, no retries."""
    try:
        fetch_identity_token(audience, host=host, timeout=1.0, attempts=1)
    except errors.InputError:
        return False
    return True


def assume_role(identity: WebIdentity, token: str) -> dict[str, str]:
    """Exchanges ``token`` for the role's temporary credentials, as botocore's credential metadata.

    Returns:
        ``{"access_key", "secret_key", "token", "expiry_time" (ISO 8601)}``.

    Raises:
        errors.InputError: STS refused (trust policy, audience, duration) or could not be reached.
    """
    session_name = identity.session_name or default_session_name()
    endpoint = identity.sts_endpoint_url or f"the STS endpoint of {identity.region or 'the default region'}"
    try:
        client = _sts_client(identity)
        endpoint = client.meta.endpoint_url
        answer = client.assume_role_with_web_identity(
            RoleArn=identity.role_arn, RoleSessionName=session_name, WebIdentityToken=token,
            DurationSeconds=identity.duration_seconds)
    except boto_errors.ClientError as err:
        code = err.response.get("Error", {}).get("Code") or f"HTTP {err.response['ResponseMetadata']['HTTPStatusCode']}"
        message = " ".join(str(err.response.get("Error", {}).get("Message", "")).split())
        raise errors.InputError(f"STS refused to let this VM's service account assume {identity.role_arn}: "
                                f"{code}: {message} (check the role's trust policy)") from None
    except (boto_errors.BotoCoreError, ValueError) as err:
        raise errors.InputError(f"cannot call STS at {endpoint}: {err}") from None
    found = answer["Credentials"]
    _LOGGER.debug("assumed %s as %s until %s", identity.role_arn, session_name, found["Expiration"])
    return {"access_key": found["AccessKeyId"], "secret_key": found["SecretAccessKey"],
            "token": found["SessionToken"], "expiry_time": found["Expiration"].isoformat()}


def credentials(identity: WebIdentity, *, time_fetcher: Callable[[], datetime] | None = None,
                ) -> RefreshableCredentials:
    """The role's credentials, fetched now and refreshed (new token, new exchange) before they expire.

    Args:
        time_fetcher: the clock botocore compares the expiry with (tests); default botocore's.

    Raises:
        errors.InputError: as ``fetch_identity_token`` and ``assume_role``; later refreshes raise the
            same from whichever client call needs fresh credentials.
    """
    def refresh() -> dict[str, str]:
        return assume_role(identity, fetch_identity_token(identity.audience))

    first = refresh()
    # botocore tries to refresh 15 min before expiry (one thread; the others go on with the old keys) and
    # makes every thread wait from 10 min before. A shorter session would sit in those windows from the
    # start and fetch on every request, so they shrink with it.
    window = {"advisory_timeout": min(15 * 60, identity.duration_seconds // 4),
              "mandatory_timeout": min(10 * 60, identity.duration_seconds // 6)}
    clock = {"time_fetcher": time_fetcher} if time_fetcher is not None else {}
    return RefreshableCredentials(access_key=first["access_key"], secret_key=first["secret_key"],
                                  token=first["token"], expiry_time=datetime.fromisoformat(first["expiry_time"]),
                                  refresh_using=refresh, method=METHOD, **window, **clock)


def session(identity: WebIdentity, *, time_fetcher: Callable[[], datetime] | None = None,
            ) -> boto3.session.Session:
    """A boto3 session whose clients sign with the role's credentials (and only those).

    The credentials are fetched here, once, then refreshed by botocore; ``identity.region`` is the
    clients' default region too.

    Raises:
        errors.InputError: as ``credentials``.
    """
    botocore_session = botocore.session.get_session()
    # The credential chain, replaced by one provider: no environment keys, profile or instance role
    # can stand in for the role by accident.
    botocore_session.register_component("credential_provider",
                                        CredentialResolver([_Provider(identity, time_fetcher)]))
    botocore_session.get_credentials()   # fail here, with the InputError, rather than in a later call
    return boto3.session.Session(botocore_session=botocore_session, region_name=identity.region)


class _Provider(CredentialProvider):
    METHOD = METHOD
    CANONICAL_NAME = "custom-gce-web-identity"   # botocore reserves names without "custom" for its own

    def __init__(self, identity: WebIdentity, time_fetcher: Callable[[], datetime] | None) -> None:
        super().__init__()
        self._identity = identity
        self._time_fetcher = time_fetcher

    def load(self) -> RefreshableCredentials:
        return credentials(self._identity, time_fetcher=self._time_fetcher)


def _sts_client(identity: WebIdentity) -> Any:
    botocore_session = botocore.session.get_session()
    # Regional, not the legacy global endpoint: a worker's calls stay in its region, and a global
    # outage does not stop them.
    botocore_session.set_config_variable("sts_regional_endpoints", "regional")
    config = Config(signature_version=botocore.UNSIGNED, connect_timeout=5, read_timeout=10,
                    retries={"mode": "standard", "total_max_attempts": 4})
    return boto3.session.Session(botocore_session=botocore_session, region_name=identity.region).client(
        "sts", endpoint_url=identity.sts_endpoint_url, config=config)
