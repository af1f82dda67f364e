"""Tests of trailbeam.s3paths: which S3 listings can hold the CloudTrail files of a time window."""

from __future__ import annotations

import doctest
from datetime import date

import pytest

from trailbeam import errors, s3paths
from trailbeam.s3paths import ListTask, S3Uri, Scope, day_tasks, parse_s3_uri, source_scope
from trailbeam.timestamps import format_micros, parse_micros

ACCOUNT = "111122223333"
ORG = "o-aa111bb222"
TODAY = date(2025, 1, 15)
ROOT = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/"
NAME = f"{ACCOUNT}_CloudTrail_us-east-1_"


def test_doctests() -> None:
    assert doctest.testmod(s3paths).failed == 0


# ---- parse_s3_uri ---------------------------------------------------------------------------------------

URI_CASES = [
    ("bucket-only", "s3://trail-bucket", S3Uri("trail-bucket", "")),
    ("bucket-slash", "s3://trail-bucket/", S3Uri("trail-bucket", "")),
    ("key", "s3://b.example/p/q.json.gz", S3Uri("b.example", "p/q.json.gz")),
    ("prefix", "s3://trail-bucket/AWSLogs/", S3Uri("trail-bucket", "AWSLogs/")),
    ("legacy-bucket-name", "s3://Old_Bucket/x", S3Uri("Old_Bucket", "x")),
]


@pytest.mark.parametrize("uri, expected", [case[1:] for case in URI_CASES], ids=[case[0] for case in URI_CASES])
def test_parse_s3_uri(uri: str, expected: S3Uri) -> None:
    assert parse_s3_uri(uri) == expected
    assert parse_s3_uri(expected.uri) == expected


@pytest.mark.parametrize("uri", ["trail-bucket/x", "gs://b/x", "s3://", "s3:///key", "s3://ab", "S3://bucket/x",
                                 "s3://bad bucket/x"])
def test_parse_s3_uri_rejects(uri: str) -> None:
    with pytest.raises(errors.InputError):
        parse_s3_uri(uri)


# ---- day_tasks ------------------------------------------------------------------------------------------

def _tasks(**overrides: object) -> list[ListTask]:
    arguments: dict[str, object] = dict(bucket="b", base="", account=ACCOUNT, region="us-east-1", org_id=None,
                                        start=None, end=None, today=TODAY)
    arguments.update(overrides)
    return day_tasks(**arguments)   # type: ignore[arg-type]


def _t(text: str) -> int:
    return parse_micros(text)


