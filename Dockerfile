# trailbeam on Dataflow: one image that is both the flex-template launcher and the SDK worker container
# (--sdk_container_image). The job is submitted and run with the same trailbeam and dependencies, installed
# here: nothing is installed when a job launches or a worker starts.
#
# The launcher runs the file named by FLEX_TEMPLATE_PYTHON_PY_FILE, which it reads from the image's
# environment (`gcloud dataflow flex-template build --env` only applies when gcloud builds the image itself,
# never with --image). So each pipeline gets its own tag of this image, built with
# --build-arg PIPELINE=ingest|verify|attribute|history: all layers are shared, only that variable differs.
# scripts/build_flex_template.sh builds the four and their templates.

# Must equal the apache-beam== pin in setup.cfg (tests/dataflow/test_flex_template.py checks it).
ARG BEAM_VERSION=2.77.0
# Only the launcher binary is taken from this image (the tag of Google's python-docs-samples flex template).
ARG LAUNCHER_IMAGE=gcr.io/dataflow-templates-base/python311-template-launcher-base:20230622_RC00

FROM ${LAUNCHER_IMAGE} AS launcher

FROM apache/beam_python3.11_sdk:${BEAM_VERSION}

COPY --from=launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher

WORKDIR /template
COPY setup.cfg setup.py pyproject.toml README.md ./
# trailbeam/schemas is a symbolic link to ../schemas: both land side by side, as in the repository.
COPY schemas/ schemas/
COPY trailbeam/ trailbeam/
COPY pipelines/ pipelines/
# A regular (not editable) install: the schemas travel as package data. apache-beam is already the
# pinned version, so pip keeps the image's own copy; pip check fails the build on conflicting versions.
RUN pip install --no-cache-dir . && pip check

ARG PIPELINE=ingest
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/pipelines/${PIPELINE}.py

# The SDK worker's entry point (the launcher VM starts python_template_launcher itself).
ENTRYPOINT ["/opt/apache/beam/boot"]
