"""Who made a CloudTrail event: the session whose credentials signed it, and the origin behind that session.

``attribute`` links one event to the session that made it (``Session`` from ``trailbeam.sessions``), the
chain of sessions back to the first one, and the origin principal (an IAM user and its long-term key, the
root user, a SAML or OIDC subject, an AWS service and the resource it acts for, an IAM Identity Center
user). Every link names its basis, strongest first:

``access-key``      ``userIdentity.accessKeyId`` is a key the trail shows being issued (STS, or IAM
                    ``CreateAccessKey`` by a traceable caller). Confidence high.
``session-name``    the key is absent or unknown; the session issuer ARN, the session name from
                    ``principalId`` and ``sessionContext.attributes.creationDate`` (within a second of an
                    issue time) name an issued session. One candidate: medium; several: low, and no session
                    is chosen.
``long-term``       an IAM user or root acting as itself (``AKIA`` key, console, its console session key).
                    Confidence high. A console session is linked to its ``ConsoleLogin`` by creation time.
``on-behalf-of``    an IAM Identity Center session: the event names the directory user itself. High.
``service``         an AWS service acting on its own (``AWSService``/``invokedBy``; the name comes from
                    ``invokedBy`` only, as an answer may depend on nothing else of the identity): high. An EC2
                    instance-profile session whose issue is not in the logs, known by its session name (the
                    instance id): medium, ``Origin.resource`` names the instance.
``none``            nothing links the event. Confidence low.

Sessions issued to an AWS service keep it as their origin: ``Origin.resource`` is the EC2 instance (session
named after an instance id) or the Lambda function (session name, issuer ``lambda.amazonaws.com``).
Long-term identities created by a traceable caller keep that caller's origin: a ``CreateAccessKey`` key
(basis ``access-key``) or a user whose console password was set by ``CreateLoginProfile`` /
``UpdateLoginProfile`` (basis ``long-term``) lead back to whoever created them; ``Attribution.created_by``
names the linking events. That is how a backdoor user's activity reaches the leaked key that made it. The
role account's copy of a cross-account AssumeRole is the caller's call: it joins the caller's copy by
``sharedEventID`` (else by the issued key) and gets the caller's chain.

Flags (``Attribution.flags``, sorted) point an analyst at what to check; none of them changes the link:

``expired``                  the event is later than the expiration of the session that signed it.
``before-issue``             the event is earlier than that session's issue.
``source-identity-changed``  a sourceIdentity, once set in the chain, must propagate; a later session or the
                             event's own ``sessionContext.sourceIdentity`` shows another one.
``cross-account``            a hop of the chain crosses accounts.
``issuer-not-in-logs``       the chain's first session was issued to an assumed role, federated user or other
                             account whose own credentials are not in the logs.
``ambiguous``                several sessions fit; none was chosen.

``Attribution.reason`` says in one code why an event is unattributed (basis none), low confidence, or
of unknown origin: ``key-not-issued-in-logs`` (an ASIA key no logged call issued), ``session-not-in-logs``
(a role or federated session without a key that no logged session matches), ``ambiguous-session-name``,
``issuer-not-in-logs``, ``issuer-unknown`` (the first session's issuing call names no known kind of caller),
``external-account`` (another account's principal), ``no-identity`` and ``unknown-identity``. The first
four concern temporary credentials (``TEMPORARY_REASONS``).

For the pipeline: ``Attributor`` caches per identity, ``light_view``/``needs_original`` say which events may
be attributed from a few columns, ``summarize`` counts the results in a mergeable ``AttributionSummary``.

Pure: stdlib, ``trailbeam.timestamps`` and ``trailbeam.sessions``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Union

from trailbeam import timestamps
from trailbeam.sessions import (
    Session, is_issuing_call, origin_of, session_index, sessions_from, shared_event_index,
)

__all__ = ["TEMPORARY_REASONS", "Attribution", "AttributionSummary", "Attributor", "Grant", "Indexes", "Origin",
           "attribute", "build_indexes", "grants_from", "light_view", "needs_original", "session_origin",
           "summarize"]

_IAM = "iam.amazonaws.com"
_EC2 = "ec2.amazonaws.com"
_LAMBDA = "lambda.amazonaws.com"
_SECOND = 1_000_000
# EC2 names an instance-profile session after the instance. Ids are lower-case hex, but anonymised real
# records (Stratus Red Team) mix cases, and a case-sensitive match would miss them.
_INSTANCE_ID = re.compile(r"i-[0-9a-fA-F]{8,17}")
_SESSION_CALLERS = ("AssumedRole", "FederatedUser", "AWSAccount")   # callers whose own credentials are temporary
_TIME_FLAGS = frozenset({"expired", "before-issue"})
TEMPORARY_REASONS = frozenset({"key-not-issued-in-logs", "session-not-in-logs", "ambiguous-session-name",
                               "issuer-not-in-logs"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """The principal a chain of credentials starts from."""

    kind: str                     # iam-user, root, saml, web-identity, aws-service, identity-center, unknown
    principal: str                # user/root ARN, "<provider>:<subject>", service name, directory user, ...
    access_key: str | None        # the long-term key at the origin (AKIA...), when there is one
    resource: str | None = None   # what an AWS service acts for: EC2 instance id, Lambda function name


@dataclass(frozen=True, slots=True, kw_only=True)
class Attribution:
    """One event linked to the session that made it and to its origin."""

    event_id: str
    session: Session | None       # the session whose credentials made the call; None when unknown/ambiguous
    chain: tuple[Session, ...]    # oldest first; ends with ``session`` when there is one. For a long-term
                                  # identity made by a traceable caller: that caller's chain.
    origin: Origin
    basis: str                    # access-key, session-name, long-term, on-behalf-of, service, none
    confidence: str               # high, medium, low
    created_by: tuple[str, ...] = ()   # eventIDs of CreateAccessKey/…LoginProfile links followed, newest first
    flags: tuple[str, ...] = ()        # sorted, distinct: see the module docstring
    reason: str | None = None          # why unattributed, low confidence or of unknown origin (kebab-case)


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """A long-term credential handed out by an IAM call: an access key or a console password."""

    event_id: str
    kind: str                     # "access-key" or "login-profile"
    account: str | None
    user_name: str
    access_key_id: str | None     # the created AKIA key (access-key grants)
    granted_at: int               # eventTime, UTC micros
    creator: Mapping[str, Any] = field(compare=False)   # eventID, eventTime, userIdentity of the granting call


@dataclass(frozen=True, slots=True, kw_only=True)
class Indexes:
    """Everything ``attribute`` looks up, built once per trail by ``build_indexes``."""

    by_key: Mapping[str, Session]                                 # issued key -> session (session_index)
    by_name: Mapping[tuple[str, str], tuple[Session, ...]]        # (issuer ARN, session name) -> sessions
    grants_by_key: Mapping[str, Grant]                            # created AKIA key -> grant
    grants_by_user: Mapping[tuple[str | None, str], tuple[Grant, ...]]   # (account, user name) -> login grants
    by_shared: Mapping[str, Session] = field(default_factory=dict)       # sharedEventID -> the caller's copy
    by_login: Mapping[str, tuple[Session, ...]] = field(default_factory=dict)   # signed-in ARN -> ConsoleLogins


# ---- reading the event --------------------------------------------------------------------------------

def _at(value: Any, *path: str) -> Any:
    for key in path:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value


def _text(value: Any, *path: str) -> str | None:
    found = _at(value, *path)
    return found if type(found) is str and found else None


def _micros(value: object) -> int | None:
    try:
        return timestamps.parse_micros(value)
    except (TypeError, ValueError):
        return None


def _identity_of(event: Any) -> Mapping[str, Any]:
    identity = _at(event, "userIdentity")
    return identity if type(identity) is dict else {}


def _session_name(identity: Mapping[str, Any]) -> str | None:
    """The session name a role or federated session shows: ``principalId`` is ``<id>:<session name>``."""
    principal_id = _text(identity, "principalId")
    return principal_id.split(":", 1)[1] or None if principal_id and ":" in principal_id else None


# ---- grants: IAM calls that create long-term credentials ---------------------------------------------

_GRANT_CALLS = {"CreateAccessKey": "access-key", "CreateLoginProfile": "login-profile",
                "UpdateLoginProfile": "login-profile"}


def grants_from(event: Any) -> Iterator[Grant]:
    """The long-term credential one successful IAM event created: zero or one ``Grant``."""
    if not isinstance(event, dict) or event.get("eventSource") != _IAM or event.get("errorCode") is not None:
        return
    kind = _GRANT_CALLS.get(event.get("eventName"))
    event_id, granted_at = _text(event, "eventID"), _micros(event.get("eventTime"))
    if kind is None or event_id is None or granted_at is None:
        return
    key = _text(event, "responseElements", "accessKey", "accessKeyId") if kind == "access-key" else None
    user = (_text(event, "responseElements", "accessKey", "userName") or _text(event, "requestParameters", "userName")
            or _text(event, "responseElements", "loginProfile", "userName"))
    if user is None and kind == "access-key":
        user = _text(event, "userIdentity", "userName")   # CreateAccessKey without userName: the caller's own
    if user is None or (kind == "access-key" and key is None):
        return
    yield Grant(event_id=event_id, kind=kind, account=_text(event, "recipientAccountId"), user_name=user,
                access_key_id=key, granted_at=granted_at,
                creator={"eventID": event_id, "eventTime": event.get("eventTime"),
                         "userIdentity": event.get("userIdentity")})


# ---- indexes -------------------------------------------------------------------------------------------

def _name_key(session: Session) -> tuple[str, str] | None:
    """The (issuer ARN, session name) the session's own calls show in ``sessionContext``/``principalId``."""
    if session.session_name is None:
        return None
    if session.via == "GetFederationToken":       # a federated user's issuer is the IAM user who asked
        issuer = session.caller_arn
    elif session.via.startswith("AssumeRole"):
        issuer = session.role_arn
    else:
        return None
    return (issuer, session.session_name) if issuer else None


