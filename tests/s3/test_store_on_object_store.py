"""The store in a bucket, as on Dataflow (``--store=gs://...``): every pipeline reads and writes it through
Beam's filesystems only, and writes exactly the bytes it writes on local disk.

Beam's S3 filesystem against moto on 127.0.0.1 stands in for GCS (no GCS server is available offline):
no local path, no rename of folders, no listing of folders that do not exist as objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import s3server
from hottrail import HOT_KEY, write_hot_trail
from pipelines import attribute, history, ingest
from trailbeam import identitystore

pytestmark = pytest.mark.pipeline

BUCKET = "case-store"
CALLS = 200


def run_all(source: Path, store: str, *beam: str) -> dict[str, Any]:
    return {"ingest": ingest.run([f"--source={source}", f"--store={store}", "--run_id=r1", *beam]),
            "attribute": attribute.run([f"--store={store}", "--run_id=a1", *beam]),
            "history": history.run([f"--store={store}", "--run_id=h1", "--reads", *beam])}


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("object-store-trail")
    write_hot_trail(folder, CALLS)
    return folder


def test_every_pipeline_writes_the_same_store_in_a_bucket(trail: Path, s3_server: str, s3_env: Any,
                                                            tmp_path: Path) -> None:
    local = run_all(trail, str(tmp_path / "store"))
    client = s3server.admin_client(s3_server)
    s3server.make_bucket(client, BUCKET)
    remote = run_all(trail, f"s3://{BUCKET}/store", f"--s3_endpoint_url={s3_server}")

    assert remote == local and remote["attribute"]["events"] == CALLS + 6
    objects = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="store/"):
        for item in page.get("Contents", []):
            objects[item["Key"].removeprefix("store/")] = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    files = {path.relative_to(tmp_path / "store").as_posix(): path.read_bytes()
             for path in sorted((tmp_path / "store").rglob("*")) if path.is_file()}
    assert sorted(objects) == sorted(files)
    assert {"identity/CURRENT.json", "history/CURRENT.json", "_runs/r1/summary.json"} <= set(objects)
    assert not any("spill" in key or "staging" in key for key in objects)      # staged parts committed, spill gone
    assert [key for key in objects if objects[key] != files[key]] == []
    hot = [use for use in identitystore.read_uses(str(tmp_path / "store")) if use.credential == HOT_KEY]
    assert [use.count for use in hot] == [CALLS + 5]         # the same bytes hold the session's calls
