"""Tests of trailbeam.s3 against moto's S3 server on 127.0.0.1, through the fault-injecting proxy.

The proxy records every request, so the tests assert what was listed, not only what came back.
Fault tests use retry_mode="standard": adaptive mode's client-side rate limiter, once throttled, slows
every later request of the client by seconds (by design), which would make the tests slow.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import socket
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest

import s3server
from trailbeam import errors, s3
from trailbeam.s3 import S3Settings
from trailbeam.s3paths import ListTask
from trailbeam.timestamps import parse_micros

ORG = "o-aa111bb222"
ACCOUNTS = ("111122223333", "222233334444", "333344445555")
REGIONS = ("ap-southeast-2", "eu-west-1", "us-east-1")
FIRST_DAY = date(2024, 5, 1)
DAYS = 10
DELIVERIES = ("0010", "1210", "2355")   # HHMM of the files delivered each day
TODAY = date(2024, 6, 1)


def trail_key(*, account: str, region: str, day: date, hhmm: str, org: str | None = ORG,
              kind: str = "CloudTrail", base: str = "") -> str:
    folder = f"{base}AWSLogs/{org + '/' if org else ''}{account}/{kind}/{region}/{day:%Y/%m/%d}/"
    random = hashlib.sha256(f"{account}{region}{day}{hhmm}".encode()).hexdigest()[:16]
    return f"{folder}{account}_{kind}_{region}_{day:%Y%m%d}T{hhmm}Z_{random}.json.gz"


def trail_file(*, account: str, region: str, day: date, hhmm: str) -> bytes:
    record = {"eventVersion": "1.08", "eventTime": f"{day.isoformat()}T{hhmm[:2]}:{hhmm[2:]}:00Z",
              "eventID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{account}{region}{day}{hhmm}")),
              "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity", "awsRegion": region,
              "recipientAccountId": account}
    return gzip.compress(json.dumps({"Records": [record]}).encode(), mtime=0)


def _days(first: date = FIRST_DAY, count: int = DAYS) -> list[date]:
    return [first + timedelta(days=n) for n in range(count)]


def _bucket_name() -> str:
    return f"trail-{uuid.uuid4().hex[:12]}"


def _keys(uris: list[str], bucket: str) -> list[str]:
    return [uri.removeprefix(f"s3://{bucket}/") for uri in uris]


@pytest.fixture(scope="module")
def org_bucket(s3_server: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An org trail: 3 accounts × 3 regions × 10 days × 3 small files, plus a digest folder per account."""
    root = tmp_path_factory.mktemp("org-trail")
    for account in ACCOUNTS:
        for region in REGIONS:
            for day in _days():
                for hhmm in DELIVERIES:
                    path = root / trail_key(account=account, region=region, day=day, hhmm=hhmm)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(trail_file(account=account, region=region, day=day, hhmm=hhmm))
        digest = root / f"AWSLogs/{ORG}/{account}/CloudTrail-Digest/us-east-1/2024/05/01/d.json.gz"
        digest.parent.mkdir(parents=True, exist_ok=True)
        digest.write_bytes(b"{}")
    bucket = _bucket_name()
    s3server.upload_tree(s3server.admin_client(s3_server), bucket, root)
    return bucket


@pytest.fixture(scope="module")
def client(_s3_fault_proxy: s3server.FaultProxy, tmp_path_factory: pytest.TempPathFactory) -> object:
    """One client through the proxy for the module (it takes its fake credentials when made)."""
    with pytest.MonkeyPatch.context() as env:
        s3server.set_fake_credentials(env, tmp_path_factory.mktemp("aws"))
        return s3.make_client(S3Settings(endpoint_url=_s3_fault_proxy.url, retry_mode="standard"))


@pytest.fixture(autouse=True)
def _fresh_proxy(fault_proxy: s3server.FaultProxy) -> None:
    """Every test starts with no fault rules and no recorded calls."""


def _list(client: object, tasks: list[ListTask]) -> list[str]:
    return [obj.uri for task in tasks for obj in s3.list_objects(client, task)]


# ---- planning and listing -------------------------------------------------------------------------------

