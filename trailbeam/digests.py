"""CloudTrail digest files: their keys, their content, the string AWS signs, and the keys that sign it.

With log file integrity validation on, CloudTrail delivers one digest per trail and region every hour,
even when no log was delivered. A digest lists the log files delivered in its window with the SHA-256
of their *uncompressed* content, and links to the previous digest of the same chain (its key, the
SHA-256 of its uncompressed content and its signature). The digest's own signature is not in the file:
it is the object's S3 metadata ``x-amz-meta-signature`` (hex), with ``x-amz-meta-signature-algorithm``
(``SHA256withRSA``). A *starting* digest (validation or logging (re)started) has null previous fields.

This module reads one digest at a time; ``trailbeam.integrity`` checks chains and log files.

    Input:  the bytes of AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/
            111122223333_CloudTrail-Digest_us-east-2_trail_us-east-2_20150817T150131Z.json.gz
    Output: Digest(account_id="111122223333", end_time_text="2015-08-17T15:01:31Z", ...,
                   log_files=(LogFileEntry(bucket=..., key=..., hash_value="9bb6...", ...),))

Algorithm details, as AWS documents them ("Custom implementations of CloudTrail log file integrity
validation") and as the AWS CLI's ``validate-logs`` implements them
(``awscli/customizations/cloudtrail/validation.py``, ``Sha256RSADigestValidator``):

* String to sign: ``digestEndTime`` exactly as written in the file, ``"\\n"``, ``digestS3Bucket + "/" +
  digestS3Object``, ``"\\n"``, hex SHA-256 of the uncompressed digest bytes, ``"\\n"``,
  ``previousDigestSignature`` or the four characters ``null`` for a starting digest; UTF-8.
* Signature: RSA PKCS#1 v1.5 over SHA-256 of that string, hex-encoded.
* Public keys (``aws cloudtrail list-public-keys``): ``Value`` is base64 DER, documented as PKCS#1
  ``RSAPublicKey``; AWS's own docs sample also shows one X.509 ``SubjectPublicKeyInfo``, so both load.
  ``Fingerprint`` is the hex MD5 of the DER bytes as delivered (checked against four AWS sample keys).
* Log files: SHA-256 of the uncompressed content, compared with ``logFiles[].hashValue``.

Times are UTC microseconds since the epoch (``trailbeam.timestamps``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trailbeam import errors, timestamps

SIGNATURE_ALGORITHM = "SHA256withRSA"
HASH_ALGORITHM = "SHA-256"
HOUR = 3_600_000_000  # micros: CloudTrail delivers one digest per chain every hour

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20       # compressed bytes fed to zlib at a time
_OUT_LIMIT = 8 << 20   # uncompressed bytes zlib may return per call: a gzip bomb cannot fill memory
_STAMP = "%Y%m%dT%H%M%SZ"
_DIGEST_KEY = re.compile(
    r"(?P<prefix>(?:.*/)?)AWSLogs/(?:(?P<org>o-[a-z0-9]{10,32})/)?(?P<account>[^/]+)/"
    r"CloudTrail-Digest/(?P<region>[^/]+)/(?P<year>\d{4})/(?P<month>\d\d)/(?P<day>\d\d)/"
    # Trail names may hold underscores; account, regions and the stamp cannot.
    r"(?P<name_account>[^/_]+)_CloudTrail-Digest_(?P<name_region>[^/_]+)_(?P<trail>[^/]+)_"
    r"(?P<home>[^/_]+)_(?P<stamp>\d{8}T\d{6}Z)(?P<backfill>_backfill)?\.json\.gz"
)


class DigestError(errors.TrailbeamError, ValueError):
    """A digest or public key document that cannot be read; ``reason`` is a code from trailbeam.errors."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# ---- Keys -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestKey:
    """What a digest's S3 key says about it (the key carries the chain's identity and end time)."""

    prefix: str          # the key part before AWSLogs/, with its trailing slash ("" for none)
    org_id: str | None
    account: str
    region: str          # the region that delivered the digest
    trail: str
    home_region: str     # the region where the trail was created
    end_time: int        # micros, from the name's YYYYMMDDTHHMMSSZ: the digest's digestEndTime
    backfill: bool       # a ``_backfill`` digest: log files a regular digest missed (delivery delays)

    @property
    def chain(self) -> tuple[str | None, str, str, str, str]:
        """The chain this digest belongs to: (org id, account, region, trail, home region)."""
        return self.org_id, self.account, self.region, self.trail, self.home_region


