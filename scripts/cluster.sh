#!/usr/bin/env bash
# cluster.sh - a cluster on one machine: network-namespace hosts on a private bridge.
#
#   sudo bash scripts/cluster.sh up        start (or complete) the cluster; the LAST line of
#                                          the output is one JSON object: lb_url,
#                                          database_url, broker_url, hosts, app_id, ingest_key
#   sudo bash scripts/cluster.sh status    every host, its processes and whether it answers
#   sudo bash scripts/cluster.sh kill HOST SIGKILL every process of HOST at once
#   sudo bash scripts/cluster.sh start HOST  start HOST's processes again
#   sudo bash scripts/cluster.sh leader QUEUE  the host whose RabbitMQ node leads QUEUE
#   sudo bash scripts/cluster.sh nodes     the RabbitMQ nodes running in the cluster
#   sudo bash scripts/cluster.sh cpu       CPU seconds each host has used
#   sudo bash scripts/cluster.sh down      remove everything: processes, namespaces, bridge
#   sudo bash scripts/cluster.sh measure   the host-loss and scaling measurements
#                                          (python -m bench.cluster; docs/scaling.md)
#
# Hosts (one network namespace `lvd-<host>` each, on bridge lvdbr0, 10.77.0.0/24; the
# bridge has 10.77.0.1 in the machine's own namespace so that it reaches every host, and
# no host has a route anywhere else):
#   lb       10.77.0.10  HAProxy on :8080, checking GET /health on every app host each second
#   appN     10.77.0.1N  gunicorn on :8000 and the worker pools as start_celery_worker.sh starts them
#   rabbitN  10.77.0.2N  RabbitMQ nodes rabbit@rabbit1..3: one cluster, quorum queues
#   db       10.77.0.30  PostgreSQL on :5432 (private cluster) and Redis on :6379 (rate limits,
#                        task results, live marks: nothing a 202 depends on)
# Every host's processes run in a cgroup of their own with a CPU quota (cgroup v2 cpu.max,
# or v1 cpu.cfs_quota_us with a freezer cgroup, so that `kill` stops them all at once).
#
# Settings: CLUSTER_APP_HOSTS (2), CLUSTER_APP_CPU / CLUSTER_RABBIT_CPU / CLUSTER_DB_CPU /
# CLUSTER_LB_CPU (percent of one core: 50, 50, 100, 50), CLUSTER_DIR (/var/tmp/lvd-cluster),
# PYTHON (.venv/bin/python, else python3). Root only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo "$ROOT/.venv/bin/python" || command -v python3 )}"
STATE="${CLUSTER_DIR:-/var/tmp/lvd-cluster}"
NET=10.77.0
BRIDGE=lvdbr0
LB_PORT=8080
APP_PORT=8000
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
RABBIT_BIN=/usr/lib/rabbitmq/bin  # these scripts do not switch to the rabbitmq user
CG_NAME=lvd-cluster

die() { echo "cluster.sh: $*" >&2; exit 1; }
say() { echo "cluster.sh: $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, a bridge and cgroups)"
command -v ip >/dev/null || die "the 'ip' command (iproute2) is missing"

app_count() {
  if [ -f "$STATE/app_hosts" ]; then cat "$STATE/app_hosts"; else echo "${CLUSTER_APP_HOSTS:-2}"; fi
}
hosts() {
  local n
  echo lb
  for n in $(seq 1 "$(app_count)"); do echo "app$n"; done
  echo rabbit1 rabbit2 rabbit3 db | tr ' ' '\n'
}
host_ip() {
  case $1 in
    lb) echo "$NET.10" ;;
    app[1-9]) echo "$NET.$((10 + ${1#app}))" ;;
    rabbit[1-3]) echo "$NET.$((20 + ${1#rabbit}))" ;;
    db) echo "$NET.30" ;;
    *) die "unknown host '$1'; hosts: $(hosts | tr '\n' ' ')" ;;
  esac
}
host_cpu() {
  case $1 in
    lb) echo "${CLUSTER_LB_CPU:-50}" ;;
    app*) echo "${CLUSTER_APP_CPU:-50}" ;;
    rabbit*) echo "${CLUSTER_RABBIT_CPU:-50}" ;;
    db) echo "${CLUSTER_DB_CPU:-100}" ;;
  esac
}
ns() { echo "lvd-$1"; }
known_host() { hosts | grep -x "$1" >/dev/null || die "unknown host '$1'; hosts: $(hosts | tr '\n' ' ')"; }