@pytest.mark.parametrize("org_id", [ORG, None], ids=["org-given", "org-discovered"])
def test_one_account_region_day_lists_only_inside_it(org_bucket: str, client: object,
                                                      fault_proxy: s3server.FaultProxy, org_id: str | None) -> None:
    account, region, day = ACCOUNTS[1], REGIONS[2], date(2024, 5, 5)
    tasks = s3.plan(client, source=f"s3://{org_bucket}", org_id=org_id, accounts=[account], regions=[region],
                    start=parse_micros("2024-05-05T00:00:00Z"), end=parse_micros("2024-05-06T00:00:00Z"),
                    today=TODAY, kinds=("CloudTrail",))
    listed = _keys(_list(client, tasks), org_bucket)

    expected = ([trail_key(account=account, region=region, day=day - timedelta(days=1), hhmm="2355")]  # lead
                + [trail_key(account=account, region=region, day=day, hhmm=hhmm) for hhmm in DELIVERIES]
                + [trail_key(account=account, region=region, day=day + timedelta(days=1), hhmm="0010")])  # margin
    assert listed == expected
    region_folder = f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/"
    object_listings = [prefix for prefix, delimiter, _ in fault_proxy.listings() if delimiter is None]
    assert object_listings == [f"{region_folder}2024/05/{n:02d}/" for n in (4, 5, 6)]
    discovery = [(prefix, delimiter) for prefix, delimiter, _ in fault_proxy.listings() if delimiter is not None]
    assert discovery == ([] if org_id else [("AWSLogs/", "/"), (f"AWSLogs/{ORG}/{account}/", "/")])
    assert set(fault_proxy.operations()) == {"ListObjectsV2"}


def test_discover_uses_delimiter_listings_only(org_bucket: str, client: object,
                                               fault_proxy: s3server.FaultProxy) -> None:
    found = s3.discover(client, bucket=org_bucket, base="", org_id=None, accounts=None, regions=None)

    assert found == [(ORG, account, region) for account in ACCOUNTS for region in REGIONS]
    assert fault_proxy.listings() == (
        [("AWSLogs/", "/", None), (f"AWSLogs/{ORG}/", "/", None)]
        + [(f"AWSLogs/{ORG}/{account}/CloudTrail/", "/", None) for account in ACCOUNTS])
    assert set(fault_proxy.operations()) == {"ListObjectsV2"}


def test_given_accounts_and_regions_are_not_listed(org_bucket: str, client: object,
                                                   fault_proxy: s3server.FaultProxy) -> None:
    found = s3.discover(client, bucket=org_bucket, base="", org_id=ORG, accounts=["444455556666"],
                        regions=["sa-east-1"])

    assert found == [(ORG, "444455556666", "sa-east-1")]
    assert fault_proxy.calls == []


def test_window_inside_one_day_uses_start_after(org_bucket: str, client: object,
                                                fault_proxy: s3server.FaultProxy) -> None:
    account, region = ACCOUNTS[0], REGIONS[0]
    tasks = s3.plan(client, source=f"s3://{org_bucket}/", org_id=ORG, accounts=[account], regions=[region],
                    start=parse_micros("2024-05-03T12:00:00Z"), end=parse_micros("2024-05-03T12:30:00Z"),
                    today=TODAY, kinds=("CloudTrail",))

    assert len(tasks) == 1
    assert _keys(_list(client, tasks), org_bucket) == [
        trail_key(account=account, region=region, day=date(2024, 5, 3), hhmm="1210")]
    (listing,) = fault_proxy.listings()
    assert listing == (f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/2024/05/03/", None,
                       f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/2024/05/03/"
                       f"{account}_CloudTrail_{region}_20240503T1155")


def test_whole_history_is_one_listing_per_region(org_bucket: str, client: object,
                                                 fault_proxy: s3server.FaultProxy) -> None:
    tasks = s3.plan(client, source=f"s3://{org_bucket}", org_id=ORG, accounts=[ACCOUNTS[2]], regions=None,
                    today=TODAY)

    assert [task.prefix for task in tasks] == [f"AWSLogs/{ORG}/{ACCOUNTS[2]}/CloudTrail/{region}/"
                                               for region in REGIONS]
    assert len(_list(client, tasks)) == len(REGIONS) * DAYS * len(DELIVERIES)
    assert not any("Digest" in prefix for prefix, _, _ in fault_proxy.listings())


