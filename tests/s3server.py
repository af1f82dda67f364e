"""A real local S3 for tests: moto's threaded server, plus a fault-injecting proxy in front of it.

Tests talk HTTP to 127.0.0.1 only; boto3 is never patched.

``FaultProxy(upstream_url)`` forwards every request to moto and records it in ``.calls``. Rules in
``.rules`` (matched on method, bucket and object key) make it answer instead: an S3 error (503
SlowDown, 500 InternalError, 404 NoSuchKey, ...), a connection reset, or a GetObject body cut short
(full Content-Length header, half the bytes, then the connection closes). Each rule hits a bounded
number of requests (``times``) unless told to hit all.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import logging
import os
import re
import socket
import struct
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

# ---- servers and environment -------------------------------------------------------------------------


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Runs moto's S3 on 127.0.0.1 (a free port) in this process; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer   # imported here: moto takes ~1 s to import

    logging.getLogger("werkzeug").setLevel(logging.WARNING)   # one INFO line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",   # never ask 169.254.169.254 for credentials
    "NO_PROXY": "127.0.0.1,localhost",
}
# Variables that could send requests elsewhere or bring in real credentials.
CLEARED_ENV = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
    "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
)


def set_fake_credentials(monkeypatch: Any, config_dir: Path) -> None:
    """Fake keys in the environment; config and credentials files point at paths that do not exist."""
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_dir / "no-such-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config_dir / "no-such-aws-credentials"))


def remove_credentials(monkeypatch: Any) -> None:
    """After ``set_fake_credentials``: no credentials anywhere in boto3's chain."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)