# --- cgroups: one per host, with its CPU quota ------------------------------------------
cgroup_v2() { [ -f /sys/fs/cgroup/cgroup.controllers ]; }
cgroup_dirs() {  # the folders a host's processes join
  if cgroup_v2; then echo "/sys/fs/cgroup/$CG_NAME/$1"
  else
    echo "/sys/fs/cgroup/cpu/$CG_NAME/$1 /sys/fs/cgroup/freezer/$CG_NAME/$1" \
      "/sys/fs/cgroup/cpuacct/$CG_NAME/$1"
  fi
}
cgroup_create() {
  local host=$1 quota
  quota=$(( $(host_cpu "$host") * 1000 ))  # microseconds per 100 ms period
  if cgroup_v2; then
    mkdir -p "/sys/fs/cgroup/$CG_NAME"
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
    grep -qw cpu "/sys/fs/cgroup/$CG_NAME/cgroup.subtree_control" \
      || echo +cpu >"/sys/fs/cgroup/$CG_NAME/cgroup.subtree_control"
    mkdir -p "/sys/fs/cgroup/$CG_NAME/$host"
    echo "$quota 100000" >"/sys/fs/cgroup/$CG_NAME/$host/cpu.max"
  else
    mkdir -p "/sys/fs/cgroup/cpu/$CG_NAME/$host" "/sys/fs/cgroup/freezer/$CG_NAME/$host" \
      "/sys/fs/cgroup/cpuacct/$CG_NAME/$host"
    echo 100000 >"/sys/fs/cgroup/cpu/$CG_NAME/$host/cpu.cfs_period_us"
    echo "$quota" >"/sys/fs/cgroup/cpu/$CG_NAME/$host/cpu.cfs_quota_us"
  fi
}
host_pids() {  # every process of a host: its cgroup's, and any other inside its namespace
  local dir
  for dir in $(cgroup_dirs "$1"); do
    [ -f "$dir/cgroup.procs" ] && cat "$dir/cgroup.procs"
  done
  ip netns pids "$(ns "$1")" 2>/dev/null || true
}
kill_host() {
  local host=$1 dir pids tries=0
  if cgroup_v2 && [ -f "/sys/fs/cgroup/$CG_NAME/$host/cgroup.kill" ]; then
    echo 1 >"/sys/fs/cgroup/$CG_NAME/$host/cgroup.kill"
  else
    # Freeze first so that no process of the host runs (or forks) while the others die.
    dir="/sys/fs/cgroup/freezer/$CG_NAME/$host"
    if [ -d "$dir" ]; then
      echo FROZEN >"$dir/freezer.state"
      while [ "$(cat "$dir/freezer.state")" != FROZEN ] && [ $tries -lt 100 ]; do
        sleep 0.01; tries=$((tries + 1))
      done
    fi
    pids=$(host_pids "$host" | sort -u)
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
    [ -d "$dir" ] && echo THAWED >"$dir/freezer.state"
  fi
  for _ in $(seq 100); do
    [ -z "$(host_pids "$host")" ] && return 0
    pids=$(host_pids "$host" | sort -u)
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.05
  done
  say "some processes of $host would not die: $(host_pids "$host" | tr '\n' ' ')"
}