DAY_CASES = [
    ("no-window-is-one-region-task", {},
     [ListTask(bucket="b", prefix=ROOT)]),
    ("within-one-day", {"start": _t("2024-05-01T10:00:00Z"), "end": _t("2024-05-01T11:00:00Z")},
     [ListTask(bucket="b", prefix=f"{ROOT}2024/05/01/", start_after=f"{ROOT}2024/05/01/{NAME}20240501T0955",
               stop_after=f"{ROOT}2024/05/01/{NAME}20240501T1159Z~")]),
    ("across-midnight", {"start": _t("2024-05-01T22:00:00Z"), "end": _t("2024-05-02T01:30:00Z")},
     [ListTask(bucket="b", prefix=f"{ROOT}2024/05/01/", start_after=f"{ROOT}2024/05/01/{NAME}20240501T2155"),
      ListTask(bucket="b", prefix=f"{ROOT}2024/05/02/", stop_after=f"{ROOT}2024/05/02/{NAME}20240502T0229Z~")]),
    ("margin-carries-into-next-day", {"start": _t("2024-05-01T12:00:00Z"), "end": _t("2024-05-01T23:30:00Z")},
     [ListTask(bucket="b", prefix=f"{ROOT}2024/05/01/", start_after=f"{ROOT}2024/05/01/{NAME}20240501T1155"),
      ListTask(bucket="b", prefix=f"{ROOT}2024/05/02/", stop_after=f"{ROOT}2024/05/02/{NAME}20240502T0029Z~")]),
    ("lead-reaches-previous-day", {"start": _t("2024-05-02T00:00:00Z"), "end": _t("2024-05-02T12:00:00Z")},
     [ListTask(bucket="b", prefix=f"{ROOT}2024/05/01/", start_after=f"{ROOT}2024/05/01/{NAME}20240501T2355"),
      ListTask(bucket="b", prefix=f"{ROOT}2024/05/02/", stop_after=f"{ROOT}2024/05/02/{NAME}20240502T1259Z~")]),
    ("whole-days-need-no-bounds", {"start": _t("2024-05-01T00:05:00Z"), "end": _t("2024-05-02T23:00:00Z"),
                                   "margin_hours": 1},
     [ListTask(bucket="b", prefix=f"{ROOT}2024/05/01/"),
      ListTask(bucket="b", prefix=f"{ROOT}2024/05/02/")]),
    ("across-months", {"start": _t("2024-02-28T12:00:00Z"), "end": _t("2024-03-01T12:00:00Z")},
     [ListTask(bucket="b", prefix=f"{ROOT}2024/02/28/", start_after=f"{ROOT}2024/02/28/{NAME}20240228T1155"),
      ListTask(bucket="b", prefix=f"{ROOT}2024/02/29/"),
      ListTask(bucket="b", prefix=f"{ROOT}2024/03/01/", stop_after=f"{ROOT}2024/03/01/{NAME}20240301T1259Z~")]),
    ("across-years", {"start": _t("2023-12-31T23:00:00Z"), "end": _t("2024-01-01T00:30:00Z")},
     [ListTask(bucket="b", prefix=f"{ROOT}2023/12/31/", start_after=f"{ROOT}2023/12/31/{NAME}20231231T2255"),
      ListTask(bucket="b", prefix=f"{ROOT}2024/01/01/", stop_after=f"{ROOT}2024/01/01/{NAME}20240101T0129Z~")]),
    ("open-end-stops-today", {"start": _t("2025-01-14T06:00:00Z")},
     [ListTask(bucket="b", prefix=f"{ROOT}2025/01/14/", start_after=f"{ROOT}2025/01/14/{NAME}20250114T0555"),
      ListTask(bucket="b", prefix=f"{ROOT}2025/01/15/")]),
    ("end-in-the-future-stops-today", {"start": _t("2025-01-15T06:00:00Z"), "end": _t("2025-03-01T00:00:00Z")},
     [ListTask(bucket="b", prefix=f"{ROOT}2025/01/15/", start_after=f"{ROOT}2025/01/15/{NAME}20250115T0555")]),
    ("start-after-today-is-nothing", {"start": _t("2025-02-01T00:10:00Z")}, []),
    ("empty-window", {"start": _t("2024-05-01T10:00:00Z"), "end": _t("2024-05-01T10:00:00Z")}, []),
    ("open-start-is-one-bounded-region-task", {"end": _t("2024-05-01T10:00:00Z")},
     [ListTask(bucket="b", prefix=ROOT, stop_after=f"{ROOT}2024/05/01/{NAME}20240501T1059Z~")]),
    ("no-margins", {"start": _t("2024-05-01T10:00:30Z"), "end": _t("2024-05-01T11:00:00Z"), "margin_hours": 0,
                    "lead_minutes": 0},
     [ListTask(bucket="b", prefix=f"{ROOT}2024/05/01/", start_after=f"{ROOT}2024/05/01/{NAME}20240501T1000",
               stop_after=f"{ROOT}2024/05/01/{NAME}20240501T1059Z~")]),
    ("org-trail", {"org_id": ORG, "region": "eu-west-3", "start": _t("2024-05-01T10:00:00Z"),
                   "end": _t("2024-05-01T11:00:00Z")},
     [ListTask(bucket="b", prefix=f"AWSLogs/{ORG}/{ACCOUNT}/CloudTrail/eu-west-3/2024/05/01/",
               start_after=f"AWSLogs/{ORG}/{ACCOUNT}/CloudTrail/eu-west-3/2024/05/01/"
                           f"{ACCOUNT}_CloudTrail_eu-west-3_20240501T0955",
               stop_after=f"AWSLogs/{ORG}/{ACCOUNT}/CloudTrail/eu-west-3/2024/05/01/"
                          f"{ACCOUNT}_CloudTrail_eu-west-3_20240501T1159Z~")]),
    ("base-prefix", {"base": "trails/prod/"},
     [ListTask(bucket="b", prefix=f"trails/prod/{ROOT}")]),
    ("base-prefix-without-slash", {"base": "trails"},
     [ListTask(bucket="b", prefix=f"trails/{ROOT}")]),
    ("insight", {"kind": "CloudTrail-Insight", "org_id": ORG, "start": _t("2024-05-01T10:00:00Z"),
                 "end": _t("2024-05-01T11:00:00Z")},
     [ListTask(bucket="b", prefix=f"AWSLogs/{ORG}/{ACCOUNT}/CloudTrail-Insight/us-east-1/2024/05/01/",
               start_after=f"AWSLogs/{ORG}/{ACCOUNT}/CloudTrail-Insight/us-east-1/2024/05/01/"
                           f"{ACCOUNT}_CloudTrail-Insight_us-east-1_20240501T0955",
               stop_after=f"AWSLogs/{ORG}/{ACCOUNT}/CloudTrail-Insight/us-east-1/2024/05/01/"
                          f"{ACCOUNT}_CloudTrail-Insight_us-east-1_20240501T1159Z~")]),
]


@pytest.mark.parametrize("overrides, expected", [case[1:] for case in DAY_CASES],
                         ids=[case[0] for case in DAY_CASES])
