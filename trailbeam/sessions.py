"""Temporary credentials: which event issued each session, to whom, and from which earlier credential.

Every temporary (``ASIA…``) access key in a trail was issued by an earlier call: STS ``AssumeRole``,
``AssumeRoleWithSAML``, ``AssumeRoleWithWebIdentity``, ``GetSessionToken``, ``GetFederationToken``,
``AssumeRoot``, or IAM Identity Center's ``GetRoleCredentials``; a successful console sign-in
(``ConsoleLogin``) opens a session too, though its key is never logged. The issuing record names the new
key (``responseElements.credentials.accessKeyId``) *and* the key of the caller (``userIdentity.accessKeyId``),
so sessions chain: a key used in an attack leads back, hop by hop, to the long-term key, SAML/OIDC
subject or AWS service that started it. This module is the first building block of the identity graph.

Input: one original CloudTrail event (a dict, as ``cloudtrail.original_event`` returns it).
Output: zero or one ``Session`` per event (``sessions_from``); ``session_index`` keys them by issued
key, ``shared_event_index`` by ``sharedEventID``, and ``origin_of`` walks a key back to its origin.
A cross-account AssumeRole is logged in both accounts with one ``sharedEventID`` and the same issued key;
both indexes keep one copy per hop, the caller's. Pure: stdlib and ``trailbeam.timestamps`` only.

Which events issue what comes from ONE table, ``_SPECS``, keyed by eventName: a new issuing call is one
new row. Failed calls (``errorCode`` present, or a sign-in that reports ``Failure``) issue nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from trailbeam import timestamps

__all__ = ["Session", "account_of", "is_issuing_call", "origin_of", "parse_expiration", "session_index", "sessions_from",
           "shared_event_index"]

_STS = "sts.amazonaws.com"
_SSO = "sso.amazonaws.com"
_SIGNIN = "signin.amazonaws.com"


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """One temporary credential (or console sign-in session), as its issuing event records it."""

    issued_by_event: str            # eventID of the issuing event
    via: str                        # eventName of the issuing event: AssumeRole, GetSessionToken, ...
    access_key_id: str | None       # the issued ASIA key; None when the log does not show it (SSO)
    role_arn: str | None            # requestParameters.roleArn; the federated user, IAM user or root ARN
    session_name: str | None        # roleSessionName; GetFederationToken's name; GetSessionToken's userName
    assumed_arn: str | None         # the ARN the session's calls show: assumedRoleUser / federatedUser ARN
    caller_arn: str | None          # userIdentity.arn of the issuing event
    caller_key: str | None          # userIdentity.accessKeyId of the issuing event (the previous hop)
    caller_type: str | None         # userIdentity.type
    source_identity: str | None
    issued_at: int                  # eventTime, UTC micros
    expires_at: int | None          # responseElements.credentials.expiration, UTC micros
    account: str | None             # recipientAccountId
    source_ip: str | None
    user_agent: str | None
    saml_provider: str | None = None
    web_identity_provider: str | None = None
    subject: str | None = None      # SAML subject or OIDC token subject
    shared_event_id: str | None = None   # sharedEventID: the two copies of a cross-account call share it
    caller_account: str | None = None    # userIdentity.accountId of the issuing event
    cross_account: bool = False          # role_arn's account is known and differs from caller_account
    mfa: bool | None = None              # MFA at issue: an MFA serial in the request, the caller's
                                         # mfaAuthenticated, or ConsoleLogin's MFAUsed; None when unknown


# ---- reading the event: absent members and members of the wrong type become None ----------------------

Path = tuple[str, ...]


def _at(event: Mapping[str, Any], path: Path) -> Any:
    value: Any = event
    for key in path:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value


def _text(event: Mapping[str, Any], *paths: Path) -> str | None:
    """The first non-empty string among ``paths``; None when there is none."""
    for path in paths:
        value = _at(event, path)
        if type(value) is str and value:
            return value
    return None


_REQ = "requestParameters"
_RESP = "responseElements"
_UID = "userIdentity"


def _root_arn(event: Mapping[str, Any]) -> str | None:
    """AssumeRoot: ``targetPrincipal`` is the member account id -> that account's root ARN."""
    target = _text(event, (_REQ, "targetPrincipal"))
    if target is None:
        return None
    return target if target.startswith("arn:") else f"arn:aws:iam::{target}:root"