def parse_digest_key(key: str) -> DigestKey | None:
    """Reads a digest's key; None when the key does not follow CloudTrail's digest layout.

    >>> parse_digest_key("AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2024/05/01/"
    ...                  "111122223333_CloudTrail-Digest_eu-west-1_my_trail_us-east-1_20240501T010131Z.json.gz").trail
    'my_trail'
    """
    match = _DIGEST_KEY.fullmatch(key)
    if match is None or match["name_account"] != match["account"] or match["name_region"] != match["region"]:
        return None
    try:
        end = datetime.strptime(match["stamp"], _STAMP).replace(tzinfo=timezone.utc)
    except ValueError:  # 20241332T...: shaped like a stamp, not a time
        return None
    return DigestKey(prefix=match["prefix"], org_id=match["org"], account=match["account"],
                     region=match["region"], trail=match["trail"], home_region=match["home"],
                     end_time=timestamps.datetime_micros(end), backfill=match["backfill"] is not None)


def format_digest_key(key: DigestKey) -> str:
    """The S3 key CloudTrail gives a digest (the inverse of ``parse_digest_key``).

    >>> format_digest_key(DigestKey(prefix="", org_id=None, account="111122223333", region="us-east-1",
    ...     trail="t", home_region="eu-west-1", end_time=0, backfill=False)).split("/")[-1]
    '111122223333_CloudTrail-Digest_us-east-1_t_eu-west-1_19700101T000000Z.json.gz'
    """
    end = timestamps.to_datetime(key.end_time)
    org = f"{key.org_id}/" if key.org_id else ""
    suffix = "_backfill" if key.backfill else ""
    return (f"{key.prefix}AWSLogs/{org}{key.account}/CloudTrail-Digest/{key.region}/{end:%Y/%m/%d}/"
            f"{key.account}_CloudTrail-Digest_{key.region}_{key.trail}_{key.home_region}_"
            f"{end.strftime(_STAMP)}{suffix}.json.gz")


# ---- Content ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LogFileEntry:
    """One ``logFiles`` element: a log file the digest vouches for."""

    bucket: str                       # s3Bucket
    key: str                          # s3Object
    hash_value: str                   # hashValue: hex SHA-256 of the uncompressed log file, lower case
    hash_algorithm: str               # hashAlgorithm ("SHA-256")
    newest_event_time: int | None     # micros
    oldest_event_time: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Digest:
    """A parsed digest file. Field names follow the JSON (``digestS3Object`` -> ``key``)."""

    account_id: str                   # awsAccountId
    start_time: int                   # digestStartTime, micros
    end_time: int                     # digestEndTime, micros
    end_time_text: str                # digestEndTime exactly as written: it is part of the signed string
    bucket: str                       # digestS3Bucket: where CloudTrail delivered it
    key: str                          # digestS3Object
    public_key_fingerprint: str       # digestPublicKeyFingerprint
    signature_algorithm: str          # digestSignatureAlgorithm
    newest_event_time: int | None
    oldest_event_time: int | None
    previous_bucket: str | None       # previousDigestS3Bucket; all previous_* are None in a starting digest
    previous_key: str | None          # previousDigestS3Object
    previous_hash_value: str | None   # previousDigestHashValue: hex SHA-256 of the previous uncompressed digest
    previous_hash_algorithm: str | None
    previous_signature: str | None    # previousDigestSignature: the previous digest's signature (hex)
    log_files: tuple[LogFileEntry, ...]
    content_sha256: str               # hex SHA-256 of this digest's uncompressed bytes (computed, not in the file)

    @property
    def is_starting(self) -> bool:
        """A starting digest: validation or logging was (re)started; it links to no previous digest."""
        return self.previous_key is None