def test_source_below_a_region_folder_is_listed_as_given(org_bucket: str, client: object,
                                                         fault_proxy: s3server.FaultProxy) -> None:
    account, region = ACCOUNTS[2], REGIONS[1]
    month = f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/2024/05/"
    tasks = s3.plan(client, source=f"s3://{org_bucket}/{month}", start=parse_micros("2024-05-09T00:00:00Z"),
                    today=TODAY)

    assert _keys(_list(client, tasks), org_bucket) == (
        [trail_key(account=account, region=region, day=date(2024, 5, 8), hhmm="2355")]
        + [trail_key(account=account, region=region, day=day, hhmm=hhmm)
           for day in (date(2024, 5, 9), date(2024, 5, 10)) for hhmm in DELIVERIES])
    assert [(prefix, delimiter) for prefix, delimiter, _ in fault_proxy.listings()] == [(month, None)]


def test_org_and_non_org_layouts_together(s3_server: str, client: object) -> None:
    account, region = ACCOUNTS[0], REGIONS[2]
    older = {trail_key(account=account, region=region, day=day, hhmm="1210", org=None, base="ct/"): b"x"
             for day in _days(count=2)}
    newer = {trail_key(account=account, region=region, day=day, hhmm="1210", base="ct/"): b"y"
             for day in _days(FIRST_DAY + timedelta(days=2), count=2)}
    insight = {trail_key(account=account, region=region, day=FIRST_DAY, hhmm="0010", kind="CloudTrail-Insight",
                         base="ct/"): b"z"}
    bucket = _bucket_name()
    s3server.upload_objects(s3server.admin_client(s3_server), bucket, older | newer | insight)

    assert s3.discover(client, bucket=bucket, base="ct", org_id=None, accounts=None, regions=None) == [
        (None, account, region), (ORG, account, region)]
    tasks = s3.plan(client, source=f"s3://{bucket}/ct/", start=parse_micros("2024-05-01T00:00:00Z"),
                    end=parse_micros("2024-05-05T00:00:00Z"), today=TODAY)
    assert sorted(_keys(_list(client, tasks), bucket)) == sorted(older | newer | insight)
    non_org = s3.plan(client, source=f"s3://{bucket}/ct/AWSLogs/{account}/", today=TODAY)
    assert sorted(_keys(_list(client, non_org), bucket)) == sorted(older)


@pytest.mark.parametrize("source, arguments, message", [
    ("s3://{bucket}/wrong-base/", {}, "no CloudTrail or CloudTrail-Insight folders"),
    ("s3://{bucket}", {"accounts": ["999988887777"]}, "no CloudTrail"),
    ("s3://{bucket}/AWSLogs/" + ORG + "/", {"org_id": "o-zz999yy888"}, "org id"),
    ("s3://{bucket}/AWSLogs/" + ORG + "/" + ACCOUNTS[0] + "/", {"accounts": [ACCOUNTS[1]]}, "account"),
    ("s3://{bucket}/AWSLogs/" + ORG + "/" + ACCOUNTS[0] + "/CloudTrail-Digest/", {}, "digest"),
    ("s3://{bucket}", {"regions": ["us-east1"]}, "region"),
], ids=["wrong-base", "unknown-account", "org-conflict", "account-conflict", "digest-source", "region-typo"])
def test_plan_rejects(org_bucket: str, client: object, source: str, arguments: dict[str, object],
                      message: str) -> None:
    with pytest.raises(errors.InputError, match=message):
        s3.plan(client, source=source.format(bucket=org_bucket), today=TODAY, **arguments)


def test_plan_lists_digest_folders_only_when_asked(org_bucket: str, client: object) -> None:
    digests = s3.plan(client, source=f"s3://{org_bucket}", kinds=("CloudTrail-Digest",), today=TODAY)
    assert digests and all("/CloudTrail-Digest/" in task.prefix for task in digests)
    assert not any("/CloudTrail-Digest/" in task.prefix for task in s3.plan(client, source=f"s3://{org_bucket}",
                                                                            today=TODAY))


