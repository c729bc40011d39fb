#!/usr/bin/env bash
# Posts a deploy's outcome to Slack when SLACK_WEBHOOK_URL is set (deploy.yml's last step;
# without the secret it says so and succeeds). Reads DEPLOY_ENVIRONMENT, IMAGE_TAG,
# DEPLOY_OUTCOME, SMOKE_OUTCOME and RUN_URL. A failed post is reported, never fatal.
set -euo pipefail
if [ -z "${SLACK_WEBHOOK_URL:-}" ]; then
    echo "notify: no SLACK_WEBHOOK_URL secret: no notification"
    exit 0
fi
payload="$(python3 - <<'PY'
import json, os
get = os.environ.get
outcome = get("DEPLOY_OUTCOME", "unknown")
icon = ":white_check_mark:" if outcome == "success" else ":x:"
text = "{} ConfMgr deploy to *{}* of `{}`: {} (smoke test: {}) <{}|run>".format(
    icon, get("DEPLOY_ENVIRONMENT", "?"), get("IMAGE_TAG", "?"), outcome,
    get("SMOKE_OUTCOME") or "not run", get("RUN_URL", ""))
print(json.dumps({"text": text}))
PY
)"
if curl --silent --show-error --fail --max-time 10 -H 'Content-Type: application/json' \
    --data "$payload" "$SLACK_WEBHOOK_URL" >/dev/null; then
    echo "notify: posted to Slack"
else
    echo "notify: the Slack post failed (the deploy's outcome stands)" >&2
fi
