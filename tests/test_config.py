"""Settings: the generated SECRET_KEY, which must be private and stable across restarts."""

from __future__ import annotations

import stat

from app.config import Config, persistent_secret_key


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
