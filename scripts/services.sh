# services.sh - sourced by test.sh. Provides ensure_postgres and ensure_redis,
# which make sure local PostgreSQL / Redis answer, starting (or, as root on
# Debian, installing) them if needed, and ensure_chromium for the browser tests.
# A server that is already running is never stopped or restarted. Host/port can
# be overridden with PGHOST_CHECK, PGPORT_CHECK, REDIS_HOST_CHECK, REDIS_PORT_CHECK.

# shellcheck source=bootstrap.sh
declare -F die >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

PGHOST_CHECK="${PGHOST_CHECK:-127.0.0.1}"
PGPORT_CHECK="${PGPORT_CHECK:-5432}"
REDIS_HOST_CHECK="${REDIS_HOST_CHECK:-127.0.0.1}"
REDIS_PORT_CHECK="${REDIS_PORT_CHECK:-6379}"

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# wait_for SECONDS CHECK-CMD...: poll once a second until CHECK-CMD succeeds.
wait_for() {
    local n="$1"; shift
    for _ in $(seq "$n"); do "$@" && return 0; sleep 1; done
    return 1
}

pg_up() {
    if command -v pg_isready >/dev/null; then
        pg_isready -q -h "$PGHOST_CHECK" -p "$PGPORT_CHECK"
    else
        tcp_open "$PGHOST_CHECK" "$PGPORT_CHECK"
    fi
}

pg_start_clusters() {
    local dir ver name
    for dir in /etc/postgresql/*/*/; do
        [ -d "$dir" ] || continue
        dir="${dir%/}"; name="${dir##*/}"; ver="$(basename "$(dirname "$dir")")"
        pg_ctlcluster "$ver" "$name" status >/dev/null 2>&1 && continue  # already running
        echo "Starting PostgreSQL cluster $ver/$name"
        pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start || true
    done
}

ensure_postgres() {
    local where="$PGHOST_CHECK:$PGPORT_CHECK" installed=""
    pg_up && return 0
    if ! command -v pg_ctlcluster >/dev/null; then
        is_debian_root || die "PostgreSQL is not running on $where and is not installed.
  Install and start it, e.g.: sudo apt-get install postgresql && sudo pg_ctlcluster <ver> main start
  (the tests use postgresql://postgres:postgres@127.0.0.1:5432; override with TEST_DATABASE_URL)"
        echo "Installing PostgreSQL"
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql \
            || die "could not install postgresql"
        installed=1
    fi
    pg_up || pg_start_clusters
    wait_for 30 pg_up || die "PostgreSQL does not answer on $where after 30 s.
  Start it (e.g. sudo pg_ctlcluster <ver> main start) or set PGHOST_CHECK/PGPORT_CHECK."
    if [ -n "$installed" ]; then
        # Fresh install: give the postgres role a password so TCP password auth works.
        su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" \
            || die "could not set the postgres password"
    fi
}

redis_up() {
    if command -v redis-cli >/dev/null; then
        [ "$(redis-cli -h "$REDIS_HOST_CHECK" -p "$REDIS_PORT_CHECK" ping 2>/dev/null)" = PONG ]
    else
        tcp_open "$REDIS_HOST_CHECK" "$REDIS_PORT_CHECK"
    fi
}

# writable_dir DIR: print DIR (created if needed) if writable, else a /tmp fallback.
writable_dir() {
    if mkdir -p "$1" 2>/dev/null && [ -w "$1" ]; then echo "$1"; return; fi
    local alt="/tmp/lvd-redis-$(id -u)"
    mkdir -p "$alt" && echo "$alt"
}

ensure_redis() {
    local where="$REDIS_HOST_CHECK:$REDIS_PORT_CHECK" dir logdir
    redis_up && return 0
    if ! command -v redis-server >/dev/null; then
        is_debian_root || die "Redis is not running on $where and redis-server is not installed.
  Install and start it, e.g.: sudo apt-get install redis-server && redis-server --daemonize yes
  (the tests use redis://127.0.0.1:6379; override with TEST_REDIS_URL)"
        echo "Installing redis-server"
        apt_install redis-server || die "could not install redis-server"
        redis_up && return 0  # the package may have started it
    fi
    dir="$(writable_dir /var/lib/redis)"
    logdir="$(writable_dir /var/log/redis)"
    echo "Starting redis-server on port $REDIS_PORT_CHECK (data $dir, log $logdir/ci.log)"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT_CHECK" --save "" \
        --appendonly no --dir "$dir" --logfile "$logdir/ci.log" || die "redis-server failed to start"
    wait_for 15 redis_up || die "Redis does not answer on $where after 15 s (see $logdir/ci.log)."
}

# ensure_chromium: the browser tests drive the system's Chromium at /usr/bin/chromium
# (Playwright's own browser downloads are never used).
ensure_chromium() {
    [ -x /usr/bin/chromium ] && return 0
    is_debian_root || die "Chromium is needed at /usr/bin/chromium for the browser tests.
  Install it, e.g.: sudo apt-get install chromium"
    echo "Installing chromium"
    apt_install chromium || die "could not install chromium"
}
