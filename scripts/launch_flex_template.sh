#!/usr/bin/env bash
# Launches a Dataflow job from one of trailbeam's flex templates (built by scripts/build_flex_template.sh).
# The workers run the template's own image, so the job runs exactly the code that launched it.
set -euo pipefail

usage() {
  cat >&2 <<'EOF'
usage: PROJECT=... REGION=... TEMPLATE_BUCKET=... scripts/launch_flex_template.sh PIPELINE [NAME=VALUE ...]

  PIPELINE         ingest, verify, attribute or history
  NAME=VALUE       a template parameter (pipelines/templates/PIPELINE.json lists them), or a Beam or
                   Dataflow option such as max_num_workers=20; commas inside a value are kept
  PROJECT          Google Cloud project
  REGION           Dataflow region of the job
  TEMPLATE_BUCKET  bucket (no gs://) holding gs://TEMPLATE_BUCKET/TEMPLATE_PREFIX/PIPELINE.json; the job
                   stages in gs://TEMPLATE_BUCKET/staging and gs://TEMPLATE_BUCKET/temp
optional:
  TEMPLATE_PREFIX  folder of the template specs in the bucket (default: templates)
  IMAGE            worker image (default: the image of the template spec)
  SERVICE_ACCOUNT  service account of the launcher and workers (the identity --aws_role_arn trusts)
  JOB_NAME         default: trailbeam-PIPELINE-<UTC time>

example:
  scripts/launch_flex_template.sh ingest source=s3://my-trail/AWSLogs/ store=gs://my-case/store \
      s3_region_name=eu-west-1 aws_role_arn=arn:aws:iam::111122223333:role/trailbeam-reader
EOF
  exit 2
}

[ "$#" -ge 1 ] || usage
pipeline="$1"
shift
case "$pipeline" in
  ingest|verify|attribute|history) ;;
  *) echo "launch_flex_template.sh: unknown pipeline $pipeline" >&2; usage ;;
esac
for name in PROJECT REGION TEMPLATE_BUCKET; do
  [ -n "${!name:-}" ] || { echo "launch_flex_template.sh: $name is not set" >&2; usage; }
done

parameters=()
for pair in "$@"; do
  [[ "$pair" == ?*=* ]] || { echo "launch_flex_template.sh: not NAME=VALUE: $pair" >&2; usage; }
  if [[ "$pair" == *,* ]]; then
    # gcloud splits a dictionary flag at commas; ^~^ makes ~ the separator instead (gcloud topic escaping).
    [[ "$pair" != *~* ]] || { echo "launch_flex_template.sh: a value with both , and ~: $pair" >&2; exit 2; }
    pair="^~^$pair"
  fi
  parameters+=(--parameters "$pair")
done

template="gs://$TEMPLATE_BUCKET/${TEMPLATE_PREFIX:-templates}/$pipeline.json"
image="${IMAGE:-$(gcloud storage cat "$template" --project "$PROJECT" \
                  | python3 -c 'import json, sys; print(json.load(sys.stdin)["image"])')}"

account=()
[ -z "${SERVICE_ACCOUNT:-}" ] || account=(--service-account-email "$SERVICE_ACCOUNT")

gcloud dataflow flex-template run "${JOB_NAME:-trailbeam-$pipeline-$(date -u +%Y%m%d-%H%M%S)}" \
  --template-file-gcs-location "$template" \
  --region "$REGION" \
  --project "$PROJECT" \
  --staging-location "gs://$TEMPLATE_BUCKET/staging" \
  --temp-location "gs://$TEMPLATE_BUCKET/temp" \
  ${account[@]+"${account[@]}"} \
  --parameters "sdk_container_image=$image" \
  ${parameters[@]+"${parameters[@]}"}
