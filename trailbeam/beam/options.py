"""Pipeline options of trailbeam's pipelines, one class per concern.

Flags default to None and are validated in code: a ``required=True`` flag would break every other
options parse in the same process.
"""

from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions, S3Options, StandardOptions

from trailbeam import errors, s3, webidentity


def switch(value: str) -> bool:
    """A switch's optional value: ``--reads`` alone, or ``--reads=true|false`` (a flex-template launcher
    passes every parameter as ``--name=value``)."""
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"{value!r}: give true or false")
    return lowered == "true"


SWITCH = {"nargs": "?", "const": True, "default": False, "type": switch}


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
        parser.add_argument("--write_only", **SWITCH, help="Only events that are not readOnly.")
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


class AwsOptions(PipelineOptions):
    """How workers get AWS credentials without any secret in the options (Dataflow stores them with the job).

    With ``--aws_role_arn`` every worker assumes that role with its Google identity (``webidentity``);
    without it, boto3's standard chain applies (environment, profile, instance role).
    """

    @classmethod
    def _add_argparse_args(cls, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--aws_role_arn", default=None,
                            help="AWS role to assume with the Google identity of the VM (Dataflow workers: "
                                 "their service account) through STS AssumeRoleWithWebIdentity, refreshed "
                                 "before expiry; default: the standard AWS credential chain.")
        parser.add_argument("--aws_web_identity_audience", default=None,
                            help="Audience of the Google ID token (accounts.google.com:oaud in the role's "
                                 f"trust policy); default: {webidentity.DEFAULT_AUDIENCE}.")
        parser.add_argument("--sts_endpoint_url", default=None,
                            help="STS endpoint for --aws_role_arn; default: STS in --s3_region_name.")


def s3_settings(options: PipelineOptions) -> s3.S3Settings:
    """The S3 settings of Beam's ``S3Options`` (endpoint, region) and ``AwsOptions``, checked on the launcher.

    Raises:
        errors.InputError: a malformed role ARN, or an audience or STS endpoint without a role ARN.
    """
    endpoint = options.view_as(S3Options)
    aws = options.view_as(AwsOptions)
    if aws.aws_role_arn is None and (aws.aws_web_identity_audience or aws.sts_endpoint_url):
        raise errors.InputError("--aws_web_identity_audience and --sts_endpoint_url need --aws_role_arn")
    if aws.aws_role_arn is not None and not webidentity.ROLE_ARN.fullmatch(aws.aws_role_arn):
        raise errors.InputError(f"--aws_role_arn {aws.aws_role_arn!r}: give an IAM role ARN, "
                                "arn:aws:iam::<12-digit account>:role/NAME")
    return s3.S3Settings(endpoint_url=endpoint.s3_endpoint_url, region=endpoint.s3_region_name,
                         role_arn=aws.aws_role_arn, web_identity_audience=aws.aws_web_identity_audience,
                         sts_endpoint_url=aws.sts_endpoint_url)


def launcher_s3_settings(options: PipelineOptions, workers: s3.S3Settings) -> s3.S3Settings:
    """The settings the launcher lists S3 with, given the workers'.

    A Dataflow job may be launched from a laptop, which has no Google identity to exchange for the role:
    ``s3.for_launcher`` then lists with the launcher's own AWS chain. A local run is its own worker, so it
    uses the workers' settings and fails at once, on the launcher, where they would fail.
    """
    runner = str(options.view_as(StandardOptions).runner or "")
    return s3.for_launcher(workers) if "dataflow" in runner.lower() else workers