def parse_digest(data: bytes) -> Digest:
    """Parses a digest file, gzipped (as delivered) or not.

    Raises:
        DigestError: the bytes are not one gzip stream (``corrupt_gzip``; ``gzip_trailing_data`` when
            something follows it), not JSON (``invalid_json``) or lack a required field (``unknown_shape``).
    """
    content = _decompressed(data)
    try:
        document = json.loads(content)
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise DigestError(errors.INVALID_JSON, str(err)[:300]) from None
    if not isinstance(document, dict):
        raise DigestError(errors.UNKNOWN_SHAPE, "a digest is a JSON object")
    read = _Fields(document, "digest")
    entries = document.get("logFiles")
    if not isinstance(entries, list):
        raise DigestError(errors.UNKNOWN_SHAPE, "digest: logFiles is not a list")
    end_time_text = read.text("digestEndTime")
    return Digest(
        account_id=read.text("awsAccountId"),
        start_time=read.time("digestStartTime"),
        end_time=read.time("digestEndTime"),
        end_time_text=end_time_text,
        bucket=read.text("digestS3Bucket"),
        key=read.text("digestS3Object"),
        public_key_fingerprint=read.text("digestPublicKeyFingerprint").lower(),
        signature_algorithm=read.text("digestSignatureAlgorithm"),
        newest_event_time=read.optional_time("newestEventTime"),
        oldest_event_time=read.optional_time("oldestEventTime"),
        previous_bucket=read.optional_text("previousDigestS3Bucket"),
        previous_key=read.optional_text("previousDigestS3Object"),
        previous_hash_value=_lower(read.optional_text("previousDigestHashValue")),
        previous_hash_algorithm=read.optional_text("previousDigestHashAlgorithm"),
        previous_signature=read.optional_text("previousDigestSignature"),
        log_files=tuple(_log_file_entry(entry, i) for i, entry in enumerate(entries)),
        content_sha256=hashlib.sha256(content).hexdigest(),
    )


def _log_file_entry(entry: Any, index: int) -> LogFileEntry:
    if not isinstance(entry, dict):
        raise DigestError(errors.UNKNOWN_SHAPE, f"logFiles[{index}] is not an object")
    read = _Fields(entry, f"logFiles[{index}]")
    return LogFileEntry(bucket=read.text("s3Bucket"), key=read.text("s3Object"),
                        hash_value=read.text("hashValue").lower(), hash_algorithm=read.text("hashAlgorithm"),
                        newest_event_time=read.optional_time("newestEventTime"),
                        oldest_event_time=read.optional_time("oldestEventTime"))


@dataclass(frozen=True, slots=True)
class _Fields:
    """Typed reads of one JSON object's members; errors name the member."""

    document: dict[str, Any]
    where: str

    def text(self, name: str) -> str:
        value = self.document.get(name)
        if not isinstance(value, str):
            raise DigestError(errors.UNKNOWN_SHAPE, f"{self.where}: {name} is missing or not a string")
        return value

    def optional_text(self, name: str) -> str | None:
        return None if self.document.get(name) is None else self.text(name)

    def time(self, name: str) -> int:
        try:
            return timestamps.parse_micros(self.text(name))
        except ValueError as err:
            raise DigestError(errors.UNKNOWN_SHAPE, f"{self.where}: {name}: {err}") from None

    def optional_time(self, name: str) -> int | None:
        return None if self.document.get(name) is None else self.time(name)


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def string_to_sign(digest: Digest) -> bytes:
    """The string CloudTrail signs for a digest (AWS's ``Data_To_Sign_String``), UTF-8 encoded.

    Both the content hash and the previous signature come from the parsed digest, so the string always
    describes the very bytes that were parsed.

    >>> d = parse_digest(b'{"awsAccountId": "1", "digestStartTime": "2015-08-12T03:01:31Z", '
    ...     b'"digestEndTime": "2015-08-12T04:01:31Z", "digestS3Bucket": "b", "digestS3Object": "k", '
    ...     b'"digestPublicKeyFingerprint": "f", "digestSignatureAlgorithm": "SHA256withRSA", "logFiles": []}')
    >>> string_to_sign(d).decode().replace(d.content_sha256, "<sha256>")
    '2015-08-12T04:01:31Z\\nb/k\\n<sha256>\\nnull'
    """
    previous = "null" if digest.previous_signature is None else digest.previous_signature
    return (f"{digest.end_time_text}\n{digest.bucket}/{digest.key}\n"
            f"{digest.content_sha256}\n{previous}").encode("utf-8")


