"""Datasets derived from a store's events (``identity/``, ``history/``): runs, commits, the current run.

A derived dataset is recomputed as a whole, so each run writes its own folder and becomes visible at once
when ``CURRENT.json`` names it; older runs are then removed. Readers never see a half-written run, on a
local disk or an object store (which has no folders to rename)::

    <store>/<dataset>/run=<run>/...     one run's files
    <store>/<dataset>/CURRENT.json      {"run": <run>}: written last
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trailbeam import avro, avrofile, errors, store

CURRENT = "CURRENT.json"
SUMMARY = "summary.json"        # every run's summary, beside its data


def dataset_root(store_root: str, dataset: str) -> str:
    return f"{store_root.rstrip('/')}/{dataset}"


def run_root(store_root: str, dataset: str, run_id: str) -> str:
    return f"{dataset_root(store_root, dataset)}/run={run_id}"


def write_json(fs: store.StoreFS, path: str, value: Any) -> None:
    with fs.create(path) as out:
        out.write(json.dumps(value, indent=2, sort_keys=True).encode() + b"\n")


def write_avro(fs: store.StoreFS, path: str, dataset: str, schema: str, records: Iterable[bytes]) -> int:
    """One container of records already encoded with ``schema``, at ``path`` inside ``dataset``.

    Deterministic: the sync marker comes from the path below the dataset folder (``run=<id>/...``), so the
    same run id and records give the same bytes wherever the store is.
    """
    with fs.create(path) as out:
        return avrofile.write_container(out, schema_json=avro.writer_schema_json(schema), records=records,
                                        seed=path.rsplit(f"/{dataset}/", 1)[-1],
                                        metadata={"trailbeam.schema.version": str(avro.SCHEMA_VERSION)})


def read_json(fs: store.StoreFS, path: str) -> Any:
    with fs.open(path) as handle:
        return json.loads(handle.read())


def commit(fs: store.StoreFS, store_root: str, dataset: str, run_id: str) -> None:
    """Points readers at a finished run, then removes older runs."""
    root = dataset_root(store_root, dataset)
    write_json(fs, f"{root}/{CURRENT}", {"run": run_id})
    # Object stores have no folders: find older runs through their files and delete the files; locally,
    # delete the folders they leave.
    older = sorted(path for path in fs.match(f"{root}/run=*/**") if not path.startswith(f"{root}/run={run_id}/"))
    folders = sorted({path[:path.index("/", len(root) + 1)] for path in older})
    if older:
        fs.delete(folders if "://" not in root else older)


def committed_run(fs: store.StoreFS, store_root: str, dataset: str) -> str | None:
    """The committed run of a dataset, or None when it was never made."""
    path = f"{dataset_root(store_root, dataset)}/{CURRENT}"
    if not fs.exists(path):
        return None
    run: str = read_json(fs, path)["run"]
    return run


def current_run(store_root: str, dataset: str, *, made_by: str) -> Path:
    """The local folder of a dataset's committed run.

    Raises:
        errors.StoreError: not a store, or the dataset was never made (the message names ``made_by``).
    """
    root = store.check_store(store_root) / dataset
    try:
        run = json.loads((root / CURRENT).read_text())["run"]
    except FileNotFoundError:
        raise errors.StoreError(f"{store_root} has no {dataset} data yet: run `trailbeam {made_by} --store "
                                f"{store_root}` first") from None
    return root / f"run={run}"
