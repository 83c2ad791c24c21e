#!/usr/bin/env bash
# Start the specialized Celery worker pools.
#
#   ./start_celery_worker.sh                 all three pools, as children of this script
#   ./start_celery_worker.sh default         one pool, exec'd (what a container or systemd runs)
#
# Pool names, queues and default sizes come from celery_config.py (`python celery_config.py
# pools`); override sizes with WORKER_DEFAULT_CONCURRENCY, WORKER_EMAILS_CONCURRENCY,
# WORKER_BATCH_CONCURRENCY. SIGTERM/SIGINT is forwarded for a warm shutdown.
# Each pool's arguments come from celery_config.worker_arguments, the same definition the
# standalone launcher uses (`python celery_config.py worker-args POOL`).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export CELERY_APP="${CELERY_APP:-run.celery_app}"

declare -A QUEUE
while read -r pool queue _concurrency; do
  QUEUE[$pool]=$queue
done < <("$PYTHON" celery_config.py pools)

worker_command() {
  local pool=$1
  mapfile -t ARGS < <("$PYTHON" celery_config.py worker-args "$pool")
  COMMAND=("$PYTHON" -m celery "${ARGS[@]}")
}

if [ $# -ge 1 ] && [ "$1" != "all" ]; then
  pool=$1
  if [ -z "${QUEUE[$pool]:-}" ]; then
    echo "unknown pool '$pool'; pools: ${!QUEUE[*]}" >&2
    exit 2
  fi
  worker_command "$pool"
  exec "${COMMAND[@]}"
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
  worker_command "$pool"
  "${COMMAND[@]}" &
  pids+=($!)
done
# If any pool exits on its own, stop the others so a supervisor restarts the set.
wait -n "${pids[@]}" || true
echo "a worker pool exited; stopping the others" >&2
shutdown 1
