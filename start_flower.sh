#!/usr/bin/env bash
# Start Flower, the Celery monitor, behind basic auth taken from the environment.
#
#   FLOWER_BASIC_AUTH=admin:long-secret ./start_flower.sh [more flower options]
#
# It refuses to start without FLOWER_BASIC_AUTH (user:password, comma-separated for
# several). Flower's own periodic "enable events" broadcast is off (FLOWER_ENABLE_EVENTS
# defaults to false), so the storage pool keeps task events off; the pools named in
# WORKER_TASK_EVENTS (default: emails, batch_processing, emails_priority) send them.
# Flower's /metrics and /healthcheck answer WITHOUT auth: never expose this port to the
# internet. FLOWER_PORT (5555) and FLOWER_ADDRESS (127.0.0.1) set where it listens.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
if [ -z "${FLOWER_BASIC_AUTH:-}" ]; then
  echo "FLOWER_BASIC_AUTH is not set: set it to user:password (Flower must not run without auth)" >&2
  exit 2
fi
# Flower reads every FLOWER_* variable as its option (FLOWER_BASIC_AUTH included).
export FLOWER_ENABLE_EVENTS="${FLOWER_ENABLE_EVENTS:-false}"
exec "$PYTHON" -m celery -A run.monitor_celery flower \
  --port="${FLOWER_PORT:-5555}" --address="${FLOWER_ADDRESS:-127.0.0.1}" "$@"