def _login_name(event: Mapping[str, Any]) -> str | None:
    """ConsoleLogin: an assumed role's or federated user's session name, else the IAM user's name."""
    if _text(event, (_UID, "type")) in ("AssumedRole", "FederatedUser"):
        principal_id = _text(event, (_UID, "principalId")) or ""
        if ":" in principal_id:
            return principal_id.split(":", 1)[1]
    return _text(event, (_UID, "userName"))


_YES = {"true": True, "yes": True, "false": False, "no": False}


def _answer(event: Mapping[str, Any], path: Path) -> bool | None:
    """A yes/no member: ``true``/``yes`` -> True, ``false``/``no`` -> False, in any case (the AWS docs
    show ``YES``); None when absent or anything else."""
    return _YES.get((_text(event, path) or "").lower())


def _issue_mfa(event: Mapping[str, Any]) -> bool | None:
    # An MFA serial in the request means STS checked a token code (the code itself is never logged);
    # otherwise the session is as MFA-authenticated as the caller's own session.
    if _text(event, (_REQ, "serialNumber")) is not None:
        return True
    return _answer(event, (_UID, "sessionContext", "attributes", "mfaAuthenticated"))


def _login_mfa(event: Mapping[str, Any]) -> bool | None:
    return _answer(event, ("additionalEventData", "MFAUsed"))


def _always(event: Mapping[str, Any]) -> bool:
    return True


def _login_succeeded(event: Mapping[str, Any]) -> bool:
    return _text(event, (_RESP, "ConsoleLogin")) == "Success"


Field = Callable[[Mapping[str, Any]], str | None]


def _paths(*paths: Path) -> Field:
    """The first non-empty string among ``paths``."""
    return lambda event: _text(event, *paths)


def _none(event: Mapping[str, Any]) -> None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class _IssueSpec:
    """Where one issuing call keeps the facts of its session."""

    event_source: str
    role_arn: Field
    session_name: Field = _none
    assumed_arn: Field = _none
    saml_provider: Field = _none
    web_identity_provider: Field = _none
    subject: Field = _none
    mfa: Callable[[Mapping[str, Any]], bool | None] = _issue_mfa
    # Beyond "no errorCode", which every call needs: a failed sign-in has no errorCode at all.
    succeeded: Callable[[Mapping[str, Any]], bool] = _always


_ASSUMED = _paths((_RESP, "assumedRoleUser", "arn"))
_ROLE_SESSION = _paths((_REQ, "roleSessionName"))
_REQUESTED_ROLE = _paths((_REQ, "roleArn"))
_CALLER_ARN = _paths((_UID, "arn"))

_SPECS: Mapping[str, _IssueSpec] = {
    "AssumeRole": _IssueSpec(event_source=_STS, role_arn=_REQUESTED_ROLE, session_name=_ROLE_SESSION,
                             assumed_arn=_ASSUMED),
    "AssumeRoleWithSAML": _IssueSpec(
        event_source=_STS, role_arn=_REQUESTED_ROLE, session_name=_ROLE_SESSION, assumed_arn=_ASSUMED,
        saml_provider=_paths((_REQ, "principalArn")),
        subject=_paths((_RESP, "subject"), (_UID, "userName"))),
    "AssumeRoleWithWebIdentity": _IssueSpec(
        event_source=_STS, role_arn=_REQUESTED_ROLE, session_name=_ROLE_SESSION, assumed_arn=_ASSUMED,
        web_identity_provider=_paths((_RESP, "provider"), (_UID, "identityProvider")),
        subject=_paths((_RESP, "subjectFromWebIdentityToken"), (_UID, "userName"))),
    # A session token acts as the IAM user (or root) that asked for it: later calls show that user's ARN.
    "GetSessionToken": _IssueSpec(event_source=_STS, role_arn=_CALLER_ARN,
                                  session_name=_paths((_UID, "userName")), assumed_arn=_CALLER_ARN),
    "GetFederationToken": _IssueSpec(
        event_source=_STS, role_arn=_paths((_RESP, "federatedUser", "arn")),
        session_name=_paths((_REQ, "name")), assumed_arn=_paths((_RESP, "federatedUser", "arn"))),
    "AssumeRoot": _IssueSpec(event_source=_STS, role_arn=_root_arn),
    # IAM Identity Center: the key is not logged, but the event still marks a session being issued.
    "GetRoleCredentials": _IssueSpec(event_source=_SSO, role_arn=_none),
    # A console sign-in: the session acts as the signed-in principal; its key is never logged.
    "ConsoleLogin": _IssueSpec(event_source=_SIGNIN, role_arn=_CALLER_ARN, session_name=_login_name,
                               assumed_arn=_CALLER_ARN, mfa=_login_mfa, succeeded=_login_succeeded),
}