def _order(session: Session) -> tuple[int, str, str]:
    # repr breaks the last ties (two different records with one eventID): the order never depends on input.
    return (session.issued_at, session.issued_by_event, repr(session))


def grant_order(grant: Grant) -> tuple[int, str, str]:
    """Grants by time, then eventID; repr (which shows the creator, left out of ``==``) breaks the last ties,
    between conflicting copies of one call, so a choice among them never depends on input order."""
    return (grant.granted_at, grant.event_id, repr(grant))


def build_indexes(sessions: Iterable[Session], grants: Iterable[Grant] = ()) -> Indexes:
    """The lookups ``attribute`` needs, from every session (``sessions_from``) and grant (``grants_from``).

    Input order and duplicates do not matter: copies of one hop (same issued key, or same sharedEventID)
    and duplicate deliveries become one session, the caller's copy.
    """
    sessions = list(sessions)
    by_key = session_index(sessions)
    by_shared = shared_event_index(sessions)
    hops = {by_key.get(s.access_key_id or "") or by_shared.get(s.shared_event_id or "") or s for s in sessions}
    by_name: dict[tuple[str, str], list[Session]] = defaultdict(list)
    by_login: dict[str, list[Session]] = defaultdict(list)
    for session in hops:
        name_key = _name_key(session)
        if name_key is not None:
            by_name[name_key].append(session)
        if session.via == "ConsoleLogin" and session.role_arn is not None:
            by_login[session.role_arn].append(session)
    grants_by_key: dict[str, Grant] = {}
    grants_by_user: dict[tuple[str | None, str], list[Grant]] = defaultdict(list)
    for grant in sorted(grants, key=grant_order):       # the first of equal grants is kept: the earliest
        if grant.access_key_id is not None:
            grants_by_key.setdefault(grant.access_key_id, grant)
        else:
            grants_by_user[(grant.account, grant.user_name)].append(grant)
    return Indexes(
        by_key=by_key,
        by_name={k: tuple(sorted(v, key=_order)) for k, v in by_name.items()},
        grants_by_key=grants_by_key,
        grants_by_user={k: tuple(dict.fromkeys(v)) for k, v in grants_by_user.items()},
        by_shared=by_shared,
        by_login={k: tuple(sorted(v, key=_order)) for k, v in by_login.items()},
    )


