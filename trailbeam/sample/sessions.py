"""Sessions: one credential used by one client.

A ``_Session`` is the userIdentity a credential shows, where its calls come from (IP, user agent, TLS,
VPC endpoint), which regions and operations it uses (cumulative weights, for ``random.choices``) and
when it is active.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate

from trailbeam.sample.traffic import _TLS13
from trailbeam.sample.world import REGIONS, Record, _Bucket, _Function, _Instance
from trailbeam.sample.operations import _OP_INDEX


class _Session:
    """A credential in use: the userIdentity it shows, where calls come from and which calls it makes."""

    __slots__ = ("identity", "account", "arn", "key", "ip", "ua", "agent_ua", "tls", "regions", "region_weights",
                 "sts_region", "ops", "op_weights", "start", "end", "console", "vpce", "private_ip", "can_fail",
                 "weight", "buckets", "functions", "_via_s3", "service_host")

    def __init__(self, *, identity: Record, account: str, arn: str, key: str | None, ip: str, ua: str,
                 ops: Sequence[tuple[str, float]], start: int, end: int, regions: Sequence[str] = ("us-east-1",),
                 region_weights: Sequence[float] | None = None, sts_region: str = "us-east-1",
                 tls: tuple[str, str] | None = _TLS13, console: bool = False, agent_ua: str | None = None,
                 can_fail: bool = True, weight: float = 1.0, instance: _Instance | None = None,
                 buckets: Sequence[_Bucket] = (), functions: Sequence[_Function] = ()) -> None:
        self.identity, self.account, self.arn, self.key = identity, account, arn, key
        self.ip, self.ua, self.agent_ua, self.tls, self.console = ip, ua, agent_ua or ua, tls, console
        self.regions = tuple(REGIONS.index(r) for r in regions)
        self.region_weights = list(accumulate(region_weights or [1.0] * len(regions)))
        self.sts_region = sts_region
        self.ops = [_OP_INDEX[name] for name, _ in ops]
        self.op_weights = list(accumulate(w for _, w in ops))
        self.start, self.end, self.can_fail, self.weight = start, end, can_fail, weight
        self.vpce = instance.vpce if instance else None
        self.private_ip = instance.private_ip if instance else None
        self.buckets = {b.region: b for b in buckets}
        self.functions = {f.region: f for f in functions}
        self._via_s3: Record | None = None
        self.service_host = tls is None     # calls come from an AWS service, not over the internet

    def via_s3(self) -> Record:
        """The identity S3 shows when it calls KMS for this session (SSE-KMS objects)."""
        if self._via_s3 is None:
            self._via_s3 = {**self.identity, "invokedBy": "s3.amazonaws.com"}
        return self._via_s3
