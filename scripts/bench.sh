#!/usr/bin/env bash
# bench.sh - THE benchmark command: sets up .venv (requirements-dev.txt), makes sure
# PostgreSQL, Redis and wrk are there, then runs `python -m bench` (extra args go to it,
# e.g. --quick, --runs 3, --only ceiling,single; see `bash scripts/bench.sh --help`).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
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
