"""A CloudTrail bucket with hourly, chained, signed digests, built in memory; and ways to tamper with it.

The builder signs digests as CloudTrail does, written here independently of ``trailbeam.digests`` so
that the tests check one implementation against the other:

    string to sign = digestEndTime + "\\n" + bucket + "/" + key + "\\n"
                     + hex(SHA-256(uncompressed digest)) + "\\n" + (previousDigestSignature or "null")
    signature      = hex(RSA PKCS#1 v1.5 over SHA-256 of that string)   -> S3 metadata "signature"
    fingerprint    = hex(MD5(DER PKCS#1 public key))                    -> list-public-keys "Fingerprint"

Digest windows run from HH:01:31 to the next HH:01:31; log files are named HH:11, HH:26, ... and hold a
few events each. RSA keys are generated once per session (2048 bits).

    bucket = build_bucket(regions=("us-east-1", "eu-west-1"), hours=6)
    delete(bucket, bucket.digest_key("us-east-1", 3))
    report = bucket.verify(start=bucket.start, end=bucket.end)
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trailbeam import digests, integrity, timestamps

ACCOUNT = "111122223333"
BUCKET = "trail-bucket"
TRAIL = "main_trail"          # an underscore, as trail names may have
HOME = "us-east-1"
FIRST = datetime(2024, 5, 1, 0, 1, 31, tzinfo=timezone.utc)   # start of the first digest window
HOUR = timedelta(hours=1)
LOG_MINUTES = (10, 25, 40, 52)  # minutes after the window start at which log files are delivered


@functools.cache
def signing_key(name: str = "aws") -> rsa.RSAPrivateKey:
    """An RSA key per name ("aws", "attacker"), generated once per test session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_der(name: str = "aws") -> bytes:
    """The public key as list-public-keys returns it: DER, PKCS#1 RSAPublicKey."""
    return signing_key(name).public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def fingerprint_of(name: str = "aws") -> str:
    return hashlib.md5(public_der(name)).hexdigest()


def public_keys_document(*names: str, valid_from: datetime = FIRST - timedelta(days=10),
                         valid_days: int = 30) -> dict[str, Any]:
    """``aws cloudtrail list-public-keys`` output (epoch-second times, as the CLI prints them)."""
    return {"PublicKeyList": [
        {"Value": base64.b64encode(public_der(name)).decode(),
         "ValidityStartTime": valid_from.timestamp(),
         "ValidityEndTime": (valid_from + timedelta(days=valid_days)).timestamp(),
         "Fingerprint": fingerprint_of(name)}
        for name in names or ("aws",)]}


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(message: bytes, name: str = "aws") -> str:
    return signing_key(name).sign(message, padding.PKCS1v15(), hashes.SHA256()).hex()


def signed_string(document: dict[str, Any], content: bytes) -> bytes:
    previous = document["previousDigestSignature"]
    return (f"{document['digestEndTime']}\n{document['digestS3Bucket']}/{document['digestS3Object']}\n"
            f"{hashlib.sha256(content).hexdigest()}\n{'null' if previous is None else previous}").encode()


@dataclass
class TrailBucket:
    """An S3 bucket's CloudTrail objects: bytes by key, digest metadata by key, and the public keys."""

    bucket: str
    regions: tuple[str, ...]
    objects: dict[str, bytes] = field(default_factory=dict)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    digests: dict[str, dict[int, str]] = field(default_factory=dict)         # region -> hour -> key
    logs: dict[str, dict[int, list[str]]] = field(default_factory=dict)      # region -> hour -> keys
    keys_document: dict[str, Any] = field(default_factory=public_keys_document)
    first_hour: int = 0
    last_hour: int = 0

    def digest_key(self, region: str, hour: int) -> str:
        return self.digests[region][hour]

    def log_key(self, region: str, hour: int, index: int = 0) -> str:
        return self.logs[region][hour][index]

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    @property
    def start(self) -> int:
        """Start of the first digest window (micros)."""
        return _micros(FIRST + self.first_hour * HOUR)

    @property
    def end(self) -> int:
        """End of the last digest window (micros)."""
        return _micros(FIRST + (self.last_hour + 1) * HOUR)

    def digest_objects(self) -> list[integrity.DigestObject]:
        return [integrity.DigestObject(bucket=self.bucket, key=key, data=data,
                                       signature=self.metadata.get(key, {}).get("signature"),
                                       algorithm=self.metadata.get(key, {}).get("signature-algorithm"))
                for key, data in sorted(self.objects.items()) if "/CloudTrail-Digest/" in key]

    def log_hashes(self) -> dict[tuple[str, str], integrity.LogHash]:
        return {(self.bucket, key): integrity.log_hash(self.bucket, key, data)
                for key, data in sorted(self.objects.items()) if "/CloudTrail/" in key}

    def verify(self, **bounds: int | None) -> integrity.Report:
        keys = digests.parse_public_keys(self.keys_document)
        return integrity.verify(self.digest_objects(), self.log_hashes(), None, keys, **bounds)

    def digest_document(self, key: str) -> dict[str, Any]:
        return json.loads(gzip.decompress(self.objects[key]))

    def put_digest(self, key: str, document: dict[str, Any], *, signer: str | None = "aws") -> str:
        """Stores a digest document at ``key``, signed by ``signer`` (None: metadata left as it is)."""
        content = json.dumps(document).encode()
        self.objects[key] = gzip.compress(content, mtime=0)
        if signer is not None:
            self.metadata[key] = {"signature": sign(signed_string(document, content), signer),
                                  "signature-algorithm": "SHA256withRSA"}
        return self.metadata.get(key, {}).get("signature", "")


