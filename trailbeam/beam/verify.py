"""Evidence verification as a pipeline, for ranges too large for one process to hash.

Hashing log files is the cost (gunzip + SHA-256 of every byte), so it runs in parallel on workers;
the digests and the hashes (a few hundred bytes per file) are then gathered on one worker, where
``integrity.verify`` judges the chains. Shape of the data::

    SourceObjects --ReadEvidence--> digests: DigestObject     logs: LogHash
    ToList(digests), ToList(logs) --Judge--> the report's JSON text
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue

from trailbeam import digests, errors, integrity, layout, s3, s3paths
from trailbeam.beam.ingest import _read

DIGESTS = "digests"


class _ReadEvidenceFn(beam.DoFn):
    """One object -> a DigestObject (tagged) or a LogHash, with one S3 client per worker."""

    def __init__(self, *, root: str, bucket: str, signatures: dict[str, dict[str, str]],
                 s3_settings: s3.S3Settings | None):
        self._root = root.rstrip("/") + "/"
        self._bucket = bucket
        self._signatures = signatures
        self._s3_settings = s3_settings

    def setup(self):
        self._s3 = s3.make_client(self._s3_settings) if self._s3_settings is not None else None

    def _key(self, uri: str) -> str:
        return s3paths.parse_s3_uri(uri).key if uri.startswith("s3://") else uri[len(self._root):]

    def process(self, source):
        key = self._key(source.uri)
        kind = layout.locate(key).kind
        if kind not in (layout.LOG, layout.DIGEST):
            return
        try:
            if self._s3 is not None:
                data, metadata = s3.fetch_with_metadata(self._s3, source.uri, expected_size=source.size)
                signature = metadata.user
            else:
                data, signature = _read(source.uri), self._signatures.get(key, {})
        except (s3.ObjectGone, s3.ReadFailed, OSError) as err:
            if kind == layout.LOG:
                yield integrity.LogHash(bucket=self._bucket, key=key, sha256=None, problem=errors.UNREADABLE,
                                        detail=str(err))
            return
        if kind == layout.DIGEST:
            yield pvalue.TaggedOutput(DIGESTS, integrity.DigestObject(
                bucket=self._bucket, key=key, data=data, signature=signature.get("signature"),
                algorithm=signature.get("signature-algorithm")))
        else:
            yield integrity.log_hash(self._bucket, key, data)


def _judge(_, digest_objects, log_hashes, *, public_keys, start, end) -> str:
    hashes = {(h.bucket, h.key): h for h in log_hashes}
    report = integrity.verify(digest_objects, hashes, list(hashes), digests.parse_public_keys(public_keys),
                              start=start, end=end)
    return report.to_json()


class VerifyEvidence(beam.PTransform):
    """SourceObjects of a trail (logs and digests) -> one element: the verification report as JSON."""

    def __init__(self, *, root: str, bucket: str, public_keys: dict, signatures: dict | None = None,
                 s3_settings: s3.S3Settings | None = None, start: int | None = None, end: int | None = None):
        super().__init__()
        self._read = _ReadEvidenceFn(root=root, bucket=bucket, signatures=signatures or {}, s3_settings=s3_settings)
        self._public_keys = public_keys
        self._start, self._end = start, end

    def expand(self, objects):
        read = (objects
                | "Spread" >> beam.Reshuffle()
                | "ReadEvidence" >> beam.ParDo(self._read).with_outputs(DIGESTS, main="logs"))
        return (objects.pipeline
                | "JudgeTrigger" >> beam.Create([None])
                | "Judge" >> beam.Map(_judge, pvalue.AsList(read[DIGESTS]), pvalue.AsList(read.logs),
                                      public_keys=self._public_keys, start=self._start, end=self._end))
