"""Verifying a folder of evidence: an evidence bundle (``collect``) or a plain downloaded copy.

Adapts a local folder to ``integrity.verify``: digest objects with their signatures from the bundle
manifest, log files hashed as streams from disk, and every log file present (also those added after
collection, which no digest can list). A plain copy without a manifest works too, with less to go on:
digest signatures then come only from the next digest's ``previousDigestSignature``, so the newest
digest of each chain is reported unsigned.

Input: a folder. Output: ``integrity.Report`` plus the Object Lock state recorded by ``collect``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trailbeam import collect, digests, errors, integrity, layout, timestamps

_CHUNK = 1 << 20
_DELIVERY_DELAY = 3_600_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Verified:
    report: integrity.Report
    object_lock: dict[str, Any] | None   # {"locked": n, "objects": n, "unlocked": [keys]}; None without a bundle


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _trail_files(root: Path) -> Iterator[str]:
    for path in sorted(root.rglob("*.json.gz")):
        key = path.relative_to(root).as_posix()
        if "AWSLogs/" in key:
            yield key


def verify_folder(folder: str | os.PathLike[str], *, public_keys: dict[str, Any] | None = None,
                  start: int | None = None, end: int | None = None) -> Verified:
    """Verifies the trail files under ``folder``.

    Args:
        public_keys: ``aws cloudtrail list-public-keys`` output; default: the bundle's.

    Raises:
        errors.InputError: no trail files, or no public keys anywhere.
    """
    root = Path(folder)
    if not root.is_dir():
        raise errors.InputError(f"no such folder: {folder}")
    manifest = collect.load_manifest(root) if (root / collect.MANIFEST).exists() else None
    keys = public_keys if public_keys is not None else (manifest or {}).get("public_keys")
    if not keys:
        raise errors.InputError("no CloudTrail public keys: pass --public-keys FILE (the output of "
                                "aws cloudtrail list-public-keys)")
    objects = (manifest or {}).get("objects", {})
    files = list(_trail_files(root))
    # Everything under CloudTrail-Digest/ is a digest, also one copied to a key of another form (moved).
    digest_keys = [key for key in files if layout.locate(key).kind == layout.DIGEST]
    if not files:
        raise errors.InputError(f"{folder} holds no CloudTrail files under AWSLogs/")
    bucket = manifest["bucket"] if manifest else _bucket_named_in(root, digest_keys)
    digest_objects = []
    for key in digest_keys:
        metadata = objects.get(key, {}).get("metadata", {})
        digest_objects.append(integrity.DigestObject(
            bucket=bucket, key=key, data=(root / key).read_bytes(), signature=metadata.get("signature"),
            algorithm=metadata.get("signature-algorithm")))
    digest_set = set(digest_keys)
    present = [(bucket, key) for key in files if key not in digest_set]

    def log_hash(log_bucket: str, key: str) -> integrity.LogHash | None:
        path = root / key
        if log_bucket != bucket or not path.is_file():
            return None
        return integrity.log_hash(log_bucket, key, _chunks(path))

    if end is None and manifest and manifest.get("collected_at"):
        # Digests reach S3 some time after their hour ends: require only those an hour older than the copy.
        end = timestamps.parse_micros(manifest["collected_at"]) - _DELIVERY_DELAY
    report = integrity.verify(digest_objects, log_hash, present, digests.parse_public_keys(keys),
                              start=start, end=end)
    return Verified(report=report, object_lock=_object_lock(objects) if manifest else None)


def _bucket_named_in(root: Path, digest_keys: list[str]) -> str:
    """Without a manifest, the bucket is the one the digests name (they record where they were written)."""
    for key in digest_keys:
        try:
            return digests.parse_digest((root / key).read_bytes()).bucket
        except digests.DigestError:
            continue
    return "unknown-bucket"


def _object_lock(objects: dict[str, Any]) -> dict[str, Any]:
    unlocked = sorted(key for key, entry in objects.items() if not collect.is_locked(entry))
    return {"objects": len(objects), "locked": len(objects) - len(unlocked), "unlocked": unlocked}
