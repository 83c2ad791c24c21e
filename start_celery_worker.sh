#!/usr/bin/env bash
# Start the specialized Celery worker pools.
#
#   ./start_celery_worker.sh                 every pool, as children of this script
#   ./start_celery_worker.sh default         one pool, exec'd (what a container or systemd runs)
#   ./start_celery_worker.sh --autoscale [POOL]
#                                            the same, each pool between min and max processes:
#                                            WORKER_DEFAULT_AUTOSCALE="2,8" (min,max) etc.;
#                                            unset: 1 to the pool's concurrency
#
# With WORKER_METRICS_PORT set, each pool serves its Prometheus counters on that port plus
# its index in celery_config.WORKER_POOLS (app/worker/metrics.py); its processes share a
# folder of their own, $WORKER_METRICS_DIR/<pool> (default under $TMPDIR), emptied at start.
#
# Pool names, queues and default sizes come from celery_config.py (`python celery_config.py
# pools`); override sizes with WORKER_DEFAULT_CONCURRENCY, WORKER_EMAILS_CONCURRENCY,
# WORKER_BATCH_CONCURRENCY, WORKER_EMAILS_PRIORITY_CONCURRENCY (every variable:
# docs/configuration.md). SIGTERM/SIGINT is forwarded for a warm shutdown.
# Each pool's arguments come from celery_config.worker_arguments, the same definition the
# standalone launcher uses (`python celery_config.py worker-args POOL`).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export CELERY_APP="${CELERY_APP:-run.celery_app}"

# A bad setting stops here, with the line that names it (settings.py).
POOLS=$("$PYTHON" celery_config.py pools) || exit 2
declare -A QUEUE
while read -r pool queue _concurrency; do
  QUEUE[$pool]=$queue
done <<<"$POOLS"

AUTOSCALE=()
if [ "${1:-}" = "--autoscale" ]; then
  AUTOSCALE=(--autoscale)
  shift
fi

worker_command() {
  local pool=$1 output
  output=$("$PYTHON" celery_config.py worker-args "$pool" "${AUTOSCALE[@]}") || exit 2
  mapfile -t ARGS <<<"$output"
  COMMAND=("$PYTHON" -m celery "${ARGS[@]}")
}

# metrics_folder POOL: give the pool an empty folder for its processes' counters.
metrics_folder() {
  [ -n "${WORKER_METRICS_PORT:-}" ] || return 0
  local folder="${WORKER_METRICS_DIR:-${TMPDIR:-/tmp}/lvd-worker-metrics}/$1"
  mkdir -p "$folder"
  rm -f "$folder"/*.db
  export PROMETHEUS_MULTIPROC_DIR="$folder"
}

if [ $# -ge 1 ] && [ "$1" != "all" ]; then
  pool=$1
  if [ -z "${QUEUE[$pool]:-}" ]; then
    echo "unknown pool '$pool'; pools: ${!QUEUE[*]}" >&2
    exit 2
  fi
  worker_command "$pool"
  metrics_folder "$pool"
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
  ( metrics_folder "$pool" && exec "${COMMAND[@]}" ) &
  pids+=($!)
done
# If any pool exits on its own, stop the others so a supervisor restarts the set.
wait -n "${pids[@]}" || true
echo "a worker pool exited; stopping the others" >&2
shutdown 1
