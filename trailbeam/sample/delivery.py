"""Planning and delivery: shares events among sessions, then writes the files as AWS delivers them.

``_Generator.plan()`` creates the attack and the background sessions and gives each session its number
of calls; ``write()`` lays events out in five-minute files per account and region, named and foldered by
delivery time (a few hours late, some events delivered twice), gzips them without a timestamp, and
``finish()`` writes ``ground-truth.json`` and returns a ``SampleSummary``.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import accumulate
from pathlib import Path

import orjson

from trailbeam.errors import InputError
from trailbeam.sample.traffic import _ALNUM, _iso
from trailbeam.sample.world import DEV, EXTERNAL, LOGGED_ACCOUNTS, MANAGEMENT, PROD, REGIONS, _ACCOUNT_NAMES, _ORG_TRAIL
from trailbeam.sample.operations import _OPS
from trailbeam.sample.attack import _Attack

_WINDOW = 300                  # seconds of events per log file
_DUPLICATE_RATE = 0.005
_LATE_FILE_RATE = 0.002
_TS_BITS, _SEQ_BITS = 28, 24   # plan keys: stream | seconds since start | sequence number
_SEQ_MASK, _TS_MASK = (1 << _SEQ_BITS) - 1, (1 << _TS_BITS) - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleSummary:
    out_dir: str
    files: int                 # log files written
    records: int               # records in all files, duplicate deliveries included
    unique_events: int         # distinct eventIDs
    duplicates: int            # records - unique_events
    accounts: tuple[str, ...]  # accounts whose logs were delivered
    regions: tuple[str, ...]
    start: str                 # ISO 8601 UTC of the first eventTime
    end: str                   # ISO 8601 UTC of the last eventTime
    ground_truth: str          # path of ground-truth.json


class _Generator(_Attack):
    """Plans sessions and their calls, then writes files; one ``Random`` drives everything."""

    def plan(self) -> None:
        """Creates the attack and the background sessions, and shares the remaining events among them.

        Sessions grow in number like events**0.6 (about 250 for 5,000 events, 6,000 for a million), so
        bigger trails have busier sessions rather than only more of them.
        """
        self.attack_story()
        target = max(len(self._KINDS), min(int(1.5 * self.events ** 0.6), self.events // 12))
        for kind, _ in self._KINDS:                       # one of each, then at random by share
            kind(self)
        kinds = [k for k, _ in self._KINDS]
        cum = list(accumulate(w for _, w in self._KINDS))
        consoles = 1
        while len(self.sessions) < target:
            kind = self.rng.choices(kinds, cum_weights=cum)[0]
            if kind is _Generator.k_console:             # break-glass sign-ins stay rare
                if consoles >= 3:
                    continue
                consoles += 1
            kind(self)
        budget = self.events - len(self.fixed)
        if budget < 1:
            raise InputError(f"{self.events} events cannot hold the story; ask for more")
        while budget < len(self.sessions):                # tiny trails: drop surplus sessions' calls
            self.sessions.pop()
        weights = [s.weight * self.rng.lognormvariate(0, 0.6) for s in self.sessions]
        total = sum(weights)
        spare = budget - len(self.sessions)
        shares = [w / total * spare for w in weights]
        calls = [1 + int(x) for x in shares]
        remainder = budget - sum(calls)
        order = sorted(range(len(shares)), key=lambda i: int(shares[i]) - shares[i])
        for i in order[:remainder]:
            calls[i] += 1
        self.calls = calls

    def write(self, out: Path, *, org_id: str | None, compresslevel: int) -> SampleSummary:
        """Lays the plan out as log files (building each call's record as its file is written)."""
        t0, rng, rnd = self.t0, self.rng, self.rnd
        fixed, sessions, nfixed = self.fixed, self.sessions, len(self.fixed)
        keys = [(f.stream << (_TS_BITS + _SEQ_BITS)) | ((f.ts - t0) << _SEQ_BITS) | seq for seq, f in enumerate(fixed)]
        where = [op.where for op in _OPS]
        session_of: list[int] = []
        op_of: list[int] = []
        seq = nfixed
        for index, (s, n) in enumerate(zip(sessions, self.calls)):
            base = LOGGED_ACCOUNTS.index(s.account) * len(REGIONS)
            sts_region = REGIONS.index(s.sts_region)
            span = s.end - s.start
            regions, region_weights = s.regions, s.region_weights
            for op in rng.choices(s.ops, cum_weights=s.op_weights, k=n):
                place = where[op]
                if place == "global":
                    r = 0
                elif place == "sts":
                    r = sts_region
                elif len(regions) == 1:
                    r = regions[0]
                else:
                    r = rng.choices(regions, cum_weights=region_weights)[0]
                ts = s.start + 1 + int(rnd() * span)
                keys.append(((base + r) << (_TS_BITS + _SEQ_BITS)) | ((ts - t0) << _SEQ_BITS) | seq)
                session_of.append(index)
                op_of.append(op)
                seq += 1
        keys.sort()

        # Files: one per stream (account, region) and five-minute window, in stream then time order.
        files: list[tuple[int, int, int, int]] = []     # (stream, window, first key, end key)
        lo, current = 0, -1
        for i, k in enumerate(keys + [-1]):
            window = -1 if k < 0 else (k >> (_TS_BITS + _SEQ_BITS)) << 20 | (k >> _SEQ_BITS & _TS_MASK) // _WINDOW
            if window != current:
                if current >= 0:
                    files.append((current >> 20, current & 0xFFFFF, lo, i))
                lo, current = i, window
        late = set(rng.sample(range(len(files)), min(len(files), max(2, round(len(files) * _LATE_FILE_RATE)))))

        prefix = os.path.join(out, "AWSLogs", org_id) if org_id else os.path.join(out, "AWSLogs")
        made: set[str] = set()
        stats = _Totals()
        dumps = orjson.dumps
        carried: list[tuple[bytes, str]] = []

        def emit(stream: int, window: int, parts: list[bytes], is_late: bool) -> None:
            account, region = LOGGED_ACCOUNTS[stream // len(REGIONS)], REGIONS[stream % len(REGIONS)]
            delivered = t0 + (window + 1) * _WINDOW + rng.randint(300, 900)
            if is_late:
                delivered += rng.randint(3600, 6 * 3600)
            when = datetime.fromtimestamp(delivered, timezone.utc)
            folder = f"{prefix}/{account}/CloudTrail/{region}/{when:%Y/%m/%d}"
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            name = f"{account}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{''.join(rng.choices(_ALNUM, k=16))}.json.gz"
            data = b'{"Records":[' + b",".join(parts) + b"]}"
            with open(f"{folder}/{name}", "wb") as f:
                f.write(gzip.compress(data, compresslevel=compresslevel, mtime=0))
            stats.file(account, region, len(parts))
            if is_late:
                stats.late.append(f"{folder}/{name}"[len(str(out)) + 1:])

        for index, (stream, window, lo, hi) in enumerate(files):
            region = REGIONS[stream % len(REGIONS)]
            account = LOGGED_ACCOUNTS[stream // len(REGIONS)]
            parts: list[bytes] = []
            duplicates: list[tuple[bytes, str]] = []
            for k in keys[lo:hi]:
                seq = k & _SEQ_MASK
                if seq < nfixed:
                    rec = fixed[seq].record
                else:
                    i = seq - nfixed
                    rec = self.call(sessions[session_of[i]], _OPS[op_of[i]], region, t0 + (k >> _SEQ_BITS & _TS_MASK))
                data = dumps(rec)
                parts.append(data)
                if rnd() < _DUPLICATE_RATE:
                    duplicates.append((data, rec["eventID"]))
            stats.events(account, region, hi - lo, keys[lo] >> _SEQ_BITS & _TS_MASK,
                         keys[hi - 1] >> _SEQ_BITS & _TS_MASK)
            for data, event_id in carried:      # earlier events CloudTrail delivers again, in this later file
                parts.insert(rng.randint(0, len(parts)), data)
                stats.duplicates.append(event_id)
            carried = duplicates
            emit(stream, window, parts, index in late)
            last_of_stream = index + 1 == len(files) or files[index + 1][0] != stream
            if last_of_stream and carried:
                stats.duplicates.extend(event_id for _, event_id in carried)
                emit(stream, window + 1, [data for data, _ in carried], False)
                carried = []
        return self.finish(out, org_id=org_id, stats=stats)

    def finish(self, out: Path, *, org_id: str | None, stats: _Totals) -> SampleSummary:
        unique = sum(stats.unique[a] for a in LOGGED_ACCOUNTS)
        records = sum(stats.records[a] for a in LOGGED_ACCOUNTS)
        start, end = _iso(self.t0 + stats.first), _iso(self.t0 + stats.last)
        truth = {
            "generator": {"module": "trailbeam.sample", "format": 1, "seed": self.seed, "events": self.events,
                          "start": _iso(self.t0), "days": self.days, "org_id": org_id},
            "layout": ("AWSLogs/" + (f"{org_id}/" if org_id else "") +
                       "<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_"
                       "<16 alnum>.json.gz; folder and name carry the delivery time"),
            "accounts": {a: {"name": _ACCOUNT_NAMES[a], "logs_delivered": a in LOGGED_ACCOUNTS,
                             "role": {MANAGEMENT: "management", PROD: "prod", DEV: "dev", EXTERNAL: "external"}[a]}
                         for a in (*LOGGED_ACCOUNTS, EXTERNAL)},
            "regions": list(REGIONS),
            "organization_trail": _ORG_TRAIL,
            "totals": {"files": stats.files, "records": records, "unique_events": unique,
                       "duplicates": records - unique, "late_files": len(stats.late), "start": start, "end": end,
                       "per_account": {a: {"records": stats.records[a], "unique_events": stats.unique[a]}
                                       for a in LOGGED_ACCOUNTS},
                       "per_region": {r: {"records": stats.records[r], "unique_events": stats.unique[r]}
                                      for r in REGIONS}},
            "duplicate_event_ids": sorted(stats.duplicates),
            "late_files": sorted(stats.late),
            "attack": self.attack,
            "credentials": sorted(self.credentials, key=lambda c: (c["event_time"], c["event_id"])),
            "console_sessions": sorted(self.console_sessions, key=lambda c: (c["event_time"], c["event_id"])),
        }
        path = out / "ground-truth.json"
        path.write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        return SampleSummary(out_dir=str(out), files=stats.files, records=records, unique_events=unique,
                             duplicates=records - unique,
                             accounts=tuple(a for a in LOGGED_ACCOUNTS if stats.records[a]),
                             regions=tuple(r for r in REGIONS if stats.records[r]),
                             start=start, end=end, ground_truth=str(path))


class _Totals:
    """Counts kept while writing."""

    def __init__(self) -> None:
        self.files = 0
        self.records: dict[str, int] = dict.fromkeys((*LOGGED_ACCOUNTS, *REGIONS), 0)
        self.unique: dict[str, int] = dict.fromkeys((*LOGGED_ACCOUNTS, *REGIONS), 0)
        self.duplicates: list[str] = []
        self.late: list[str] = []
        self.first, self.last = _TS_MASK, 0

    def events(self, account: str, region: str, n: int, first: int, last: int) -> None:
        self.unique[account] += n
        self.unique[region] += n
        self.first, self.last = min(self.first, first), max(self.last, last)

    def file(self, account: str, region: str, records: int) -> None:
        self.files += 1
        self.records[account] += records
        self.records[region] += records
