"""A trail of one busy session against one bucket, in the layout CloudTrail delivers (tests' builder).

Alice assumes the Exporter role; the session reads and writes objects of one bucket over three hours
(every 10th call a new object) and changes the bucket's policy a few times. One account and region, so
the store holds one partition per hour.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trailbeam import timestamps

ACCOUNT = "111122223333"
REGION = "us-east-1"
BUCKET = "hot-exports"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Exporter"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
HOT_KEY = "ASIAHOTSESSION000001"
START = timestamps.parse_micros("2026-03-03T01:00:00Z")
HOURS = 3
POLICY_CHANGES = 5        # the bucket's own writes: its change log, whatever the object traffic
OBJECTS_READ = 40
PER_FILE = 400


def _iso(micros: int) -> str:
    return timestamps.format_micros(micros)


def _hot_identity() -> dict[str, Any]:
    return {"type": "AssumedRole", "principalId": "AROAEXPORTER:bulk-copy", "accountId": ACCOUNT,
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Exporter/bulk-copy", "accessKeyId": HOT_KEY,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE, "accountId": ACCOUNT},
                               "attributes": {"creationDate": _iso(START), "mfaAuthenticated": "false"}}}


def _record(n: int, at: int, name: str, identity: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"eventVersion": "1.09", "userIdentity": identity, "eventTime": _iso(at), "eventName": name,
            "awsRegion": REGION, "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.30",
            "eventID": f"00000000-0000-4000-8000-{n:012d}", "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT, **more}


def hot_records(calls: int) -> Iterator[dict[str, Any]]:
    """Alice assumes Exporter, then the session reads and writes objects of one bucket over three hours
    (every 10th call a new object) and changes the bucket's policy a few times."""
    alice = {"type": "IAMUser", "principalId": "AIDAALICE", "arn": ALICE, "accountId": ACCOUNT,
             "accessKeyId": "AKIAALICE00000000001", "userName": "alice"}
    yield _record(0, START, "AssumeRole", alice, eventSource="sts.amazonaws.com", readOnly=True,
                  managementEvent=True, eventCategory="Management",
                  requestParameters={"roleArn": ROLE, "roleSessionName": "bulk-copy"},
                  responseElements={"credentials": {"accessKeyId": HOT_KEY, "expiration": "Mar 3, 2026, 5:00:00 AM"},
                                    "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Exporter/bulk-copy",
                                                        "assumedRoleId": "AROAEXPORTER:bulk-copy"}})
    step = HOURS * 3_600_000_000 // calls
    for n in range(1, calls + 1):
        at = START + n * step
        write = n % 10 == 0
        key = f"incoming/{n:06d}.csv" if write else f"exports/{n % OBJECTS_READ:03d}.csv"
        yield _record(n, at, "PutObject" if write else "GetObject", _hot_identity(), eventSource="s3.amazonaws.com",
                      readOnly=not write, managementEvent=False, eventCategory="Data",
                      requestParameters={"bucketName": BUCKET, "key": key},
                      resources=[{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{BUCKET}/{key}"},
                                 {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{BUCKET}"}])
    for n in range(POLICY_CHANGES):
        yield _record(calls + 1 + n, START + n * 600_000_000 + 1, "PutBucketPolicy", _hot_identity(),
                      eventSource="s3.amazonaws.com", readOnly=False, managementEvent=True,
                      eventCategory="Management",
                      requestParameters={"bucketName": BUCKET, "policy": {"Version": "2012-10-17", "n": n}})


def write_hot_trail(folder: Path, calls: int) -> None:
    records = sorted(hot_records(calls), key=lambda record: record["eventTime"])
    day = folder / "AWSLogs" / ACCOUNT / "CloudTrail" / REGION / "2026" / "03" / "03"
    day.mkdir(parents=True)
    for index in range(0, len(records), PER_FILE):
        chunk = records[index:index + PER_FILE]
        stamp = chunk[0]["eventTime"][:16].replace("-", "").replace(":", "")
        name = f"{ACCOUNT}_CloudTrail_{REGION}_{stamp}Z_{index // PER_FILE:04d}.json.gz"
        (day / name).write_bytes(gzip.compress(json.dumps({"Records": chunk}).encode(), mtime=0))
