"""Attribution of a whole event store as a pipeline: the identity dataset of ``trailbeam.identitystore``.

Shape of the data (every per-event step works file by file; nothing holds all events of an account)::

    event files --Issued--> (sessions, grants, record offsets) per file --Gather--> Indexes (one side
                                                          input, sized by sessions, not events)
    (file, record offsets) --Attribute[Indexes]--> AttributedEvent file per event file (written by the worker)
                                        + credential uses --CombinePerKey(usage.merge)--> uses
                                        + counts --sum--> counts
    Indexes, uses, counts --Finish--> sessions/grants/uses.avro, graph, signals, summary; commit

The last step holds the sessions and the merged uses (distinct credential x account x IP x user agent),
again bounded by identities rather than events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from trailbeam import attributed, avro, avrofile, identityreport, identitystore, usage
from trailbeam.attribution import Attributor, Grant, Indexes, build_indexes
from trailbeam.beam.filesystem import BEAM_FS
from trailbeam.sessions import Session

_NAMESPACE = "trailbeam.identity"


def _read(path: str) -> bytes:
    with BEAM_FS.open(path) as handle:
        return handle.read()


def _issued(path: str) -> tuple[str, attributed.Issued]:
    return path, attributed.issued_in(_read(path))


def _found(issued: tuple[str, attributed.Issued]) -> tuple[list[Session], list[Grant]]:
    return list(issued[1].sessions), list(issued[1].grants)


def _offsets(issued: tuple[str, attributed.Issued]) -> tuple[str, bytes]:
    return issued[0], issued[1].offsets


def _gather(parts: Iterable[tuple[list[Session], list[Grant]]]) -> tuple[list[Session], list[Grant]]:
    sessions: list[Session] = []
    grants: list[Grant] = []
    for part_sessions, part_grants in parts:
        sessions.extend(part_sessions)
        grants.extend(part_grants)
    return sessions, grants


def _indexes(issued: tuple[list[Session], list[Grant]], *, run_id: str) -> tuple[str, Indexes]:
    # The run id tags the side input: a worker builds its Attributor (and its cache) once per run, not
    # once per bundle in which the runner hands it a freshly decoded copy.
    return run_id, build_indexes(*issued)


class _AttributeFileFn(beam.DoFn):
    """One event file -> its AttributedEvent file (written here), then its uses and counts."""

    COUNTS = "counts"
    ISSUERS = "issuers"

    def __init__(self, *, store_root: str, run_id: str):
        self._store_root = store_root
        self._run_id = run_id
        self._events = Metrics.counter(_NAMESPACE, "events_attributed")

    def setup(self):
        self._attributor: Attributor | None = None
        self._tag: str | None = None

    def process(self, located: tuple[str, bytes], tagged: tuple[str, Indexes]):
        path, offsets = located
        tag, indexes = tagged
        if tag != self._tag or self._attributor is None:
            self._attributor, self._tag = Attributor(indexes), tag
        result = attributed.attribute_file(_read(path), self._attributor, offsets)
        out_path = identitystore.attributed_file(self._store_root, self._run_id, path)
        with BEAM_FS.create(out_path) as out:
            avrofile.write_container(out, schema_json=avro.writer_schema_json(avro.ATTRIBUTED),
                                     records=result.records, seed=out_path.rsplit("/identity/", 1)[-1],
                                     metadata={"trailbeam.schema.version": str(avro.SCHEMA_VERSION)})
        self._events.inc(len(result.records))
        yield pvalue.TaggedOutput(self.COUNTS, result.counts)
        for issuer in result.issuers:
            yield pvalue.TaggedOutput(self.ISSUERS, issuer)
        for use in result.uses:
            yield (use.key, use)


def _sum_counts(parts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return dict(sorted(total.items()))


def _merge_uses(uses: Iterable[usage.CredentialUse]) -> usage.CredentialUse:
    merged = None
    for use in uses:
        merged = use if merged is None else usage.merge(merged, use)
    assert merged is not None
    return merged


def _finish(_: Any, tagged: tuple[str, Indexes], issued: tuple[list[Session], list[Grant]], uses: list[usage.CredentialUse],
            counts: list[dict[str, int]], issuers: list[tuple[int, str, bytes]], *, store_root: str, run_id: str, event_files: int) -> dict[str, Any]:
    summary = identityreport.write_run(BEAM_FS, store_root, run_id, sessions=issued[0], grants=issued[1],
                                       indexes=tagged[1], uses=usage.merge_all(uses),
                                       issuers=issuers, counts=counts[0] if counts else {},
                                       event_files=event_files)
    identitystore.commit(BEAM_FS, store_root, run_id)
    return summary


class AttributeStore(beam.PTransform):
    """Event file paths of one store -> one element: the identity run's summary (a dict), once committed."""

    def __init__(self, *, store_root: str, run_id: str, event_files: int):
        super().__init__()
        self._store_root = store_root.rstrip("/")
        self._run_id = run_id
        self._event_files = event_files

    def expand(self, paths):
        found = (paths
                 | "Spread" >> beam.Reshuffle()
                 | "Issued" >> beam.Map(_issued))
        issued = (found
                  | "Found" >> beam.Map(_found)
                  | "Gather" >> beam.CombineGlobally(_gather))
        indexes = issued | "Index" >> beam.Map(_indexes, run_id=self._run_id)
        results = (found | "Offsets" >> beam.Map(_offsets)) | "Attribute" >> beam.ParDo(
            _AttributeFileFn(store_root=self._store_root, run_id=self._run_id),
            pvalue.AsSingleton(indexes)).with_outputs(
            _AttributeFileFn.COUNTS, _AttributeFileFn.ISSUERS, main="uses")
        uses = results.uses | "MergeUses" >> beam.CombinePerKey(_merge_uses) | "Uses" >> beam.Values()
        counts = results[_AttributeFileFn.COUNTS] | "SumCounts" >> beam.CombineGlobally(_sum_counts)
        return (paths.pipeline
                | "FinishTrigger" >> beam.Create([None])
                | "Finish" >> beam.Map(_finish, pvalue.AsSingleton(indexes), pvalue.AsSingleton(issued),
                                       pvalue.AsList(uses), pvalue.AsList(counts),
                                       pvalue.AsList(results[_AttributeFileFn.ISSUERS]), store_root=self._store_root,
                                       run_id=self._run_id, event_files=self._event_files))