def test_listing_survives_throttling(org_bucket: str, client: object, fault_proxy: s3server.FaultProxy) -> None:
    fault_proxy.rules.slow_down(None)   # bucket-level GETs: the listings
    task = ListTask(bucket=org_bucket, prefix=f"AWSLogs/{ORG}/{ACCOUNTS[0]}/CloudTrail/{REGIONS[0]}/2024/05/01/")

    assert len(list(s3.list_objects(client, task))) == len(DELIVERIES)
    assert fault_proxy.count("ListObjectsV2") == 2


def test_listing_failure_is_not_silent(org_bucket: str, fault_proxy: s3server.FaultProxy,
                                       s3_env: pytest.MonkeyPatch) -> None:
    client = s3.make_client(S3Settings(endpoint_url=fault_proxy.url, retry_mode="standard", max_attempts=1))
    fault_proxy.rules.internal_error(None, times=None)

    with pytest.raises(s3.ReadFailed, match="listing failed: InternalError"):
        list(s3.list_objects(client, ListTask(bucket=org_bucket, prefix="AWSLogs/")))


def test_list_objects_reports_size_etag_and_time(s3_server: str, client: object) -> None:
    bucket = _bucket_name()
    s3server.upload_objects(s3server.admin_client(s3_server), bucket, {"p/a.json.gz": b"abc", "p/sub/": b""})

    (obj,) = s3.list_objects(client, ListTask(bucket=bucket, prefix="p/"))
    assert (obj.uri, obj.size, obj.etag) == (f"s3://{bucket}/p/a.json.gz", 3,
                                             f'"{hashlib.md5(b"abc").hexdigest()}"')
    assert obj.last_modified.endswith("Z") and parse_micros(obj.last_modified) > 0


# ---- fetch ----------------------------------------------------------------------------------------------

BODY = os.urandom(64 * 1024)


@pytest.fixture
def one_object(s3_server: str) -> tuple[str, str]:
    bucket, key = _bucket_name(), "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/f.json.gz"
    s3server.upload_objects(s3server.admin_client(s3_server), bucket, {key: BODY})
    return bucket, key


FAULTS = [   # name, rules to add for the key, GetObject requests expected
    ("slow-down-x3", lambda rules, key: rules.slow_down(key, times=3), 4),
    ("internal-error-x2", lambda rules, key: rules.internal_error(key, times=2), 3),
    ("connection-reset", lambda rules, key: rules.reset_connection(key), 2),
    ("truncated-body", lambda rules, key: rules.truncate(key), 2),
    ("truncated-twice-then-reset", lambda rules, key: (rules.truncate(key, times=2),
                                                       rules.reset_connection(key)), 4),
]


def test_fetch_survives_transient_faults(s3_server: str, client: object, fault_proxy: s3server.FaultProxy) -> None:
    """Every fault on its own object, read at once: botocore's random backoff then costs seconds once."""
    bucket = _bucket_name()
    keys = {name: f"AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/{name}.json.gz" for name, _, _ in FAULTS}
    s3server.upload_objects(s3server.admin_client(s3_server), bucket, {key: BODY for key in keys.values()})
    for name, inject, _ in FAULTS:
        inject(fault_proxy.rules, keys[name])

    with ThreadPoolExecutor(len(FAULTS)) as pool:   # one client for all threads, as a worker would share it
        digests = dict(zip(keys, pool.map(
            lambda key: hashlib.sha256(s3.fetch(client, f"s3://{bucket}/{key}", expected_size=len(BODY))).hexdigest(),
            keys.values())))

    assert digests == {name: hashlib.sha256(BODY).hexdigest() for name in keys}
    gets = Counter(call.key for call in fault_proxy.calls if call.operation == "GetObject")
    assert {name: gets[keys[name]] for name in keys} == {name: expected for name, _, expected in FAULTS}


def test_fetch_with_listed_etag(one_object: tuple[str, str], client: object) -> None:
    bucket, key = one_object
    (listed,) = s3.list_objects(client, ListTask(bucket=bucket, prefix=key))

    assert s3.fetch(client, listed.uri, expected_size=listed.size, etag=listed.etag) == BODY


