"""Which S3 prefixes can hold the CloudTrail files of a time window: pure planning, no I/O.

CloudTrail writes one object per delivery, in the folder of its account, kind and region::

    <base>AWSLogs/[<org-id>/]<account>/<kind>/<region>/YYYY/MM/DD/
        <account>_<kind>_<region>_<YYYYMMDDTHHMM>Z_<random>.json.gz

where ``<kind>`` is ``CloudTrail`` (events), ``CloudTrail-Insight`` or ``CloudTrail-Digest`` (digests name
their files differently and are never listed for ingest). The folder and the name carry the **delivery**
time (UTC, minute resolution); AWS documents that "a log file delivered at a specific time can contain
records written at any point before that time".

How the event window ``[start, end)`` becomes a delivery window:

* Start side: an event at ``t`` is delivered at ``t`` or later, so no file delivered before ``start`` holds
  a wanted event. Only the service clocks and the minute resolution of names (a file named ``T1205Z`` was
  delivered during 12:05) matter: ``lead_minutes`` (default 5) covers both, at the cost of one or two files.
* End side: delivery lags events by ~5–15 minutes, sometimes hours, with no documented bound. Files
  delivered up to ``margin_hours`` (default 1, i.e. 4× the usual lag) after ``end`` are listed. Each hour of
  margin costs ~12 extra files per account and region; investigations that must not miss late deliveries
  pass a larger margin or an open end. The caller filters records on eventTime anyway.

Inside one ``.../<region>/`` folder keys sort by delivery time, across days too, because the folders are
``YYYY/MM/DD`` and every name starts ``<account>_<kind>_<region>_<timestamp>``. So a day folder is listed
from ``start_after`` (a key prefix that sorts just before the first wanted minute) up to ``stop_after``
(a key that sorts just after the last wanted minute). There is one task per UTC day folder so that
listing can run in parallel.

Times are UTC microseconds since the epoch (``trailbeam.timestamps``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from trailbeam import errors, timestamps

LOG_KIND = "CloudTrail"
INSIGHT_KIND = "CloudTrail-Insight"
DIGEST_KIND = "CloudTrail-Digest"
INGEST_KINDS = (LOG_KIND, INSIGHT_KIND)

ACCOUNT_ID = re.compile(r"\d{12}")
ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")
REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,254}")   # also legacy us-east-1 names (upper case, _)

# Sorts after every key of the same minute: names continue with "_" and [A-Za-z0-9] only.
_MINUTE_END = "Z~"
_HOUR_MICROS = 3_600_000_000
_MINUTE_MICROS = 60_000_000
_FIRST_MINUTE = datetime.min.time()
_LAST_MINUTE = datetime.min.replace(hour=23, minute=59).time()


@dataclass(frozen=True, slots=True)
class S3Uri:
    bucket: str
    key: str   # "" for the whole bucket, else a key prefix or an object key

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str) -> S3Uri:
    """``s3://bucket[/key]`` -> ``S3Uri``.

    >>> parse_s3_uri("s3://trail-bucket/AWSLogs/111122223333/")
    S3Uri(bucket='trail-bucket', key='AWSLogs/111122223333/')
    >>> parse_s3_uri("s3://trail-bucket").uri
    's3://trail-bucket/'

    Raises:
        errors.InputError: not an ``s3://`` URI, or the bucket name cannot be one.
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise errors.InputError(f"not an s3:// URI: {uri!r:.200}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise errors.InputError(f"not a bucket name in {uri!r:.200}")
    return S3Uri(bucket, key)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListTask:
    """List the keys under ``prefix`` that sort in ``(start_after, stop_after]`` (None: unbounded)."""

    bucket: str
    prefix: str
    start_after: str | None = None
    stop_after: str | None = None


def region_prefix(*, base: str, org_id: str | None, account: str, kind: str, region: str) -> str:
    """The folder of one account's trail files in one region.

    >>> region_prefix(base="trails", org_id=None, account="111122223333", kind="CloudTrail", region="us-east-1")
    'trails/AWSLogs/111122223333/CloudTrail/us-east-1/'
    """
    return f"{logs_prefix(base)}{org_id + '/' if org_id else ''}{account}/{kind}/{region}/"


def logs_prefix(base: str) -> str:
    """``base`` (what comes before ``AWSLogs/``, with or without a final ``/``) -> ``<base>/AWSLogs/``."""
    base = base.strip("/")
    return f"{base}/AWSLogs/" if base else "AWSLogs/"


def day_tasks(*, bucket: str, base: str, account: str, region: str, org_id: str | None,
              kind: str = LOG_KIND, start: int | None, end: int | None, margin_hours: int = 1,
              lead_minutes: int = 5, today: date) -> list[ListTask]:
    """The listings that find every file of one account and region that can hold events in ``[start, end)``.

    Args:
        base: the key part before ``AWSLogs/`` (often "").
        start, end: eventTime bounds in UTC micros, ``end`` exclusive; None is open. Both None lists the
            whole region folder in one task (no day is enumerated).
        margin_hours: files delivered up to this long after ``end`` are listed (late delivery).
        lead_minutes: files delivered up to this long before ``start`` are listed (clock skew).
        today: the current UTC date; no later day folder is listed (an open end stops here).

    >>> tasks = day_tasks(bucket="b", base="", account="111122223333", region="us-east-1", org_id=None,
    ...                   start=timestamps.parse_micros("2024-05-01T10:00:00Z"),
    ...                   end=timestamps.parse_micros("2024-05-01T11:00:00Z"), today=date(2024, 6, 1))
    >>> [(t.prefix, t.start_after[-13:], t.stop_after[-15:]) for t in tasks]
    [('AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/', '20240501T0955', '20240501T1159Z~')]

    Raises:
        errors.InputError: a malformed account, region, org id or kind, a negative margin, or start > end.
    """
    check_names(account=account, region=region, org_id=org_id, kind=kind)
    if margin_hours < 0 or lead_minutes < 0:
        raise errors.InputError("margin_hours and lead_minutes must not be negative")
    if start is not None and end is not None and start > end:
        raise errors.InputError(f"start {timestamps.format_micros(start)} is after end "
                                f"{timestamps.format_micros(end)}")
    root = region_prefix(base=base, org_id=org_id, account=account, kind=kind, region=region)
    name = f"{account}_{kind}_{region}_"
    last = None if end is None else _last_minute(end, margin_hours)
    if last is not None and last.date() > today:
        last = None   # nothing is delivered after today: the open end is exact
    # Digest names hold the trail name before their time, so only whole day folders bound them.
    by_name = kind != DIGEST_KIND
    if start is None:
        # Whole history up to a bound: keys under the region folder sort by time across days as well.
        stop_after = None if last is None or not by_name else _stop_key(root, name, last)
        return [ListTask(bucket=bucket, prefix=root, stop_after=stop_after)]
    if start == end:
        return []
    first = _first_minute(start, lead_minutes)
    tasks = []
    for day in _days(first.date(), today if last is None else last.date()):
        folder = f"{root}{day:%Y/%m/%d}/"
        start_after = stop_after = None
        if by_name and day == first.date() and first.time() != _FIRST_MINUTE:
            start_after = _start_key(root, name, first)
        if by_name and last is not None and day == last.date() and last.time() != _LAST_MINUTE:
            stop_after = _stop_key(root, name, last)
        tasks.append(ListTask(bucket=bucket, prefix=folder, start_after=start_after, stop_after=stop_after))
    return tasks


def delivery_bounds(*, base: str, org_id: str | None, account: str, kind: str, region: str,
                    start: int | None, end: int | None, margin_hours: int = 1, lead_minutes: int = 5,
                    ) -> tuple[str | None, str | None]:
    """``(start_after, stop_after)`` keys that bound a listing anywhere below one region folder.

    The same bounds as ``day_tasks`` uses, for a prefix that already goes below the region folder (a
    month, a day): keys there sort by delivery time.

    >>> delivery_bounds(base="", org_id=None, account="111122223333", kind="CloudTrail", region="us-east-1",
    ...                 start=timestamps.parse_micros("2024-05-01T00:00:00Z"), end=None)
    ('AWSLogs/111122223333/CloudTrail/us-east-1/2024/04/30/111122223333_CloudTrail_us-east-1_20240430T2355', None)
    """
    check_names(account=account, region=region, org_id=org_id, kind=kind)
    root = region_prefix(base=base, org_id=org_id, account=account, kind=kind, region=region)
    name = f"{account}_{kind}_{region}_"
    return (None if start is None else _start_key(root, name, _first_minute(start, lead_minutes)),
            None if end is None else _stop_key(root, name, _last_minute(end, margin_hours)))


def _first_minute(start: int, lead_minutes: int) -> datetime:
    """The delivery minute of the first file that can hold an event at ``start`` or later."""
    return _floor_minute(start - lead_minutes * _MINUTE_MICROS)


def _last_minute(end: int, margin_hours: int) -> datetime:
    """The delivery minute of the last file listed for events before ``end`` (exclusive)."""
    return _floor_minute(end - 1 + margin_hours * _HOUR_MICROS)


def _start_key(root: str, name: str, minute: datetime) -> str:
    # Sorts before every key of that minute ("...T1205Z_...") and after every earlier one.
    return f"{root}{minute:%Y/%m/%d}/{name}{minute:%Y%m%dT%H%M}"


def _stop_key(root: str, name: str, minute: datetime) -> str:
    return f"{root}{minute:%Y/%m/%d}/{name}{minute:%Y%m%dT%H%M}{_MINUTE_END}"


def _floor_minute(micros: int) -> datetime:
    moment = timestamps.to_datetime(micros)
    return moment.replace(second=0, microsecond=0)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def check_names(*, account: str | None = None, region: str | None = None, org_id: str | None = None,
                kind: str | None = None) -> None:
    """Rejects names that cannot be a trail folder (each becomes part of a key prefix).

    A ``/`` or a typo would otherwise silently list the wrong folder, or nothing.

    >>> check_names(account="1111-2222-3333")
    Traceback (most recent call last):
    ...
    trailbeam.errors.InputError: not a 12-digit AWS account id: '1111-2222-3333'
    """
    if account is not None and not ACCOUNT_ID.fullmatch(account):
        raise errors.InputError(f"not a 12-digit AWS account id: {account!r:.80}")
    if region is not None and not REGION.fullmatch(region):
        raise errors.InputError(f"not an AWS region name: {region!r:.80}")
    if org_id is not None and not ORG_ID.fullmatch(org_id):
        raise errors.InputError(f"not an AWS Organizations id (o-...): {org_id!r:.80}")
    if kind is not None and kind not in (*INGEST_KINDS, DIGEST_KIND):
        raise errors.InputError(f"cannot list {kind!r:.80} files; expected one of {(*INGEST_KINDS, DIGEST_KIND)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """What the key part of a source URI already fixes of the trail layout."""

    base: str                      # the key part before AWSLogs/, without slashes at its ends
    org_id: str | None = None
    account: str | None = None
    kind: str | None = None
    region: str | None = None
    below_region: str | None = None   # the key itself when it goes below a region folder (a month, a file)


def source_scope(key: str) -> Scope:
    """Splits a source key prefix at its (last) ``AWSLogs`` folder and reads the layout below it.

    >>> source_scope("trails/prod/")
    Scope(base='trails/prod', org_id=None, account=None, kind=None, region=None, below_region=None)
    >>> source_scope("AWSLogs/o-aa111bb222/111122223333/")
    Scope(base='', org_id='o-aa111bb222', account='111122223333', kind=None, region=None, below_region=None)
    >>> source_scope("x/AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/").below_region
    'x/AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/'

    Raises:
        errors.InputError: the part below ``AWSLogs/`` is not a CloudTrail log folder (digests, AWS Config,
            VPC flow logs and typos alike).
    """
    parts = key.split("/")
    if parts[-1] == "":
        parts.pop()
    if "AWSLogs" not in parts:
        return Scope(base=key.strip("/"))
    at = len(parts) - 1 - parts[::-1].index("AWSLogs")
    rest = parts[at + 1:]
    org_id = account = kind = region = None
    if rest and ORG_ID.fullmatch(rest[0]):
        org_id = rest.pop(0)
    if rest:
        account = rest.pop(0)
        if not ACCOUNT_ID.fullmatch(account):
            raise errors.InputError(f"{key!r:.200}: expected an account id or org id after AWSLogs/, "
                                    f"not {account!r:.80}")
    if rest:
        kind = rest.pop(0)
        if kind == DIGEST_KIND:
            raise errors.InputError(f"{key!r:.200}: digest files are not ingested; name the CloudTrail folder")
        if kind not in INGEST_KINDS:
            raise errors.InputError(f"{key!r:.200}: {kind!r:.80} is not a CloudTrail log folder "
                                    f"(expected one of {INGEST_KINDS})")
    if rest:
        region = rest.pop(0)
        check_names(region=region)
    return Scope(base="/".join(parts[:at]), org_id=org_id, account=account, kind=kind, region=region,
                 below_region=key if rest else None)
