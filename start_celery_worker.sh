#!/usr/bin/env bash
# Start the specialized Celery worker pools.
#
#   ./start_celery_worker.sh                 all three pools, as children of this script
#   ./start_celery_worker.sh default         one pool, exec'd (what a container or systemd runs)
#
# Pool names, queues and default sizes come from celery_config.py (`python celery_config.py
# pools`); override sizes with WORKER_DEFAULT_CONCURRENCY, WORKER_EMAILS_CONCURRENCY,
# WORKER_BATCH_CONCURRENCY. SIGTERM/SIGINT is forwarded for a warm shutdown.
# Workers skip mingle (a 1 s wait at every start to sync revoked task ids, which this
# project never uses) and gossip (every worker following every other's heartbeats).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
CELERY_APP="${CELERY_APP:-run.celery_app}"
LOGLEVEL="${CELERY_LOGLEVEL:-INFO}"
MAX_TASKS_PER_CHILD="${WORKER_MAX_TASKS_PER_CHILD:-10000}"
NODE_SUFFIX="${WORKER_NODE_SUFFIX:-%h}"

declare -A QUEUE CONCURRENCY
while read -r pool queue concurrency; do
  QUEUE[$pool]=$queue
  CONCURRENCY[$pool]=$concurrency
done < <("$PYTHON" celery_config.py pools)

worker_command() {
  local pool=$1
  echo "$PYTHON" -m celery -A "$CELERY_APP" worker \
    -Q "${QUEUE[$pool]}" -c "${CONCURRENCY[$pool]}" -n "${pool}@${NODE_SUFFIX}" \
    --max-tasks-per-child "$MAX_TASKS_PER_CHILD" --loglevel "$LOGLEVEL" \
    --without-mingle --without-gossip
}

if [ $# -ge 1 ] && [ "$1" != "all" ]; then
  pool=$1
  if [ -z "${QUEUE[$pool]:-}" ]; then
    echo "unknown pool '$pool'; pools: ${!QUEUE[*]}" >&2
    exit 2
  fi
  # shellcheck disable=SC2046
  exec $(worker_command "$pool")
fi

pids=()
shutdown() {
  trap - TERM INT
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  exit "${1:-0}"
}
trap shutdown TERM INT
for pool in "${!QUEUE[@]}"; do
  # shellcheck disable=SC2046
  $(worker_command "$pool") &
  pids+=($!)
done
# If any pool exits on its own, stop the others so a supervisor restarts the set.
wait -n "${pids[@]}" || true
echo "a worker pool exited; stopping the others" >&2
shutdown 1
