"""Pipeline options of trailbeam's pipelines, one class per concern.

Flags default to None and are validated in code: a ``required=True`` flag would break every other
options parse in the same process.
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions


class IngestOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--source", action="append", default=None,
                            help="Input file, folder or glob (local, gs://, s3://); repeat for several.")
        parser.add_argument("--store", default=None, help="Event store to write into (folder or bucket URI).")
        parser.add_argument("--input_format", default="auto",
                            help="Force one input shape (records, array, single, jsonl, concatenated, "
                                 "lookup-events, eventbridge, cloudwatch-subscription, cloudwatch-export, "
                                 "cloudwatch-filter); default: detect per file.")
        parser.add_argument("--run_id", default=None,
                            help="Name of this ingest run (letters, digits, . _ -); default: the UTC start time.")
        parser.add_argument("--codec", default="zstandard", help="Avro codec: zstandard (default), deflate or null.")
        parser.add_argument("--accounts", action="append", default=None,
                            help="S3 sources: only these account ids (comma-separated or repeated); default: discover.")
        parser.add_argument("--regions", action="append", default=None,
                            help="S3 sources: only these regions (comma-separated or repeated); default: discover.")
        parser.add_argument("--org_id", default=None,
                            help="S3 sources: only this organization's trail folder (o-...); default: all found.")
        parser.add_argument("--start", default=None,
                            help="Only events at or after this eventTime (ISO 8601 UTC); prunes S3 listing too.")
        parser.add_argument("--end", default=None,
                            help="Only events before this eventTime (ISO 8601 UTC); prunes S3 listing too.")
        parser.add_argument("--selectors", default=None,
                            help="JSON file of CloudTrail event selectors (aws cloudtrail get-event-selectors "
                                 "output); only matching events are stored, the others are counted.")
        parser.add_argument("--write_only", action="store_true", default=False,
                            help="Only events that are not readOnly.")
        parser.add_argument("--event_source", action="append", default=None,
                            help="Only these eventSources, e.g. iam.amazonaws.com (comma-separated or repeated).")
        parser.add_argument("--progress_dir", default=None,
                            help="Local folder where workers drop progress counts (set by the CLI on a TTY).")


class VerifyOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--report", default=None, help="Where to write the verification report (JSON).")
        parser.add_argument("--public_keys", default=None,
                            help="aws cloudtrail list-public-keys output (default: the bundle's).")