def _issued_near(sessions: Sequence[Session], created: int) -> Sequence[Session]:
    """The sessions (ordered by issue time) issued within a second of ``created``."""
    start = bisect_left(sessions, created - _SECOND, key=lambda s: s.issued_at)
    end = bisect_right(sessions, created + _SECOND, key=lambda s: s.issued_at)
    return sessions[start:end]


# ---- origins -------------------------------------------------------------------------------------------

def session_origin(first: Session) -> Origin:
    """The origin named by the caller of the oldest session in a chain."""
    caller = first.caller_type
    if first.saml_provider is not None or caller == "SAMLUser":
        return Origin(kind="saml", principal=f"{first.saml_provider}:{first.subject}", access_key=None)
    if first.web_identity_provider is not None or caller == "WebIdentityUser":
        provider = (first.web_identity_provider or "").rpartition("oidc-provider/")[2]
        return Origin(kind="web-identity", principal=f"{provider}:{first.subject}", access_key=None)
    if caller == "AWSService":
        service = first.caller_arn or _service_of(first)
        name = first.session_name
        acts_for = name is not None and (service == _LAMBDA or _INSTANCE_ID.fullmatch(name) is not None)
        return Origin(kind="aws-service", principal=service, access_key=None, resource=name if acts_for else None)
    if caller in ("IAMUser", "Root") and first.caller_arn:
        key = first.caller_key if first.caller_key and first.caller_key.startswith("AKIA") else None
        return Origin(kind="root" if caller == "Root" else "iam-user", principal=first.caller_arn, access_key=key)
    # An assumed role or federated user whose own session is not in the trail, or an unknown caller.
    return Origin(kind="unknown", access_key=None,
                  principal=first.caller_arn or first.caller_key or first.caller_account or first.issued_by_event)


