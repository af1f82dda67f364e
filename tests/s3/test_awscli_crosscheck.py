"""Cross-check against the reference validator: awscli's ``aws cloudtrail validate-logs``.

The same tampered digest chain is uploaded to moto's S3 (127.0.0.1) and checked twice:

* by awscli's own code (``awscli.customizations.cloudtrail.validation``), driven in process by
  ``run_awscli`` below: its ``DigestTraverser`` walks the chain backwards from the newest listed digest,
  and every valid digest's log files go through ``CloudTrailValidateLogs._download_log``, the command's
  own download-inflate-hash step;
* by ``trailbeam verify s3://...`` (the CLI, reading the same bucket through the same endpoint).

For every case, each file awscli reports invalid is reported invalid by trailbeam too (same key). The
blind-spot cases show what awscli lets through and trailbeam names; each row says what awscli does.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

import digestchain as dc
from trailbeam import cli, timestamps

validation = pytest.importorskip("awscli.customizations.cloudtrail.validation")

pytestmark = pytest.mark.pipeline

EAST = "us-east-1"
HOURS = 6

# awscli releases with ``_on_log_trailing_data`` reject data after the first gzip member; older ones
# inflated the first member only, hashed it, and called the file valid.
AWSCLI_CHECKS_TRAILING_DATA = hasattr(validation.CloudTrailValidateLogs, "_on_log_trailing_data")


# ---- awscli, driven in process ------------------------------------------------------------------------


class _OneClient:
    """awscli's ``S3ClientProvider`` interface (``get_client(bucket)``), always the moto client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get_client(self, bucket_name: str) -> Any:
        return self._client


class _StaticPublicKeys:
    """awscli's ``PublicKeyProvider`` interface; moto has no CloudTrail ``ListPublicKeys``."""

    def __init__(self, keys_document: dict[str, Any]) -> None:
        self._keys = {key["Fingerprint"]: key for key in keys_document["PublicKeyList"]}

    def get_public_keys(self, start_date: datetime, end_date: datetime) -> dict[str, Any]:
        return dict(self._keys)


class _Recorder(validation.CloudTrailValidateLogs):
    """The ``validate-logs`` command object, used for its callbacks and log check; records, prints nothing.

    ``invalid`` holds the keys of every file the command would count as INVALID (digests through
    ``on_invalid`` / ``on_missing``, logs through the four log callbacks); ``gaps`` the ``on_gap`` calls,
    which the command prints as "No log files were delivered ..." and does not count as invalid.
    """

    def __init__(self, client: Any) -> None:
        super().__init__(session=None)
        self.s3_client_provider = _OneClient(client)
        self.invalid: set[str] = set()
        self.gaps: list[dict[str, Any]] = []
        self.valid_digests: list[str] = []
        self.lines: list[str] = []

    def _write_status(self, message: str, is_error: bool = False) -> None:
        self.lines.append(message)

    def _on_missing_digest(self, bucket: str, last_key: str, is_backfill: bool = False, **kwargs: Any) -> None:
        super()._on_missing_digest(bucket, last_key, is_backfill, **kwargs)
        self.invalid.add(last_key)

    def _on_invalid_digest(self, message: str, is_backfill: bool = False, **kwargs: Any) -> None:
        super()._on_invalid_digest(message, is_backfill, **kwargs)
        self.invalid.add(kwargs["last_key"])

    def _on_digest_gap(self, is_backfill: bool = False, **kwargs: Any) -> None:
        super()._on_digest_gap(is_backfill, **kwargs)
        self.gaps.append(kwargs)

    def _on_invalid_log_format(self, log_data: dict[str, Any]) -> None:
        super()._on_invalid_log_format(log_data)
        self.invalid.add(log_data["s3Object"])

    def _on_log_trailing_data(self, log_data: dict[str, Any]) -> None:
        super()._on_log_trailing_data(log_data)
        self.invalid.add(log_data["s3Object"])

    def _on_log_invalid(self, log_data: dict[str, Any]) -> None:
        super()._on_log_invalid(log_data)
        self.invalid.add(log_data["s3Object"])

    def _on_missing_log(self, log_data: dict[str, Any]) -> None:
        super()._on_missing_log(log_data)
        self.invalid.add(log_data["s3Object"])


