"""Settings: the generated SECRET_KEY, which must be private and stable across restarts."""

from __future__ import annotations

import stat

import pytest

from app.config import Config, ConfigError, persistent_secret_key


def test_a_missing_secret_key_is_generated_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    first = Config().SECRET_KEY
    assert len(first) >= 64
    assert first == Config().SECRET_KEY
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no drafts left behind
    assert persistent_secret_key(tmp_path / "other") != first


def test_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert Config().SECRET_KEY == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({"METRICS_ALLOW_LOOPBACK": "1", "FORWARDED_ALLOW_IPS": "10.0.0.2"}, True),
        ({"METRICS_ALLOW_LOOPBACK": "1", "PUBLIC_URL": "https://lvd.example.com"}, True),
        (
            {"METRICS_ALLOW_LOOPBACK": "1", "FORWARDED_ALLOW_IPS": "*", "PROXY_FIX_X_FOR": "1"},
            False,
        ),
        (
            {
                "METRICS_ALLOW_LOOPBACK": "1",
                "PUBLIC_URL": "https://x.example",
                "METRICS_TOKEN": "t",
            },
            False,
        ),
        ({"METRICS_ALLOW_LOOPBACK": "0", "PUBLIC_URL": "https://lvd.example.com"}, False),
        ({"METRICS_ALLOW_LOOPBACK": "1"}, False),
    ],
)
def test_loopback_metrics_behind_an_undeclared_proxy_stop_the_start(
    tmp_path, monkeypatch, env, refused
):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    for name in ("FORWARDED_ALLOW_IPS", "PUBLIC_URL", "PROXY_FIX_X_FOR", "METRICS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("METRICS_ALLOW_LOOPBACK", "1")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if refused:
        with pytest.raises(ConfigError, match="METRICS_ALLOW_LOOPBACK"):
            Config()
    else:
        Config()


def test_loopback_metrics_are_off_by_default_in_production(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("METRICS_ALLOW_LOOPBACK", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example/lvd")
    assert Config().METRICS_ALLOW_LOOPBACK is False
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/lvd.sqlite3")
    assert Config().METRICS_ALLOW_LOOPBACK is True