@functools.lru_cache(maxsize=4)   # a client costs ~0.1 s to make; clients are thread-safe
def admin_client(endpoint_url: str) -> Any:
    """A client straight to moto, with fake keys of its own: for setting up buckets, not for tests."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(retries={"mode": "standard", "total_max_attempts": 3},
                                                       max_pool_connections=16))


def make_bucket(client: Any, bucket: str) -> None:
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass


def upload_objects(client: Any, bucket: str, objects: Mapping[str, bytes], *, workers: int = 8) -> None:
    """Creates ``bucket`` if needed and puts every ``{key: body}`` (in parallel: clients are thread-safe)."""
    from concurrent.futures import ThreadPoolExecutor

    make_bucket(client, bucket)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda item: client.put_object(Bucket=bucket, Key=item[0], Body=item[1]), objects.items()))


def upload_tree(client: Any, bucket: str, local_dir: str | os.PathLike[str], prefix: str = "") -> list[str]:
    """Creates ``bucket`` if needed and uploads every file below ``local_dir`` under ``prefix``; returns keys."""
    root = Path(local_dir)
    objects = {prefix + path.relative_to(root).as_posix(): path.read_bytes()
               for path in sorted(root.rglob("*")) if path.is_file()}
    upload_objects(client, bucket, objects)
    return sorted(objects)


# ---- the fault-injecting proxy -------------------------------------------------------------------------

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                         "upgrade", "expect", "host", "content-length"})
_MAX_CALLS = 100_000


class Call(NamedTuple):
    """One request as the proxy saw it."""

    method: str
    path: str                  # as sent, percent-encoded, without the query
    query: dict[str, str]
    authorization: str | None = None   # the Authorization header: which key signed the request

    @property
    def access_key(self) -> str | None:
        """The access key id of a SigV4 signature (``Credential=KEY/date/region/service/...``)."""
        found = re.search(r"Credential=([^/,\s]+)/", self.authorization or "")
        return found.group(1) if found else None

    @property
    def bucket(self) -> str:
        return unquote(self.path.lstrip("/").partition("/")[0])

    @property
    def key(self) -> str:
        return unquote(self.path.lstrip("/").partition("/")[2])

    @property
    def operation(self) -> str:
        """The S3 operation, as far as tests care."""
        if not self.bucket:
            return "ListBuckets"
        if self.key:
            return {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject",
                    "DELETE": "DeleteObject"}.get(self.method, f"{self.method}Object")
        if self.method == "GET":
            if self.query.get("list-type") == "2":
                return "ListObjectsV2"
            if "location" in self.query:
                return "GetBucketLocation"
            return "ListObjects" if not self.query or "prefix" in self.query else f"GetBucket?{min(self.query)}"
        return {"HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(
            self.method, f"{self.method}Bucket")


@dataclass
class Rule:
    """Answer matching requests with a fault instead of forwarding them."""

    action: str                  # "error", "reset" or "truncate"
    key: str | None = None       # object key; None matches bucket-level requests (listings, HeadBucket)
    bucket: str | None = None    # None: any bucket
    method: str = "GET"
    times: int | None = 1        # requests to hit; None: every one
    status: int = 503
    code: str = "SlowDown"
    message: str = "Please reduce your request rate."
    hits: int = 0

    def matches(self, method: str, bucket: str, key: str) -> bool:
        return (self.method == method and (self.bucket is None or self.bucket == bucket)
                and (key == "" if self.key is None else key == self.key)
                and (self.times is None or self.hits < self.times))


class Rules:
    """The proxy's fault rules; the first active matching rule applies. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def error(self, key: str | None, status: int, code: str, *, times: int | None = 1, method: str = "GET",
              bucket: str | None = None, message: str = "injected by the test proxy") -> Rule:
        return self.add(Rule("error", key=key, bucket=bucket, method=method, times=times, status=status,
                             code=code, message=message))

    def slow_down(self, key: str | None, *, times: int | None = 1, method: str = "GET") -> Rule:
        return self.error(key, 503, "SlowDown", times=times, method=method,
                          message="Please reduce your request rate.")

    def internal_error(self, key: str | None, *, times: int | None = 1, method: str = "GET") -> Rule:
        return self.error(key, 500, "InternalError", times=times, method=method,
                          message="We encountered an internal error. Please try again.")

    def vanish(self, key: str, *, times: int | None = None) -> Rule:
        return self.error(key, 404, "NoSuchKey", times=times, message="The specified key does not exist.")

    def reset_connection(self, key: str | None, *, times: int | None = 1, method: str = "GET") -> Rule:
        return self.add(Rule("reset", key=key, method=method, times=times))

    def truncate(self, key: str, *, times: int | None = 1) -> Rule:
        return self.add(Rule("truncate", key=key, method="GET", times=times))

    def take(self, method: str, bucket: str, key: str) -> Rule | None:
        """The rule for this request (counted as a hit), or None to forward it."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, bucket, key):
                    rule.hits += 1
                    return Rule(**vars(rule))   # a snapshot: the handler reads it unlocked
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream_url``; use as a context manager or ``close()``."""

    def __init__(self, upstream_url: str) -> None:
        upstream = urlsplit(upstream_url)
        self.upstream = (upstream.hostname or "127.0.0.1", upstream.port or 80)
        self.rules = Rules()
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.daemon_threads = True
        self._server.proxy = self   # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-proxy", daemon=True)
        self._thread.start()

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    def count(self, operation: str) -> int:
        return sum(1 for name in self.operations() if name == operation)

    def listings(self) -> list[tuple[str, str | None, str | None]]:
        """``(prefix, delimiter, start-after)`` of every ListObjectsV2 call, in order."""
        return [(call.query.get("prefix", ""), call.query.get("delimiter"), call.query.get("start-after"))
                for call in self.calls if call.operation == "ListObjectsV2"]

    def reset(self) -> None:
        """Forgets the recorded calls and every rule."""
        with self._lock:
            self._calls.clear()
        self.rules.clear()

    def record(self, call: Call) -> None:
        with self._lock:
            if len(self._calls) < _MAX_CALLS:
                self._calls.append(call)

    def forward(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None,
                ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            connection.request(method, target, body=body, headers=dict(headers))
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as botocore expects
    timeout = 10                    # idle client connections end instead of holding a thread

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm meets the client's
        # delayed ACK and every answer waits ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        proxy: FaultProxy = self.server.proxy   # type: ignore[attr-defined]
        body = self._read_body()
        target = urlsplit(self.path)
        call = Call(self.command, target.path, dict(parse_qsl(target.query, keep_blank_values=True)),
                    self.headers.get("Authorization"))
        proxy.record(call)
        rule = proxy.rules.take(self.command, call.bucket, call.key)
        if rule is not None and rule.action == "reset":
            self._reset()
            return
        if rule is not None and rule.action == "error":
            self._send_error(rule, call)
            return
        headers = [(name, value) for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP]
        headers.append(("Host", f"{proxy.upstream[0]}:{proxy.upstream[1]}"))
        try:
            status, answer_headers, payload = proxy.forward(self.command, self.path, headers,
                                                            body if body or self.command in ("PUT", "POST") else None)
        except OSError as err:
            self._send(502, [("Content-Type", "text/plain")], f"upstream failed: {err}".encode())
            return
        # HEAD answers keep moto's Content-Length (the object's size); others get their payload's.
        length = next((value for name, value in answer_headers if name.lower() == "content-length"), "0")
        answer_headers = [(name, value) for name, value in answer_headers if name.lower() not in _HOP_BY_HOP]
        if self.command == "HEAD":
            self._send(status, answer_headers + [("Content-Length", length)], b"")
        elif rule is not None and rule.action == "truncate" and len(payload) > 1:
            self._send(status, answer_headers + [("Content-Length", str(len(payload)))],
                       payload[: len(payload) // 2])
            self.close_connection = True   # the client sees the stream end early
        else:
            self._send(status, answer_headers + [("Content-Length", str(len(payload)))], payload)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass   # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()

    def _send_error(self, rule: Rule, call: Call) -> None:
        resource = f"/{call.bucket}/{call.key}" if call.key else f"/{call.bucket}"
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{rule.code}</Code>'
               f"<Message>{rule.message}</Message><Resource>{resource}</Resource>"
               "<RequestId>FAULTPROXY</RequestId></Error>").encode()
        self._send(rule.status, [("Content-Type", "application/xml"), ("x-amz-request-id", "FAULTPROXY"),
                                 ("Content-Length", str(len(xml)))], xml)

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends RST instead of FIN, as a dropped connection does.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True