def test_fetch_vanished_object(one_object: tuple[str, str], client: object,
                               fault_proxy: s3server.FaultProxy) -> None:
    bucket, key = one_object
    fault_proxy.rules.vanish(key)

    with pytest.raises(s3.ObjectGone) as caught:
        s3.fetch(client, f"s3://{bucket}/{key}")
    assert caught.value.uri == f"s3://{bucket}/{key}"
    assert fault_proxy.count("GetObject") == 1


def test_fetch_object_changed_since_listing(one_object: tuple[str, str], client: object, s3_server: str) -> None:
    bucket, key = one_object
    (listed,) = s3.list_objects(client, ListTask(bucket=bucket, prefix=key))
    s3server.admin_client(s3_server).put_object(Bucket=bucket, Key=key, Body=b"rewritten")

    with pytest.raises(s3.ReadFailed, match="changed since it was listed"):
        s3.fetch(client, listed.uri, expected_size=listed.size, etag=listed.etag)
    with pytest.raises(s3.ReadFailed, match=r"changed since it was listed \(9 bytes, 65536 listed\)"):
        s3.fetch(client, listed.uri, expected_size=listed.size)


LASTING_FAULTS = [   # name, rule that never stops, the ReadFailed message
    ("slow-down", lambda rules, key: rules.slow_down(key, times=None), "SlowDown"),
    ("internal-error", lambda rules, key: rules.internal_error(key, times=None), "InternalError"),
    ("reset", lambda rules, key: rules.reset_connection(key, times=None), "Connection was closed"),
    ("truncated", lambda rules, key: rules.truncate(key, times=None), "body truncated"),
]


def test_fetch_gives_up_when_faults_outlast_retries(s3_server: str, fault_proxy: s3server.FaultProxy,
                                                    s3_env: pytest.MonkeyPatch) -> None:
    bucket = _bucket_name()
    keys = {name: f"k/{name}" for name, _, _ in LASTING_FAULTS}
    s3server.upload_objects(s3server.admin_client(s3_server), bucket, {key: BODY for key in keys.values()})
    for name, inject, _ in LASTING_FAULTS:
        inject(fault_proxy.rules, keys[name])
    client = s3.make_client(S3Settings(endpoint_url=fault_proxy.url, retry_mode="standard", max_attempts=2))

    def failure(key: str) -> str:
        with pytest.raises(s3.ReadFailed) as caught:
            s3.fetch(client, f"s3://{bucket}/{key}", body_attempts=2)
        assert caught.value.uri == f"s3://{bucket}/{key}"
        return str(caught.value)

    with ThreadPoolExecutor(len(LASTING_FAULTS)) as pool:
        messages = dict(zip(keys, pool.map(failure, keys.values())))

    for name, _, expected in LASTING_FAULTS:
        assert expected in messages[name], (name, messages[name])
    gets = Counter(call.key for call in fault_proxy.calls if call.operation == "GetObject")
    assert {name: gets[key] for name, key in keys.items()} == {name: 2 for name in keys}


def test_fetch_configuration_errors_are_input_errors(s3_env: pytest.MonkeyPatch) -> None:
    with _closed_port() as port:
        client = s3.make_client(S3Settings(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1))
        with pytest.raises(errors.InputError, match="cannot connect to the S3 endpoint"):
            s3.fetch(client, "s3://some-bucket/k")
    s3server.remove_credentials(s3_env)
    client = s3.make_client(S3Settings(endpoint_url="http://127.0.0.1:9", max_attempts=1))
    with pytest.raises(errors.InputError, match="no AWS credentials"):
        s3.fetch(client, "s3://some-bucket/k")


def test_errors_pickle_for_workers() -> None:
    for error in (s3.ObjectGone("s3://b/k"), s3.ReadFailed("s3://b/k", "body truncated")):
        again = pickle.loads(pickle.dumps(error))
        assert (type(again), str(again), again.uri) == (type(error), str(error), "s3://b/k")
    settings = S3Settings(endpoint_url="http://127.0.0.1:1", region="eu-west-1", max_attempts=3)
    assert pickle.loads(pickle.dumps(settings)) == settings


