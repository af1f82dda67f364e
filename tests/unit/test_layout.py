"""Tests of trailbeam.layout: the kind and place of a CloudTrail object, read from its key."""

from __future__ import annotations

import pytest

from trailbeam.layout import DIGEST, INSIGHT, LOG, OTHER, Location, locate

ACCOUNT = "111122223333"
ORG = "o-aa111bb222"

LOCATE_CASES = [
    ("non-org-trail",
     f"s3://trail-bucket/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/01/"
     f"{ACCOUNT}_CloudTrail_us-east-1_20240501T1205Z_abcd.json.gz",
     Location(kind=LOG, account=ACCOUNT, region="us-east-1", delivery_date="2024-05-01")),
    ("org-trail",
     f"s3://org-bucket/AWSLogs/{ORG}/{ACCOUNT}/CloudTrail/eu-west-3/2023/12/31/f.json.gz",
     Location(kind=LOG, org_id=ORG, account=ACCOUNT, region="eu-west-3", delivery_date="2023-12-31")),
    ("prefix-before-AWSLogs",
     f"s3://bucket/some/prefix/AWSLogs/{ACCOUNT}/CloudTrail/ap-southeast-2/2024/02/29/f.json.gz",
     Location(kind=LOG, account=ACCOUNT, region="ap-southeast-2", delivery_date="2024-02-29")),
    ("digest",
     f"s3://bucket/AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/05/01/"
     f"{ACCOUNT}_CloudTrail-Digest_us-east-1_trail_us-east-1_20240501T120000Z.json.gz",
     Location(kind=DIGEST, account=ACCOUNT, region="us-east-1", delivery_date="2024-05-01")),
    ("org-digest",
     f"s3://bucket/AWSLogs/{ORG}/{ACCOUNT}/CloudTrail-Digest/us-west-2/2024/05/01/d.json.gz",
     Location(kind=DIGEST, org_id=ORG, account=ACCOUNT, region="us-west-2", delivery_date="2024-05-01")),
    ("insight",
     f"s3://bucket/AWSLogs/{ACCOUNT}/CloudTrail-Insight/us-east-1/2024/05/01/i.json.gz",
     Location(kind=INSIGHT, account=ACCOUNT, region="us-east-1", delivery_date="2024-05-01")),
    ("gcs-copy",
     f"gs://copy/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/01/f.json.gz",
     Location(kind=LOG, account=ACCOUNT, region="us-east-1", delivery_date="2024-05-01")),
    ("local-copy",
     f"/data/case-42/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/01/f.json",
     Location(kind=LOG, account=ACCOUNT, region="us-east-1", delivery_date="2024-05-01")),
    ("relative-key",
     f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/01/f.json.gz",
     Location(kind=LOG, account=ACCOUNT, region="us-east-1", delivery_date="2024-05-01")),
    ("windows-backslashes",
     f"C:\\cases\\AWSLogs\\{ORG}\\{ACCOUNT}\\CloudTrail\\us-east-1\\2024\\05\\01\\f.json.gz",
     Location(kind=LOG, org_id=ORG, account=ACCOUNT, region="us-east-1", delivery_date="2024-05-01")),
    ("local-export", "/tmp/export.json", Location(kind=OTHER)),
    ("lookup-events-dump", "s3://bucket/exports/lookup-events-2024-05-01.json", Location(kind=OTHER)),
    ("extra-folder", f"s3://b/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/01/sub/f.json.gz", Location(kind=OTHER)),
    ("no-day", f"s3://b/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/f.json.gz", Location(kind=OTHER)),
    ("unknown-kind", f"s3://b/AWSLogs/{ACCOUNT}/CloudTrail-Other/us-east-1/2024/05/01/f.json.gz",
     Location(kind=OTHER)),
    ("not-AWSLogs-folder", f"s3://b/MyAWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/01/f.json.gz",
     Location(kind=OTHER)),
    ("folder-only", f"s3://b/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/01/", Location(kind=OTHER)),
]


@pytest.mark.parametrize("uri, expected", [c[1:] for c in LOCATE_CASES], ids=[c[0] for c in LOCATE_CASES])
def test_locate(uri, expected):
    assert locate(uri) == expected