def _service_of(session: Session) -> str:
    # A Session keeps no invokedBy; a service's own call shows its name as source address and user agent.
    for name in (session.source_ip, session.user_agent):
        if name and name.endswith(".amazonaws.com"):
            return name
    return session.user_agent or "unknown-service"


def _identity_center(identity: Mapping[str, Any]) -> Origin | None:
    user = _text(identity, "onBehalfOf", "userId")
    if user is None:
        return None
    store = _text(identity, "onBehalfOf", "identityStoreArn")
    return Origin(kind="identity-center", principal=f"{store}/{user}" if store else user, access_key=None)


# ---- results -------------------------------------------------------------------------------------------

_RANK = {"low": 0, "medium": 1, "high": 2}


def _result(origin: Origin, basis: str, confidence: str, *, session: Session | None = None,
            chain: Iterable[Session] = (), created_by: tuple[str, ...] = (), flags: Iterable[str] = (),
            reason: str | None = None) -> Attribution:
    """An attribution without its event: ``_stamped`` adds the eventID and the time flags."""
    return Attribution(event_id="", session=session, chain=tuple(chain), origin=origin, basis=basis,
                       confidence=confidence, created_by=created_by, flags=tuple(sorted(set(flags))), reason=reason)


def _chain_flags(chain: Sequence[Session], identity: Mapping[str, Any]) -> set[str]:
    flags = set()
    if any(s.cross_account for s in chain):
        flags.add("cross-account")
    if chain and chain[0].caller_type in _SESSION_CALLERS:
        flags.add("issuer-not-in-logs")
    # Only values shown count: a hop that does not log its sourceIdentity has not changed it.
    shown = {s.source_identity for s in chain if s.source_identity}
    current = _text(identity, "sessionContext", "sourceIdentity")
    if shown and current:
        shown.add(current)
    if len(shown) > 1:
        flags.add("source-identity-changed")
    return flags


def _origin_reason(origin: Origin, flags: Iterable[str]) -> str | None:
    if origin.kind != "unknown":
        return None
    return "issuer-not-in-logs" if "issuer-not-in-logs" in flags else "issuer-unknown"


def _stamped(found: Attribution, event_id: str, at: int | None) -> Attribution:
    """``found`` for one event: its eventID, and the time flags of the session that signed it."""
    flags, session = found.flags, found.session
    if session is not None and at is not None:
        late = session.expires_at is not None and at > session.expires_at
        early = at < session.issued_at
        if late or early:
            flags = tuple(sorted({*flags, *(("expired",) if late else ()), *(("before-issue",) if early else ())}))
    if event_id == found.event_id and flags is found.flags:
        return found              # the common case of ``Attributor.outcome``: nothing to add
    return Attribution(event_id=event_id, session=session, chain=found.chain, origin=found.origin,
                       basis=found.basis, confidence=found.confidence, created_by=found.created_by, flags=flags,
                       reason=found.reason)


# ---- attribution: a plan per identity, finished per event ----------------------------------------------
#
# ``_plan`` reads only the identity, so a plan can be cached per identity. It is a sequence of stages tried
# in order; the last is always an Attribution. The other stages need the event: its time (a credential
# created by an IAM call counts only from its creation on) or, for issuing calls only, its other members.

_Step = Callable[[Mapping[str, Any], str, Union[int, None]], Union[Attribution, None]]
_Stage = Union[Attribution, _Step]


def _attribute(event: Any, indexes: Indexes, seen: frozenset[str]) -> Attribution:
    return _finish(_plan(_identity_of(event), indexes, seen), event)


def _finish(plan: Sequence[_Stage], event: Any) -> Attribution:
    event_id = _text(event, "eventID") or ""
    at = _micros(_at(event, "eventTime"))
    for stage in plan:
        found = stage if type(stage) is Attribution else stage(event, event_id, at)
        if found is not None:
            return _stamped(found, event_id, at)
    raise AssertionError("a plan ends with an Attribution")


def _through_grant(grant: Grant, basis: str, confidence: str, indexes: Indexes, seen: frozenset[str], *,
                   chain: Sequence[Session] = (), flags: Iterable[str] = ()) -> Attribution | None:
    """The origin of whoever made ``grant``, then ``chain`` (sessions of the granted credential); None when that
    caller cannot be traced or the links loop."""
    if grant.event_id in seen:
        return None
    creator = _attribute(grant.creator, indexes, seen | {grant.event_id})
    if creator.basis == "none" or creator.confidence == "low":
        return None
    return _result(creator.origin, basis, min(confidence, creator.confidence, key=_RANK.__getitem__),
                   session=chain[-1] if chain else None, chain=(*creator.chain, *chain),
                   created_by=(grant.event_id, *creator.created_by),
                   flags={*flags, *creator.flags} - _TIME_FLAGS, reason=creator.reason)


