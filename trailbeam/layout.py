"""Where a CloudTrail object sits: its kind, org, account, region and delivery date, from its key.

AWS delivers trails under ``AWSLogs/[o-xxxx/]<account>/CloudTrail[-Digest|-Insight]/<region>/YYYY/MM/DD/``
(organization trails add the org id; older ones do not). Input: a URI or path. Output: a
``Location`` whose fields are None when the path does not follow the layout (a local export, a
LookupEvents dump): the events themselves still say where they belong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LOG = "log"
DIGEST = "digest"
INSIGHT = "insight"
OTHER = "other"

_KINDS = {"CloudTrail": LOG, "CloudTrail-Digest": DIGEST, "CloudTrail-Insight": INSIGHT}
_LAYOUT = re.compile(
    r"(?:^|/)AWSLogs/(?:(?P<org>o-[a-z0-9]{10,32})/)?(?P<account>[^/]+)/"
    r"(?P<kind>CloudTrail(?:-Digest|-Insight)?)/(?P<region>[^/]+)/"
    r"(?P<year>\d{4})/(?P<month>\d\d)/(?P<day>\d\d)/[^/]+$"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    kind: str                  # LOG, DIGEST, INSIGHT, or OTHER when the path is not in the layout
    org_id: str | None = None
    account: str | None = None
    region: str | None = None
    delivery_date: str | None = None   # YYYY-MM-DD of the key's folder: delivery, not event, time


def locate(uri: str) -> Location:
    """Reads the trail layout from a URI.

    >>> locate("s3://b/AWSLogs/o-abcdefghij/111122223333/CloudTrail/us-east-1/2024/05/01/f.json.gz")
    Location(kind='log', org_id='o-abcdefghij', account='111122223333', region='us-east-1', delivery_date='2024-05-01')
    >>> locate("/tmp/export.json").kind
    'other'
    """
    match = _LAYOUT.search(uri.replace("\\", "/"))
    if match is None:
        return Location(kind=OTHER)
    return Location(
        kind=_KINDS[match["kind"]],
        org_id=match["org"],
        account=match["account"],
        region=match["region"],
        delivery_date=f"{match['year']}-{match['month']}-{match['day']}",
    )
