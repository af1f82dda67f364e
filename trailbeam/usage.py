"""Where and how each credential was used: one aggregate per (credential, account, source IP, user agent).

Attribution answers "who made this event"; responders then ask "from where was this key used, how often,
and since when". Keeping every event per key would grow with the trail, so uses are aggregated: the
aggregate for one (credential, account, IP, user agent) holds the count, the first and last time, and the
earliest few eventIDs as evidence. ``merge`` is associative and commutative (a Beam combiner uses it), so
the result does not depend on how the events were split or ordered.

Pure: stdlib only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from heapq import nsmallest

__all__ = ["EVIDENCE", "CredentialUse", "UseKey", "merge", "merge_all", "use_of"]

EVIDENCE = 5          # eventIDs kept per aggregate: the earliest, by (eventTime, eventID)

UseKey = tuple[str, str | None, str | None, str | None]   # credential, account, source IP, user agent


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialUse:
    """Every use of one credential from one place, aggregated."""

    credential: str               # the access key id; the principal ARN for calls that show no key
    principal_arn: str | None     # userIdentity.arn of the calls (the role session, user, ...)
    account: str | None           # recipientAccountId
    source_ip: str | None
    user_agent: str | None
    origin_kind: str              # attribution.Origin.kind of the calls
    origin_principal: str         # attribution.Origin.principal of the calls
    count: int
    errors: int                   # calls that failed (errorCode present)
    first_seen: int               # UTC micros
    last_seen: int
    evidence: tuple[tuple[int, str], ...]   # (eventTime, eventID) of the earliest EVIDENCE calls, sorted

    @property
    def key(self) -> UseKey:
        return (self.credential, self.account, self.source_ip, self.user_agent)

    @property
    def event_ids(self) -> tuple[str, ...]:
        return tuple(event_id for _, event_id in self.evidence)


def use_of(*, credential: str, principal_arn: str | None, account: str | None, source_ip: str | None,
           user_agent: str | None, origin_kind: str, origin_principal: str, event_time: int, event_id: str,
           failed: bool) -> CredentialUse:
    """The aggregate of a single event."""
    return CredentialUse(credential=credential, principal_arn=principal_arn, account=account, source_ip=source_ip,
                         user_agent=user_agent, origin_kind=origin_kind, origin_principal=origin_principal, count=1,
                         errors=int(failed), first_seen=event_time, last_seen=event_time,
                         evidence=((event_time, event_id),))


def merge(a: CredentialUse, b: CredentialUse) -> CredentialUse:
    """Two aggregates of the same key -> one. Order of arguments does not matter."""
    if a.key != b.key:
        raise ValueError(f"cannot merge uses of different keys: {a.key!r} and {b.key!r}")
    # Attribution of one key is the same for all its calls except across a grant; keep the smaller pair
    # so the merge stays commutative.
    first = min((a.origin_kind, a.origin_principal, a.principal_arn or ""),
                (b.origin_kind, b.origin_principal, b.principal_arn or ""))
    return replace(a, origin_kind=first[0], origin_principal=first[1], principal_arn=first[2] or None,
                   count=a.count + b.count, errors=a.errors + b.errors,
                   first_seen=min(a.first_seen, b.first_seen), last_seen=max(a.last_seen, b.last_seen),
                   evidence=tuple(nsmallest(EVIDENCE, set(a.evidence) | set(b.evidence))))


def merge_all(uses: Iterable[CredentialUse]) -> list[CredentialUse]:
    """Aggregates by key, merged, sorted by key (None sorts first)."""
    merged: dict[UseKey, CredentialUse] = {}
    for use in uses:
        known = merged.get(use.key)
        merged[use.key] = use if known is None else merge(known, use)
    return [merged[key] for key in sorted(merged, key=lambda k: tuple((v is not None, v or "") for v in k))]