class _Gate:
    """A stage for credentials created by IAM calls: the latest grant made by the event's time leads to its
    creator. Each grant's answer depends on the grant only, so it is worked out once, when first needed."""

    __slots__ = ("_grants", "_times", "_through", "_answers")

    def __init__(self, grants: Sequence[Grant], through: Callable[[Grant], Attribution | None]) -> None:
        self._grants, self._times, self._through = grants, [g.granted_at for g in grants], through
        self._answers: dict[int, Attribution | None] = {}

    def __call__(self, event: Mapping[str, Any], event_id: str, at: int | None) -> Attribution | None:
        index = len(self._times) if at is None else bisect_right(self._times, at)
        if index == 0:
            return None
        if index not in self._answers:
            self._answers[index] = self._through(self._grants[index - 1])
        return self._answers[index]


def _issued(event: Mapping[str, Any]) -> Iterator[Session]:
    try:
        yield from sessions_from(event)
    except (KeyError, ValueError):
        return


def _callers_copy(event: Mapping[str, Any], event_id: str, at: int | None, *, indexes: Indexes,
                  seen: frozenset[str]) -> Attribution | None:
    """The role account's copy of a cross-account call is the caller's call: the caller's copy names its
    credentials. Found by sharedEventID, else by the key both copies issued."""
    if not is_issuing_call(_text(event, "eventSource"), _text(event, "eventName")):
        return None
    shared = _text(event, "sharedEventID")
    copy = indexes.by_shared.get(shared) if shared else None
    if copy is None or copy.caller_type == "AWSAccount":
        issued = next(_issued(event), None)
        copy = indexes.by_key.get(issued.access_key_id or "") if issued is not None else None
    if copy is None or copy.issued_by_event == event_id or copy.caller_type == "AWSAccount":
        return None
    caller = {"type": copy.caller_type, "arn": copy.caller_arn, "accessKeyId": copy.caller_key,
              "accountId": copy.caller_account}
    found = _attribute({"eventID": event_id, "eventTime": _at(event, "eventTime"),
                        "userIdentity": {k: v for k, v in caller.items() if v is not None}}, indexes, seen)
    return None if found.basis == "none" else found


def _subjects_issue(event: Mapping[str, Any], event_id: str, at: int | None) -> Attribution | None:
    """A SAML or OIDC subject presenting its own assertion: the origin is in the session it issued."""
    issued = next(_issued(event), None)
    return None if issued is None else _result(session_origin(issued), "long-term", "high")


def _chain_result(chain: Sequence[Session], identity: Mapping[str, Any], basis: str, confidence: str,
                  indexes: Indexes, seen: frozenset[str]) -> Attribution:
    """The attribution of a use of the last session of ``chain``."""
    flags = _chain_flags(chain, identity)
    first_key = chain[0].caller_key
    grant = indexes.grants_by_key.get(first_key) if first_key else None
    if grant is not None:          # a session made from a created long-term key
        through = _through_grant(grant, basis, confidence, indexes, seen, chain=chain, flags=flags)
        if through is not None:
            return through
    origin = session_origin(chain[0])
    if len(chain) == 1:            # an SSO session's SAML subject is the directory user the event names
        origin = _identity_center(identity) or origin
    return _result(origin, basis, confidence, session=chain[-1], chain=chain, flags=flags,
                   reason=_origin_reason(origin, flags))


def _by_session_name(identity: Mapping[str, Any], indexes: Indexes, seen: frozenset[str]) -> Attribution | None:
    issuer = _text(identity, "sessionContext", "sessionIssuer", "arn")
    name = _session_name(identity)
    created = _micros(_at(identity, "sessionContext", "attributes", "creationDate"))
    if issuer is None or name is None or created is None:
        return None
    candidates = _issued_near(indexes.by_name.get((issuer, name), ()), created)
    chains = [origin_of(s.access_key_id, indexes.by_key) if s.access_key_id else [s] for s in candidates]
    if len(candidates) == 1:
        return _chain_result(chains[0], identity, "session-name", "medium", indexes, seen)
    if not candidates:
        return None
    origins = {session_origin(chain[0]) for chain in chains}
    origin = origins.pop() if len(origins) == 1 else Origin(
        kind="unknown", principal=_text(identity, "arn") or issuer, access_key=None)
    return _result(origin, "session-name", "low", flags={"ambiguous"}, reason="ambiguous-session-name")