# run_in HOST NAME COMMAND...: start COMMAND in HOST's namespace and cgroup, detached,
# output to $STATE/HOST/NAME.log.
run_in() {
  local host=$1 name=$2
  shift 2
  mkdir -p "$STATE/$host"
  # Join the cgroups first: inside the namespace, `ip netns exec` mounts a /sys without them.
  setsid bash -c '
    for dir in $1; do echo $$ >"$dir/cgroup.procs"; done
    shift
    exec ip netns exec "$@"' _ "$(cgroup_dirs "$host")" "$(ns "$host")" "$@" \
    </dev/null >>"$STATE/$host/$name.log" 2>&1 &
  disown
}
in_ns() { local host=$1; shift; ip netns exec "$(ns "$host")" "$@"; }

# --- network ------------------------------------------------------------------------------
network_up() {
  local host address
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$NET.1/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  for host in $(hosts); do
    address=$(host_ip "$host")
    mkdir -p "/etc/netns/$(ns "$host")"
    # Without these a lookup inside a namespace waits 10-20 s for a resolver it cannot reach.
    echo "options timeout:1 attempts:1" >"/etc/netns/$(ns "$host")/resolv.conf"
    {
      echo "127.0.0.1 localhost"
      echo "$address $(hostname)"
      local other
      for other in $(hosts); do echo "$(host_ip "$other") $other"; done
    } >"/etc/netns/$(ns "$host")/hosts"
    if ! ip netns list | grep -w "$(ns "$host")" >/dev/null; then
      ip netns add "$(ns "$host")"
    fi
    if ! ip link show "lvdv-$host" >/dev/null 2>&1; then
      ip link add "lvdv-$host" type veth peer name eth0 netns "$(ns "$host")"
      ip link set "lvdv-$host" master "$BRIDGE" up
      in_ns "$host" ip addr add "$address/24" dev eth0
    fi
    in_ns "$host" ip link set lo up
    in_ns "$host" ip link set eth0 up
    cgroup_create "$host"
  done
}

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND until it succeeds.
wait_for() {
  local seconds=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what did not come up within ${seconds}s (logs: $STATE)"
    sleep 0.5
  done
}
port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
running() { [ -n "$(host_pids "$1")" ]; }

# --- data host: PostgreSQL and Redis ------------------------------------------------------
DB_PASSWORD=lvd
database_url() { echo "postgresql://postgres:$DB_PASSWORD@$NET.30:5432/lvd"; }
db_start() {
  local dir=$STATE/db
  mkdir -p "$dir/run"
  if [ ! -f "$dir/pgdata/PG_VERSION" ]; then
    mkdir -p "$dir/pgdata"
    echo "$DB_PASSWORD" >"$dir/pwfile"
    chown -R postgres: "$dir/pgdata" "$dir/pwfile"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/pgdata" -U postgres \
      --pwfile="$dir/pwfile" -A scram-sha-256 >"$dir/initdb.log"
    echo "host all all $NET.0/24 scram-sha-256" >>"$dir/pgdata/pg_hba.conf"
  fi
  chown postgres: "$dir/run"
  run_in db postgres runuser -u postgres -- "$PG_BIN/postgres" -D "$dir/pgdata" \
    -c listen_addresses="$NET.30" -c port=5432 -c unix_socket_directories="$dir/run" \
    -c max_connections=300 -c shared_buffers=256MB
  run_in db redis redis-server --bind "$NET.30" --port 6379 --save '' --appendonly no \
    --dir "$dir"
  wait_for 60 "PostgreSQL on db" port_open "$NET.30" 5432
  wait_for 30 "Redis on db" port_open "$NET.30" 6379
}

