#!/usr/bin/env bash
# test.sh - THE test command: sets up .venv (requirements-dev.txt), makes sure
# PostgreSQL and Redis are up and Chromium is installed, runs ruff, then pytest
# (extra args go to pytest).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
source "$(dirname "$0")/services.sh"

ensure_venv requirements-dev.txt
ensure_postgres
ensure_redis
ensure_chromium

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgresql://postgres:postgres@127.0.0.1:5432/lvd_test}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"

ruff check .
ruff format --check .
# Strict docs build: a broken link or anchor, or a page missing from the nav, fails it.
# Not --quiet: it hides warnings from the strict count (mkdocs/mkdocs#4126).
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --site-dir "$(mktemp -d)"
exec python -m pytest -n 4 --dist loadfile --no-loadscope-reorder "$@"