# ---- Uncompressed content and its hash ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContentHash:
    """SHA-256 of a file's uncompressed content, read as a stream."""

    sha256: str           # hex, of the content of the first gzip stream (or of the bytes when not gzipped)
    gzipped: bool
    trailing_bytes: int   # bytes after the end of the gzip stream: CloudTrail writes exactly one


def hash_content(data: bytes | Iterable[bytes]) -> ContentHash:
    """Hashes the uncompressed content of a file given whole or as chunks (e.g. an S3 body's ``iter_chunks()``).

    Memory stays bounded whatever the file: zlib output is taken 8 MiB at a time and hashed at once.

    Raises:
        DigestError: ``corrupt_gzip`` when the gzip stream is damaged or truncated (its CRC is checked).
    """
    chunks = _slices(data) if isinstance(data, (bytes, bytearray, memoryview)) else iter(data)
    head = b""
    for chunk in chunks:  # the first two bytes decide; a stream may hand them over one at a time
        head += bytes(chunk)
        if len(head) >= 2:
            break
    digest = hashlib.sha256()
    if not head.startswith(_GZIP_MAGIC):
        digest.update(head)
        for chunk in chunks:
            digest.update(chunk)
        return ContentHash(digest.hexdigest(), False, 0)
    decompressor = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer, CRC checked
    trailing = 0
    try:
        for chunk in _prepend(head, chunks):
            if decompressor.eof:
                trailing += len(chunk)
                continue
            pending = chunk
            while True:
                out = decompressor.decompress(pending, _OUT_LIMIT)
                digest.update(out)
                pending = decompressor.unconsumed_tail
                if decompressor.eof or (not pending and len(out) < _OUT_LIMIT):
                    break
            if decompressor.eof:
                trailing += len(decompressor.unused_data)
    except zlib.error as err:
        raise DigestError(errors.CORRUPT_GZIP, str(err)) from None
    if not decompressor.eof:
        raise DigestError(errors.CORRUPT_GZIP, "truncated gzip stream")
    return ContentHash(digest.hexdigest(), True, trailing)


def _slices(data: bytes | bytearray | memoryview) -> Iterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        yield view[start:start + _CHUNK]


def _prepend(head: bytes, chunks: Iterator[Any]) -> Iterator[Any]:
    yield head
    yield from chunks


def _decompressed(data: bytes) -> bytes:
    """A digest's content (small: a few KB): gunzipped if gzipped; data after the stream is an error."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    decompressor = zlib.decompressobj(wbits=31)
    try:
        content = decompressor.decompress(data)
    except zlib.error as err:
        raise DigestError(errors.CORRUPT_GZIP, str(err)) from None
    if not decompressor.eof:
        raise DigestError(errors.CORRUPT_GZIP, "truncated gzip stream")
    if decompressor.unused_data:
        raise DigestError(errors.GZIP_TRAILING_DATA,
                          f"{len(decompressor.unused_data)} bytes after the end of the gzip stream")
    return content


# ---- Public keys and signatures -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicKey:
    """One public key of ``aws cloudtrail list-public-keys``."""

    fingerprint: str            # hex MD5 of ``der``, lower case; digests name their key by it
    der: bytes                  # DER: PKCS#1 RSAPublicKey as AWS documents it (SubjectPublicKeyInfo also loads)
    valid_from: int | None      # ValidityStartTime, micros
    valid_until: int | None     # ValidityEndTime, micros

    def is_valid_between(self, start: int, end: int) -> bool:
        """Whether the key's validity overlaps ``[start, end]`` (open bounds count as valid)."""
        return (self.valid_from is None or self.valid_from <= end) and (
            self.valid_until is None or self.valid_until >= start)


