"""``store.StoreFS`` over Beam's FileSystems, so the store can live on local disk, gs:// or s3://."""

from __future__ import annotations

import os
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

_RAW = CompressionTypes.UNCOMPRESSED


class BeamFS:
    def create(self, path: str) -> BinaryIO:
        return FileSystems.create(path, compression_type=_RAW)

    def open(self, path: str) -> BinaryIO:
        return FileSystems.open(path, compression_type=_RAW)

    def match(self, pattern: str) -> list[str]:
        return [path for path, _ in self.match_sizes(pattern)]

    def match_sizes(self, pattern: str) -> list[tuple[str, int]]:
        """(path, size in bytes) of every file ``pattern`` matches, sorted by path."""
        results = FileSystems.match([pattern])
        return sorted((metadata.path, metadata.size_in_bytes) for result in results for metadata in result.metadata_list)

    def exists(self, path: str) -> bool:
        return FileSystems.exists(path)

    def rename(self, sources: list[str], destinations: list[str]) -> None:
        if not sources:
            return
        for destination in destinations:
            if "://" not in destination:
                # Beam's local rename does not create folders (object stores have none to create).
                os.makedirs(os.path.dirname(destination), exist_ok=True)
        FileSystems.rename(sources, destinations)

    def delete(self, paths: list[str]) -> None:
        if paths:
            FileSystems.delete(paths)


BEAM_FS = BeamFS()
