"""AWS credentials from a Google identity: a fake GCE metadata server, moto's STS and S3, all over loopback HTTP.

The metadata server is faked (a thread on 127.0.0.1 that answers like GCE's and refuses requests without
``Metadata-Flavor: Google``); STS and S3 are moto's, and S3 requests go through the fault proxy, which
records the key that signed each one. boto3 is never patched.
"""

from __future__ import annotations

import base64
import json
import pickle
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

import s3server
from trailbeam import cli, errors, sample, store, webidentity
from trailbeam.s3 import S3Settings

ROLE = "arn:aws:iam::123456789012:role/trailbeam-reader"
SERVICE_ACCOUNT_ID = "112233445566778899001"
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)   # STS's RoleSessionName

# ---- loopback servers ------------------------------------------------------------------------------------

Answer = tuple[int, str, bytes]   # status, content type, body


@contextmanager
def _serve(answer: Callable[[BaseHTTPRequestHandler], Answer]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (a free port) in a thread; yields ``host:port``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = answer(self)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _jwt(claims: dict[str, object]) -> str:
    def part(document: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class FakeMetadata:
    """GCE's metadata server, as far as identity tokens go.

    ``failures`` are statuses to answer with, one per request, before answering with tokens again;
    ``body`` replaces the token.
    """

    PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"

    def __init__(self) -> None:
        self.audiences: list[str] = []     # of the requests it answered with a token
        self.requests = 0
        self.failures: list[int] = []
        self.body: bytes | None = None
        self._lock = threading.Lock()

    def __call__(self, request: BaseHTTPRequestHandler) -> Answer:
        url = urlsplit(request.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        with self._lock:
            self.requests += 1
            if request.headers.get("Metadata-Flavor") != "Google":
                return 403, "text/html", b"Missing Metadata-Flavor:Google header."
            if url.path != self.PATH or "audience" not in query:
                return 404, "text/html", b"not found"
            if self.failures:
                return self.failures.pop(0), "text/plain", b"injected"
            if self.body is not None:
                return 200, "text/plain", self.body
            self.audiences.append(query["audience"])
        now = int(time.time())
        claims = {"iss": "https://accounts.google.com", "aud": query["audience"], "azp": SERVICE_ACCOUNT_ID,
                  "sub": SERVICE_ACCOUNT_ID, "iat": now, "exp": now + 3600}
        if query.get("format") == "full":
            claims["google"] = {"compute_engine": {"project_id": "forensics", "zone": "europe-west1-b"}}
        return 200, "text/plain", _jwt(claims).encode()


@pytest.fixture
def metadata(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMetadata]:
    """A fake metadata server, found through GCE_METADATA_HOST (as google-auth finds it)."""
    fake = FakeMetadata()
    with _serve(fake) as host:
        monkeypatch.setenv(webidentity.METADATA_HOST_ENV, host)
        yield fake


@contextmanager
def _closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections (bound, never listening)."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield int(bound.getsockname()[1])


def _identity(sts: str, **overrides: object) -> webidentity.WebIdentity:
    return webidentity.WebIdentity(**{"role_arn": ROLE, "region": "us-east-1", "sts_endpoint_url": sts,
                                      **overrides})


def _assumed_role_of(s3_server: str, access_key: str) -> str:
    """The ARN moto's STS knows the key by (moto does not check signatures: any secret will do)."""
    import boto3

    sts = boto3.session.Session().client("sts", endpoint_url=s3_server, region_name="us-east-1",
                                         aws_access_key_id=access_key, aws_secret_access_key="unused")
    return str(sts.get_caller_identity()["Arn"])


# ---- the identity token ----------------------------------------------------------------------------------


def test_token_is_asked_for_with_the_flavor_header_and_the_audience(metadata: FakeMetadata) -> None:
    token = webidentity.fetch_identity_token("trailbeam-test")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert (claims["aud"], claims["azp"], metadata.audiences) == ("trailbeam-test", SERVICE_ACCOUNT_ID,
                                                                  ["trailbeam-test"])
    assert "google" in claims   # format=full was asked for
    # The fake is as strict as GCE: without the header, no token.
    with pytest.raises(urllib.error.HTTPError, match="403"):
        urllib.request.urlopen(f"http://{webidentity.metadata_host()}{FakeMetadata.PATH}?audience=x", timeout=2)


@pytest.mark.parametrize("failures, body, expected, requests", [
    ([403], None, "answered HTTP 403 for an identity token (no service account on this VM?)", 1),
    ([404], None, "answered HTTP 404 for an identity token (no service account on this VM?)", 1),
    ([503, 503, 503], None, "answered HTTP 503 after 3 attempts (not on Google Cloud?", 3),
    ([503, 500], None, None, 3),
    ([], b"<html>captive portal</html>", "did not answer with an ID token", 1),
], ids=["forbidden", "no-service-account", "unavailable", "recovers-after-5xx", "not-a-token"])
def test_metadata_server_answers(metadata: FakeMetadata, failures: list[int], body: bytes | None,
                                 expected: str | None, requests: int) -> None:
    metadata.failures, metadata.body = list(failures), body
    if expected is None:
        assert webidentity.fetch_identity_token("trailbeam").count(".") == 2
    else:
        with pytest.raises(errors.InputError) as caught:
            webidentity.fetch_identity_token("trailbeam")
        message = str(caught.value)
        assert message.startswith(f"the GCE metadata server at {webidentity.metadata_host()} ")
        assert expected in message and "\n" not in message
    assert metadata.requests == requests


def test_no_metadata_server_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with _closed_port() as port:
        monkeypatch.setenv(webidentity.METADATA_HOST_ENV, f"127.0.0.1:{port}")
        began = time.monotonic()
        with pytest.raises(errors.InputError) as caught:
            webidentity.fetch_identity_token("trailbeam")
    message = str(caught.value)
    assert message.startswith(f"the GCE metadata server at 127.0.0.1:{port} cannot be reached")
    assert "not on Google Cloud?" in message and "\n" not in message
    assert time.monotonic() - began < 3


def test_the_metadata_host_defaults_to_googles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(webidentity.METADATA_HOST_ENV, raising=False)
    assert webidentity.metadata_host() == "metadata.google.internal"


# ---- names -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hostname, expected", [
    ("beamapp-0528-harness-x7k2", "trailbeam-beamapp-0528-harness-x7k2"),
    ("worker 1:/ü", "trailbeam-worker-1---"),
    ("h" * 80, "trailbeam-" + "h" * 54),
    ("", "trailbeam-"),
], ids=["dataflow-worker", "odd-characters", "too-long", "empty"])
def test_default_session_name_is_one_sts_accepts(hostname: str, expected: str) -> None:
    name = webidentity.default_session_name(hostname)
    assert name == expected and SESSION_NAME.fullmatch(name)


@pytest.mark.parametrize("arn, valid", [
    (ROLE, True),
    ("arn:aws:iam::123456789012:role/service-role/path/reader", True),
    ("arn:aws-cn:iam::123456789012:role/reader", True),
    ("arn:aws-us-gov:iam::123456789012:role/reader+=,.@-_", True),
    ("arn:aws:sts::123456789012:assumed-role/reader/session", False),
    ("arn:aws:iam::123456789012:user/alice", False),
    ("arn:aws:iam::12345678901:role/reader", False),
    ("arn:aws:iam::123456789012:role/", False),
    ("trailbeam-reader", False),
    (f"{ROLE}\n", False),
], ids=["role", "path", "china", "gov-cloud", "assumed-role", "user", "short-account", "no-name", "bare-name",
        "newline"])
def test_role_arn_check(arn: str, valid: bool) -> None:
    if valid:
        assert webidentity.check_role_arn(arn) == arn
    else:
        with pytest.raises(errors.InputError, match="is not an IAM role ARN"):
            webidentity.check_role_arn(arn)


# ---- the exchange ----------------------------------------------------------------------------------------


def test_the_token_is_exchanged_for_the_roles_temporary_credentials(s3_server: str, s3_env: pytest.MonkeyPatch,
                                                                    metadata: FakeMetadata) -> None:
    s3server.remove_credentials(s3_env)
    found = webidentity.assume_role(_identity(s3_server, session_name="trailbeam-test"),
                                    webidentity.fetch_identity_token("trailbeam"))
    assert found["access_key"].startswith("ASIA") and found["secret_key"] and found["token"]
    assert datetime.fromisoformat(found["expiry_time"]) > datetime.now(timezone.utc) + timedelta(minutes=55)
    assert _assumed_role_of(s3_server, found["access_key"]) == \
        "arn:aws:sts::123456789012:assumed-role/trailbeam-reader/trailbeam-test"


def _sts_refusal(request: BaseHTTPRequestHandler) -> Answer:
    request.rfile.read(int(request.headers.get("Content-Length") or 0))
    return 403, "text/xml", (
        b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        b"<Code>AccessDenied</Code><Message>Not authorized to perform\nsts:AssumeRoleWithWebIdentity</Message>"
        b"</Error><RequestId>fake</RequestId></ErrorResponse>")


def test_sts_refusal_and_absence_are_one_line_errors(s3_env: pytest.MonkeyPatch) -> None:
    with _serve(_sts_refusal) as host:
        with pytest.raises(errors.InputError) as refused:
            webidentity.assume_role(_identity(f"http://{host}"), "a.b.c")
    assert str(refused.value) == (f"STS refused to let this VM's service account assume {ROLE}: AccessDenied: "
                                  "Not authorized to perform sts:AssumeRoleWithWebIdentity (check the role's "
                                  "trust policy)")
    with _closed_port() as port:
        with pytest.raises(errors.InputError) as absent:
            webidentity.assume_role(_identity(f"http://127.0.0.1:{port}"), "a.b.c")
    assert str(absent.value).startswith(f"cannot call STS at http://127.0.0.1:{port}")
    assert "a.b.c" not in str(refused.value) + str(absent.value)


# ---- refresh ---------------------------------------------------------------------------------------------


class Clock:
    """The time botocore sees; tests move it."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


# (session length, seconds left before expiry when the credentials are next used, refreshed?).
# botocore's windows: 15 min advisory, 10 min mandatory; shrunk to 1/4 and 1/6 for short sessions.
REFRESH_CASES = [
    (900, 800, False),
    (900, 200, True),    # advisory (225 s)
    (900, 100, True),    # mandatory (150 s)
    (3600, 1000, False),
    (3600, 800, True),   # advisory (900 s)
    (3600, 300, True),   # mandatory (600 s)
]


@pytest.mark.parametrize("duration, left, refreshed", REFRESH_CASES,
                         ids=[f"{d}s-session-{left}s-left" for d, left, _ in REFRESH_CASES])
def test_credentials_are_refreshed_before_they_expire(s3_server: str, s3_env: pytest.MonkeyPatch,
                                                      metadata: FakeMetadata, duration: int, left: int,
                                                      refreshed: bool) -> None:
    clock = Clock()
    credentials = webidentity.credentials(_identity(s3_server, duration_seconds=duration), time_fetcher=clock)
    first = credentials.get_frozen_credentials()
    assert credentials.method == "gce-web-identity" and metadata.requests == 1
    clock.now = credentials._expiry_time - timedelta(seconds=left)   # noqa: SLF001 - botocore keeps it private
    again = credentials.get_frozen_credentials()
    assert (again.access_key != first.access_key, metadata.requests) == (refreshed, 1 + refreshed)
    assert len(set(metadata.audiences)) == 1


@pytest.mark.parametrize("left, raises", [(200, False), (100, True)], ids=["advisory", "mandatory"])
def test_a_failed_refresh_keeps_the_keys_until_it_must_not(s3_server: str, s3_env: pytest.MonkeyPatch,
                                                           metadata: FakeMetadata, left: int, raises: bool) -> None:
    clock = Clock()
    credentials = webidentity.credentials(_identity(s3_server, duration_seconds=900), time_fetcher=clock)
    first = credentials.get_frozen_credentials()
    clock.now = credentials._expiry_time - timedelta(seconds=left)   # noqa: SLF001
    metadata.failures = [403]
    if raises:
        with pytest.raises(errors.InputError, match="answered HTTP 403"):
            credentials.get_frozen_credentials()
    else:
        assert credentials.get_frozen_credentials().access_key == first.access_key
    assert metadata.requests == 2


# ---- sessions and settings -------------------------------------------------------------------------------


def test_a_sessions_clients_sign_with_the_role_not_the_environment(s3_server: str, s3_env: pytest.MonkeyPatch,
                                                                  metadata: FakeMetadata,
                                                                  fault_proxy: s3server.FaultProxy) -> None:
    # s3_env put keys in the environment: the role's credentials must win over them.
    session = webidentity.session(_identity(s3_server))
    client = session.client("s3", endpoint_url=fault_proxy.url)
    client.list_buckets()
    [call] = fault_proxy.calls
    assert call.access_key == session.get_credentials().get_frozen_credentials().access_key
    assert call.access_key.startswith("ASIA") and session.region_name == "us-east-1"


@pytest.mark.parametrize("fields, problem", [
    ({"role_arn": "arn:aws:iam::123456789012:user/alice"}, "is not an IAM role ARN"),
    ({"web_identity_audience": "trailbeam"}, "needs a role ARN"),
    ({"sts_endpoint_url": "http://127.0.0.1:1"}, "needs a role ARN"),
    ({"role_arn": ROLE, "profile": "forensics"}, "not both"),
], ids=["not-a-role", "audience-alone", "sts-endpoint-alone", "profile-and-role"])
def test_settings_refuse(fields: dict[str, str], problem: str) -> None:
    with pytest.raises(errors.InputError, match=problem):
        S3Settings(**fields)


def test_settings_with_a_role_pickle_and_hold_no_secret() -> None:
    settings = S3Settings(region="eu-west-1", role_arn=ROLE, web_identity_audience="aud",
                          sts_endpoint_url="https://sts.eu-west-1.amazonaws.com")
    assert pickle.loads(pickle.dumps(settings)) == settings


@pytest.mark.parametrize("argv, expected", [
    ([], S3Settings()),
    (["--s3_endpoint_url=http://127.0.0.1:9000", "--s3_region_name=eu-west-1"],
     S3Settings(endpoint_url="http://127.0.0.1:9000", region="eu-west-1")),
    ([f"--aws_role_arn={ROLE}", "--aws_web_identity_audience=aud", "--sts_endpoint_url=http://127.0.0.1:1",
      "--s3_region_name=eu-west-1"],
     S3Settings(region="eu-west-1", role_arn=ROLE, web_identity_audience="aud",
                sts_endpoint_url="http://127.0.0.1:1")),
    (["--aws_role_arn=trailbeam-reader"], "--aws_role_arn 'trailbeam-reader': give an IAM role ARN"),
    (["--aws_web_identity_audience=aud"], "--aws_web_identity_audience and --sts_endpoint_url need --aws_role_arn"),
], ids=["defaults", "endpoint-and-region", "role", "bad-role", "audience-without-role"])
def test_s3_settings_from_pipeline_options(argv: list[str], expected: S3Settings | str) -> None:
    from apache_beam.options.pipeline_options import PipelineOptions

    from trailbeam.beam.options import s3_settings

    options = PipelineOptions(argv)
    if isinstance(expected, S3Settings):
        assert s3_settings(options) == expected
    else:
        with pytest.raises(errors.InputError, match=re.escape(expected)):
            s3_settings(options)


# A Dataflow job launched from a laptop: the launcher has no Google identity, so it lists with its own AWS
# chain; the workers (on Google Cloud) assume the role. A local run is its own worker: it keeps the role.
WITH_ROLE = S3Settings(region="us-east-1", role_arn=ROLE, web_identity_audience="aud",
                       sts_endpoint_url="http://127.0.0.1:1")


@pytest.mark.parametrize("runner, google, expected", [
    ("DataflowRunner", True, WITH_ROLE),
    ("DataflowRunner", False, S3Settings(region="us-east-1")),
    (None, False, WITH_ROLE),
    ("FnApiRunner", False, WITH_ROLE),
], ids=["dataflow-on-gce", "dataflow-from-a-laptop", "local-default", "local-explicit"])
def test_the_launcher_lists_with_the_role_only_where_it_has_a_google_identity(
        runner: str | None, google: bool, expected: S3Settings, metadata: FakeMetadata,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from apache_beam.options.pipeline_options import PipelineOptions

    from trailbeam.beam.options import launcher_s3_settings

    with _closed_port() as port:
        if not google:
            monkeypatch.setenv(webidentity.METADATA_HOST_ENV, f"127.0.0.1:{port}")
        options = PipelineOptions([f"--runner={runner}"] if runner else [])
        assert launcher_s3_settings(options, WITH_ROLE) == expected
    assert webidentity.has_google_identity("aud") is google
    assert S3Settings(region="us-east-1") == launcher_s3_settings(PipelineOptions(["--runner=DataflowRunner"]),
                                                                  S3Settings(region="us-east-1"))


# ---- end to end: the CLI with no AWS keys anywhere -------------------------------------------------------


@pytest.fixture(scope="module")
def small_trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trail")
    sample.write_sample(root, events=200, seed=11, days=1)
    (root / "ground-truth.json").unlink()
    return root


@pytest.fixture
def keyless_bucket(s3_server: str, s3_env: pytest.MonkeyPatch, small_trail: Path) -> str:
    """A bucket with the trail, and no AWS credentials anywhere in boto3's chain."""
    s3server.upload_tree(s3server.admin_client(s3_server), "trail-web-identity", small_trail)
    s3server.remove_credentials(s3_env)
    return "trail-web-identity"


@pytest.mark.pipeline
@pytest.mark.parametrize("command", ["ingest", "collect"])
def test_the_cli_reads_s3_with_the_assumed_role_only(command: str, keyless_bucket: str, metadata: FakeMetadata,
                                                     fault_proxy: s3server.FaultProxy, s3_server: str,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = cli.main([command, f"s3://{keyless_bucket}", "--out", str(out), "--s3-endpoint-url", fault_proxy.url,
                     "--s3-region", "us-east-1", "--aws-role-arn", ROLE, "--sts-endpoint-url", s3_server])
    assert code == 0, capsys.readouterr().err
    if command == "ingest":
        [summary] = store.run_summaries(str(out))
        assert summary["balanced"] and summary["records"]["stored"] > 0
    else:
        assert (out / "trailbeam-evidence.json").exists()
    # Every S3 request was signed with a temporary key STS issued for the role to this host's session.
    keys = {call.access_key for call in fault_proxy.calls}
    assert fault_proxy.count("GetObject") > 0 and all(key and key.startswith("ASIA") for key in keys), keys
    session = f"arn:aws:sts::123456789012:assumed-role/trailbeam-reader/{webidentity.default_session_name()}"
    assert {_assumed_role_of(s3_server, key) for key in keys} == {session}
    assert metadata.audiences and set(metadata.audiences) == {webidentity.DEFAULT_AUDIENCE}


def test_without_a_role_or_keys_the_cli_fails_fast(keyless_bucket: str, metadata: FakeMetadata,
                                                   fault_proxy: s3server.FaultProxy, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    began = time.monotonic()
    code = cli.main(["ingest", f"s3://{keyless_bucket}", "--out", str(tmp_path / "out"),
                     "--s3-endpoint-url", fault_proxy.url])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("trailbeam: error: no AWS credentials found") and "\n" not in err
    assert "--aws_role_arn" in err and time.monotonic() - began < 15
    assert metadata.requests == 0 and fault_proxy.calls == []