def _instance_profile(identity: Mapping[str, Any]) -> Attribution | None:
    """An EC2 instance-profile session whose issue is not in the logs, known by its name alone."""
    name = _session_name(identity)
    if name is None or _INSTANCE_ID.fullmatch(name) is None:
        return None
    return _result(Origin(kind="aws-service", principal=_EC2, access_key=None, resource=name), "service", "medium")


def _long_term(identity: Mapping[str, Any], kind: str, key: str | None, arn: str, indexes: Indexes,
               seen: frozenset[str]) -> list[_Stage]:
    """An IAM user or root acting as itself; its console session, when the identity shows one, is linked to its
    ConsoleLogin by creation time, and a console password set by someone else leads to them."""
    created = _micros(_at(identity, "sessionContext", "attributes", "creationDate"))
    logins = _issued_near(indexes.by_login.get(arn, ()), created) if created is not None else ()
    chain = tuple(logins) if len(logins) == 1 else ()
    flags = {"ambiguous"} if len(logins) > 1 else set()
    stages: list[_Stage] = []
    if kind == "IAMUser" and (key is None or key.startswith("ASIA")):
        user = _text(identity, "userName") or arn.rpartition("/")[2]
        grants = indexes.grants_by_user.get((_text(identity, "accountId"), user), ())
        if grants:
            stages.append(_Gate(grants, partial(_through_grant, basis="long-term", confidence="high",
                                                indexes=indexes, seen=seen, chain=chain, flags=flags)))
    long_term = key if key is not None and key.startswith("AKIA") else None
    origin = Origin(kind="root" if kind == "Root" else "iam-user", principal=arn, access_key=long_term)
    stages.append(_result(origin, "long-term", "high", session=chain[-1] if chain else None, chain=chain,
                          flags=flags))
    return stages


def _unattributed(identity: Mapping[str, Any], kind: str | None, key: str | None, arn: str | None) -> Attribution:
    account, principal_id = _text(identity, "accountId"), _text(identity, "principalId")
    known = arn or (f"{account}:{principal_id}" if account and principal_id else principal_id) or key or "unknown"
    if not identity:
        reason = "no-identity"
    elif key is not None and key.startswith("ASIA"):
        reason = "key-not-issued-in-logs"
    elif kind in ("AssumedRole", "FederatedUser"):
        reason = "session-not-in-logs"
    elif kind == "AWSAccount":
        reason = "external-account"
    else:
        reason = "unknown-identity"
    return _result(Origin(kind="unknown", principal=known, access_key=None), "none", "low", reason=reason)


def _plan(identity: Mapping[str, Any], indexes: Indexes, seen: frozenset[str]) -> tuple[_Stage, ...]:
    """The stages that attribute any event with this ``userIdentity``; reads nothing else of the event."""
    kind, key, arn = _text(identity, "type"), _text(identity, "accessKeyId"), _text(identity, "arn")
    stages: list[_Stage] = []

    # 1. A key the trail shows being issued; or, once it exists, a long-term key an IAM call created.
    if key is not None and key in indexes.by_key:
        return (_chain_result(origin_of(key, indexes.by_key), identity, "access-key", "high", indexes, seen),)
    if key is not None and key in indexes.grants_by_key:
        stages.append(_Gate((indexes.grants_by_key[key],), partial(
            _through_grant, basis="access-key", confidence="high", indexes=indexes, seen=seen)))

    # 1b. The role account's copy of a cross-account AssumeRole: the caller's call.
    if kind == "AWSAccount":
        stages.append(partial(_callers_copy, indexes=indexes, seen=seen))

    # 2. A role or federated session whose key is absent or unknown: issuer + session name + creation time;
    #    else an EC2 instance-profile session by its name.
    if kind in ("AssumedRole", "FederatedUser"):
        found = _by_session_name(identity, indexes, seen) or _instance_profile(identity)
        if found is not None:
            return (*stages, found)

    # 3. Identity Center: the event names the directory user.
    center = _identity_center(identity)
    if center is not None:
        return (*stages, _result(center, "on-behalf-of", "high"))

    # 4. A SAML or OIDC subject presenting its assertion; an IAM user or root acting as itself.
    if kind in ("SAMLUser", "WebIdentityUser"):
        stages.append(_subjects_issue)
    if kind in ("IAMUser", "Root") and arn is not None:
        return (*stages, *_long_term(identity, kind, key, arn, indexes, seen))

    # 5. An AWS service acting on its own.
    service = _text(identity, "invokedBy")
    if kind == "AWSService" or (service is not None and key is None):
        origin = Origin(kind="aws-service", principal=service or "unknown-service", access_key=None)
        return (*stages, _result(origin, "service", "high"))

    # 6. Nothing links it: say what is known.
    return (*stages, _unattributed(identity, kind, key, arn))


