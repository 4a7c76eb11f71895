#!/usr/bin/env bash
# Publish web/ to the stack's web bucket behind CloudFront (after `sam deploy`).
# Usage: scripts/deploy_web.sh STACK_NAME [REGION]      e.g. scripts/deploy_web.sh smartcourse-dev us-east-1
# Writes config.json from the stack's outputs (ApiUrl, Stage), syncs the files, invalidates the cache.
set -euo pipefail
STACK_NAME="${1:?usage: $0 STACK_NAME [REGION]}"
export AWS_REGION="${2:-${AWS_REGION:-us-east-1}}"
cd "$(dirname "$0")/.."

output() {
  aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
BUCKET="$(output WebBucketName)"
DISTRIBUTION="$(output WebDistributionId)"
API_URL="$(output ApiUrl)"
STAGE="$(aws cloudformation describe-stacks --stack-name "$STACK_NAME" \
  --query "Stacks[0].Parameters[?ParameterKey=='Stage'].ParameterValue" --output text)"
for v in BUCKET DISTRIBUTION API_URL STAGE; do
  if [ -z "${!v}" ] || [ "${!v}" = "None" ]; then echo "deploy_web: no $v in stack $STACK_NAME" >&2; exit 1; fi
done

# Browsers revalidate every file (ETag), the edge keeps it a day; the invalidation below refreshes the edge.
aws s3 sync web/ "s3://$BUCKET/" --delete --exclude config.json \
  --cache-control "public, max-age=0, s-maxage=86400"
printf '{"apiBaseUrl": "%s", "stage": "%s"}\n' "${API_URL%/}" "$STAGE" |
  aws s3 cp - "s3://$BUCKET/config.json" --content-type application/json --cache-control no-cache
aws cloudfront create-invalidation --distribution-id "$DISTRIBUTION" --paths "/*" \
  --query Invalidation.Id --output text
echo "web app: $(output WebUrl)"
