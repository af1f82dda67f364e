"""Attribution of a whole store file: the work of one worker, over one event file, in one pass.

Two passes over the store make the identity dataset; both work file by file, so no worker ever holds more
than one event file and the indexes of all sessions (memory grows with sessions, not events):

1. ``issued_in(data)``: the sessions and grants one event file holds. Only credential-issuing and
   -granting calls (``attribution.needs_original``, a small share) are decoded in full.
2. ``attribute_file(data, attributor)``: every event attributed, as ``AttributedEvent`` records in the
   file's own order, plus the file's credential uses (``usage.CredentialUse``) and counts.

Speed comes from ``storescan``: events are not decoded. The encoded ``userIdentity`` keys the attribution
cache, the columns an AttributedEvent shares with the event are copied as encoded bytes, and the encoded
attribution part (the "tail") is cached per identity and outcome. ``tests/unit/test_attributed.py``
proves every record equal to a straightforward fastavro encoding of ``attribution.attribute``'s answer.

Reading back: ``AttributedReader`` reads a written file beside its event file, decoding each distinct
attribution once.

Pure: stdlib, fastavro and trailbeam's pure modules.
"""

from __future__ import annotations

import functools
import io
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import fastavro

from trailbeam import avro, avrofile, storescan
from trailbeam.attribution import Attribution, Attributor, Grant, grants_from, light_view, needs_original
from trailbeam.eventcodec import NULL, long_bytes, optional_string, string_bytes
from trailbeam.identitystore import session_record
from trailbeam.sessions import Session, sessions_from
from trailbeam.usage import EVIDENCE, CredentialUse