def attribute(event: Mapping[str, Any], indexes: Indexes) -> Attribution:
    """The session and origin behind one CloudTrail event, with the basis and confidence of the link.

    Args:
        event: an original CloudTrail event (a dict), or its ``light_view`` when ``needs_original`` is False
            for its eventSource and eventName. For such events the answer depends on ``eventID``,
            ``eventTime`` and ``userIdentity`` only.
        indexes: ``build_indexes`` over the sessions and grants of the whole trail.

    >>> attribute({"eventID": "e", "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}},
    ...           build_indexes([])).origin
    Origin(kind='aws-service', principal='ec2.amazonaws.com', access_key=None, resource=None)
    """
    return _attribute(event, indexes, frozenset())


class Attributor:
    """``attribute`` for a pipeline worker: one per ``Indexes``, caching the work that depends on the identity.

    Events given the same ``cache_key`` must have identical ``userIdentity`` members (for instance, the
    identity's encoded bytes). A cache hit costs the event's own parts only: its eventID, the time flags and
    the choice among credentials created by IAM calls. Answers equal ``attribute(event, indexes)``.
    """

    def __init__(self, indexes: Indexes, *, max_cached: int = 1 << 17) -> None:
        self._indexes = indexes
        self._max_cached = max_cached
        self._plans: dict[Hashable, tuple[_Stage, ...]] = {}

    def attribute(self, event: Mapping[str, Any], cache_key: Hashable | None = None) -> Attribution:
        if cache_key is None:
            return attribute(event, self._indexes)
        plan = self._plans.get(cache_key)
        if plan is None:
            if len(self._plans) >= self._max_cached:
                self._plans.clear()          # bounds a worker's memory; identities repeat within a file
            plan = self._plans[cache_key] = _plan(_identity_of(event), self._indexes, frozenset())
        return _finish(plan, event)

    def outcome(self, cache_key: Hashable, at: int, light: Callable[[], Mapping[str, Any]]) -> Attribution:
        """``attribute`` of an event that is not an issuing or granting call (``needs_original`` is False),
        known by its identity's ``cache_key`` and its time (UTC micros) only; ``event_id`` is left empty.

        ``light()`` returns the event's ``light_view`` and is called only when ``cache_key`` is new. The
        same object is returned for every event that gets the same answer, so callers can cache per object.
        """
        plan = self._plans.get(cache_key)
        if plan is None:
            if len(self._plans) >= self._max_cached:
                self._plans.clear()
            plan = self._plans[cache_key] = _plan(_identity_of(light()), self._indexes, frozenset())
        event = {"eventTime": None}      # what a stage may read of a light event besides its time
        for stage in plan:
            found = stage if type(stage) is Attribution else stage(event, "", at)
            if found is not None:
                return _stamped(found, "", at)
        raise AssertionError("a plan ends with an Attribution")


# ---- the light view of an event ------------------------------------------------------------------------

_LIGHT_EVENT = ("eventID", "eventTime", "eventSource", "eventName", "recipientAccountId", "awsRegion",
                "sourceIPAddress", "userAgent", "sharedEventID", "errorCode")
_ISSUER = {"type": None, "arn": None, "accountId": None, "principalId": None, "userName": None}
_LIGHT_IDENTITY: Mapping[str, Any] = {
    "type": None, "arn": None, "accountId": None, "accessKeyId": None, "principalId": None, "userName": None,
    "invokedBy": None, "credentialId": None, "onBehalfOf": {"userId": None, "identityStoreArn": None},
    "sessionContext": {"sourceIdentity": None,
                       "attributes": {"mfaAuthenticated": None, "creationDate": None},
                       "sessionIssuer": _ISSUER, "webIdFederationData": {"federatedProvider": None}},
}
_TIMES = ("eventTime", "creationDate")


def _project(value: Mapping[str, Any], shape: Mapping[str, Any]) -> dict[str, Any]:
    """The members of ``shape`` (None: a string; a dict: an object) that ``value`` holds; empty objects drop."""
    projected: dict[str, Any] = {}
    for name, inner in shape.items():
        member = value.get(name)
        if inner is None and type(member) is str:
            micros = _micros(member) if name in _TIMES else None
            projected[name] = member if micros is None else timestamps.format_micros(micros)
        elif inner is not None and type(member) is dict and (nested := _project(member, inner)):
            projected[name] = nested
    return projected


