# bootstrap.sh - sourced by the other scripts. Provides ensure_venv, which
# creates .venv with Python >= 3.11 and installs a requirements file into it
# (skipping pip when nothing changed since the last install).
# Usage: source "$(dirname "$0")/bootstrap.sh"; ensure_venv requirements-dev.txt

LVD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "error: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
is_debian_root() { is_root && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; }

# apt_install PKG...: install, running apt-get update only if the first try fails.
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y "$@" || { apt-get update && apt-get install -y "$@"; }
}

# py_ok CMD: true if CMD runs and is Python >= 3.11.
py_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }

find_python() {
    local c
    for c in python3.11 python3; do
        if command -v "$c" >/dev/null && py_ok "$c"; then echo "$c"; return 0; fi
    done
    die "Python >= 3.11 is required (tried python3.11, python3: $(python3 --version 2>&1 || echo 'not found')). Install Python 3.11+."
}

hash_files() { cat "$@" | { sha256sum 2>/dev/null || shasum -a 256; } | cut -d' ' -f1; }

ensure_venv() {
    local req="${1:-requirements.txt}" py
    cd "$LVD_ROOT" || die "cannot cd to $LVD_ROOT"
    [ -f "$req" ] || die "$req not found in $LVD_ROOT"

    if ! py_ok .venv/bin/python; then
        py="$(find_python)" || exit 1
        if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
            is_debian_root || die "$py lacks venv/ensurepip; install python3-venv (e.g. sudo apt-get install python3-venv)"
            apt_install python3-venv || die "could not install python3-venv"
        fi
        echo "Creating .venv with $py ($("$py" --version 2>&1))"
        "$py" -m venv --clear .venv || die "could not create .venv"
    fi

    # requirements-dev.txt includes requirements.txt, so hash both.
    local files=("$req") name stamp sum
    [ "$req" != requirements.txt ] && [ -f requirements.txt ] && files+=(requirements.txt)
    name="$(basename "$req" .txt)"
    stamp=".venv/.installed-$name"
    sum="$(hash_files "${files[@]}")"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
        echo "Installing $req into .venv"
        .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req" \
            || die "pip install -r $req failed"
        echo "$sum" > "$stamp"
    fi

    export VIRTUAL_ENV="$LVD_ROOT/.venv"
    export PATH="$VIRTUAL_ENV/bin:$PATH"
    unset PYTHONHOME
}