def run_awscli(client: Any, bucket: dc.TrailBucket, region: str = EAST) -> _Recorder:
    """What ``aws cloudtrail validate-logs --s3-bucket B --start-time S --end-time E`` would report.

    Mirrors ``CloudTrailValidateLogs._call``: regular digests, then backfill digests; the log files of
    every digest the traverser yields (valid ones only) are downloaded and hashed.
    """
    recorder = _Recorder(client)
    provider = validation.DigestProvider(
        s3_client_provider=recorder.s3_client_provider, account_id=dc.ACCOUNT, trail_name=dc.TRAIL,
        trail_home_region=dc.HOME, trail_source_region=region)
    traverser = validation.DigestTraverser(
        digest_provider=provider, starting_bucket=bucket.bucket, starting_prefix=None,
        public_key_provider=_StaticPublicKeys(bucket.keys_document),
        digest_validator=validation.Sha256RSADigestValidator(),
        on_invalid=recorder._on_invalid_digest, on_gap=recorder._on_digest_gap,
        on_missing=recorder._on_missing_digest)
    start = dc.FIRST + bucket.first_hour * dc.HOUR
    end = dc.FIRST + (bucket.last_hour + 1) * dc.HOUR
    for is_backfill in (False, True):
        for digest in traverser.traverse_digests(start, end, is_backfill=is_backfill):
            recorder.valid_digests.append(digest["digestS3Object"])
            for log in digest["logFiles"] or ():
                recorder._download_log(log)
    return recorder


@functools.cache   # clients are thread-safe and cost ~0.1 s to make
def moto_client(endpoint: str) -> Any:
    """A plain boto3 S3 client on the moto endpoint (fake keys of its own), for uploads and for awscli."""
    import boto3

    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                          aws_access_key_id="testing", aws_secret_access_key="testing")


# ---- trailbeam, through its CLI on the same bucket -----------------------------------------------------


def run_trailbeam(endpoint: str, bucket: dc.TrailBucket, tmp_path: Any, capsys: Any) -> list[dict[str, Any]]:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(bucket.keys_document))
    capsys.readouterr()
    cli.main(["verify", f"s3://{bucket.bucket}", "--public-keys", str(keys), "--s3-endpoint-url", endpoint,
              "--start", timestamps.format_micros(bucket.start), "--end", timestamps.format_micros(bucket.end),
              "--format", "json"])
    return json.loads(capsys.readouterr().out)["findings"]


def key_of(subject: str, bucket: dc.TrailBucket) -> str:
    prefix = f"s3://{bucket.bucket}/"
    assert subject.startswith(prefix), subject
    return subject[len(prefix):]


# ---- cases ----------------------------------------------------------------------------------------------


@dataclass
class Expect:
    awscli: set[str] = field(default_factory=set)               # keys awscli reports invalid
    blind: dict[str, str] = field(default_factory=dict)         # key -> trailbeam kind, awscli silent
    awscli_gaps: int = 0                                         # on_gap calls (informational)


def untouched(b: dc.TrailBucket) -> Expect:
    return Expect()


def log_byte_changed(b: dc.TrailBucket) -> Expect:
    dc.change_log_byte(b, b.log_key(EAST, 2))
    return Expect(awscli={b.log_key(EAST, 2)})                  # "hash value doesn't match"


def log_deleted(b: dc.TrailBucket) -> Expect:
    dc.delete(b, b.log_key(EAST, 1))
    return Expect(awscli={b.log_key(EAST, 1)})                  # "not found"


def digest_edited(b: dc.TrailBucket) -> Expect:
    dc.edit_digest(b, b.digest_key(EAST, 3), dc.drop_log_entry)  # old signature kept
    return Expect(awscli={b.digest_key(EAST, 3)})               # signature does not verify


def digest_resigned_other_key(b: dc.TrailBucket) -> Expect:
    dc.edit_digest(b, b.digest_key(EAST, 3), dc.use_attacker_fingerprint, signer="attacker")
    return Expect(awscli={b.digest_key(EAST, 3)})               # "public key not found ... for fingerprint"


def digest_signature_forged(b: dc.TrailBucket) -> Expect:
    dc.replace_signature(b, b.digest_key(EAST, 2))
    return Expect(awscli={b.digest_key(EAST, 2)})               # signature does not verify


def two_consecutive_digests_deleted(b: dc.TrailBucket) -> Expect:
    """awscli follows hour 4's previous link to hour 3 -> "not found"; it then jumps to the newest
    *listed* digest before hour 3 (hour 1) and never names hour 2. trailbeam names both."""
    dc.delete(b, b.digest_key(EAST, 2))
    dc.delete(b, b.digest_key(EAST, 3))
    return Expect(awscli={b.digest_key(EAST, 3)}, blind={b.digest_key(EAST, 2): "digest_missing"})