def is_issuing_call(event_source: str | None, event_name: str | None) -> bool:
    """True when events of this source and name can issue a session (a row of the spec table)."""
    spec = _SPECS.get(event_name or "")
    return spec is not None and spec.event_source == event_source


def account_of(arn: str | None) -> str | None:
    """The account field of an ARN: ``arn:aws:iam::111122223333:role/x`` -> ``111122223333``; None for
    anything else, and for ARNs without an account (``arn:aws:s3:::bucket``).

    >>> account_of("arn:aws:iam::111122223333:role/x"), account_of("arn:aws:s3:::b"), account_of("role/x")
    ('111122223333', None, None)
    """
    parts = (arn or "").split(":", 5)
    return (parts[4] or None) if len(parts) == 6 and parts[0] == "arn" else None


def _event_id(event: Mapping[str, Any]) -> str:
    event_id = event["eventID"]
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"eventID is not a non-empty string: {event_id!r:.80}")
    return event_id


def sessions_from(event: Any) -> Iterator[Session]:
    """The session one CloudTrail event issued: zero or one.

    Args:
        event: an original CloudTrail event (``cloudtrail.original_event``).

    Returns:
        An iterator over zero sessions (not an issuing call, a failed call, another service's event of the
        same name) or one.

    Raises:
        KeyError: an issuing event without ``eventID``.
        ValueError: an issuing event whose ``eventID`` is not a non-empty string.
        ValueError: an issuing event whose ``eventTime`` is not ISO 8601.

    >>> event = {"eventSource": "sts.amazonaws.com", "eventName": "GetSessionToken", "eventID": "e-1",
    ...          "eventTime": "2024-11-30T08:43:17Z", "userIdentity": {"accessKeyId": "AKIAEXAMPLE"},
    ...          "responseElements": {"credentials": {"accessKeyId": "ASIAEXAMPLE"}}}
    >>> [(s.via, s.access_key_id, s.caller_key) for s in sessions_from(event)]
    [('GetSessionToken', 'ASIAEXAMPLE', 'AKIAEXAMPLE')]
    """
    if not isinstance(event, dict):
        return                    # the store keeps non-object "events" losslessly; they issue nothing
    name = event.get("eventName")
    if not isinstance(name, str) or not is_issuing_call(event.get("eventSource"), name):
        return
    spec = _SPECS[name]
    if event.get("errorCode") is not None or not spec.succeeded(event):
        return
    role_arn = spec.role_arn(event)
    caller_account = _text(event, (_UID, "accountId"))
    role_account = account_of(role_arn)
    yield Session(
        issued_by_event=_event_id(event),
        via=name,
        access_key_id=_text(event, (_RESP, "credentials", "accessKeyId")),
        role_arn=role_arn,
        session_name=spec.session_name(event),
        assumed_arn=spec.assumed_arn(event),
        caller_arn=_text(event, (_UID, "arn")),
        caller_key=_text(event, (_UID, "accessKeyId")),
        caller_type=_text(event, (_UID, "type")),
        source_identity=_text(event, (_RESP, "sourceIdentity"), (_REQ, "sourceIdentity")),
        issued_at=timestamps.parse_micros(event.get("eventTime")),
        expires_at=parse_expiration(_at(event, (_RESP, "credentials", "expiration"))),
        account=_text(event, ("recipientAccountId",)),
        source_ip=_text(event, ("sourceIPAddress",)),
        user_agent=_text(event, ("userAgent",)),
        saml_provider=spec.saml_provider(event),
        web_identity_provider=spec.web_identity_provider(event),
        subject=spec.subject(event),
        shared_event_id=_text(event, ("sharedEventID",)),
        caller_account=caller_account,
        cross_account=None not in (caller_account, role_account) and caller_account != role_account,
        mfa=spec.mfa(event),
    )


