"""The Beam shell: composite PTransforms over the pure core. The only package that imports apache_beam."""

from trailbeam.beam.ingest import IngestCloudTrail, ListS3Objects, MatchSources, SourceObject

__all__ = ["IngestCloudTrail", "ListS3Objects", "MatchSources", "SourceObject"]
