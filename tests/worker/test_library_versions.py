"""The private kombu/Celery names the worker code relies on exist; untested versions are refused."""

from __future__ import annotations

import importlib

import pytest
from kombu import Connection
from kombu.asynchronous.hub import Hub

from app.worker.transport import library_versions
from app.worker.transport.kombu_redis import Transport
from tests.support.environment import BROKER_DB, TEST_REDIS_URL


def _resolve(target: str):
    module_name, _, attribute = target.partition(":")
    found = importlib.import_module(module_name)
    return getattr(found, attribute) if attribute else found


@pytest.mark.parametrize(("target", "name"), library_versions.PRIVATE_NAMES)
def test_each_private_name_exists_in_the_installed_version(target, name):
    assert hasattr(_resolve(target), name), f"{target} has no {name}: check the upgrade"


def test_private_instance_attributes_exist_on_live_objects():
    live = {"kombu.asynchronous.hub:Hub": Hub()}
    with Connection(f"{TEST_REDIS_URL}/{BROKER_DB}", transport=Transport) as connection:
        live["kombu.transport.redis:Channel"] = connection.default_channel
        live["kombu.transport.redis:QoS"] = connection.default_channel.qos
        for target, name in library_versions.PRIVATE_INSTANCE_NAMES:
            assert hasattr(live[target], name), f"{target} instances have no {name}"
    live["kombu.asynchronous.hub:Hub"].close()


def test_the_installed_versions_are_the_tested_ones():
    assert library_versions.untested_versions() == {}


def test_an_untested_version_is_refused_with_both_versions_named(monkeypatch):
    monkeypatch.delenv(library_versions.OVERRIDE_VARIABLE, raising=False)
    monkeypatch.setitem(library_versions.TESTED_VERSIONS, "kombu", "0.0.1")
    with pytest.raises(library_versions.UntestedLibraryVersion) as refused:
        library_versions.check_library_versions()
    message = str(refused.value)
    assert "kombu 0.0.1" in message  # what it was tested with
    assert f"kombu {importlib.metadata.version('kombu')}" in message  # what is installed
    assert library_versions.OVERRIDE_VARIABLE in message


def test_the_operator_override_lets_an_untested_version_run(monkeypatch, caplog):
    monkeypatch.setenv(library_versions.OVERRIDE_VARIABLE, "1")
    monkeypatch.setitem(library_versions.TESTED_VERSIONS, "celery", "0.0.1")
    library_versions.check_library_versions()
    assert "overridden" in caplog.text
