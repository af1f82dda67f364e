#!/usr/bin/env bash
# Builds trailbeam's Dataflow flex templates: the image (launcher and SDK worker container in one, see
# Dockerfile), one tag of it per pipeline, and one template spec per pipeline in Cloud Storage.
set -euo pipefail

usage() {
  cat >&2 <<'EOF'
usage: PROJECT=... REGION=... REPOSITORY=... TEMPLATE_BUCKET=... scripts/build_flex_template.sh

  PROJECT          Google Cloud project
  REGION           Artifact Registry location of REPOSITORY (e.g. europe-west1)
  REPOSITORY       Artifact Registry Docker repository
  TEMPLATE_BUCKET  bucket (no gs://) that receives gs://TEMPLATE_BUCKET/TEMPLATE_PREFIX/<pipeline>.json
optional:
  IMAGE            image name without tag (default: REGION-docker.pkg.dev/PROJECT/REPOSITORY/trailbeam);
                   pipeline P is IMAGE-P:TAG
  TAG              image tag (default: the UTC time, e.g. 20260301-120000)
  TEMPLATE_PREFIX  folder of the template specs in the bucket (default: templates)
  BUILDER          cloudbuild (default: gcloud builds submit) or docker (local docker build and push;
                   run `gcloud auth configure-docker REGION-docker.pkg.dev` once)
EOF
  exit 2
}

[ "$#" -eq 0 ] || usage
for name in PROJECT REGION REPOSITORY TEMPLATE_BUCKET; do
  [ -n "${!name:-}" ] || { echo "build_flex_template.sh: $name is not set" >&2; usage; }
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PIPELINES=(ingest verify attribute history)
IMAGE="${IMAGE:-$REGION-docker.pkg.dev/$PROJECT/$REPOSITORY/trailbeam}"
TAG="${TAG:-$(date -u +%Y%m%d-%H%M%S)}"
TEMPLATE_PREFIX="${TEMPLATE_PREFIX:-templates}"
BUILDER="${BUILDER:-cloudbuild}"

# The metadata files must match the options classes before they are published.
if [ -x "$repo/.venv/bin/python" ]; then
  "$repo/.venv/bin/python" "$repo/scripts/flex_template.py" metadata --check
else
  echo "build_flex_template.sh: no .venv (scripts/bootstrap.sh): metadata not checked against the code" >&2
fi

case "$BUILDER" in
  cloudbuild)
    # One build, one step per pipeline: the steps share the docker daemon, so every layer is built once.
    config="$(mktemp)"
    trap 'rm -f "$config"' EXIT
    {
      echo "steps:"
      for pipeline in "${PIPELINES[@]}"; do
        echo "- name: gcr.io/cloud-builders/docker"
        echo "  args: ['build', '--build-arg', 'PIPELINE=$pipeline', '--tag', '$IMAGE-$pipeline:$TAG', '.']"
      done
      echo "images:"
      for pipeline in "${PIPELINES[@]}"; do
        echo "- '$IMAGE-$pipeline:$TAG'"
      done
    } > "$config"
    gcloud builds submit "$repo" --config "$config" --project "$PROJECT"
    ;;
  docker)
    for pipeline in "${PIPELINES[@]}"; do
      docker build --build-arg "PIPELINE=$pipeline" --tag "$IMAGE-$pipeline:$TAG" "$repo"
      docker push "$IMAGE-$pipeline:$TAG"
    done
    ;;
  *)
    echo "build_flex_template.sh: BUILDER is cloudbuild or docker, not $BUILDER" >&2
    usage
    ;;
esac

for pipeline in "${PIPELINES[@]}"; do
  gcloud dataflow flex-template build "gs://$TEMPLATE_BUCKET/$TEMPLATE_PREFIX/$pipeline.json" \
    --image "$IMAGE-$pipeline:$TAG" \
    --sdk-language PYTHON \
    --metadata-file "$repo/pipelines/templates/$pipeline.json" \
    --project "$PROJECT"
  echo "$pipeline: gs://$TEMPLATE_BUCKET/$TEMPLATE_PREFIX/$pipeline.json -> $IMAGE-$pipeline:$TAG"
done