# STS writes "Nov 30, 2024, 8:43:17 PM"; IAM-style responses drop the second comma.
_AWS_DATE_FORMATS = ("%b %d, %Y, %I:%M:%S %p", "%b %d, %Y %I:%M:%S %p")


def parse_expiration(value: object) -> int | None:
    """A credential expiration as CloudTrail writes it -> UTC micros; None when absent or unreadable.

    Accepts the STS text form, ISO 8601 and epoch numbers (seconds, or milliseconds past 10**11).

    >>> parse_expiration("Nov 30, 2024, 8:43:17 PM") == parse_expiration("2024-11-30T20:43:17Z")
    True
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= 10**11 else value
        return round(seconds * 1_000_000)
    if not isinstance(value, str):
        return None
    text = value.strip()
    for fmt in _AWS_DATE_FORMATS:
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return timestamps.datetime_micros(moment.replace(tzinfo=timezone.utc))
    try:
        return timestamps.parse_micros(text)
    except ValueError:
        return None


def _preference(session: Session) -> tuple[bool, bool, int, str, str]:
    # Cross-account AssumeRole is logged in both accounts with the same key; only the caller's copy names
    # the caller's key and ARN. Prefer it, then the earliest, then the smallest eventID; repr breaks the last
    # ties (conflicting copies of one event share its eventID), so the winner never depends on input order.
    return (session.caller_key is None, session.caller_arn is None, session.issued_at, session.issued_by_event,
            repr(session))


def _one_per(sessions: Iterable[Session], key: Callable[[Session], str | None]) -> dict[str, Session]:
    index: dict[str, Session] = {}
    for session in sessions:
        value = key(session)
        if value is None:
            continue
        known = index.get(value)
        if known is None or _preference(session) < _preference(known):
            index[value] = session
    return index


def session_index(sessions: Iterable[Session]) -> dict[str, Session]:
    """Sessions by issued access key. Sessions without a logged key are left out.

    When several events show the same key (cross-account copies, duplicate deliveries) the one naming
    the caller's key wins; the choice does not depend on input order.
    """
    return _one_per(sessions, lambda s: s.access_key_id)


def shared_event_index(sessions: Iterable[Session]) -> dict[str, Session]:
    """Sessions by ``sharedEventID``, one per hop: the caller's copy of a cross-account call wins, as in
    ``session_index``. Sessions without a sharedEventID are left out."""
    return _one_per(sessions, lambda s: s.shared_event_id)


def origin_of(access_key_id: str, index: Mapping[str, Session]) -> list[Session]:
    """The chain of sessions that led to ``access_key_id``, oldest first.

    Walks from the session that issued ``access_key_id`` to the session that issued its caller's key,
    and so on, until a caller key no known session issued (a long-term ``AKIA`` key, or a SAML/OIDC
    subject or AWS service, which has no key). The first session's ``caller_*`` fields name the origin.

    Returns:
        The chain, oldest first; empty when no known session issued ``access_key_id``.

    >>> origin_of("AKIAEXAMPLE", {})
    []
    """
    chain: list[Session] = []
    seen: set[str] = set()
    key: str | None = access_key_id
    while key is not None and key not in seen and key in index:
        seen.add(key)             # a key cannot issue itself; the guard keeps malformed logs finite
        session = index[key]
        chain.append(session)
        key = session.caller_key
    chain.reverse()
    return chain
