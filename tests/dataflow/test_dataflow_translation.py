"""Every pipeline translated for Google Cloud Dataflow, offline: ``--runner=DataflowRunner --dry_run=True``.

A dry run does all the launcher does before it submits: builds and validates the pipeline, applies
Dataflow's overrides, snapshots the portable proto and builds the staged artifacts (the sdist of
``--setup_file``). The tests read the translated job and check what Dataflow would receive: the steps,
the worker image and staged package, and that no AWS secret of the launcher's environment is anywhere in
it (pipeline options, pickled functions, staged files). Nothing here contacts Google Cloud.
"""

from __future__ import annotations

import base64
import bz2
import configparser
import json
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.portability import common_urns, python_urns
from apache_beam.portability.api import beam_runner_api_pb2 as runner_api
from apache_beam.runners.dataflow.internal import apiclient

import digestchain
import s3server
from pipelines import attribute, history, ingest, verify
from trailbeam import errors, timestamps, webidentity
from trailbeam.beam import launch
from trailbeam.sample import write_sample

pytestmark = pytest.mark.pipeline

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "stratus-red-team"
# In the launcher's environment, as a responder's real keys would be: they must never reach the job.
SECRET_KEY = "tbSecretKey/never+in+a+job+0123456789abcd"
SESSION_TOKEN = "tbSessionToken-never-in-a-job-FwoGZXIvYXdzE"
DATAFLOW = ("--runner=DataflowRunner", "--project=trailbeam-offline", "--region=europe-west1",
            "--temp_location=gs://trailbeam-offline-temp/tmp", "--dry_run=True")
PICKLED_DOFN, PICKLED_COMBINEFN = python_urns.PICKLED_DOFN_INFO, python_urns.PICKLED_COMBINE_FN
PICKLED_TRANSFORM = python_urns.PICKLED_TRANSFORM
CUSTOM_IMAGE = "europe-west1-docker.pkg.dev/trailbeam-offline/trailbeam/trailbeam:test"
ROLE = "arn:aws:iam::123456789012:role/trailbeam-reader"
PROJECTION = '''
from trailbeam.projections import Projection


def calls(state, event, ref):
    return state.set("calls", 1)


CALLS = Projection(resource_type="AWS::IAM::User", reducer=calls, fields=("calls",), description="calls")
'''


@dataclass(frozen=True, kw_only=True)
class Job:
    """What the launcher would send to Dataflow."""

    options: dict[str, Any]        # the job's sdkPipelineOptions, as Dataflow stores them
    proto: runner_api.Pipeline     # the portable pipeline staged beside the job
    environment: str               # the job's whole environment message, as JSON

    def steps(self) -> set[str]:
        return {transform.unique_name for transform in self.proto.components.transforms.values()}

    def docker(self) -> list[runner_api.Environment]:
        return [env for env in self.proto.components.environments.values()
                if env.urn == common_urns.environments.DOCKER.urn]

    def images(self) -> set[str]:
        return {runner_api.DockerPayload.FromString(env.payload).container_image for env in self.docker()}

    def staged(self) -> dict[str, str]:
        """Staged name -> local file, for every artifact of every worker environment."""
        files = {}
        for env in self.docker():
            for artifact in env.dependencies:
                name = runner_api.ArtifactStagingToRolePayload.FromString(artifact.role_payload).staged_name
                files[name] = runner_api.ArtifactFilePayload.FromString(artifact.type_payload).path
        return files

    def pickled(self) -> Iterator[bytes]:
        """Every pickled function of the pipeline, decompressed (Beam stores them base64 + zlib or bz2)."""
        for transform in self.proto.components.transforms.values():
            spec = transform.spec
            if spec.urn == common_urns.primitives.PAR_DO.urn:
                function = runner_api.ParDoPayload.FromString(spec.payload).do_fn
            elif spec.urn == common_urns.composites.COMBINE_PER_KEY.urn:
                function = runner_api.CombinePayload.FromString(spec.payload).combine_fn
            else:
                function = spec
            if function.urn in (PICKLED_DOFN, PICKLED_COMBINEFN, PICKLED_TRANSFORM):
                raw = base64.b64decode(function.payload)
                yield bz2.decompress(raw) if raw.startswith(b"BZh") else zlib.decompress(raw)