def appended_gzip_member(b: dc.TrailBucket) -> Expect:
    """A second gzip member after the log's stream. awscli >= the release with ``_on_log_trailing_data``
    reports "unexpected data after end of compressed stream"; older awscli hashed the first member only
    and called the file valid (a blind spot)."""
    log = b.log_key(EAST, 2)
    dc.append_gzip_member(b, log)
    if AWSCLI_CHECKS_TRAILING_DATA:
        return Expect(awscli={log})
    return Expect(blind={log: "log_trailing_data"})


def log_added(b: dc.TrailBucket) -> Expect:
    """awscli only checks the log files digests list; a planted log no digest lists is never looked at."""
    return Expect(blind={dc.add_log(b, EAST, 2): "log_not_covered"})


def newest_digest_deleted(b: dc.TrailBucket) -> Expect:
    """awscli starts from the newest digest it *lists*: with the newest one gone it starts one hour
    earlier and reports everything valid (the deleted digest's hour is silently out of scope)."""
    newest = b.digest_key(EAST, HOURS - 1)
    dc.delete(b, newest)
    return Expect(blind={newest: "newest_digest_missing"})


def chain_restart(b: dc.TrailBucket) -> Expect:
    """Logging off for two hours, then a starting digest (null previous fields). awscli calls ``on_gap``:
    one informational line ("No log files were delivered by CloudTrail between ..."), no file named, nothing
    counted invalid. trailbeam names the restarting digest (chain_restart, a warning, with its gap)."""
    return Expect(blind={b.digest_key(EAST, 5): "chain_restart"}, awscli_gaps=1)


CASES: list[tuple[str, dict[str, Any], Callable[[dc.TrailBucket], Expect]]] = [
    ("untouched", {}, untouched),
    ("log-byte-changed", {}, log_byte_changed),
    ("log-deleted", {}, log_deleted),
    ("digest-edited", {}, digest_edited),
    ("digest-resigned-other-key", {}, digest_resigned_other_key),
    ("digest-signature-forged", {}, digest_signature_forged),
    ("two-consecutive-digests-deleted", {}, two_consecutive_digests_deleted),
    ("appended-gzip-member", {}, appended_gzip_member),
    ("log-added", {}, log_added),
    ("newest-digest-deleted", {}, newest_digest_deleted),
    ("chain-restart", {"hours": 7, "restart_at": 5, "off_hours": 2}, chain_restart),
]


@pytest.mark.parametrize("build, tamper", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_trailbeam_reports_all_awscli_reports_and_its_blind_spots(build, tamper, s3_server, s3_env, tmp_path,
                                                                  capsys, monkeypatch, request):
    # A bucket of its own (moto is shared by the session); digests sign their bucket name, so build under it.
    monkeypatch.setattr(dc, "BUCKET", f"xcheck-{request.node.callspec.id}"[:63].lower())
    bucket = dc.build_bucket(regions=(EAST,), **{"hours": HOURS, **build})
    expect = tamper(bucket)
    client = moto_client(s3_server)
    client.create_bucket(Bucket=bucket.bucket)
    for key, data in bucket.objects.items():
        client.put_object(Bucket=bucket.bucket, Key=key, Body=data, Metadata=bucket.metadata.get(key, {}))

    awscli = run_awscli(client, bucket)
    findings = run_trailbeam(s3_server, bucket, tmp_path, capsys)
    trailbeam_invalid = {key_of(f["subject"], bucket) for f in findings if f["severity"] == "invalid"}
    trailbeam_named = {(key_of(f["subject"], bucket), f["kind"]) for f in findings if f["severity"] != "ok"}

    # awscli behaves as documented in the case ...
    assert awscli.invalid == expect.awscli, awscli.lines
    assert len(awscli.gaps) == expect.awscli_gaps, awscli.lines
    assert awscli.valid_digests, "awscli validated nothing: the adapter is not reaching the chain"
    # ... everything it reports invalid, trailbeam reports invalid, naming the same files ...
    assert awscli.invalid <= trailbeam_invalid, (awscli.lines, findings)
    # ... and trailbeam also names what awscli lets through.
    for key, kind in expect.blind.items():
        assert key not in awscli.invalid
        assert (key, kind) in trailbeam_named, findings
    if not expect.awscli and not expect.blind:
        assert not trailbeam_named, findings
    if expect.blind and all(kind != "chain_restart" for kind in expect.blind.values()):
        assert set(expect.blind) <= trailbeam_invalid, findings
