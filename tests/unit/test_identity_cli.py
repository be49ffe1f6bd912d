"""`shoal identity ...` and what `shoal doctor` says about identity, on a private SQLite file."""

from __future__ import annotations

import os
import stat

import yaml

from shoal import config
from shoal.cli import main
from shoal.cli_identity import problems


def write_config(tmp_path) -> str:
    path = tmp_path / "shoal.toml"
    path.write_text(f'state_dir = "{tmp_path}"\n[database]\nurl = "sqlite:///{tmp_path}/shoal.db"\n')
    return str(path)


def test_doctor_names_the_missing_schema_then_the_missing_admin(tmp_path, monkeypatch, capsys):
    cfg = write_config(tmp_path)
    settings = config.load(cfg)
    assert problems(settings) == ["identity: the database is not at the current schema; fix: shoal db upgrade"]
    assert main(["--config", cfg, "db", "upgrade"]) == 0
    [missing] = problems(settings)
    assert "no user has the admin role" in missing and missing.endswith("fix: shoal identity bootstrap")
    monkeypatch.setenv("SHOAL_PASSWORD", "pw-from-env")
    clouds, openrc = tmp_path / "etc" / "clouds.yaml", tmp_path / "etc" / "openrc"
    assert main(["--config", cfg, "identity", "bootstrap", "--clouds-yaml", str(clouds),
                 "--openrc", str(openrc)]) == 0
    assert problems(settings) == []
    out = capsys.readouterr().out
    assert "pw-from-env" not in out  # given, so not printed
    cloud = yaml.safe_load(clouds.read_text())["clouds"]["shoal"]
    assert cloud["auth"]["password"] == "pw-from-env" and cloud["auth"]["auth_url"].endswith("/identity/v3")
    for path in (clouds, openrc):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "export OS_PASSWORD=pw-from-env" in openrc.read_text()


def test_offline_user_and_role_commands(tmp_path, monkeypatch, capsys):
    cfg = write_config(tmp_path)
    assert main(["--config", cfg, "db", "upgrade"]) == 0
    monkeypatch.setenv("SHOAL_PASSWORD", "x")
    assert main(["--config", cfg, "identity", "bootstrap"]) == 0
    assert main(["--config", cfg, "identity", "project-create", "team"]) == 0
    assert main(["--config", cfg, "identity", "user-create", "ann", "--project", "team", "--role", "reader"]) == 0
    assert main(["--config", cfg, "identity", "role-add", "--user", "ann", "--project", "team", "member"]) == 0
    capsys.readouterr()
    assert main(["--config", cfg, "identity", "list"]) == 0
    listing = capsys.readouterr().out
    assert "ann is member of team" in listing and "ann is reader of team" in listing
    assert "admin is admin of admin" in listing


def test_noauth_and_keystone_have_no_identity_problems(tmp_path):
    settings = config.Settings.model_validate({"api": {"auth": "noauth"},
                                               "database": {"url": f"sqlite:///{tmp_path}/none.db"}})
    assert problems(settings) == []
