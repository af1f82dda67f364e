"""Attribution of a whole event store as a pipeline: the identity dataset of ``trailbeam.identitystore``.

Shape of the data (every per-event step works file by file; nothing holds all events of an account)::

    event files --Issued--> (sessions, grants) per file --Gather--> Indexes (one side input, sized by
                                                                            sessions, not events)
    event files --Attribute[Indexes]--> AttributedEvent file per event file (written by the worker)
                                        + the file's credential uses --merge_all--> uses
                                        + counts --sum--> counts
    Indexes, uses, counts --Finish--> sessions/grants/uses.avro, graph, signals, summary; commit

The last step holds the sessions and the merged uses (distinct credential x account x IP x user agent),
again bounded by identities rather than events.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from trailbeam import attributed, avro, identityreport, identitystore, usage
from trailbeam.attribution import Attributor, Grant, build_indexes
from trailbeam.beam.filesystem import BEAM_FS
from trailbeam.sessions import Session

_NAMESPACE = "trailbeam.identity"


def _read(path: str) -> bytes:
    with BEAM_FS.open(path) as handle:
        return handle.read()


def _issued(path: str) -> tuple[list[Session], list[Grant]]:
    found = attributed.issued_in(_read(path))
    return list(found.sessions), list(found.grants)


def _gather(parts: Iterable[tuple[list[Session], list[Grant]]]) -> tuple[list[Session], list[Grant]]:
    sessions: list[Session] = []
    grants: list[Grant] = []
    for part_sessions, part_grants in parts:
        sessions.extend(part_sessions)
        grants.extend(part_grants)
    return sessions, grants


def _indexes(issued: tuple[list[Session], list[Grant]], *, run_id: str) -> tuple[str, bytes]:
    # One opaque blob, tagged by the run id: a worker unpickles it and builds its Attributor (and cache)
    # once per run, and the runner's side-input cache sizes one bytes object instead of walking every
    # session each bundle.
    return run_id, pickle.dumps(build_indexes(*issued), protocol=pickle.HIGHEST_PROTOCOL)


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

    def process(self, path: str, tagged: tuple[str, bytes]):
        tag, blob = tagged
        if tag != self._tag or self._attributor is None:
            self._attributor, self._tag = Attributor(pickle.loads(blob)), tag
        result = attributed.attribute_file(_read(path), self._attributor)
        out_path = identitystore.attributed_file(self._store_root, self._run_id, path)
        identitystore.write_encoded(BEAM_FS, out_path, avro.ATTRIBUTED, result.records)
        self._events.inc(len(result.records))
        yield pvalue.TaggedOutput(self.COUNTS, result.counts)
        for issuer in result.issuers:
            yield pvalue.TaggedOutput(self.ISSUERS, issuer)
        yield result.uses                     # one element per file: uses are many small records


def _sum_counts(parts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return dict(sorted(total.items()))


def _blob(value: Any) -> bytes:
    # Side inputs travel as one opaque blob: the runner's cache then sizes one bytes object rather than
    # walking every session and use on every bundle.
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _merge_uses(parts: Iterable[Iterable[usage.CredentialUse]]) -> list[usage.CredentialUse]:
    return usage.merge_all(use for part in parts for use in part)


def _finish(_: Any, tagged: tuple[str, bytes], issued_blob: bytes, uses_blob: bytes,
            counts: list[dict[str, int]], issuers: list[tuple[int, str, bytes]], *, store_root: str, run_id: str, event_files: int) -> dict[str, Any]:
    issued: tuple[list[Session], list[Grant]] = pickle.loads(issued_blob)
    uses: list[usage.CredentialUse] = pickle.loads(uses_blob)
    # What the one gathering step holds: sized by identities, never by their events.
    Metrics.distribution(_NAMESPACE, "finish_sessions").update(len(issued[0]))
    Metrics.distribution(_NAMESPACE, "finish_uses").update(len(uses))
    summary = identityreport.write_run(BEAM_FS, store_root, run_id, sessions=issued[0], grants=issued[1],
                                       indexes=pickle.loads(tagged[1]), uses=uses,
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
        spread = paths | "Spread" >> beam.Reshuffle()
        issued = (spread
                  | "Issued" >> beam.Map(_issued)
                  | "Gather" >> beam.CombineGlobally(_gather))
        indexes = issued | "Index" >> beam.Map(_indexes, run_id=self._run_id)
        results = spread | "Attribute" >> beam.ParDo(
            _AttributeFileFn(store_root=self._store_root, run_id=self._run_id),
            pvalue.AsSingleton(indexes)).with_outputs(
            _AttributeFileFn.COUNTS, _AttributeFileFn.ISSUERS, main="uses")
        # Merged as they arrive (the combiner runs per bundle first): distinct uses, not events, are held.
        uses = (results.uses
                | "MergeUses" >> beam.CombineGlobally(_merge_uses)
                | "UsesBlob" >> beam.Map(_blob))
        counts = results[_AttributeFileFn.COUNTS] | "SumCounts" >> beam.CombineGlobally(_sum_counts)
        return (paths.pipeline
                | "FinishTrigger" >> beam.Create([None])
                | "Finish" >> beam.Map(_finish, pvalue.AsSingleton(indexes),
                                       pvalue.AsSingleton(issued | "IssuedBlob" >> beam.Map(_blob)),
                                       pvalue.AsSingleton(uses), pvalue.AsList(counts),
                                       pvalue.AsList(results[_AttributeFileFn.ISSUERS]), store_root=self._store_root,
                                       run_id=self._run_id, event_files=self._event_files))
