"""Configuration from environment variables and TOML: validated once, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from mail_mcp.config.sources import load_settings
from mail_mcp.errors import ConfigError

BASE = {
    "MAIL_IMAP_DEFAULT_HOST": "imap.example.org",
    "MAIL_IMAP_DEFAULT_USER": "me@example.org",
    "MAIL_IMAP_DEFAULT_PASS": "s3cret-pass",
}


def test_env_account_defaults() -> None:
    settings = load_settings(env=BASE)
    account = settings.accounts["default"]
    assert settings.default_account == "default"
    assert (account.security, account.effective_port, account.write_enabled) == ("tls", 993, False)
    assert account.login_address == "me@example.org"
    assert "s3cret-pass" not in repr(account) and "s3cret-pass" not in str(settings)


def test_several_accounts_and_write_gate() -> None:
    env = {
        **BASE,
        "MAIL_IMAP_WORK_MAIL_HOST": "127.0.0.1",
        "MAIL_IMAP_WORK_MAIL_USER": "bob",
        "MAIL_IMAP_WORK_MAIL_PASS": "x",
        "MAIL_IMAP_WORK_MAIL_SECURITY": "plain",
        "MAIL_IMAP_WRITE_ENABLED": "true",
        "MAIL_IMAP_WORK_MAIL_WRITE_ENABLED": "no",
    }
    settings = load_settings(env=env)
    assert set(settings.accounts) == {"default", "work_mail"}
    assert settings.accounts["default"].write_enabled is True
    assert settings.accounts["work_mail"].write_enabled is False
    assert settings.accounts["work_mail"].effective_port == 143


def test_plain_refused_for_remote_host() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={**BASE, "MAIL_IMAP_DEFAULT_SECURITY": "plain"})
    assert caught.value.setting == "MAIL_IMAP_DEFAULT_SECURITY"
    assert load_settings(
        env={**BASE, "MAIL_IMAP_DEFAULT_SECURITY": "plain", "MAIL_IMAP_DEFAULT_ALLOW_PLAIN": "1"}
    )


@pytest.mark.parametrize(
    ("extra", "setting"),
    [
        ({"MAIL_IMAP_DEFAULT_PORT": "99999"}, "MAIL_IMAP_DEFAULT_PORT"),
        ({"MAIL_IMAP_DEFAULT_PORT": "abc"}, "MAIL_IMAP_DEFAULT_PORT"),
        ({"MAIL_IMAP_DEFAULT_SECURITY": "ssl"}, "MAIL_IMAP_DEFAULT_SECURITY"),
        ({"MAIL_IMAP_WRITE_ENABLED": "maybe"}, "MAIL_IMAP_WRITE_ENABLED"),
        ({"MAIL_IMAP_DEFAULT_CA_FILE": "/nonexistent/ca.pem"}, "MAIL_IMAP_DEFAULT_CA_FILE"),
        (
            {"MAIL_IMAP_BAD.ID_HOST": "x", "MAIL_IMAP_BAD.ID_USER": "u", "MAIL_IMAP_BAD.ID_PASS": "p"},
            "account bad.id.id",
        ),
    ],
)
def test_bad_values_name_the_variable(extra: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={**BASE, **extra})
    assert caught.value.setting == setting
    assert "s3cret-pass" not in str(caught.value)


def test_missing_password_names_the_account() -> None:
    env = {k: v for k, v in BASE.items() if not k.endswith("_PASS")}
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert "password" in caught.value.problem


def test_password_command_runs_once_and_stays_secret(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    command = f"echo run >> {counter}; printf 'from-command\\n'"
    env = {k: v for k, v in BASE.items() if not k.endswith("_PASS")} | {
        "MAIL_IMAP_DEFAULT_PASSWORD_COMMAND": command
    }
    account = load_settings(env=env).accounts["default"]
    assert account.password is not None and account.password.get_secret_value() == "from-command"
    assert counter.read_text().count("run") == 1
    assert "from-command" not in repr(account)


def test_failing_password_command() -> None:
    env = {k: v for k, v in BASE.items() if not k.endswith("_PASS")} | {
        "MAIL_IMAP_DEFAULT_PASSWORD_COMMAND": "exit 3"
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert caught.value.setting == "MAIL_IMAP_DEFAULT_PASSWORD_COMMAND"


def test_toml_file_with_env_override(tmp_path: Path) -> None:
    path = tmp_path / "mail.toml"
    path.write_text(
        'write_enabled = true\n[accounts.personal]\nhost = "imap.example.net"\nuser = "p"\npassword = "pw"\n'
        '[accounts.work]\nhost = "imap.work.example"\nuser = "w"\npassword = "pw"\nwrite_enabled = false\n'
    )
    settings = load_settings(
        env={"MAIL_IMAP_PERSONAL_PORT": "1993", "MAIL_IMAP_PERSONAL_HOST": "imap2.example.net"},
        config_path=path,
    )
    assert settings.accounts["personal"].host == "imap2.example.net"
    assert settings.accounts["personal"].effective_port == 1993
    assert settings.accounts["personal"].write_enabled is True
    assert settings.accounts["work"].write_enabled is False


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[accounts.x\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(env={}, config_path=path)
    assert str(path) in caught.value.setting


def test_no_accounts_is_allowed() -> None:
    assert load_settings(env={}).accounts == {}
