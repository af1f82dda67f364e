"""Tests of trailbeam.digests: digest keys, digest content, the string to sign, public keys, signatures."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

import digestchain
from trailbeam import errors, timestamps
from trailbeam.digests import (
    DigestError, DigestKey, PublicKey, format_digest_key, hash_content, parse_digest, parse_digest_key,
    parse_public_keys, string_to_sign, verify_signature,
)

SHAPES = Path(__file__).parents[1] / "fixtures" / "shapes"
ACCOUNT = "111122223333"
ORG = "o-aa111bb222"
END = timestamps.parse_micros("2024-05-01T01:01:31Z")


def example(n: int) -> bytes:
    """A digest body from the AWS CloudTrail User Guide (MIT-0), as published."""
    return (SHAPES / f"awsdocs_digest_example_{n}.json").read_bytes()


# ---- keys ---------------------------------------------------------------------------------------------

KEY_CASES = [
    ("plain",
     f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/05/01/"
     f"{ACCOUNT}_CloudTrail-Digest_us-east-1_trail_us-east-1_20240501T010131Z.json.gz",
     DigestKey(prefix="", org_id=None, account=ACCOUNT, region="us-east-1", trail="trail",
               home_region="us-east-1", end_time=END, backfill=False)),
    ("org-prefix-other-region",
     f"logs/prod/AWSLogs/{ORG}/{ACCOUNT}/CloudTrail-Digest/eu-west-1/2024/05/01/"
     f"{ACCOUNT}_CloudTrail-Digest_eu-west-1_org_trail_us-east-1_20240501T010131Z.json.gz",
     DigestKey(prefix="logs/prod/", org_id=ORG, account=ACCOUNT, region="eu-west-1", trail="org_trail",
               home_region="us-east-1", end_time=END, backfill=False)),
    ("backfill",
     f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/05/01/"
     f"{ACCOUNT}_CloudTrail-Digest_us-east-1_t-1.x_us-east-1_20240501T010131Z_backfill.json.gz",
     DigestKey(prefix="", org_id=None, account=ACCOUNT, region="us-east-1", trail="t-1.x",
               home_region="us-east-1", end_time=END, backfill=True)),
]


@pytest.mark.parametrize("key, expected", [case[1:] for case in KEY_CASES], ids=[case[0] for case in KEY_CASES])
def test_parse_digest_key(key: str, expected: DigestKey) -> None:
    assert parse_digest_key(key) == expected
    assert format_digest_key(expected) == key


NOT_DIGEST_KEYS = [
    ("log-file", f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2024/05/01/"
                 f"{ACCOUNT}_CloudTrail_us-east-1_20240501T0105Z_abcdefabcdefabcd.json.gz"),
    ("account-differs-in-name", f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/05/01/"
                                f"999988887777_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T010131Z.json.gz"),
    ("region-differs-in-name", f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/05/01/"
                               f"{ACCOUNT}_CloudTrail-Digest_eu-west-1_t_us-east-1_20240501T010131Z.json.gz"),
    ("not-a-time", f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/13/01/"
                   f"{ACCOUNT}_CloudTrail-Digest_us-east-1_t_us-east-1_20241301T010131Z.json.gz"),
    ("not-gzip-name", f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/05/01/"
                      f"{ACCOUNT}_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T010131Z.json"),
]


@pytest.mark.parametrize("key", [case[1] for case in NOT_DIGEST_KEYS], ids=[case[0] for case in NOT_DIGEST_KEYS])
def test_parse_digest_key_rejects_other_keys(key: str) -> None:
    assert parse_digest_key(key) is None


# ---- content: the AWS documentation examples ---------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["as-published", "gzipped"])
def test_parse_aws_example_with_one_log_file(compress: bool) -> None:
    body = example(0)
    digest = parse_digest(gzip.compress(body) if compress else body)
    assert digest.account_id == ACCOUNT
    assert digest.end_time_text == "2015-08-17T15:01:31Z"
    assert (digest.start_time, digest.end_time) == (timestamps.parse_micros("2015-08-17T14:01:31Z"),
                                                    timestamps.parse_micros("2015-08-17T15:01:31Z"))
    assert digest.bucket == "S3-bucket-name"
    assert digest.public_key_fingerprint == "31e8b5433410dfb61a9dc45cc65b22ff"
    assert digest.signature_algorithm == "SHA256withRSA"
    assert digest.previous_hash_value == "97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d"
    assert digest.previous_hash_algorithm == "SHA-256"
    assert digest.previous_signature is not None and digest.previous_signature.startswith("50887ccf")
    assert not digest.is_starting
    assert digest.content_sha256 == hashlib.sha256(body).hexdigest()
    (entry,) = digest.log_files
    assert entry.key.endswith("_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz")
    assert entry.hash_value == "9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6"
    assert entry.oldest_event_time == timestamps.parse_micros("2015-08-17T14:42:27Z")
    where = parse_digest_key(digest.key)
    assert where is not None and (where.trail, where.region, where.end_time) == (
        "your-trail-name", "us-east-2", digest.end_time)
    assert parse_digest_key(digest.previous_key or "") is not None


def test_parse_aws_example_of_an_empty_hour() -> None:
    digest = parse_digest(example(1))
    assert digest.log_files == ()
    assert digest.newest_event_time is None and digest.oldest_event_time is None
    assert digest.previous_key is not None and digest.previous_key.endswith("_20150820T170131Z.json.gz")


def test_string_to_sign_of_the_aws_example_by_hand() -> None:
    """digestEndTime, bucket/key, SHA-256 of the bytes as published, previousDigestSignature; "\\n" between."""
    digest = parse_digest(example(0))
    assert string_to_sign(digest) == (
        b"2015-08-17T15:01:31Z\n"
        b"S3-bucket-name/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/"
        b"111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz\n"
        b"21156717e696508f19f227d19f78e9725180fc9513730c488d2df06a54b33d5c\n"
        b"50887ccffad4c002b97caa37cc9dc626e3c680207d41d27fa5835458e066e0d3652fc4dfc30937e4d5f4cc7f796e7a258fb50"
        b"a43ac427f2237f6e505d4efaf373d156e15e3b68dea9f58111d395b62628d6bd367a9024d2183b5c5f6e19466d3a996b92df7"
        b"05bc997b8a0e13430f241d733cf95df4e41bb6c304c3f58363043572ea57a27085639ce187e679c0d81c7519b1184fa77fb7a"
        b"b0b0e40a32dace6e1eefc3995c5ae182da49b62b26398cebb52a2201a6387b75b89c83e5570bcb9bba6c34a80f2f00a1c6ebe"
        b"07d1ff149eccd812dc805bb3eeff6657db32a6cb48d2d096404eb76181877bc6ebb8cd0b23f823200155b2fd8848d428e46e8"
        b"456328a")


def test_string_to_sign_of_a_starting_digest_keeps_the_end_time_as_written() -> None:
    body = (b'{"awsAccountId":"1","digestStartTime":"2024-05-01T00:00:00Z",'
            b'"digestEndTime":"2024-05-01T01:00:00.000Z","digestS3Bucket":"b","digestS3Object":"k.json.gz",'
            b'"digestPublicKeyFingerprint":"AB","digestSignatureAlgorithm":"SHA256withRSA",'
            b'"previousDigestSignature":null,"logFiles":[]}')
    digest = parse_digest(gzip.compress(body))
    sha = hashlib.sha256(body).hexdigest()   # of the uncompressed bytes, not of the gzip object
    assert string_to_sign(digest) == f"2024-05-01T01:00:00.000Z\nb/k.json.gz\n{sha}\nnull".encode()
    assert digest.public_key_fingerprint == "ab" and digest.is_starting


MINIMAL = {"awsAccountId": "1", "digestStartTime": "2024-05-01T00:00:00Z", "digestEndTime": "2024-05-01T01:00:00Z",
           "digestS3Bucket": "b", "digestS3Object": "k", "digestPublicKeyFingerprint": "f",
           "digestSignatureAlgorithm": "SHA256withRSA", "logFiles": []}
BAD_DIGESTS = [
    ("trailing-data", gzip.compress(b"{}") + b"x", errors.GZIP_TRAILING_DATA),
    ("second-gzip-member", gzip.compress(b"{}") + gzip.compress(b"{}"), errors.GZIP_TRAILING_DATA),
    ("truncated", gzip.compress(b'{"a": 1}')[:-6], errors.CORRUPT_GZIP),
    ("not-json", b"digest", errors.INVALID_JSON),
    ("not-an-object", b"[]", errors.UNKNOWN_SHAPE),
    ("missing-end-time", b'{"awsAccountId": "1", "logFiles": []}', errors.UNKNOWN_SHAPE),
    ("bad-time", json.dumps({**MINIMAL, "digestStartTime": "yesterday"}).encode(), errors.UNKNOWN_SHAPE),
    ("log-files-not-a-list", json.dumps({**MINIMAL, "logFiles": {}}).encode(), errors.UNKNOWN_SHAPE),
    ("log-entry-not-an-object", json.dumps({**MINIMAL, "logFiles": ["k"]}).encode(), errors.UNKNOWN_SHAPE),
]


def test_minimal_digest_parses() -> None:
    assert parse_digest(json.dumps(MINIMAL).encode()).previous_key is None


@pytest.mark.parametrize("data, reason", [case[1:] for case in BAD_DIGESTS], ids=[case[0] for case in BAD_DIGESTS])
def test_parse_digest_rejects(data: bytes, reason: str) -> None:
    with pytest.raises(DigestError) as caught:
        parse_digest(data)
    assert caught.value.reason == reason


def test_parse_digest_rejects_a_log_entry_without_hash() -> None:
    document = json.loads(example(0))
    del document["logFiles"][0]["hashValue"]
    with pytest.raises(DigestError, match=r"logFiles\[0\]: hashValue"):
        parse_digest(json.dumps(document).encode())


# ---- hashing content -----------------------------------------------------------------------------------

CONTENT = b'{"Records": [' + b'{"eventID": "e"},' * 2000 + b'{}]}'


def one_byte_chunks(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


HASH_CASES = [
    ("gzip-whole", gzip.compress(CONTENT), True, 0),
    ("gzip-one-byte-chunks", one_byte_chunks(gzip.compress(CONTENT)), True, 0),
    ("plain", CONTENT, False, 0),
    ("plain-one-byte-chunks", one_byte_chunks(CONTENT), False, 0),
    ("trailing-bytes", gzip.compress(CONTENT) + b"\0" * 7, True, 7),
    ("trailing-member-in-chunks", [gzip.compress(CONTENT), gzip.compress(b"x"), b"yz"], True,
     len(gzip.compress(b"x")) + 2),
]


@pytest.mark.parametrize("data, gzipped, trailing", [c[1:] for c in HASH_CASES], ids=[c[0] for c in HASH_CASES])
def test_hash_content_is_the_sha256_of_the_uncompressed_content(data: object, gzipped: bool, trailing: int) -> None:
    found = hash_content(data)  # type: ignore[arg-type]
    assert (found.sha256, found.gzipped, found.trailing_bytes) == (hashlib.sha256(CONTENT).hexdigest(), gzipped,
                                                                    trailing)


def test_hash_content_streams_output_larger_than_its_limit() -> None:
    """40 MiB of zeros from ~40 KB of gzip: hashed in bounded pieces, same result."""
    zeros = bytes(40 << 20)
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    data = compressor.compress(zeros) + compressor.flush()
    assert hash_content(data).sha256 == hashlib.sha256(zeros).hexdigest()


@pytest.mark.parametrize("data", [gzip.compress(CONTENT)[:-4], gzip.compress(CONTENT)[:40],
                                  bytes(gzip.compress(CONTENT)[:30]) + b"\xff" * 30],
                         ids=["no-trailer", "truncated", "damaged"])
def test_hash_content_rejects_corrupt_gzip(data: bytes) -> None:
    with pytest.raises(DigestError) as caught:
        hash_content(data)
    assert caught.value.reason == errors.CORRUPT_GZIP


# ---- public keys and signatures ------------------------------------------------------------------------------

# From the AWS CLI's list-public-keys example and the CloudTrail User Guide (custom validation): real keys.
CLI_EXAMPLE = {"PublicKeyList": [{
    "ValidityStartTime": 1453076702.0, "ValidityEndTime": 1455668702.0,
    "Value": "MIIBCgKCAQEAlSS3cl92HDycr/MTj0moOhas8habjrraXw+KzlWF0axSI2tcF+3iJ9BKQAVSKxGwxwu3m0wG3J+kUl1xboEcEPHYoIY"
             "MbgfSw7KGnuDKwkLzsQWhUJ0cIbOHASox1vv/5fNXkrHhGbDCHeVXm804c83nvHUEFYThr1PfyP/8HwrCtR3FX5OANtQCP61C1nJtSS"
             "kC8JSQUOrIP4CuwJjc+4WGDk+BGH5m9iuiAKkipEHWmUl8/P7XpfpWQuk4h8g3pXZOrNXr08lbh4d39svj7UqdhvOXoBISp9t/EXYue"
             "PGEtBdrKD9Dz+VHwyUPtBQvYr9BnkF88qBnaPNhS44rzwIDAQAB",
    "Fingerprint": "7f3f401420072e50a65a141430817ab3"}]}
GUIDE_EXAMPLE_SPKI = {  # the user guide's sample also lists one key as SubjectPublicKeyInfo, string times
    "ValidityStartTime": "1434589370.0", "ValidityEndTime": "1437181370.0",
    "Value": "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqlzPJbvZJ42UdcmLfPUqXYNfOs6I8lCfao/tOs8CmzPOEdtLWugB9xoIU"
             "z78qVHdKIqxbaG4jWHfJBiOSSFBM0lt8cdVo4TnRa7oG9io5pysS6DJhBBAeXsicufsiFJR+wrUNh8RSLxL4k6G1+BhLX20tJkZ/erT9"
             "7tDGBujAelqseGg3vPZbTx9SMfOLN65PdLFudLP7Gat0Z9p5jw/rjpclKfo9Bfc3heeBxWGKwBBOKnFAaN9V57pOaosCvPKmHd9bg7jsQ"
             "kI9Xp22IzGLsTFJZYVA3KiTAElDMu80iFXPHEq9hKNbt9e4URFam+1utKVEiLkR2disdCmPTK0VQIDAQAB",
    "Fingerprint": "31e8b5433410dfb61a9dc45cc65b22ff"}


@pytest.mark.parametrize("entry", [CLI_EXAMPLE["PublicKeyList"][0], GUIDE_EXAMPLE_SPKI], ids=["pkcs1", "spki"])
def test_aws_fingerprint_is_the_md5_of_the_der_value(entry: dict[str, object]) -> None:
    without = {k: v for k, v in entry.items() if k != "Fingerprint"}
    (given,) = parse_public_keys([entry])
    (computed,) = parse_public_keys([without])
    assert computed.fingerprint == given.fingerprint == entry["Fingerprint"]


def test_parse_public_keys_reads_cli_output() -> None:
    (key,) = parse_public_keys(CLI_EXAMPLE)
    assert key.valid_from == 1453076702 * 1_000_000 and key.valid_until == 1455668702 * 1_000_000
    assert key.der == base64.b64decode(CLI_EXAMPLE["PublicKeyList"][0]["Value"])  # type: ignore[index]


def test_parse_public_keys_reads_boto3_and_iso_times() -> None:
    der = digestchain.public_der()
    boto3_shaped = {"PublicKeyList": [{"Value": der, "Fingerprint": "ABC",
                                       "ValidityStartTime": datetime(2024, 5, 1, tzinfo=timezone.utc),
                                       "ValidityEndTime": "2024-06-01T00:00:00Z"}]}
    (key,) = parse_public_keys(boto3_shaped)
    assert key == PublicKey(fingerprint="abc", der=der, valid_from=timestamps.parse_micros("2024-05-01T00:00:00Z"),
                            valid_until=timestamps.parse_micros("2024-06-01T00:00:00Z"))


@pytest.mark.parametrize("document", [{"Keys": []}, {"PublicKeyList": [{"Value": "bm90IGEga2V5"}]},
                                      {"PublicKeyList": [{"Value": "%%"}]}, {"PublicKeyList": [{}]},
                                      {"PublicKeyList": [{**GUIDE_EXAMPLE_SPKI, "ValidityEndTime": "soon"}]}],
                         ids=["no-list", "not-a-key", "not-base64", "no-value", "bad-time"])
def test_parse_public_keys_rejects(document: dict[str, object]) -> None:
    with pytest.raises(DigestError):
        parse_public_keys(document)


def test_verify_signature() -> None:
    (key,) = parse_public_keys(digestchain.public_keys_document("aws"))
    message = b"2024-05-01T01:01:31Z\nb/k\nabc\nnull"
    signature = digestchain.sign(message)
    assert verify_signature(key, message, signature)
    assert verify_signature(key, message, signature.upper())
    assert not verify_signature(key, message + b" ", signature)
    assert not verify_signature(key, message, digestchain.sign(message, "attacker"))
    assert not verify_signature(key, message, "zz" + signature[2:])
    assert not verify_signature(key, message, signature[:-2])


def test_public_key_validity_window() -> None:
    key = PublicKey(fingerprint="f", der=b"", valid_from=10, valid_until=20)
    assert key.is_valid_between(15, 30) and key.is_valid_between(0, 10)
    assert not key.is_valid_between(21, 30) and not key.is_valid_between(0, 9)
    assert PublicKey(fingerprint="f", der=b"", valid_from=None, valid_until=None).is_valid_between(0, 1)