def light_view(event: Mapping[str, Any]) -> dict[str, Any]:
    """The few members the pipeline keeps as typed store columns: what ``attribute`` reads of an event for
    which ``needs_original`` is False. Times are rendered as the store renders them (UTC, ``Z``); members
    that are null, absent or not strings are left out."""
    if type(event) is not dict:
        return {}                 # the store keeps non-object "events" losslessly; they have no columns
    light = _project(event, dict.fromkeys(_LIGHT_EVENT))
    identity = event.get("userIdentity")
    if type(identity) is dict:
        light["userIdentity"] = _project(identity, _LIGHT_IDENTITY)
    return light


def needs_original(event_source: str | None, event_name: str | None) -> bool:
    """True for the events whose session/grant extraction or attribution reads more than ``light_view``:
    credential-issuing calls (the ``trailbeam.sessions`` spec table, ConsoleLogin included) and IAM calls
    that create long-term credentials."""
    return is_issuing_call(event_source, event_name) or (event_source == _IAM and event_name in _GRANT_CALLS)


# ---- summary -------------------------------------------------------------------------------------------

def _hop_id(session: Session) -> str:
    # The two copies of a cross-account hop share the issued key and sharedEventID: they count once.
    return session.access_key_id or session.shared_event_id or session.issued_by_event


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributionSummary:
    """Counts over attributed events and the sessions of a trail, mergeable in any grouping.

    Sessions and keys are kept as sets, so a session or key seen by several partial summaries (one per file)
    counts once; event counts add up. ``merged`` is associative and commutative, with ``AttributionSummary()``
    as its identity.
    """

    sessions: frozenset[tuple[str, str]] = frozenset()   # (via, hop id): one per hop
    keys_issued: frozenset[str] = frozenset()            # issued keys the logs show
    keys_used: frozenset[str] = frozenset()              # issued keys that signed an attributed event
    events: int = 0
    by_basis: Mapping[str, int] = field(default_factory=dict)
    by_confidence: Mapping[str, int] = field(default_factory=dict)
    temporary_unattributed: int = 0                      # basis none or low, for a TEMPORARY_REASONS reason
    reasons: Mapping[str, int] = field(default_factory=dict)   # every event with a reason
    flags: Mapping[str, int] = field(default_factory=dict)

    def merged(self, other: AttributionSummary) -> AttributionSummary:
        return AttributionSummary(
            sessions=self.sessions | other.sessions, keys_issued=self.keys_issued | other.keys_issued,
            keys_used=self.keys_used | other.keys_used, events=self.events + other.events,
            by_basis=_added(self.by_basis, other.by_basis),
            by_confidence=_added(self.by_confidence, other.by_confidence),
            temporary_unattributed=self.temporary_unattributed + other.temporary_unattributed,
            reasons=_added(self.reasons, other.reasons), flags=_added(self.flags, other.flags))

    def as_dict(self) -> dict[str, Any]:
        """Plain counts for JSON, keys sorted."""
        return {
            "sessions": len(self.sessions),
            "sessions_by_via": dict(sorted(Counter(via for via, _ in self.sessions).items())),
            "keys_issued": len(self.keys_issued),
            "keys_used": len(self.keys_used),
            "events": self.events,
            "events_by_basis": dict(self.by_basis),
            "events_by_confidence": dict(self.by_confidence),
            "temporary_unattributed": self.temporary_unattributed,
            "reasons": dict(self.reasons),
            "flags": dict(self.flags),
        }


def _added(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted((Counter(a) + Counter(b)).items()))


def summarize(attributions: Iterable[Attribution], sessions: Iterable[Session] = ()) -> AttributionSummary:
    """The summary of some attributed events and of the sessions found (both may be any part of a trail)."""
    sessions = list(sessions)
    by_basis: Counter[str] = Counter()
    by_confidence: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    used: set[str] = set()
    events = temporary_unattributed = 0
    for found in attributions:
        events += 1
        by_basis[found.basis] += 1
        by_confidence[found.confidence] += 1
        flags.update(found.flags)
        if found.reason is not None:
            reasons[found.reason] += 1
            if found.reason in TEMPORARY_REASONS and (found.basis == "none" or found.confidence == "low"):
                temporary_unattributed += 1
        if found.basis == "access-key" and found.session is not None and found.session.access_key_id:
            used.add(found.session.access_key_id)
    return AttributionSummary(
        sessions=frozenset((s.via, _hop_id(s)) for s in sessions),
        keys_issued=frozenset(s.access_key_id for s in sessions if s.access_key_id),
        keys_used=frozenset(used), events=events, by_basis=dict(sorted(by_basis.items())),
        by_confidence=dict(sorted(by_confidence.items())), temporary_unattributed=temporary_unattributed,
        reasons=dict(sorted(reasons.items())), flags=dict(sorted(flags.items())))