# --- broker hosts: a RabbitMQ cluster of three nodes --------------------------------------
rabbit_env() {  # the environment of node HOST and of the CLI that talks to it
  local dir=$STATE/$1
  echo HOME="$dir/home" RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_NODENAME="rabbit@$1" RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_PID_FILE="$dir/rabbit.pid" \
    RABBITMQ_LOGS=- RABBITMQ_NODE_PORT=5672
}
rabbit_start() {
  local host=$1 dir=$STATE/$1
  mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
  [ -f "$STATE/erlang.cookie" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE/erlang.cookie"
  install -m 400 "$STATE/erlang.cookie" "$dir/home/.erlang.cookie"
  # Our own env file: the system's /etc/rabbitmq/rabbitmq-env.conf names the shared node.
  echo "# read instead of /etc/rabbitmq/rabbitmq-env.conf" >"$dir/rabbitmq-env.conf"
  echo "[]." >"$dir/enabled_plugins"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 5672
loopback_users.guest = false
cluster_formation.peer_discovery_backend = classic_config
cluster_formation.classic_config.nodes.1 = rabbit@rabbit1
cluster_formation.classic_config.nodes.2 = rabbit@rabbit2
cluster_formation.classic_config.nodes.3 = rabbit@rabbit3
cluster_partition_handling = pause_minority
EOF
  # shellcheck disable=SC2046
  run_in "$host" rabbit env $(rabbit_env "$host") "$RABBIT_BIN/rabbitmq-server"
}
rabbitmqctl_on() {  # rabbitmqctl_on HOST ARGS...: the CLI, run inside HOST's namespace
  local host=$1
  shift
  # shellcheck disable=SC2046
  in_ns "$host" env $(rabbit_env "$host") "$RABBIT_BIN/rabbitmqctl" -n "rabbit@$host" "$@"
}
rabbit_cluster_ready() {
  local host=$1 running
  running=$(rabbitmqctl_on "$host" cluster_status --formatter json 2>/dev/null \
    | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["running_nodes"]))')
  [ "$running" = 3 ]
}
running_nodes() {  # the RabbitMQ nodes in the cluster that run, as any running node sees them
  local host
  for host in rabbit1 rabbit2 rabbit3; do
    running "$host" || continue
    rabbitmqctl_on "$host" cluster_status --formatter json 2>/dev/null \
      | "$PYTHON" -c 'import json,sys; print(*json.load(sys.stdin)["running_nodes"])' && return 0
  done
  return 1
}
broker_url() {
  local urls=() n
  for n in 1 2 3; do urls+=("amqp://guest:guest@$NET.2$n:5672//"); done
  (IFS=';'; echo "${urls[*]}")
}
queue_leader() {  # the host whose node leads QUEUE (asked of any running node)
  local queue=$1 host
  for host in rabbit1 rabbit2 rabbit3; do
    running "$host" || continue
    rabbitmqctl_on "$host" list_queues name leader --formatter json 2>/dev/null \
      | "$PYTHON" -c '
import json, sys
for queue in json.load(sys.stdin):
    if queue["name"] == sys.argv[1]:
        print(queue["leader"].split("@")[1]); break
else:
    sys.exit(1)' "$queue" && return 0
  done
  return 1
}

# --- app hosts ---------------------------------------------------------------------------
app_env() {
  local host=$1
  echo DATABASE_URL="$(database_url)" REDIS_URL="redis://$NET.30:6379/0" \
    CELERY_BROKER_URL="$(broker_url)" CELERY_RESULT_BACKEND="redis://$NET.30:6379/1" \
    BROKER_QUORUM_QUEUES=1 SECRET_KEY="$(cat "$STATE/secret_key")" \
    INSTANCE_PATH="$STATE/$host/instance" WORKER_NODE_SUFFIX="$host" PYTHON="$PYTHON" \
    WEB_CONCURRENCY="${CLUSTER_WEB_CONCURRENCY:-2}" GUNICORN_ACCESS_LOG= \
    GUNICORN_BIND="0.0.0.0:$APP_PORT" PUBLIC_URL="http://$NET.10:$LB_PORT" \
    WORKER_DEFAULT_CONCURRENCY="${CLUSTER_WORKER_CONCURRENCY:-2}" \
    WORKER_EMAILS_CONCURRENCY=1 WORKER_PREFETCH_MULTIPLIER=64 \
    WORKER_METRICS_DIR="$STATE/$host/worker-metrics"
}
app_start() {
  local host=$1
  mkdir -p "$STATE/$host/instance"
  # shellcheck disable=SC2046
  run_in "$host" gunicorn env $(app_env "$host") "$PYTHON" -m gunicorn run:app
  # shellcheck disable=SC2046
  run_in "$host" workers env $(app_env "$host") bash "$ROOT/start_celery_worker.sh"
}
app_healthy() { curl -sf -m 3 -o /dev/null "http://$(host_ip "$1"):$APP_PORT/health"; }

