"""A deterministic synthetic CloudTrail trail, delivered as AWS delivers it, with an attack story in it.

``write_sample(out_dir)`` writes what an organization trail puts in its S3 bucket over a few days for a
small company (a management, a prod and a dev account, three regions), plus ``ground-truth.json``
telling what is in it. It is the bundled demo data (``trailbeam sample``), the ingest benchmark's
generator (a million events) and test data for identity lineage, resource histories and timelines.

What is realistic, because the later work depends on it:

* The layout: ``AWSLogs/<org>/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_
  <YYYYMMDDTHHMMZ>_<16 alnum>.json.gz``, one gzip ``{"Records": [...]}`` per account, region and five
  minutes of events, foldered and named by *delivery* time (5 to 15 minutes later; a few files hours
  late), and about 0.5% of events delivered a second time, byte-identical, in a later file.
* Credential flows: every temporary (ASIA) key used by a role, federated or MFA session was issued by
  an STS event earlier in the trail (AssumeRole by users, sessions and AWS services, role chains,
  cross-account AssumeRole recorded in both accounts with one sharedEventID, AssumeRoleWithSAML from
  IAM Identity Center and Okta, AssumeRoleWithWebIdentity from GitHub Actions, GetSessionToken,
  GetFederationToken). Console sign-ins of IAM users and root get their ASIA key from the sign-in,
  as in AWS: those keys are listed as console sessions in the ground truth.
* Record shapes copied from real, anonymised records (field order included).

Randomness comes only from ``random.Random(seed)`` (UUIDs and keys too) and gzip headers carry no
time, so the same arguments give byte-identical files. Records of API calls are built only when their
file is written, so memory stays small and a million events take well under a minute.

The package is laid out by dependency, each module importing only those before it: ``traffic``
(constants copied from real traffic), ``world`` (accounts, principals, resources), ``operations`` (the
table of API calls), ``mixes`` (which calls each kind of client makes), ``sessions`` (a credential in use),
``records`` (the generator's random source, ids, records, identities and STS issuers), ``background``
(the ordinary sessions), ``attack`` (the attack story) and ``delivery`` (planning, files, ground truth).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from trailbeam.errors import InputError
from trailbeam.sample.delivery import _SEQ_MASK, SampleSummary, _Generator
from trailbeam.sample.traffic import ATTACKER_IPS, ATTACKER_UA, BACKDOOR_UA
from trailbeam.sample.world import DEV, EXFIL_BUCKET, EXTERNAL, LOGGED_ACCOUNTS, MANAGEMENT, PROD, REGIONS, SIEM_TRAIL

__all__ = [
    "ATTACKER_IPS", "ATTACKER_UA", "BACKDOOR_UA", "DEV", "EXFIL_BUCKET", "EXTERNAL", "LOGGED_ACCOUNTS", "MANAGEMENT",
    "MIN_EVENTS", "PROD", "REGIONS", "SIEM_TRAIL", "SampleSummary", "write_sample",
]

MIN_EVENTS = 200


def write_sample(
    out_dir: str | os.PathLike[str],
    *,
    events: int = 5000,
    seed: int = 7,
    start: datetime = datetime(2026, 3, 2, tzinfo=timezone.utc),
    days: int = 3,
    org_id: str | None = "o-a1b2c3d4e5",
    compresslevel: int = 6,
) -> SampleSummary:
    """Writes a synthetic organization trail and its ground truth under ``out_dir``.

    Args:
        out_dir: directory to write ``AWSLogs/...`` and ``ground-truth.json`` into (created if needed).
        events: number of distinct events (exact; duplicate deliveries come on top), at least 200.
        seed: seed of the only random source; equal arguments give byte-identical files.
        start: timezone-aware start of the first day.
        days: days covered; the attack happens on day 2 (day 1 when ``days`` is 1).
        org_id: organization id in the key prefix, or None for an account trail layout.
        compresslevel: gzip level of the log files.

    Returns:
        What was written.

    Raises:
        InputError: for events outside 200..16,777,215, days outside 1..366 or a naive ``start``.
    """
    if not MIN_EVENTS <= events <= _SEQ_MASK:
        raise InputError(f"events must be between {MIN_EVENTS} and {_SEQ_MASK}, got {events}")
    if not 1 <= days <= 366:
        raise InputError(f"days must be between 1 and 366, got {days}")
    if start.tzinfo is None:
        raise InputError("start must be timezone-aware")
    generator = _Generator(seed=seed, start=int(start.timestamp()), days=days, events=events)
    generator.plan()
    return generator.write(Path(out_dir), org_id=org_id, compresslevel=compresslevel)