def translate(module: ModuleType, *argv: str) -> Job:
    """Dry-runs ``module``'s pipeline on Dataflow exactly as its composition root launches it."""
    options, pipeline = launch.prepare(module.build, [*DATAFLOW, *argv])
    result = pipeline.run()
    result.wait_until_finish()
    environment = apiclient.Environment(packages=[], options=options, environment_version="8",
                                        proto_pipeline_staged_url="gs://trailbeam-offline-temp/tmp/pipeline.pb",
                                        proto_pipeline=result.job.proto_pipeline).proto
    as_json = type(environment).to_json(environment)
    return Job(options=json.loads(as_json)["sdkPipelineOptions"]["options"], proto=result.job.proto_pipeline,
               environment=as_json)


def beam_pin() -> str:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    pins = [line.strip() for line in config["options"]["install_requires"].splitlines()]
    return next(pin.split("==")[1] for pin in pins if pin.startswith("apache-beam=="))


# ---- inputs of the pipelines: built once --------------------------------------------------------------


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dataflow")
    write_sample(root / "trail", events=300, seed=3)
    ingest.run([f"--source={root / 'trail'}", f"--store={root / 'store'}", "--run_id=local-1"])
    chain = digestchain.build_bucket(regions=("us-east-1", "eu-west-1"), hours=3)
    digestchain.write_bundle(chain, root / "evidence")
    (root / "team_projections.py").write_text(PROJECTION)
    return {"root": root, "store": root / "store", "evidence": root / "evidence",
            "window": [f"--start={timestamps.format_micros(chain.start)}",
                       f"--end={timestamps.format_micros(chain.end)}"]}


@pytest.fixture
def launcher_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s3server.set_fake_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)


@pytest.fixture
def trail_bucket(s3_server: str, launcher_secrets: None, inputs: dict[str, Any]) -> str:
    s3server.upload_tree(s3server.admin_client(s3_server), "dataflow-trail", inputs["root"] / "trail" / "AWSLogs",
                         prefix="AWSLogs/")
    return "s3://dataflow-trail"


# ---- the pipelines, as Dataflow would receive them ------------------------------------------------------

# (id, pipeline module, arguments, steps the job must hold)
PIPELINES = [
    ("ingest", ingest, lambda i: [f"--source={FIXTURES}", f"--store={i['root'] / 'ingest-store'}", "--run_id=df-1"],
     {"MatchSources", "Ingest/ParseFiles", "Ingest/GroupIdsByShard", "Ingest/FindSplitIds",
      "Ingest/GroupByPartition", "Ingest/WritePartitions", "Ingest/WriteQuarantine", "Ingest/WriteRunManifest"}),
    ("verify", verify, lambda i: [f"--source={i['evidence']}", f"--report={i['root'] / 'report.json'}",
                                  *i["window"]],
     {"MatchEvidence", "Verify/ReadEvidence", "WriteReport"}),
    ("attribute", attribute, lambda i: [f"--store={i['store']}", "--run_id=df-identity"],
     {"EventFiles", "AttributeStore/Spread", "AttributeStore/Finish"}),
    ("history", history, lambda i: [f"--store={i['store']}", "--run_id=df-history", "--reads",
                                    "--projections=team_projections:CALLS"],
     {"EventFiles", "BuildHistories/Changelog", "BuildHistories/ResourceLogs/GroupByResource",
      "BuildHistories/AggregateReads", "BuildHistories/GroupByShard", "BuildHistories/Finish"}),
]


