#!/usr/bin/env bash
# bench.sh - THE benchmark command: sets up .venv (requirements-dev.txt), makes sure
# PostgreSQL, Redis and wrk are there, then runs `python -m bench` (extra args go to it,
# e.g. --quick, --runs 3, --only ceiling,single; see `bash scripts/bench.sh --help`).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"

# host_port URL: print "host port" of a postgresql:// or redis:// URL (user and db dropped).
host_port() {
    local rest="${1#*://}"
    rest="${rest%%/*}"
    rest="${rest##*@}"
    echo "${rest%%:*} $([ "${rest#*:}" != "$rest" ] && echo "${rest##*:}" || echo "$2")"
}
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    read -r PGHOST_CHECK PGPORT_CHECK < <(host_port "$BENCH_DATABASE_URL" 5432)
fi
if [ -n "${BENCH_REDIS_URL:-}" ]; then
    read -r REDIS_HOST_CHECK REDIS_PORT_CHECK < <(host_port "$BENCH_REDIS_URL" 6379)
fi
export PGHOST_CHECK PGPORT_CHECK REDIS_HOST_CHECK REDIS_PORT_CHECK
source "$(dirname "$0")/services.sh"

ensure_venv requirements-dev.txt
ensure_postgres
ensure_redis

if ! command -v wrk >/dev/null; then
    is_debian_root || die "wrk is not installed and this is not root on Debian.
  Install it (e.g. sudo apt-get install wrk) and run the benchmark again."
    echo "Installing wrk"
    apt_install wrk || die "could not install wrk"
fi

exec python -m bench "$@"
