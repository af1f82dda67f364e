"""trailbeam.casescan: one store event file's findings, activity, focus matches and rows."""

from __future__ import annotations

import pytest

from builders import store_file
from trailbeam import casescan, timestamps

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
BUCKET = "trail-logs-bucket"
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main"
HOSTILE = "<script>document.title='pwned'</script>"


def event(event_id: str, time: str, name: str, source: str, who: str = ALICE, **more) -> dict:
    return {"eventVersion": "1.08", "eventID": event_id, "eventTime": time, "eventName": name,
            "eventSource": source, "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT,
            "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2", "eventType": "AwsApiCall",
            "managementEvent": True, "readOnly": False,
            "userIdentity": {"type": "IAMUser", "arn": who, "accountId": ACCOUNT, "principalId": "AIDA",
                             "accessKeyId": "AKIAALICE" if who == ALICE else "AKIABOB"}, **more}


EVENTS = [
    event("e1-trail", "2026-03-03T10:00:00Z", "CreateTrail", "cloudtrail.amazonaws.com",
          requestParameters={"name": "main", "s3BucketName": BUCKET},
          responseElements={"name": "main", "s3BucketName": BUCKET}),
    event("e2-stop", "2026-03-03T10:05:00Z", "StopLogging", "cloudtrail.amazonaws.com",
          requestParameters={"name": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main"}),
    event("e3-policy", "2026-03-03T10:10:00Z", "DeleteBucketPolicy", "s3.amazonaws.com", who=BOB,
          requestParameters={"bucketName": BUCKET, "Host": f"{BUCKET}.s3.amazonaws.com", "policy": ""},
          resources=[{"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{BUCKET}", "accountId": ACCOUNT}]),
    event("e4-read", "2026-03-03T11:30:00Z", "GetObject", "s3.amazonaws.com", who=BOB, readOnly=True,
          userAgent=HOSTILE, requestParameters={"bucketName": BUCKET, "key": "AWSLogs/x.json.gz"},
          resources=[{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{BUCKET}/AWSLogs/x.json.gz"},
                     {"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{BUCKET}", "accountId": ACCOUNT}]),
    event("e5-list", "2026-03-04T09:00:00Z", "ListUsers", "iam.amazonaws.com", readOnly=True),
]
DATA = store_file(EVENTS)


def at(text: str) -> int:
    return timestamps.parse_micros(text)


def test_survey_runs_the_rules_and_defers_the_trail_bucket_rule():
    found = casescan.survey(DATA, None, casescan.Plan())
    assert [(f.rule, f.event_ids) for f in found.findings] == [("logging.stop-logging", ("e2-stop",))]
    assert found.trail_buckets == {BUCKET}
    assert [event["eventID"] for event, _ in found.deferred] == ["e3-policy"]
    assert set(found.located) == {"e2-stop", "e3-policy"}          # where the evidence is, for the timeline


def test_survey_counts_every_event_per_origin_and_hour():
    found = casescan.survey(DATA, None, casescan.Plan())
    assert found.events == len(EVENTS) and len(found.codes) == len(found.times) == len(EVENTS)
    assert found.origins == (ALICE, BOB)                           # without attribution: the signer
    assert [found.origins[code] for code in found.codes] == [ALICE, ALICE, BOB, BOB, ALICE]
    hour = at("2026-03-03T10:00:00Z")
    assert found.activity[(ALICE, hour)] == 2 and found.activity[(BOB, hour)] == 1


def test_events_outside_the_window_are_only_timed():
    found = casescan.survey(DATA, None, casescan.Plan(start=at("2026-03-03T10:06:00Z"),
                                                      end=at("2026-03-04T00:00:00Z")))
    assert found.events == 2 and not found.findings
    assert [code == casescan.OUTSIDE for code in found.codes] == [True, True, False, False, True]


@pytest.mark.parametrize(("plan", "expected"), [
    (casescan.Plan(principal=BOB), ["e3-policy", "e4-read"]),
    (casescan.Plan(principal="AKIAALICE"), ["e1-trail", "e2-stop", "e5-list"]),
    (casescan.Plan(resource=f"arn:aws:s3:::{BUCKET}"), ["e3-policy", "e4-read"]),     # objects inside it too
    (casescan.Plan(resource=TRAIL), ["e1-trail", "e2-stop"]),        # naming its bucket is not touching the bucket
    (casescan.Plan(principal=ALICE, resource=TRAIL), ["e1-trail", "e2-stop"]),
    (casescan.Plan(principal=BOB, resource=TRAIL), []),
], ids=["principal", "key", "bucket", "trail", "both", "neither"])
def test_focus(plan, expected):
    assert [event_id for _, event_id in casescan.survey(DATA, None, plan).focus] == expected


def test_wanted_events_are_located():
    found = casescan.survey(DATA, None, casescan.Plan(wanted=frozenset({"e5-list", "elsewhere"})))
    assert found.located["e5-list"] == 4 and "elsewhere" not in found.located


def test_touching_keeps_the_windows():
    arn = f"arn:aws:s3:::{BUCKET}"
    assert casescan.touching(DATA, arn, [(at("2026-03-03T10:10:00Z"), at("2026-03-03T12:00:00Z"))]) == [2, 3]
    assert casescan.touching(DATA, arn, [(at("2026-03-03T11:00:00Z"), at("2026-03-03T12:00:00Z"))]) == [3]
    assert casescan.touching(DATA, "arn:aws:s3:::another-bucket", [(0, at("2030-01-01T00:00:00Z"))]) == []


def test_rows_decode_the_picked_events():
    picked = casescan.rows(DATA, None, {3: BOB, 1: ALICE})
    assert [p.row.event_id for p in picked] == ["e2-stop", "e4-read"]
    _, read = picked
    assert read.row.user_agent == HOSTILE and read.row.origin == BOB and read.row.principal == BOB
    assert read.row.request == f'{{"bucketName":"{BUCKET}","key":"AWSLogs/x.json.gz"}}'
    assert read.chain == ("key:AKIABOB",) and read.attributed is None


def test_long_requests_are_shortened():
    data = store_file([event("big", "2026-03-03T10:00:00Z", "PutParameter", "ssm.amazonaws.com",
                             requestParameters={"value": "x" * 5000})])
    [picked] = casescan.rows(data, None, {0: ALICE})
    assert len(picked.row.request) == 600 and picked.row.request.endswith("\u2026")


@pytest.mark.parametrize(("arn", "expected"), [
    ("arn:aws:s3:::my-bucket", [b"my-bucket"]),
    ("arn:aws:iam::111122223333:user/Path/Alice", [b"alice"]),
    ("arn:aws:lambda:us-east-1:111122223333:function:fn", [b"fn"]),
], ids=["bucket", "user", "function"])
def test_needles(arn, expected):
    assert list(casescan.needles(arn)) == expected
