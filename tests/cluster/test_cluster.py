"""Beyond one machine: a cluster of network-namespace hosts loses an app host and the
broker node leading the `default` queue under load, and keeps every accepted event.

Runs scripts/cluster.sh (2 app hosts, 3 RabbitMQ nodes with quorum queues, PostgreSQL,
HAProxy) through bench/cluster.py's host-loss scenario with a few thousand events. It
needs root and iproute2's `ip`; without them it fails (it is never skipped), so that a CI
that cannot run it says so. `down` runs whatever happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from bench.cluster import Cluster, host_loss


def _require_root_and_ip() -> None:
    if os.geteuid() != 0:
        pytest.fail("tests/cluster needs root: it creates network namespaces, a bridge and cgroups")
    if shutil.which("ip") is None:
        pytest.fail("tests/cluster needs the `ip` command (iproute2): apt-get install iproute2")


def test_host_and_broker_node_loss_keeps_every_accepted_event_once():
    _require_root_and_ip()
    cluster = Cluster(app_hosts=2)
    try:
        cluster.down()  # nothing left from an interrupted run
        info = cluster.up()
        assert set(info["hosts"]) == {"lb", "app1", "app2", "rabbit1", "rabbit2", "rabbit3", "db"}
        assert cluster.lb_states() == {"app1": "UP", "app2": "UP"}

        result = host_loss(cluster, rate=30, phase_seconds=8)
        print("host loss:", result)  # the error rates clients saw during each switch

        events = result["events"]
        assert events["accepted"] >= 1000
        assert events["missing"] == 0, result
        assert events["duplicated"] == 0, result
        assert result["broker_node"]["new_leader"] != result["broker_node"]["killed"]
        # The load balancer took the dead host out, and both hosts came back on their own.
        assert result["rejoined"]["running_nodes"] and len(result["rejoined"]["running_nodes"]) == 3
        assert cluster.lb_states() == {"app1": "UP", "app2": "UP"}
        assert result["overall"]["requests"] > 0
    finally:
        cluster.down()
    leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "lvd-" not in leftovers
    assert subprocess.run(["ip", "link", "show", "lvdbr0"], capture_output=True).returncode != 0
