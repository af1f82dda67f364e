"""Evidence bundles: a trail's logs and digests copied out of S3 with what a copy would lose.

A downloaded copy of a bucket loses the S3 metadata in which CloudTrail keeps each digest's
signature, and the region's public keys live in another API. ``collect`` copies log and digest
objects under their own keys into a folder, and writes beside them ``trailbeam-evidence.json``:
the source, every object's ETag, size and Object Lock state, every digest's signature metadata,
and the public keys (from ``--public-keys`` or ``cloudtrail:ListPublicKeys``). ``trailbeam verify
FOLDER`` then needs no network.

Layout: ``<folder>/<bucket key of every object>`` and ``<folder>/trailbeam-evidence.json``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from trailbeam import errors, s3, s3paths, timestamps

MANIFEST = "trailbeam-evidence.json"
FORMAT = "trailbeam-evidence/1"
_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Collected:
    folder: str
    logs: int
    digests: int
    bytes: int
    public_keys: int
    locked: int          # objects under Object Lock retention or legal hold


def collect(source: str, folder: str | os.PathLike[str], *, settings: s3.S3Settings, today: date,
            accounts: Sequence[str] | None = None, regions: Sequence[str] | None = None,
            org_id: str | None = None, start: int | None = None, end: int | None = None,
            public_keys: dict[str, Any] | None = None, threads: int = 16) -> Collected:
    """Copies the logs and digests under ``source`` (pruned like ingest) into an evidence bundle.

    Raises:
        errors.InputError: configuration errors, or a folder that already holds a bundle.
    """
    root = Path(folder)
    if (root / MANIFEST).exists():
        raise errors.InputError(f"{root} already holds an evidence bundle; collect into a new folder")
    bucket = s3paths.parse_s3_uri(source).bucket
    s3.check_bucket(settings, bucket)
    client = s3.make_client(settings)
    tasks = s3.plan(client, source=source, accounts=accounts, regions=regions, org_id=org_id, start=start,
                    end=end, today=today, kinds=(s3paths.LOG_KIND, s3paths.DIGEST_KIND))
    collected_at = timestamps.format_micros(timestamps.datetime_micros(datetime.now(timezone.utc)))
    listed = [found for task in tasks for found in s3.list_objects(client, task)]

    def copy(found: s3.S3Object) -> tuple[str, dict[str, Any]]:
        key = s3paths.parse_s3_uri(found.uri).key
        data, metadata = s3.fetch_with_metadata(client, found.uri, expected_size=found.size, etag=found.etag)
        target = root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return key, {"etag": found.etag, "size": found.size, "last_modified": found.last_modified,
                     "metadata": metadata.user, "object_lock": {
                         "mode": metadata.lock_mode, "retain_until": metadata.lock_retain_until,
                         "legal_hold": metadata.legal_hold}}

    with ThreadPoolExecutor(threads) as pool:
        objects = dict(sorted(pool.map(copy, listed)))
    keys_doc = public_keys if public_keys is not None else _list_public_keys(settings, start, end)
    manifest = {"format": FORMAT, "source": source, "bucket": bucket, "collected_at": collected_at,
                "objects": objects, "public_keys": keys_doc}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    digests = sum("/CloudTrail-Digest/" in key for key in objects)
    return Collected(folder=str(root), logs=len(objects) - digests, digests=digests,
                     bytes=sum(entry["size"] for entry in objects.values()),
                     public_keys=len((keys_doc or {}).get("PublicKeyList", [])),
                     locked=sum(is_locked(entry) for entry in objects.values()))


def is_locked(entry: dict[str, Any]) -> bool:
    """Under Object Lock retention or a legal hold (WORM), as AWS advises for trail buckets."""
    lock = entry.get("object_lock") or {}
    return bool(lock.get("mode")) or lock.get("legal_hold") == "ON"


def load_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The bundle's manifest; InputError when the folder is not a bundle."""
    path = Path(folder) / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise errors.InputError(f"{folder} is not an evidence bundle (no {MANIFEST}); "
                                f"make one with trailbeam collect s3://...") from None
    except (OSError, ValueError) as err:
        raise errors.InputError(f"cannot read {path}: {err}") from None
    if manifest.get("format") != FORMAT:
        raise errors.InputError(f"{path}: unknown bundle format {manifest.get('format')!r}")
    return manifest


def _list_public_keys(settings: s3.S3Settings, start: int | None, end: int | None) -> dict[str, Any] | None:
    """cloudtrail:ListPublicKeys, when the endpoint is AWS's; None (verify then wants --public-keys)."""
    if settings.endpoint_url is not None:
        return None  # a local or third-party S3 has no CloudTrail next to it
    try:
        client = s3.make_session(settings).client("cloudtrail")   # the same credentials as the bucket's reads
        arguments = {}
        if start is not None:
            arguments["StartTime"] = timestamps.to_datetime(start)
        if end is not None:
            arguments["EndTime"] = timestamps.to_datetime(end)
        keys = client.list_public_keys(**arguments)["PublicKeyList"]
    except Exception as err:  # noqa: BLE001 - any failure only means: supply the keys yourself
        _LOGGER.warning("cannot list CloudTrail public keys (%s); verify will need --public-keys", type(err).__name__)
        return None
    return {"PublicKeyList": [{**key, "Value": _base64(key["Value"]),
                               "ValidityStartTime": str(key.get("ValidityStartTime")),
                               "ValidityEndTime": str(key.get("ValidityEndTime"))} for key in keys]}


def _base64(value: bytes | str) -> str:
    import base64

    return value if isinstance(value, str) else base64.b64encode(value).decode()
