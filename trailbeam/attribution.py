"""Who made a CloudTrail event: the session whose credentials signed it, and the origin behind that session.

``attribute`` links one event to the session that made it (``Session`` from ``trailbeam.sessions``), the
chain of sessions back to the first one, and the origin principal (an IAM user and its long-term key, the
root user, a SAML or OIDC subject, an AWS service, an IAM Identity Center user). Every link names its
basis, strongest first:

``access-key``      ``userIdentity.accessKeyId`` is a key the trail shows being issued (STS, or IAM
                    ``CreateAccessKey`` by a traceable caller). Confidence high.
``session-name``    the key is absent or unknown; the session issuer ARN, the session name from
                    ``principalId`` and ``sessionContext.attributes.creationDate`` (within a second of an
                    issue time) name an issued session. One candidate: medium; several: low, and no session
                    is chosen.
``long-term``       an IAM user or root acting as itself (``AKIA`` key, console, its console session key).
                    Confidence high.
``on-behalf-of``    an IAM Identity Center session: the event names the directory user itself. High.
``service``         an AWS service acting on its own (``AWSService``/``invokedBy``). High.
``none``            nothing links the event. Confidence low.

Long-term identities created by a traceable caller keep that caller's origin: a ``CreateAccessKey`` key
(basis ``access-key``) or a user whose console password was set by ``CreateLoginProfile`` /
``UpdateLoginProfile`` (basis ``long-term``) lead back to whoever created them; ``Attribution.created_by``
names the linking events. That is how a backdoor user's activity reaches the leaked key that made it.

Pure: stdlib, ``trailbeam.timestamps`` and ``trailbeam.sessions``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from trailbeam import timestamps
from trailbeam.sessions import Session, origin_of, session_index, sessions_from

__all__ = ["Attribution", "Grant", "Indexes", "Origin", "attribute", "build_indexes", "grants_from"]

_IAM = "iam.amazonaws.com"
_SECOND = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """The principal a chain of credentials starts from."""

    kind: str                     # iam-user, root, saml, web-identity, aws-service, identity-center, unknown
    principal: str                # user/root ARN, "<provider>:<subject>", service name, directory user, ...
    access_key: str | None        # the long-term key at the origin (AKIA...), when there is one


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


def build_indexes(sessions: Iterable[Session], grants: Iterable[Grant] = ()) -> Indexes:
    """The lookups ``attribute`` needs, from every session (``sessions_from``) and grant (``grants_from``)."""
    by_key = session_index(sessions)
    by_name: dict[tuple[str, str], list[Session]] = defaultdict(list)
    for session in by_key.values():               # one copy per key: cross-account copies are one session
        name_key = _name_key(session)
        if name_key is not None:
            by_name[name_key].append(session)
    grants_by_key: dict[str, Grant] = {}
    grants_by_user: dict[tuple[str | None, str], list[Grant]] = defaultdict(list)
    for grant in grants:
        if grant.access_key_id is not None:
            known = grants_by_key.get(grant.access_key_id)
            if known is None or (grant.granted_at, grant.event_id) < (known.granted_at, known.event_id):
                grants_by_key[grant.access_key_id] = grant
        else:
            grants_by_user[(grant.account, grant.user_name)].append(grant)
    order = lambda s: (s.issued_at, s.issued_by_event)          # noqa: E731
    return Indexes(
        by_key=by_key,
        by_name={k: tuple(sorted(v, key=order)) for k, v in by_name.items()},
        grants_by_key=grants_by_key,
        grants_by_user={k: tuple(sorted(set(v), key=lambda g: (g.granted_at, g.event_id)))
                        for k, v in grants_by_user.items()},
    )


# ---- origins -------------------------------------------------------------------------------------------

def _session_origin(first: Session) -> Origin:
    """The origin named by the caller of the oldest session in a chain."""
    caller = first.caller_type
    if first.saml_provider is not None or caller == "SAMLUser":
        return Origin(kind="saml", principal=f"{first.saml_provider}:{first.subject}", access_key=None)
    if first.web_identity_provider is not None or caller == "WebIdentityUser":
        provider = (first.web_identity_provider or "").rpartition("oidc-provider/")[2]
        return Origin(kind="web-identity", principal=f"{provider}:{first.subject}", access_key=None)
    if caller == "AWSService":
        return Origin(kind="aws-service", principal=first.caller_arn or _service_of(first), access_key=None)
    if caller in ("IAMUser", "Root") and first.caller_arn:
        key = first.caller_key if first.caller_key and first.caller_key.startswith("AKIA") else None
        return Origin(kind="root" if caller == "Root" else "iam-user", principal=first.caller_arn, access_key=key)
    # An assumed role or federated user whose own session is not in the trail, or an unknown caller.
    return Origin(kind="unknown", principal=first.caller_arn or first.caller_key or first.issued_by_event,
                  access_key=None)


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


# ---- attribution ---------------------------------------------------------------------------------------

def _result(event_id: str, origin: Origin, basis: str, confidence: str, session: Session | None = None,
            chain: Iterable[Session] = (), created_by: tuple[str, ...] = ()) -> Attribution:
    return Attribution(event_id=event_id, session=session, chain=tuple(chain), origin=origin, basis=basis,
                       confidence=confidence, created_by=created_by)


def _through_grant(event_id: str, grant: Grant, basis: str, indexes: Indexes,
                   seen: frozenset[str]) -> Attribution | None:
    """The origin of whoever made ``grant``; None when that caller cannot be traced or the links loop."""
    if grant.event_id in seen:
        return None
    creator = attribute(grant.creator, indexes, _seen=seen | {grant.event_id})
    if creator.basis == "none" or creator.confidence == "low":
        return None
    return _result(event_id, creator.origin, basis, creator.confidence, chain=creator.chain,
                   created_by=(grant.event_id, *creator.created_by))


def _login_grant(identity: Mapping[str, Any], at: int | None, indexes: Indexes) -> Grant | None:
    """The latest console-password grant for this IAM user before ``at``."""
    user = _text(identity, "userName") or (_text(identity, "arn") or "").rpartition("/")[2]
    grants = indexes.grants_by_user.get((_text(identity, "accountId"), user), ())
    earlier = [g for g in grants if at is None or g.granted_at <= at]
    return earlier[-1] if earlier else None


def _by_session_name(event_id: str, identity: Mapping[str, Any], indexes: Indexes) -> Attribution | None:
    issuer = _text(identity, "sessionContext", "sessionIssuer", "arn")
    principal_id = _text(identity, "principalId")
    created = _micros(_at(identity, "sessionContext", "attributes", "creationDate"))
    if issuer is None or principal_id is None or ":" not in principal_id or created is None:
        return None
    name = principal_id.split(":", 1)[1]
    candidates = [s for s in indexes.by_name.get((issuer, name), ()) if abs(s.issued_at - created) <= _SECOND]
    if not candidates:
        return None
    chains = [origin_of(s.access_key_id, indexes.by_key) if s.access_key_id else [s] for s in candidates]
    if len(candidates) == 1:
        return _result(event_id, _session_origin(chains[0][0]), "session-name", "medium",
                       session=candidates[0], chain=chains[0])
    origins = {_session_origin(chain[0]) for chain in chains}
    origin = origins.pop() if len(origins) == 1 else Origin(
        kind="unknown", principal=_text(identity, "arn") or issuer, access_key=None)
    return _result(event_id, origin, "session-name", "low")    # several sessions fit: choose none


def _issued(event: Mapping[str, Any]) -> Iterator[Session]:
    try:
        yield from sessions_from(event)
    except (KeyError, ValueError):
        return


def _shared_issue(event_id: str, event: Mapping[str, Any], indexes: Indexes) -> Attribution | None:
    for issued in _issued(event):
        kept = indexes.by_key.get(issued.access_key_id) if issued.access_key_id else None
        if kept is None or kept.issued_by_event == event_id:
            return None
        if kept.caller_key is not None and kept.caller_key in indexes.by_key:
            chain = origin_of(kept.caller_key, indexes.by_key)
            return _result(event_id, _session_origin(chain[0]), "access-key", "high", session=chain[-1],
                           chain=chain)
        if kept.caller_type in ("IAMUser", "Root"):
            return _result(event_id, _session_origin(kept), "long-term", "high")
    return None


def attribute(event: Mapping[str, Any], indexes: Indexes, *, _seen: frozenset[str] = frozenset()) -> Attribution:
    """The session and origin behind one CloudTrail event, with the basis and confidence of the link.

    Args:
        event: an original CloudTrail event (a dict).
        indexes: ``build_indexes`` over the sessions and grants of the whole trail.

    >>> attribute({"eventID": "e", "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}},
    ...           build_indexes([])).origin
    Origin(kind='aws-service', principal='ec2.amazonaws.com', access_key=None)
    """
    event_id = _text(event, "eventID") or ""
    identity = _at(event, "userIdentity")
    identity = identity if type(identity) is dict else {}
    kind, key, arn = _text(identity, "type"), _text(identity, "accessKeyId"), _text(identity, "arn")
    at = _micros(event.get("eventTime"))

    # 1. A key the trail shows being issued.
    if key is not None and key in indexes.by_key:
        chain = origin_of(key, indexes.by_key)
        origin = _session_origin(chain[0])
        first_key = chain[0].caller_key
        grant = indexes.grants_by_key.get(first_key) if first_key else None
        if grant is not None :      # a session made from a created long-term key
            through = _through_grant(event_id, grant, "access-key", indexes, _seen)
            if through is not None:
                return _result(event_id, through.origin, "access-key", through.confidence, session=chain[-1],
                               chain=(*through.chain, *chain), created_by=through.created_by)
        if len(chain) == 1 and _identity_center(identity) is not None:
            origin = _identity_center(identity) or origin   # the SSO session's SAML subject is the directory user
        return _result(event_id, origin, "access-key", "high", session=chain[-1], chain=chain)
    if key is not None and key in indexes.grants_by_key :
        grant = indexes.grants_by_key[key]
        if at is None or grant.granted_at <= at:
            through = _through_grant(event_id, grant, "access-key", indexes, _seen)
            if through is not None:
                return through

    # 1b. The role account's copy of a cross-account AssumeRole names no caller key, but it issued the same
    #     key as the caller's copy, which does.
    if kind == "AWSAccount":
        shared = _shared_issue(event_id, event, indexes)
        if shared is not None:
            return shared

    # 2. A role or federated session whose key is absent or unknown: issuer + session name + creation time.
    if kind in ("AssumedRole", "FederatedUser"):
        by_name = _by_session_name(event_id, identity, indexes)
        center = _identity_center(identity)
        if by_name is not None and center is not None and len(by_name.chain) == 1:
            return _result(event_id, center, by_name.basis, by_name.confidence, session=by_name.session,
                           chain=by_name.chain)
        if by_name is not None:
            return by_name

    # 3. Identity Center: the event names the directory user.
    center = _identity_center(identity)
    if center is not None:
        return _result(event_id, center, "on-behalf-of", "high")

    # 4a. A SAML or OIDC subject presenting its own assertion: the origin is in the session it issued.
    if kind in ("SAMLUser", "WebIdentityUser"):
        issued = next(_issued(event), None)
        if issued is not None:
            return _result(event_id, _session_origin(issued), "long-term", "high")

    # 4b. An IAM user or root acting as itself.
    if kind in ("IAMUser", "Root") and arn is not None:
        if kind == "IAMUser"  and (key is None or key.startswith("ASIA")):
            grant = _login_grant(identity, at, indexes)     # console use of a password someone else set
            if grant is not None:
                through = _through_grant(event_id, grant, "long-term", indexes, _seen)
                if through is not None:
                    return through
        long_term = key if key is not None and key.startswith("AKIA") else None
        return _result(event_id, Origin(kind="root" if kind == "Root" else "iam-user", principal=arn,
                                        access_key=long_term), "long-term", "high")

    # 5. An AWS service acting on its own.
    service = _text(identity, "invokedBy")
    if kind == "AWSService" or (service is not None and key is None):
        name = service or _text(event, "sourceIPAddress") or "unknown-service"
        return _result(event_id, Origin(kind="aws-service", principal=name, access_key=None), "service", "high")

    # 6. Nothing links it: say what is known.
    account, principal_id = _text(identity, "accountId"), _text(identity, "principalId")
    known = arn or (f"{account}:{principal_id}" if account and principal_id else principal_id) or key or "unknown"
    return _result(event_id, Origin(kind="unknown", principal=known, access_key=None), "none", "low")