@pytest.mark.parametrize("module, argv, steps", [case[1:] for case in PIPELINES], ids=[case[0] for case in PIPELINES])
def test_each_pipeline_translates_with_its_package_staged(module, argv, steps, inputs, launcher_secrets,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(inputs["root"]))         # where --projections finds team_projections
    job = translate(module, *argv(inputs), f"--setup_file={REPO / 'setup.py'}")

    assert steps <= job.steps()
    assert job.images() == {f"gcr.io/cloud-dataflow/v1beta3/beam_python3.11_sdk:{beam_pin()}"}
    assert beam.__version__ == beam_pin()                    # the launcher's SDK is the workers' SDK
    staged = job.staged()
    assert "workflow.tar.gz" in staged and "pickled_main_session" not in staged
    with tarfile.open(staged["workflow.tar.gz"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    schemas = {f"trailbeam/schemas/{path.name}" for path in (REPO / "schemas").glob("*.avsc")}
    assert len(schemas) >= 10 and schemas <= names           # package data: workers never read the repo
    assert {"setup.cfg", "setup.py", "trailbeam/beam/ingest.py", "pipelines/ingest.py", "trailbeam/_storescan.c"} <= names
    assert job.options["save_main_session"] is False
    assert_no_secret(job)


def test_a_user_projection_travels_inside_the_job(inputs, launcher_secrets, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(inputs["root"]))
    job = translate(history, f"--store={inputs['store']}", "--run_id=df-projection",
                    "--projections=team_projections:CALLS", f"--setup_file={REPO / 'setup.py'}")
    carried = [payload for payload in job.pickled() if b"team_projections" in payload]
    # By value: the reducer's code (its argument names) is in the job, not an import of a module workers lack.
    assert carried and any(b"state" in payload and b"event" in payload for payload in carried)
    assert not any(name.startswith("team_projections") for name in job.staged())


def test_s3_ingest_on_dataflow_lists_with_launcher_keys_and_ships_none(s3_server, trail_bucket, inputs) -> None:
    job = translate(ingest, f"--source={trail_bucket}", f"--store={inputs['root'] / 's3-store'}", "--run_id=df-s3",
                    f"--s3_endpoint_url={s3_server}", f"--setup_file={REPO / 'setup.py'}")
    assert {"ListS3", "Ingest/ParseFiles", "Ingest/WriteRunManifest"} <= job.steps()
    assert job.options["s3_endpoint_url"] == s3_server
    assert_no_secret(job)


def test_a_laptop_launches_an_s3_ingest_whose_workers_assume_the_role(s3_server, trail_bucket, inputs,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """No Google identity here: the launcher lists with its own keys, the job carries only the role ARN."""
    monkeypatch.setenv(webidentity.METADATA_HOST_ENV, "127.0.0.1:9")         # discard port: refused
    job = translate(ingest, f"--source={trail_bucket}", f"--store={inputs['root'] / 'role-store'}",
                    "--run_id=df-role", f"--s3_endpoint_url={s3_server}", f"--aws_role_arn={ROLE}",
                    f"--setup_file={REPO / 'setup.py'}")
    assert job.options["aws_role_arn"] == ROLE
    assert any(ROLE.encode() in payload for payload in job.pickled())     # the workers' S3 settings
    assert_no_secret(job)


def test_a_custom_container_replaces_the_staged_package(inputs, launcher_secrets) -> None:
    job = translate(attribute, f"--store={inputs['store']}", "--run_id=df-image",
                    f"--sdk_container_image={CUSTOM_IMAGE}")
    assert job.images() == {CUSTOM_IMAGE}
    assert "workflow.tar.gz" not in job.staged()
    assert job.options["sdk_container_image"] == CUSTOM_IMAGE
    assert_no_secret(job)


@pytest.mark.parametrize("module, argv", [case[1:3] for case in PIPELINES], ids=[case[0] for case in PIPELINES])
@pytest.mark.parametrize("secret", ["--s3_access_key_id=AKIAEXAMPLE", f"--s3_secret_access_key={SECRET_KEY}",
                                    f"--s3_session_token={SESSION_TOKEN}"])
def test_aws_keys_in_pipeline_options_are_refused_before_translation(module, argv, secret, inputs) -> None:
    with pytest.raises(errors.InputError, match="do not belong in pipeline options"):
        translate(module, *argv(inputs), secret)


# A flex-template launcher passes --template_location: the job is written for Dataflow to run later, so the
# composition root must return at once, neither waiting nor reading results that do not exist yet.
@pytest.mark.parametrize("module, argv", [case[1:3] for case in PIPELINES], ids=[case[0] for case in PIPELINES])
def test_a_template_launch_returns_without_waiting_for_results(module, argv, inputs, launcher_secrets,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(inputs["root"]))
    job = "gs://trailbeam-offline-temp/template_launches/2026-11-28/job_object"
    result = module.run([*DATAFLOW, f"--template_location={job}", *argv(inputs), f"--setup_file={REPO / 'setup.py'}"])
    assert result == ("df-1" if module is ingest else None)


def assert_no_secret(job: Job) -> None:
    secrets = (SECRET_KEY, SESSION_TOKEN)
    texts = [job.environment, job.proto.SerializeToString(), *job.pickled()]
    for path in job.staged().values():
        texts.append(Path(path).read_bytes())
    for text in texts:
        for secret in secrets:
            assert (secret if isinstance(text, str) else secret.encode()) not in text
    assert not any(name.startswith(("s3_access", "s3_secret", "s3_session")) and value
                   for name, value in job.options.items())