# ---- check_bucket -------------------------------------------------------------------------------------

class _closed_port:
    """A port on 127.0.0.1 that refuses connections (bound, never listening)."""

    def __enter__(self) -> int:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        return int(self._socket.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._socket.close()


def _timed_check(settings: S3Settings, bucket: str) -> tuple[str, float]:
    began = time.monotonic()
    with pytest.raises(errors.InputError) as caught:
        s3.check_bucket(settings, bucket)
    return str(caught.value), time.monotonic() - began


def test_check_bucket_accepts_a_usable_bucket(org_bucket: str, fault_proxy: s3server.FaultProxy,
                                              s3_env: pytest.MonkeyPatch) -> None:
    s3.check_bucket(S3Settings(endpoint_url=fault_proxy.url), org_bucket)
    assert fault_proxy.operations() == ["HeadBucket"]


def test_check_bucket_closed_port(s3_env: pytest.MonkeyPatch) -> None:
    with _closed_port() as port:
        message, seconds = _timed_check(S3Settings(endpoint_url=f"http://127.0.0.1:{port}"), "trail-bucket")
    assert message.startswith(f"cannot connect to the S3 endpoint http://127.0.0.1:{port}")
    assert "\n" not in message and seconds < 5


def test_check_bucket_missing_bucket(s3_server: str, s3_env: pytest.MonkeyPatch) -> None:
    message, seconds = _timed_check(S3Settings(endpoint_url=s3_server), "no-such-bucket-here")
    assert message == f"no such bucket: s3://no-such-bucket-here (at {s3_server})"
    assert seconds < 5


def test_check_bucket_missing_credentials(s3_server: str, s3_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s3server.remove_credentials(s3_env)
    assert not Path(os.environ["AWS_CONFIG_FILE"]).exists()
    message, seconds = _timed_check(S3Settings(endpoint_url=s3_server), "trail-bucket")
    assert message.startswith("no AWS credentials found") and seconds < 5
    assert "testing" not in message


def test_check_bucket_access_denied(org_bucket: str, fault_proxy: s3server.FaultProxy,
                                    s3_env: pytest.MonkeyPatch) -> None:
    fault_proxy.rules.error(None, 403, "AccessDenied", method="HEAD", times=None)
    message, seconds = _timed_check(S3Settings(endpoint_url=fault_proxy.url), org_bucket)
    assert message.startswith(f"access denied to s3://{org_bucket}") and seconds < 5


def test_check_bucket_unknown_profile(s3_env: pytest.MonkeyPatch) -> None:
    message, _ = _timed_check(S3Settings(profile="no-such-profile"), "trail-bucket")
    assert message == "no AWS profile named 'no-such-profile'"


def test_check_bucket_does_not_wait_out_a_failing_endpoint(org_bucket: str, fault_proxy: s3server.FaultProxy,
                                                           s3_env: pytest.MonkeyPatch) -> None:
    fault_proxy.rules.slow_down(None, method="HEAD", times=None)
    message, seconds = _timed_check(S3Settings(endpoint_url=fault_proxy.url), org_bucket)
    assert "503" in message and seconds < 5
    assert fault_proxy.count("HeadBucket") == 2


# ---- the proxy itself ---------------------------------------------------------------------------------

def test_proxy_forwards_what_it_does_not_fault(client: object, fault_proxy: s3server.FaultProxy) -> None:
    bucket = _bucket_name()
    client.create_bucket(Bucket=bucket)   # type: ignore[attr-defined]
    client.put_object(Bucket=bucket, Key="a b/c.json.gz", Body=BODY)   # type: ignore[attr-defined]

    head = client.head_object(Bucket=bucket, Key="a b/c.json.gz")   # type: ignore[attr-defined]
    assert head["ContentLength"] == len(BODY)
    assert s3.fetch(client, f"s3://{bucket}/a b/c.json.gz") == BODY
    assert fault_proxy.operations() == ["CreateBucket", "PutObject", "HeadObject", "GetObject"]
    assert fault_proxy.calls[-1].key == "a b/c.json.gz"
