#!/usr/bin/env bash
# run.sh - THE run command: sets up .venv (requirements.txt) and starts the app
# with run.py (extra args are passed through). Needs no database or Redis.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"

ensure_venv requirements.txt
exec python run.py "$@"