def _micros(moment: datetime) -> int:
    return timestamps.datetime_micros(moment)


def build_bucket(*, regions: tuple[str, ...] = ("us-east-1",), hours: int = 6,
                 restart_at: int | None = None, off_hours: int = 2) -> TrailBucket:
    """A trail's bucket: ``hours`` hourly digests per region, each listing its hour's log files.

    With ``restart_at``, logging stops for ``off_hours`` before that hour (no digests, no log files)
    and the digest of hour ``restart_at`` is a starting digest (null previous fields).
    """
    bucket = TrailBucket(bucket=BUCKET, regions=regions, first_hour=0, last_hour=hours - 1)
    skipped = set(range(restart_at - off_hours, restart_at)) if restart_at is not None else set()
    for region in regions:
        bucket.digests[region], bucket.logs[region] = {}, {}
        previous: tuple[str, str, str] | None = None  # key, sha256 of content, signature
        for hour in range(hours):
            if hour in skipped:
                previous = None
                continue
            window = FIRST + hour * HOUR
            entries = [_put_log(bucket, region, hour, window + timedelta(minutes=m), i)
                       for i, m in enumerate(LOG_MINUTES[:1 + (hour % 3)])]   # 1 to 3 log files an hour
            key = (f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{region}/{window + HOUR:%Y/%m/%d}/"
                   f"{ACCOUNT}_CloudTrail-Digest_{region}_{TRAIL}_{HOME}_{window + HOUR:%Y%m%dT%H%M%SZ}.json.gz")
            document = {
                "awsAccountId": ACCOUNT,
                "digestStartTime": stamp(window), "digestEndTime": stamp(window + HOUR),
                "digestS3Bucket": BUCKET, "digestS3Object": key,
                "digestPublicKeyFingerprint": fingerprint_of("aws"), "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": max(e["newestEventTime"] for e in entries),
                "oldestEventTime": min(e["oldestEventTime"] for e in entries),
                "previousDigestS3Bucket": BUCKET if previous else None,
                "previousDigestS3Object": previous[0] if previous else None,
                "previousDigestHashValue": previous[1] if previous else None,
                "previousDigestHashAlgorithm": "SHA-256" if previous else None,
                "previousDigestSignature": previous[2] if previous else None,
                "logFiles": entries,
            }
            signature = bucket.put_digest(key, document)
            bucket.digests[region][hour] = key
            previous = (key, hashlib.sha256(json.dumps(document).encode()).hexdigest(), signature)
    return bucket


def _put_log(bucket: TrailBucket, region: str, hour: int, delivered: datetime, index: int) -> dict[str, Any]:
    key = log_key_at(region, delivered, f"{region}{hour}x{index}")
    events = [{"eventVersion": "1.09", "eventTime": stamp(delivered - timedelta(minutes=3 - n)),
               "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": region,
               "eventID": hashlib.md5(f"{key}{n}".encode()).hexdigest(), "recipientAccountId": ACCOUNT,
               "requestParameters": {"bucketName": "data", "key": f"object-{n}"}}
              for n in range(3)]
    content = json.dumps({"Records": events}).encode()
    bucket.objects[key] = gzip.compress(content, mtime=0)
    bucket.logs[region].setdefault(hour, []).append(key)
    return {"s3Bucket": bucket.bucket, "s3Object": key, "hashValue": hashlib.sha256(content).hexdigest(),
            "hashAlgorithm": "SHA-256", "newestEventTime": events[-1]["eventTime"],
            "oldestEventTime": events[0]["eventTime"]}


def log_key_at(region: str, delivered: datetime, unique: str) -> str:
    suffix = hashlib.sha256(unique.encode()).hexdigest()[:16]
    return (f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
            f"{ACCOUNT}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{suffix}.json.gz")