def fingerprint(der: bytes) -> str:
    """CloudTrail's fingerprint of a public key: hex MD5 of its DER bytes."""
    return hashlib.md5(der, usedforsecurity=False).hexdigest()


def parse_public_keys(document: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> tuple[PublicKey, ...]:
    """Reads ``list-public-keys`` output: the CLI's JSON, boto3's response, or the bare list.

    ``Value`` may be base64 text (CLI JSON) or bytes (boto3). Validity times may be epoch seconds
    (numbers or numeric strings, as the CLI prints them), ISO 8601 strings or datetimes (boto3). A
    missing ``Fingerprint`` is computed.

    Raises:
        DigestError: a key that is not an RSA public key in DER, or a malformed document.
    """
    if isinstance(document, Mapping):
        listed = document.get("PublicKeyList", document.get("publicKeyList"))
        if not isinstance(listed, list):
            raise DigestError(errors.UNKNOWN_SHAPE, "public keys: no PublicKeyList")
    else:
        listed = list(document)
    return tuple(_public_key(entry, i) for i, entry in enumerate(listed))


def _public_key(entry: Any, index: int) -> PublicKey:
    if not isinstance(entry, Mapping):
        raise DigestError(errors.UNKNOWN_SHAPE, f"PublicKeyList[{index}] is not an object")
    value = entry.get("Value")
    if isinstance(value, str):
        try:
            der = base64.b64decode(value, validate=True)
        except binascii.Error as err:
            raise DigestError(errors.UNKNOWN_SHAPE, f"PublicKeyList[{index}].Value: {err}") from None
    elif isinstance(value, (bytes, bytearray)):
        der = bytes(value)
    else:
        raise DigestError(errors.UNKNOWN_SHAPE, f"PublicKeyList[{index}].Value is missing")
    try:
        _rsa_key(der)
    except (ValueError, UnsupportedAlgorithm) as err:
        raise DigestError(errors.UNKNOWN_SHAPE, f"PublicKeyList[{index}]: {err}") from None
    given = entry.get("Fingerprint")
    return PublicKey(fingerprint=given.lower() if isinstance(given, str) and given else fingerprint(der), der=der,
                     valid_from=_key_time(entry.get("ValidityStartTime"), index),
                     valid_until=_key_time(entry.get("ValidityEndTime"), index))


def _key_time(value: Any, index: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return timestamps.datetime_micros(moment)
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return round(float(value) * 1_000_000)
        if isinstance(value, str):
            try:
                return round(float(value) * 1_000_000)   # "1436317441.0", as AWS's docs print it
            except ValueError:
                return timestamps.parse_micros(value)
    except (ValueError, OverflowError) as err:
        raise DigestError(errors.UNKNOWN_SHAPE, f"PublicKeyList[{index}]: validity time: {err}") from None
    raise DigestError(errors.UNKNOWN_SHAPE, f"PublicKeyList[{index}]: validity time {value!r:.40}")


@functools.lru_cache(maxsize=64)
def _rsa_key(der: bytes) -> rsa.RSAPublicKey:
    # load_der_public_key reads SubjectPublicKeyInfo and, failing that, PKCS#1 RSAPublicKey.
    key = serialization.load_der_public_key(der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"not an RSA public key but {type(key).__name__}")
    return key


def verify_signature(key: PublicKey, message: bytes, signature_hex: str) -> bool:
    """Whether ``signature_hex`` is ``key``'s SHA256withRSA (PKCS#1 v1.5) signature of ``message``."""
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    try:
        _rsa_key(key.der).verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True