__all__ = ["AttributedReader", "FileAttribution", "Issued", "attribute_file", "attributions_of", "encode_tail", "issued_in"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FileAttribution:
    """What attributing one event file produced."""

    records: tuple[bytes, ...]        # AttributedEvent encodings, in the event file's order
    issuers: tuple[tuple[int, str, bytes], ...]   # (eventTime, eventID, AttributedEvent) of the calls that
                                                  # issued a session or granted a credential
    uses: tuple[CredentialUse, ...]   # this file's credential uses (merge across files with usage.merge)
    counts: dict[str, int]            # "events", "basis:<b>", "confidence:<c>", "reason:<r>", "flag:<f>",
                                      # "temporary", "temporary-unattributed"


# ---- which events need their original JSON -----------------------------------------------------------

class _Needs(dict[bytes, bool]):
    """Encoded eventName + eventSource -> ``needs_original``; a few hundred distinct calls per trail."""

    def __missing__(self, encoded: bytes) -> bool:
        name, source = storescan.optional_strings(encoded, 2)
        self[encoded] = answer = needs_original(source, name)
        return answer


def _original(scanned: storescan.Scanned) -> Any:
    return storescan.original(scanned)


def _issues(event: Any) -> bool:
    try:
        return any(True for _ in sessions_from(event)) or any(True for _ in grants_from(event))
    except (KeyError, ValueError):
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    """What the first pass found in one event file."""

    sessions: tuple[Session, ...]
    grants: tuple[Grant, ...]


def issued_in(data: bytes) -> Issued:
    """Every session and grant one store event file records, in file order."""
    located = storescan.locate(data)
    needs = _Needs()
    sessions: list[Session] = []
    grants: list[Grant] = []
    for index in range(len(located)):
        if needs[located.name_source(index)]:
            event = _original(located.scanned(index))
            try:
                sessions.extend(sessions_from(event))
            except (KeyError, ValueError):
                pass                  # an issuing call without a usable eventID/eventTime issues nothing we can key
            grants.extend(grants_from(event))
    return Issued(sessions=tuple(sessions), grants=tuple(grants))


# ---- encoding the attribution part of an AttributedEvent -----------------------------------------------

def _array(items: list[bytes]) -> bytes:
    return (long_bytes(len(items)) + b"".join(items) + NULL) if items else NULL


class _SessionBytes(dict[Session, bytes]):
    def __missing__(self, session: Session) -> bytes:
        self[session] = encoded = avro.encode(avro.SESSION, session_record(session))
        return encoded


def encode_tail(attribution: Attribution, sessions: dict[Session, bytes] | None = None) -> bytes:
    """The AttributedEvent fields after ``userName`` (basis … createdBy), encoded."""
    encoded = _SessionBytes() if sessions is None else sessions
    origin = attribution.origin
    return b"".join((
        string_bytes(attribution.basis), string_bytes(attribution.confidence), optional_string(attribution.reason),
        _array([string_bytes(flag) for flag in attribution.flags]),
        string_bytes(origin.kind), string_bytes(origin.principal), optional_string(origin.access_key),
        optional_string(origin.resource),
        NULL if attribution.session is None else b"\x02" + encoded[attribution.session],
        _array([encoded[hop] for hop in attribution.chain]),
        _array([string_bytes(event_id) for event_id in attribution.created_by]),
    ))


# ---- one file ------------------------------------------------------------------------------------------

class _Use:
    """A credential use being aggregated over one file, keyed by encoded bytes until the file ends."""

    __slots__ = ("attribution", "count", "errors", "first", "last", "evidence")

    def __init__(self, attribution: Attribution, event_time: int) -> None:
        self.attribution = attribution
        self.count = self.errors = 0
        self.first = self.last = event_time
        self.evidence: list[tuple[int, str]] = []


def attribute_file(data: bytes, attributor: Attributor) -> FileAttribution:
    """Attributes every event of one store event file (a whole Avro container).

    Raises:
        ValueError: ``data`` is not a readable store event file.
    """
    needs = _Needs()
    identities: dict[bytes, dict[str, Any]] = {}      # encoded identity -> its first members, decoded
    # id(attribution) -> (attribution, its encoded tail). Holding the object keeps its id unique; answers
    # are shared objects (``Attributor.outcome``), so a file has a few dozen of them.
    tails: dict[int, tuple[Attribution, bytes]] = {}
    session_bytes = _SessionBytes()
    uses: dict[tuple[bytes, bytes], _Use] = {}
    outcomes: Counter[tuple[bytes, int]] = Counter()
    records: list[bytes] = []
    issuers: list[tuple[int, str, bytes]] = []
    located = storescan.locate(data)
    outcome, get_tail, get_use = attributor.outcome, tails.get, uses.get
    for index, event_time, name_source, identity, place, failed, head in located.rows():
        if needs[name_source]:
            event = _original(located.scanned(index))
            attribution = attributor.attribute(event)
            issuer = _issues(event)
        else:
            attribution = outcome(identity, event_time,
                                  lambda: light_view(_original(located.scanned(index))))  # noqa: B023 (called now)
            issuer = False
        known = get_tail(id(attribution))
        if known is None:
            known = tails[id(attribution)] = (attribution, encode_tail(attribution, session_bytes))
        record = head + known[1]
        records.append(record)
        if issuer:
            issuers.append((event_time, located.event_id(index), record))
        outcomes[(identity, id(attribution))] += 1

        use = get_use((identity, place))
        if use is None:
            use = uses[(identity, place)] = _Use(attribution, event_time)
        use.count += 1
        use.errors += failed
        use.last = event_time                       # files are sorted by (eventTime, eventID)
        if len(use.evidence) < EVIDENCE:
            use.evidence.append((event_time, located.event_id(index)))
    counts = _counts({(identity, tails[ref][0]): n for (identity, ref), n in outcomes.items()}, identities)
    return FileAttribution(records=tuple(records), issuers=tuple(issuers),
                           uses=tuple(_credential_uses(uses, identities)), counts=counts)


def _identity_of(identity: bytes, identities: dict[bytes, dict[str, Any]]) -> dict[str, Any]:
    known = identities.get(identity)
    if known is None:            # seen only on calls decoded in full: decode the identity bytes alone
        known = identities[identity] = _decode_identity(identity)
    return known


def _decode_identity(identity: bytes) -> dict[str, Any]:
    kind, arn, account, key = storescan.optional_strings(identity, 4)   # the first fields of UserIdentity
    return {"type": kind, "arn": arn, "accountId": account, "accessKeyId": key}


def _credential_uses(uses: dict[tuple[bytes, bytes], _Use], identities: dict[bytes, dict[str, Any]]
                     ) -> Iterator[CredentialUse]:
    for (identity, place), use in uses.items():
        user = _identity_of(identity, identities)
        account, source_ip, user_agent = storescan.optional_strings(place, 3)
        arn = user.get("arn")
        credential = user.get("accessKeyId") or arn or use.attribution.origin.principal
        yield CredentialUse(credential=credential, principal_arn=arn, account=account, source_ip=source_ip,
                            user_agent=user_agent, origin_kind=use.attribution.origin.kind,
                            origin_principal=use.attribution.origin.principal, count=use.count,
                            errors=use.errors, first_seen=use.first, last_seen=use.last,
                            evidence=tuple(use.evidence))


def _counts(outcomes: dict[tuple[bytes, Attribution], int], identities: dict[bytes, dict[str, Any]]
            ) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for (identity, attribution), n in outcomes.items():
        counts["events"] += n
        counts[f"basis:{attribution.basis}"] += n
        counts[f"confidence:{attribution.confidence}"] += n
        if attribution.reason is not None:
            counts[f"reason:{attribution.reason}"] += n
        for flag in attribution.flags:
            counts[f"flag:{flag}"] += n
        key = _identity_of(identity, identities).get("accessKeyId")
        if attribution.session is not None or (key or "").startswith("ASIA"):
            counts["temporary"] += n
            if attribution.basis == "none" or attribution.confidence == "low":
                counts["temporary-unattributed"] += n
    return dict(sorted(counts.items()))


# ---- reading AttributedEvent files back ----------------------------------------------------------------

_PREFIX = 48                    # bytes of an encoded attribution that index it


class AttributedReader:
    """An AttributedEvent file read alongside its event file, cheaply.

    ``trailbeam.attributed`` writes each record as the event's own columns, exactly the bytes
    ``storescan`` gives as ``head``, followed by the encoded attribution (the "tail"), which every event of
    the same attribution shares byte for byte; a file has a few dozen distinct tails. So the walk checks each
    head, recognises the tail among those seen (Avro encodings are prefix-free: bytes that start with a known
    tail hold that tail), and decodes only new tails. ``read`` returns None for a file written otherwise
    (another version): callers then decode it with fastavro.
    """

    __slots__ = ("_data", "_spans", "_tails", "_head_schema")

    def __init__(self, data: bytes, spans: list[tuple[int, int, int]], tails: list[dict[str, Any]],
                 head_schema: Any) -> None:
        self._data, self._spans, self._tails, self._head_schema = data, spans, tails, head_schema

    @classmethod
    def read(cls, attributed: bytes, heads: Sequence[bytes]) -> AttributedReader | None:
        container = avrofile.read_container(attributed)
        schemas = _split_schema(container.schema_json)
        if schemas is None or container.count != len(heads):
            return None
        data = b"".join(block for _, block in container.blocks)
        buffer = io.BytesIO(data)
        known: list[bytes] = []
        by_prefix: dict[bytes, list[int]] = {}     # the first _PREFIX bytes of a tail -> the tails starting so
        tails: list[dict[str, Any]] = []
        spans = []
        pos, last = 0, 0
        for head in heads:
            if not data.startswith(head, pos):
                return None
            at = pos + len(head)
            if known and data.startswith(known[last], at):
                number = last
            else:
                candidates = (*by_prefix.get(data[at:at + _PREFIX], ()), *by_prefix.get(b"", ()))
                number = next((n for n in candidates if data.startswith(known[n], at)), -1)
                if number < 0:
                    buffer.seek(at)
                    tails.append(fastavro.schemaless_reader(buffer, schemas[1], None))
                    number = len(known)
                    known.append(data[at:buffer.tell()])
                    # Tails shorter than the prefix are few and tried every time (under b"").
                    key = known[number][:_PREFIX] if len(known[number]) >= _PREFIX else b""
                    by_prefix.setdefault(key, []).append(number)
            spans.append((pos, at, number))
            pos, last = at + len(known[number]), number
        return cls(data, spans, tails, schemas[0]) if pos == len(data) else None

    def origin(self, index: int) -> tuple[str, str | None]:
        """(originPrincipal, originAccessKey) of a record."""
        tail = self._tails[self._spans[index][2]]
        return tail["originPrincipal"], tail["originAccessKey"]

    def attribution(self, index: int) -> dict[str, Any]:
        """The attribution fields of a record (basis … createdBy), decoded once per distinct tail."""
        return self._tails[self._spans[index][2]]

    def record(self, index: int) -> dict[str, Any]:
        """A whole record, as fastavro decodes it."""
        start, head_end, tail = self._spans[index]
        head = fastavro.schemaless_reader(io.BytesIO(self._data[start:head_end]), self._head_schema, None)
        return {**head, **self._tails[tail]}


@functools.cache
def _split_schema(schema_json: str) -> tuple[Any, Any] | None:
    """An AttributedEvent writer schema cut before ``basis``: (the event's columns, the attribution)."""
    schema = json.loads(schema_json)
    names = [field["name"] for field in schema.get("fields", ())]
    if "basis" not in names:
        return None
    cut = names.index("basis")
    return tuple(fastavro.parse_schema({"type": "record", "name": name, "namespace": "trailbeam", "fields": fields})
                 for name, fields in (("AttributedHead", schema["fields"][:cut]),
                                      ("AttributedTail", schema["fields"][cut:])))


# Older AttributedEvent layouts: what ``attributions_of`` reads of them, resolved by fastavro.
_ORIGINS = fastavro.parse_schema({
    "type": "record", "name": "AttributedEvent", "namespace": "trailbeam",
    "fields": [{"name": "eventID", "type": "string"}, {"name": "originKind", "type": "string"},
               {"name": "originPrincipal", "type": "string"},
               {"name": "originAccessKey", "type": ["null", "string"], "default": None}]})


def attributions_of(attributed: bytes, heads: Sequence[bytes], event_ids: Sequence[str]
                    ) -> list[dict[str, Any]] | None:
    """The attribution of every event of an event file (``heads`` and ``event_ids`` from ``storescan``), read
    from its AttributedEvent file: at least originKind, originPrincipal and originAccessKey per event. None
    when the file does not hold exactly these events, in this order."""
    reader = AttributedReader.read(attributed, heads)
    if reader is not None:        # the usual case: decoded once per distinct attribution, not per event
        return [reader.attribution(index) for index in range(len(heads))]
    found = list(fastavro.reader(io.BytesIO(attributed), reader_schema=_ORIGINS))
    if len(found) != len(event_ids) or any(r["eventID"] != e for r, e in zip(found, event_ids)):
        return None
    return found