prepare_database() {  # the database, its tables and one app to send events to
  local env
  PGPASSWORD=$DB_PASSWORD "$PG_BIN/psql" -h "$NET.30" -U postgres -Atc \
    "SELECT 1 FROM pg_database WHERE datname = 'lvd'" | grep -q 1 \
    || PGPASSWORD=$DB_PASSWORD "$PG_BIN/createdb" -h "$NET.30" -U postgres lvd
  env=(env $(app_env app1) FLASK_APP=run:app)
  "${env[@]}" "$PYTHON" -m flask db upgrade >"$STATE/migrations.log" 2>&1 \
    || die "migrations failed: $STATE/migrations.log"
  if [ ! -s "$STATE/app.json" ]; then
    "${env[@]}" "$PYTHON" -m flask apps create cluster --rate-limit 1000000/second --json \
      >"$STATE/app.json.tmp" 2>>"$STATE/migrations.log" && mv "$STATE/app.json.tmp" "$STATE/app.json"
  fi
}

# --- load balancer -----------------------------------------------------------------------
lb_start() {
  command -v haproxy >/dev/null || {
    say "installing haproxy"
    DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy >"$STATE/apt-haproxy.log" 2>&1 \
      || die "apt-get install haproxy failed: $STATE/apt-haproxy.log"
  }
  mkdir -p "$STATE/lb"
  {
    cat <<EOF
global
    maxconn 4096
    stats socket $STATE/lb/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    # A refused connection (a dead host) is tried again on another server; events are
    # stored once by their eventId, so a request that is sent twice is harmless.
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend web
    bind $NET.10:$LB_PORT
    default_backend apps
backend apps
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    # /health reads the database and the broker: give it time on a busy machine, and
    # take a host out after 3 failed checks (a dead host refuses at once).
    timeout check 3s
    default-server inter 1s fall 3 rise 2 check
EOF
    local host
    for host in $(hosts | grep '^app'); do
      echo "    server $host $(host_ip "$host"):$APP_PORT"
    done
  } >"$STATE/lb/haproxy.cfg"
  run_in lb haproxy haproxy -db -f "$STATE/lb/haproxy.cfg"
  wait_for 20 "HAProxy on lb" port_open "$NET.10" "$LB_PORT"
}

# --- host life ---------------------------------------------------------------------------
start_host() {
  local host=$1
  running "$host" && { say "$host is already running"; return 0; }
  case $host in
    db) db_start ;;
    rabbit*) rabbit_start "$host" ;;
    app*) app_start "$host" ;;
    lb) lb_start ;;
  esac
}
wait_host() {
  local host=$1
  case $host in
    db) wait_for 60 "PostgreSQL on db" port_open "$NET.30" 5432 ;;
    rabbit*) wait_for 120 "RabbitMQ on $host" port_open "$(host_ip "$host")" 5672 ;;
    app*) wait_for 120 "the app on $host" app_healthy "$host" ;;
    lb) wait_for 20 "HAProxy on lb" port_open "$NET.10" "$LB_PORT" ;;
  esac
}
summary_json() {
  "$PYTHON" - "$STATE/app.json" "http://$NET.10:$LB_PORT" "$(database_url)" "$(broker_url)" \
    "redis://$NET.30:6379/0" $(hosts) <<'EOF'
import json, sys
app = json.load(open(sys.argv[1]))
print(json.dumps({
    "lb_url": sys.argv[2], "database_url": sys.argv[3], "broker_url": sys.argv[4],
    "redis_url": sys.argv[5], "hosts": sys.argv[6:],
    "app_id": app["id"], "ingest_key": app["ingest_key"],
}))
EOF
}