def add_backfill(bucket: TrailBucket, region: str, hour: int) -> tuple[str, str]:
    """A late log file of ``hour`` and the ``_backfill`` digest that lists it; returns both keys.

    AWS documents only the name suffix; this backfill digest has the regular window and no previous link.
    """
    window = FIRST + hour * HOUR
    entry = _put_log(bucket, region, hour, window + timedelta(minutes=58), 9)
    regular = bucket.digest_document(bucket.digest_key(region, hour))
    key = regular["digestS3Object"].replace(".json.gz", "_backfill.json.gz")
    document = {**regular, "digestS3Object": key, "logFiles": [entry],
                "newestEventTime": entry["newestEventTime"], "oldestEventTime": entry["oldestEventTime"],
                **{name: None for name in ("previousDigestS3Bucket", "previousDigestS3Object",
                                           "previousDigestHashValue", "previousDigestHashAlgorithm",
                                           "previousDigestSignature")}}
    bucket.put_digest(key, document)
    return key, entry["s3Object"]


# ---- Tampering ----------------------------------------------------------------------------------------


def delete(bucket: TrailBucket, key: str) -> None:
    del bucket.objects[key]
    bucket.metadata.pop(key, None)


def change_log_byte(bucket: TrailBucket, key: str) -> None:
    """One byte of the uncompressed content changes (GetObject -> GetObjecT), recompressed cleanly."""
    content = gzip.decompress(bucket.objects[key])
    bucket.objects[key] = gzip.compress(content.replace(b"GetObject", b"GetObjecT", 1), mtime=0)


def flip_gzip_byte(bucket: TrailBucket, key: str) -> None:
    """One byte of the compressed stream changes: the deflate data or its CRC no longer holds."""
    data = bytearray(bucket.objects[key])
    data[len(data) // 2] ^= 0x01
    bucket.objects[key] = bytes(data)


def append_gzip_member(bucket: TrailBucket, key: str) -> None:
    """A second gzip stream after the original: tools that stop at the first stream see no change."""
    extra = {"Records": [{"eventID": "forged", "eventName": "ConsoleLogin", "eventTime": "2024-05-01T00:00:00Z"}]}
    bucket.objects[key] += gzip.compress(json.dumps(extra).encode(), mtime=0)


def add_log(bucket: TrailBucket, region: str, hour: int) -> str:
    """A log file that CloudTrail never delivered, named inside ``hour``'s window."""
    delivered = FIRST + hour * HOUR + timedelta(minutes=33)
    key = log_key_at(region, delivered, "planted")
    content = json.dumps({"Records": [{"eventID": "planted", "eventName": "AssumeRole"}]}).encode()
    bucket.objects[key] = gzip.compress(content, mtime=0)
    return key


def edit_digest(bucket: TrailBucket, key: str, change: Callable[[dict[str, Any]], None],
                *, signer: str | None = None) -> None:
    """Rewrites a digest's content; re-signs it with ``signer``'s key or leaves the old signature."""
    document = bucket.digest_document(key)
    change(document)
    bucket.put_digest(key, document, signer=signer)


def drop_log_entry(document: dict[str, Any]) -> None:
    document["logFiles"] = document["logFiles"][1:]


def alter_log_hash(document: dict[str, Any]) -> None:
    document["logFiles"][0]["hashValue"] = "0" * 64


def use_attacker_fingerprint(document: dict[str, Any]) -> None:
    document["digestPublicKeyFingerprint"] = fingerprint_of("attacker")
    drop_log_entry(document)


def replace_signature(bucket: TrailBucket, key: str) -> None:
    """A genuine AWS-key signature, but of another message."""
    bucket.metadata[key]["signature"] = sign(b"something else")


def remove_signature(bucket: TrailBucket, key: str) -> None:
    bucket.metadata.pop(key)


def copy(bucket: TrailBucket, key: str, new_key: str) -> None:
    bucket.objects[new_key] = bucket.objects[key]
    if key in bucket.metadata:
        bucket.metadata[new_key] = dict(bucket.metadata[key])


def move(bucket: TrailBucket, key: str, new_key: str) -> None:
    copy(bucket, key, new_key)
    delete(bucket, key)


def write_bundle(bucket: TrailBucket, folder: Path, *, manifest: bool = True) -> Path:
    """The bucket as ``trailbeam collect`` would leave it on disk (or as a plain copy without the manifest)."""
    from trailbeam import collect

    for key, data in bucket.objects.items():
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(data)
    if manifest:
        objects = {key: {"etag": f'"{len(data)}"', "size": len(data), "last_modified": None,
                         "metadata": bucket.metadata.get(key, {}),
                         "object_lock": {"mode": None, "retain_until": None, "legal_hold": None}}
                   for key, data in bucket.objects.items()}
        (folder / collect.MANIFEST).write_text(json.dumps({
            "format": collect.FORMAT, "source": f"s3://{bucket.bucket}", "bucket": bucket.bucket,
            "objects": objects, "public_keys": bucket.keys_document}))
    return folder
