"""Evidence verification as a pipeline, for ranges too large for one process to hash.

Hashing log files is the cost (gunzip + SHA-256 of every byte), so it runs in parallel on workers. The
digests and hashes are then judged one chain scope at a time: everything ``integrity.verify`` compares lies
within the (org id, account, region) that an object's key names, so each scope is verified on its own and
``integrity.merge_reports`` makes of the parts exactly the report of one ``verify`` call over everything.
Shape of the data::

    SourceObject --Spread, ReadEvidence--> DigestObject ("digests" output), LogHash ("logs" output)
    DigestObject --LinkScopes--> (scope, other scope) --JoinScopes, ToGroups--> {scope: its group's scope}
                                 (none unless a digest was edited to name another scope's files)
    DigestObject, LogHash --KeyDigests, KeyLogs--> (group scope, object)
        --GroupByScope--> (group scope, {"digests": [DigestObject], "logs": [LogHash]})
        --Judge--> Report, one per group --CollectReports, MergeReports--> Report --ToJson--> the report's JSON

A scope is ``(org id or "", account, region)``: plain strings, so the group key encodes deterministically.
What each grouping step holds at worst:

* GroupByScope and Judge: one (account, region) chain over the verified time range: ~24 digests a day
  (each with its digest file's bytes) plus its log hashes (a few hundred bytes per log file). Several
  trails delivering the same account and region to the bucket share a group (log keys do not name the
  trail). Scopes tied by a tampered digest share one too (CloudTrail's own digests never name another
  scope's files), so an attacker can at worst bring a group back to what the single Judge held before.
* JoinScopes: the cross-scope links, pairs of scope names: empty for untampered evidence.
* CollectReports and MergeReports: the report itself, one finding (~300 bytes, no digest bytes) per digest
  and log file in range; the output is one JSON document, so one worker holds it.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from trailbeam import digests, errors, integrity, layout, s3, s3paths
from trailbeam.beam.ingest import _read

DIGESTS, LOGS = "digests", "logs"


class _ReadEvidenceFn(beam.DoFn):
    """One object -> a DigestObject (tagged) or a LogHash, with one S3 client per worker.

    Only LOG and DIGEST keys pass, and the layout reads an account and a region from every such key: each
    object has a chain scope (``integrity.scope_of``), never ``integrity.UNSCOPED``.
    """

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


def _keyed(obj: integrity.DigestObject | integrity.LogHash,
           groups: dict[integrity.Scope, integrity.Scope]) -> tuple[integrity.Scope, object]:
    return integrity.group_of(obj.key, groups), obj


class _JudgeFn(beam.DoFn):
    """(group scope, {"digests": [...], "logs": [...]}) -> the group's Report, counting the objects judged."""

    def __init__(self, *, public_keys: dict, start: int | None, end: int | None):
        self._public_keys = public_keys
        self._start, self._end = start, end

    def setup(self):
        self._keys = digests.parse_public_keys(self._public_keys)
        self._sizes = Metrics.distribution("trailbeam.verify", "scope_objects")

    def process(self, element):
        _, grouped = element
        digest_objects, log_hashes = list(grouped[DIGESTS]), list(grouped[LOGS])
        self._sizes.update(len(digest_objects) + len(log_hashes))
        hashes = {(h.bucket, h.key): h for h in log_hashes}
        yield integrity.verify(digest_objects, hashes, None, self._keys, start=self._start, end=self._end)


class VerifyEvidence(beam.PTransform):
    """SourceObjects of a trail (logs and digests) -> one element: the verification report as JSON."""

    def __init__(self, *, root: str, bucket: str, public_keys: dict, signatures: dict | None = None,
                 s3_settings: s3.S3Settings | None = None, start: int | None = None, end: int | None = None):
        super().__init__()
        self._read = _ReadEvidenceFn(root=root, bucket=bucket, signatures=signatures or {}, s3_settings=s3_settings)
        self._judge = _JudgeFn(public_keys=public_keys, start=start, end=end)

    def expand(self, objects):
        read = (objects
                | "Spread" >> beam.Reshuffle()
                | "ReadEvidence" >> beam.ParDo(self._read).with_outputs(DIGESTS, main=LOGS))
        groups = pvalue.AsSingleton(
            read[DIGESTS]
            | "LinkScopes" >> beam.FlatMap(integrity.scope_links)
            | "JoinScopes" >> beam.combiners.ToSet()
            | "ToGroups" >> beam.Map(integrity.join_scopes))
        return ({DIGESTS: read[DIGESTS] | "KeyDigests" >> beam.Map(_keyed, groups),
                 LOGS: read[LOGS] | "KeyLogs" >> beam.Map(_keyed, groups)}
                | "GroupByScope" >> beam.CoGroupByKey()
                | "Judge" >> beam.ParDo(self._judge)
                | "CollectReports" >> beam.combiners.ToList()
                | "MergeReports" >> beam.Map(integrity.merge_reports)
                | "ToJson" >> beam.Map(integrity.Report.to_json))