cmd_up() {
  local host
  mkdir -p "$STATE"
  [ -f "$STATE/app_hosts" ] || echo "${CLUSTER_APP_HOSTS:-2}" >"$STATE/app_hosts"
  [ -f "$STATE/secret_key" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE/secret_key"
  network_up
  for host in rabbit1 rabbit2 rabbit3; do start_host "$host"; done
  start_host db
  prepare_database  # while the broker nodes boot
  say "database ready (${SECONDS}s)"
  for host in rabbit1 rabbit2 rabbit3; do wait_host "$host"; done
  wait_for 180 "the RabbitMQ cluster (3 running nodes)" rabbit_cluster_ready rabbit1
  say "broker cluster ready (${SECONDS}s)"
  for host in $(hosts | grep '^app'); do start_host "$host"; done
  for host in $(hosts | grep '^app'); do wait_host "$host"; done
  say "app hosts healthy (${SECONDS}s)"
  start_host lb
  summary_json
}

cmd_cpu() {  # CPU seconds each host has used: "HOST SECONDS" lines
  local host
  for host in $(hosts); do
    if cgroup_v2; then
      awk -v h="$host" '$1 == "usage_usec" { print h, $2 / 1e6 }' "/sys/fs/cgroup/$CG_NAME/$host/cpu.stat"
    else
      awk -v h="$host" '{ print h, $1 / 1e9 }' "/sys/fs/cgroup/cpuacct/$CG_NAME/$host/cpuacct.usage"
    fi
  done
}

cmd_status() {
  local host pids state
  [ -d "$STATE" ] || { echo "no cluster (nothing in $STATE)"; return 0; }
  for host in $(hosts); do
    pids=$(host_pids "$host" | sort -u | wc -l)
    case $host in
      db) port_open "$NET.30" 5432 && state=up || state=down ;;
      rabbit*) port_open "$(host_ip "$host")" 5672 && state=up || state=down ;;
      app*) app_healthy "$host" && state=healthy || state=down ;;
      lb) port_open "$NET.10" "$LB_PORT" && state=up || state=down ;;
    esac
    printf '%-8s %-12s %3s processes  %s\n' "$host" "$(host_ip "$host")" "$pids" "$state"
  done
  ip netns list | grep "^lvd-rabbit1" >/dev/null && running rabbit1 \
    && rabbitmqctl_on rabbit1 list_queues name type leader messages 2>/dev/null | tail -n +3 || true
}

cmd_down() {
  local host dir
  for host in $(hosts) app1 app2 app3 app4 app5 app6 app7 app8 app9; do
    if ip netns list | grep -w "$(ns "$host")" >/dev/null; then
      kill_host "$host"
      ip netns del "$(ns "$host")"
    fi
    ip link del "lvdv-$host" 2>/dev/null || true
    rm -rf "/etc/netns/$(ns "$host")"
    for dir in $(cgroup_dirs "$host"); do [ -d "$dir" ] && rmdir "$dir"; done
  done
  if cgroup_v2; then rmdir "/sys/fs/cgroup/$CG_NAME" 2>/dev/null || true
  else
    rmdir "/sys/fs/cgroup/cpu/$CG_NAME" "/sys/fs/cgroup/freezer/$CG_NAME" \
      "/sys/fs/cgroup/cpuacct/$CG_NAME" 2>/dev/null || true
  fi
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$STATE"
  say "down: no namespace, process, bridge or address left"
}

case "${1:-}" in
  up) cmd_up ;;
  status) cmd_status ;;
  down) cmd_down ;;
  kill) [ $# = 2 ] || die "usage: cluster.sh kill HOST"; known_host "$2"; kill_host "$2" ;;
  start)
    [ $# = 2 ] || die "usage: cluster.sh start HOST"; known_host "$2"
    start_host "$2"; wait_host "$2" ;;
  leader) [ $# = 2 ] || die "usage: cluster.sh leader QUEUE"; queue_leader "$2" ;;
  nodes) running_nodes ;;
  cpu) cmd_cpu ;;
  measure) shift; exec "$PYTHON" -m bench.cluster "$@" ;;
  *) die "usage: cluster.sh up | status | kill HOST | start HOST | leader QUEUE | nodes | down | measure" ;;
esac
