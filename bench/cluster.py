"""Host loss and scaling on the namespace cluster: `python -m bench.cluster` (root).

Starts `scripts/cluster.sh up` with three app hosts, then
1. host loss: under a steady, bounded load through the load balancer, kills every
   process of app1 at once, then the RabbitMQ node that leads the `default` queue, then
   starts both again; checks that every event answered 202 is stored exactly once (rows
   counted by client eventId), how soon HAProxy marked app1 down, the error rate clients
   saw, and that both hosts rejoin on their own;
2. scaling: accepted and stored events/s with 1, 2 and 3 app hosts (the others killed),
   single events and batches of 100, as ratios to one host.
It prints one JSON object and brings the cluster down at the end. docs/scaling.md reads
the figures. tests/cluster/test_cluster.py runs the host-loss part, smaller.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path
from urllib.parse import urlparse

import psycopg2

from bench import wrk
from bench.workload import write_lua_templates

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_SH = ROOT / "scripts" / "cluster.sh"
STATE = Path(os.environ.get("CLUSTER_DIR", "/var/tmp/lvd-cluster"))


class Cluster:
    """scripts/cluster.sh, driven from Python."""

    def __init__(self, app_hosts: int = 2, python: str = sys.executable) -> None:
        # Only what the script needs: a test's settings (its Redis broker, its database)
        # must not leak into the hosts.
        passed = {
            name: os.environ[name] for name in ("PATH", "LANG", "CLUSTER_DIR") if name in os.environ
        }
        self.env = {**passed, "CLUSTER_APP_HOSTS": str(app_hosts), "PYTHON": python}
        self.info: dict = {}

    def run(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run(
            ["bash", str(CLUSTER_SH), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"cluster.sh {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def up(self) -> dict:
        """Start the cluster; return the JSON object its last line prints."""
        self.info = json.loads(self.run("up").strip().splitlines()[-1])
        return self.info

    def kill(self, host: str) -> None:
        self.run("kill", host, timeout=60)

    def start(self, host: str) -> None:
        self.run("start", host)

    def down(self) -> None:
        self.run("down", timeout=300)

    def leader(self, queue: str) -> str:
        return self.run("leader", queue, timeout=120).strip()

    def running_nodes(self) -> list[str]:
        return self.run("nodes", timeout=120).split()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds each host's processes have used (its cgroup's counter)."""
        lines = self.run("cpu", timeout=60).split("\n")
        return {host: float(seconds) for host, seconds in (line.split() for line in lines if line)}

    def lb_states(self) -> dict[str, str]:
        """Each app host's state as HAProxy sees it (UP, DOWN, ...), from its stats socket."""
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(2)
            client.connect(str(STATE / "lb" / "haproxy.sock"))
            client.sendall(b"show stat\n")
            data = b""
            while chunk := client.recv(65536):
                data += chunk
        rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
        return {
            row["svname"]: row["status"].split()[0]
            for row in rows
            if row["pxname"] == "apps" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_lb(self, host: str, want_up: bool, timeout: float = 60) -> float:
        """Seconds until HAProxy sees `host` up (or not up); raise on timeout."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if (self.lb_states().get(host) == "UP") == want_up:
                return time.monotonic() - started
            time.sleep(0.05)
        raise TimeoutError(f"HAProxy did not see {host} {'up' if want_up else 'down'}")


class SteadyLoad:
    """Threads that POST through the load balancer at a bounded rate, each event with a
    unique eventId, remembering which ids were answered 202."""

    def __init__(self, info: dict, threads: int = 4, rate: float = 40, batch: int = 10) -> None:
        self.info, self.threads, self.batch = info, threads, batch
        self.interval = threads / rate  # seconds between one thread's requests
        self.accepted: set[str] = set()
        self.answers: list[tuple[float, int]] = []  # (monotonic time, status; 0: no answer)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.prefix = uuid.uuid4().hex[:8]

    def start(self) -> None:
        for number in range(self.threads):
            worker = threading.Thread(target=self._send_loop, args=(number,), daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    def _send_loop(self, number: int) -> None:
        address = urlparse(self.info["lb_url"])
        base = f"/api/logs/{self.info['app_id']}"
        headers = {"X-API-Key": self.info["ingest_key"], "Content-Type": "application/json"}
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        counter = 0
        while not self._stop.is_set():
            started = time.monotonic()
            size = self.batch if counter % 2 else 1  # alternate single events and batches
            ids = [f"{self.prefix}-{number}-{counter + i}" for i in range(size)]
            counter += size
            events = [{"eventName": "cluster_check", "eventId": i, "n": counter} for i in ids]
            path, body = (f"{base}/batch", {"events": events}) if size > 1 else (base, events[0])
            status = 0
            try:
                connection.request("POST", path, json.dumps(body), headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
            with self._lock:
                self.answers.append((time.monotonic(), status))
                if status == 202:
                    self.accepted.update(ids)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        connection.close()

    def error_rate(self, since: float, until: float) -> dict:
        """Requests and failed ones (no 202) answered between two monotonic times."""
        window = [status for moment, status in self.answers if since <= moment < until]
        failed = [status for status in window if status != 202]
        return {
            "requests": len(window),
            "failed": len(failed),
            "error_rate": round(len(failed) / len(window), 4) if window else None,
            "failed_by_status": {str(code): failed.count(code) for code in sorted(set(failed))},
        }


def query(database_url: str, sql: str, params: tuple) -> list[tuple]:
    """Rows of one query, on a connection of its own."""
    # closing(): psycopg2's own `with` commits but leaves the connection open.
    with (
        closing(psycopg2.connect(database_url, connect_timeout=5)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
        return cursor.fetchall()


def stored_counts(database_url: str, app_id: str, ids: set[str]) -> dict[str, int]:
    """How many rows each of these client eventIds has in PostgreSQL."""
    sql = (
        "SELECT client_event_id, count(*) FROM events"
        " WHERE app_id = %s AND client_event_id = ANY(%s) GROUP BY 1"
    )
    return dict(query(database_url, sql, (app_id, list(ids))))


def check_stored_once(info: dict, ids: set[str], timeout: float = 180) -> dict:
    """Wait until every accepted id is stored; report the missing and the duplicated."""
    deadline = time.monotonic() + timeout
    while True:
        counts = stored_counts(info["database_url"], info["app_id"], ids)
        if len(counts) == len(ids) or time.monotonic() > deadline:
            break
        time.sleep(2)
    return {
        "accepted": len(ids),
        "stored": len(counts),
        "missing": len(ids) - len(counts),
        "duplicated": sum(1 for count in counts.values() if count > 1),
    }


def host_loss(cluster: Cluster, rate: float = 40, phase_seconds: float = 10) -> dict:
    """Kill app1, then the `default` queue's leader node, under load; restart both."""
    info = cluster.info
    load = SteadyLoad(info, rate=rate)
    load.start()
    time.sleep(phase_seconds / 2)
    app_killed = time.monotonic()
    cluster.kill("app1")
    lb_down = cluster.wait_lb("app1", want_up=False)
    time.sleep(max(0.0, phase_seconds - (time.monotonic() - app_killed)))
    leader = cluster.leader("default")
    leader_killed, leader_killed_at = time.monotonic(), time.time()
    cluster.kill(leader)
    time.sleep(phase_seconds)
    new_leader = cluster.leader("default")
    load.stop()
    ended, ended_at = time.monotonic(), time.time()
    result = {
        "app_host": {
            "lb_marked_down_after_s": round(lb_down, 2),
            **load.error_rate(app_killed, leader_killed),
        },
        "broker_node": {
            "killed": leader,
            "new_leader": new_leader,
            **load.error_rate(leader_killed, ended),
        },
        "overall": load.error_rate(0, ended),
    }
    result["events"] = check_stored_once(info, load.accepted)
    # Storing stops while consumers move to a surviving node and a new leader is elected.
    result["broker_node"]["longest_storage_pause_s"] = longest_storage_pause(
        info, leader_killed_at - 1, ended_at
    )
    cluster.start("app1")
    cluster.start(leader)
    result["rejoined"] = {
        "app1_lb_up_after_start_s": round(cluster.wait_lb("app1", want_up=True), 2),
        "running_nodes": cluster.running_nodes(),
    }
    return result


def longest_storage_pause(info: dict, started: float, ended: float) -> float | None:
    """The longest time between two stored rows of the app in a wall-clock window (s)."""
    sql = (
        "SELECT extract(epoch FROM max(gap)) FROM (SELECT stored_at - lag(stored_at)"
        " OVER (ORDER BY stored_at) AS gap FROM events WHERE app_id = %s"
        " AND stored_at >= to_timestamp(%s) AND stored_at < to_timestamp(%s)) AS gaps"
    )
    gap = query(info["database_url"], sql, (info["app_id"], started, ended))[0][0]
    return None if gap is None else round(float(gap), 2)


def settle(info: dict, quiet_seconds: float = 3, timeout: float = 300) -> None:
    """Wait until storing has stopped (no new row for `quiet_seconds`)."""
    deadline, last, still_since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        sql = "SELECT count(*) FROM events WHERE app_id = %s"
        count = query(info["database_url"], sql, (info["app_id"],))[0][0]
        if count != last:
            last, still_since = count, time.monotonic()
        elif time.monotonic() - still_since >= quiet_seconds:
            return
        time.sleep(0.5)


def stored_between(info: dict, started: float, ended: float) -> int:
    """Rows of the app stored between two wall-clock times."""
    sql = (
        "SELECT count(*) FROM events WHERE app_id = %s"
        " AND stored_at >= to_timestamp(%s) AND stored_at < to_timestamp(%s)"
    )
    return query(info["database_url"], sql, (info["app_id"], started, ended))[0][0]


def scaling(cluster: Cluster, app_hosts: int, seconds: float, connections: int) -> dict:
    """Accepted and stored events/s with 1..app_hosts app hosts, single events and batches."""
    info = cluster.info
    templates = write_lua_templates(Path(tempfile.mkdtemp(prefix="lvd-cluster-")) / "t.lua")
    apps = [f"app{n}" for n in range(1, app_hosts + 1)]
    rows: dict[str, dict] = {}
    for active in range(1, app_hosts + 1):
        for host in apps[active:]:
            if cluster.lb_states().get(host) == "UP":
                cluster.kill(host)
                cluster.wait_lb(host, want_up=False)
        for host in apps[:active]:
            if cluster.lb_states().get(host) != "UP":
                cluster.start(host)
                cluster.wait_lb(host, want_up=True)
        for mode, batch, path in (("single", 1, ""), ("batch", 100, "/batch")):
            url = f"{info['lb_url']}/api/logs/{info['app_id']}{path}"
            load = wrk.Load(url, templates, info["ingest_key"], mode, batch)
            settle(info)
            cpu_before, started = cluster.cpu_seconds(), time.time()
            result = wrk.run(load, connections, seconds)
            cpu_after, ended = cluster.cpu_seconds(), time.time()
            stored = stored_between(info, started, ended)
            rows.setdefault(mode, {})[active] = {
                "accepted_per_s": round(result.accepted_per_s),
                "stored_per_s": round(stored / (ended - started)),
                "non_202": result.non_202,
                "p99_ms": result.latency_ms.get("p99"),
                # Cores each host used (its quota is the most it may use).
                "cores_used": {
                    host: round((cpu_after[host] - cpu_before[host]) / (ended - started), 2)
                    for host in cpu_after
                    if host in cpu_before
                },
            }
    for per_mode in rows.values():
        one = per_mode[1]
        for figures in per_mode.values():
            for key in ("accepted_per_s", "stored_per_s"):
                base = one[key] or 1
                figures[key.replace("_per_s", "_ratio")] = round(figures[key] / base, 2)
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run both measurements on a fresh cluster and print them as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--app-hosts", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20, help="each scaling run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=40, help="host loss: requests/s")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args(argv)
    cluster = Cluster(app_hosts=args.app_hosts)
    cluster.run("down", timeout=300)  # a fresh cluster: nothing left from an earlier run
    try:
        cluster.up()
        report = {"host_loss": host_loss(cluster, rate=args.rate)}
        if not args.skip_scaling:
            report["scaling"] = scaling(cluster, args.app_hosts, args.seconds, args.connections)
        print(json.dumps(report, indent=2))
    finally:
        cluster.down()


if __name__ == "__main__":
    main()