def test_day_tasks(overrides: dict[str, object], expected: list[ListTask]) -> None:
    assert _tasks(**overrides) == expected


# The keys CloudTrail would deliver around a window, and whether a listing bounded as planned returns them.
BOUNDARY_CASES = [
    ("delivered-in-lead-minute", "20240501T0955Z_AbCdEfGh12345678.json.gz", True),
    ("delivered-before-lead", "20240501T0954Z_zzzzzzzzzzzzzzzz.json.gz", False),
    ("delivered-in-last-margin-minute", "20240501T1159Z_zzzzzzzzzzzzzzzz.json.gz", True),
    ("delivered-after-margin", "20240501T1200Z_0000000000000000.json.gz", False),
]


@pytest.mark.parametrize("name, listed", [case[1:] for case in BOUNDARY_CASES],
                         ids=[case[0] for case in BOUNDARY_CASES])
def test_bounds_sort_around_real_keys(name: str, listed: bool) -> None:
    (task,) = _tasks(start=_t("2024-05-01T10:00:00Z"), end=_t("2024-05-01T11:00:00Z"))
    key = f"{task.prefix}{NAME}{name}"
    assert key.startswith(task.prefix)
    assert (task.start_after < key <= task.stop_after) is listed   # type: ignore[operator]


def test_every_event_in_the_window_is_covered() -> None:
    """Any file delivered at or after its event, and at most margin_hours later, is listed."""
    start, end = _t("2024-05-01T22:17:42Z"), _t("2024-05-03T01:02:03Z")
    tasks = _tasks(start=start, end=end)
    minute = 60_000_000
    for event in range(start, end, 7 * minute + 13_000_000):
        for lag in (0, 5 * minute, 59 * minute):
            text = format_micros(event + lag)   # delivery time, e.g. 2024-05-01T22:24:55Z
            key = (f"{ROOT}{text[:4]}/{text[5:7]}/{text[8:10]}/{NAME}"
                   f"{text[:4]}{text[5:7]}{text[8:10]}T{text[11:13]}{text[14:16]}Z_x.json.gz")
            assert any(key.startswith(t.prefix) and (t.start_after is None or key > t.start_after)
                       and (t.stop_after is None or key <= t.stop_after) for t in tasks), key


@pytest.mark.parametrize("overrides", [
    {"account": "1111-2222-3333"}, {"account": "111122223333/../x"}, {"region": "us-east1"},
    {"region": "us-east-1/"}, {"org_id": "o-short"}, {"kind": "Config"},
    {"margin_hours": -1}, {"start": 2, "end": 1},
], ids=["account-dashes", "account-slash", "region-typo", "region-slash", "org-id", "not-cloudtrail",
        "negative-margin", "start-after-end"])
def test_day_tasks_rejects(overrides: dict[str, object]) -> None:
    with pytest.raises(errors.InputError):
        _tasks(**overrides)


# ---- source_scope ---------------------------------------------------------------------------------------

SCOPE_CASES = [
    ("empty", "", Scope(base="")),
    ("base", "trails/prod", Scope(base="trails/prod")),
    ("awslogs", "AWSLogs/", Scope(base="")),
    ("base-awslogs-no-slash", "trails/AWSLogs", Scope(base="trails")),
    ("org", f"AWSLogs/{ORG}/", Scope(base="", org_id=ORG)),
    ("account", f"AWSLogs/{ACCOUNT}/", Scope(base="", account=ACCOUNT)),
    ("org-account-kind", f"AWSLogs/{ORG}/{ACCOUNT}/CloudTrail-Insight",
     Scope(base="", org_id=ORG, account=ACCOUNT, kind="CloudTrail-Insight")),
    ("region", f"b/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/",
     Scope(base="b", account=ACCOUNT, kind="CloudTrail", region="us-east-1")),
    ("month", f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/",
     Scope(base="", account=ACCOUNT, kind="CloudTrail", region="us-east-1",
           below_region=f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/")),
    ("awslogs-as-base", f"AWSLogs/AWSLogs/{ACCOUNT}/", Scope(base="AWSLogs", account=ACCOUNT)),
]


@pytest.mark.parametrize("key, expected", [case[1:] for case in SCOPE_CASES], ids=[case[0] for case in SCOPE_CASES])
def test_source_scope(key: str, expected: Scope) -> None:
    assert source_scope(key) == expected


@pytest.mark.parametrize("key, message", [
    (f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/", "digest"),
    (f"AWSLogs/{ACCOUNT}/vpcflowlogs/us-east-1/", "not a CloudTrail log folder"),
    ("AWSLogs/1111/", "account id"),
    (f"AWSLogs/{ACCOUNT}/CloudTrail/useast1/", "region"),
], ids=["digest", "flow-logs", "partial-account", "bad-region"])
def test_source_scope_rejects(key: str, message: str) -> None:
    with pytest.raises(errors.InputError, match=message):
        source_scope(key)
