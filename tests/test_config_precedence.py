"""One precedence for every setting (environment over TOML), strict booleans, no negative sizes, and no From
address made up from the IMAP host."""

from __future__ import annotations

from pathlib import Path

import pytest

from mail_mcp.cli import main
from mail_mcp.config.sources import load_settings
from mail_mcp.errors import ConfigError

BASE = {
    "MAIL_IMAP_WORK_HOST": "imap.example.org",
    "MAIL_IMAP_WORK_USER": "me@example.org",
    "MAIL_IMAP_WORK_PASS": "s3cret",
}
ACCOUNT_TOML = '[accounts.home]\nhost = "imap.example.net"\nuser = "me@example.net"\npassword = "pw"\n'


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mail.toml"
    path.write_text(text)
    return path


def test_environment_beats_the_file_for_the_global_write_switch(tmp_path: Path) -> None:
    path = toml(tmp_path, "write_enabled = true\n" + ACCOUNT_TOML)
    assert load_settings(env={}, config_path=path).accounts["home"].write_enabled is True
    settings = load_settings(env={"MAIL_IMAP_WRITE_ENABLED": "false"}, config_path=path)
    assert settings.accounts["home"].write_enabled is False


def test_environment_beats_the_accounts_own_toml_key(tmp_path: Path) -> None:
    path = toml(tmp_path, ACCOUNT_TOML + "write_enabled = true\ntimeout = 50\n")
    settings = load_settings(
        env={"MAIL_IMAP_WRITE_ENABLED": "no", "MAIL_IMAP_TIMEOUT": "7"}, config_path=path
    )
    account = settings.accounts["home"]
    assert (account.write_enabled, account.timeout) == (False, 7.0)
    own = load_settings(
        env={"MAIL_IMAP_WRITE_ENABLED": "no", "MAIL_IMAP_HOME_HOST": "imap.example.net",
             "MAIL_IMAP_HOME_WRITE_ENABLED": "yes"},
        config_path=path,
    )  # fmt: skip
    assert own.accounts["home"].write_enabled is True  # the account's variable beats the global one


def test_a_string_false_in_toml_is_false(tmp_path: Path) -> None:
    path = toml(tmp_path, 'write_enabled = "false"\nsend_enabled = "false"\n' + ACCOUNT_TOML)
    settings = load_settings(env={}, config_path=path)
    assert settings.accounts["home"].write_enabled is False and settings.send_enabled is False
    path = toml(tmp_path, ACCOUNT_TOML + 'write_enabled = "0"\nallow_permanent_delete = "no"\n')
    account = load_settings(env={}, config_path=path).accounts["home"]
    assert account.write_enabled is False and account.allow_permanent_delete is False


@pytest.mark.parametrize("word", ["on", "off", "y", "t", "enabled", "2", "truee"])
def test_booleans_are_strict_in_the_environment(word: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={**BASE, "MAIL_IMAP_WRITE_ENABLED": word})
    assert caught.value.setting == "MAIL_IMAP_WRITE_ENABLED"
    with pytest.raises(ConfigError) as caught:
        load_settings(env={**BASE, "MAIL_IMAP_WORK_ALLOW_PERMANENT_DELETE": word})
    assert caught.value.setting == "MAIL_IMAP_WORK_ALLOW_PERMANENT_DELETE"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('write_enabled = "on"\n', "write_enabled"),
        ('send_enabled = "off"\n', "send_enabled"),
        ("send_enabled = 2\n", "send_enabled"),
        (ACCOUNT_TOML + 'write_enabled = "enabled"\n', "accounts.home.write_enabled"),
        (ACCOUNT_TOML + "allow_plain = 5\n", "accounts.home.allow_plain"),
        (ACCOUNT_TOML + "timeout = true\n", "accounts.home.timeout"),
        ("max_attachment_bytes = -1\n", "max_attachment_bytes"),
    ],
)
def test_bad_toml_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = toml(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(env={}, config_path=path)
    assert caught.value.setting == f"{path}: {key}"


@pytest.mark.parametrize(
    ("extra", "setting"),
    [
        ({"MAIL_MCP_MAX_ATTACHMENT_BYTES": "-5"}, "MAIL_MCP_MAX_ATTACHMENT_BYTES"),
        ({"MAIL_MCP_MAX_ATTACHMENT_BYTES": "0"}, "MAIL_MCP_MAX_ATTACHMENT_BYTES"),
        ({"MAIL_IMAP_TIMEOUT": "-1"}, "MAIL_IMAP_TIMEOUT"),
        ({"MAIL_IMAP_WORK_TIMEOUT": "-0.5"}, "MAIL_IMAP_WORK_TIMEOUT"),
        (
            {"MAIL_SMTP_WORK_HOST": "smtp.example.org", "MAIL_SMTP_WORK_RATE_LIMIT": "-3"},
            "MAIL_SMTP_WORK_RATE_LIMIT",
        ),
        (
            {"MAIL_SMTP_WORK_HOST": "smtp.example.org", "MAIL_SMTP_WORK_TIMEOUT": "-3"},
            "MAIL_SMTP_WORK_TIMEOUT",
        ),
        ({"MAIL_SMTP_MAX_ATTACHMENT_BYTES": "-1"}, "MAIL_SMTP_MAX_ATTACHMENT_BYTES"),
    ],
)
def test_negative_sizes_rates_and_timeouts_are_refused(extra: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={**BASE, **extra})
    assert caught.value.setting == setting


def test_an_empty_variable_is_unset(tmp_path: Path) -> None:
    path = toml(tmp_path, "write_enabled = true\n" + ACCOUNT_TOML)
    assert load_settings(env={"MAIL_IMAP_WRITE_ENABLED": ""}, config_path=path).accounts["home"].write_enabled


def test_start_up_exits_2_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {**BASE, "MAIL_IMAP_WRITE_ENABLED": "on"}.items():
        monkeypatch.setenv(name, value)
    assert main(["check"]) == 2
    assert "MAIL_IMAP_WRITE_ENABLED" in capsys.readouterr().err
    monkeypatch.setenv("MAIL_IMAP_WRITE_ENABLED", "true")
    monkeypatch.setenv("MAIL_MCP_IMAP_TRACE", "sure")
    assert main(["check"]) == 2
    assert "MAIL_MCP_IMAP_TRACE" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- item 13


def test_sending_needs_an_address_when_the_login_is_not_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**BASE, "MAIL_IMAP_WORK_USER": "me", "MAIL_SMTP_WORK_HOST": "smtp.example.org"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert caught.value.setting == "MAIL_IMAP_WORK_ADDRESS" and "'me'" in caught.value.problem
    assert load_settings(env={**env, "MAIL_IMAP_WORK_ADDRESS": "me@example.org"}).smtp[
        "work"
    ].from_address == ("me@example.org")
    assert load_settings(env={**env, "MAIL_SMTP_WORK_FROM": "me@example.com"}).smtp["work"].from_address == (
        "me@example.com"
    )
    assert (
        load_settings(env={**BASE, "MAIL_IMAP_WORK_USER": "me"}).smtp == {}
    )  # reading only: no address needed
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "MAIL_IMAP_WORK_ADDRESS" in err and "not an e-mail address" in err


def test_address_must_be_an_address() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={**BASE, "MAIL_IMAP_WORK_ADDRESS": "me at example.org"})
    assert caught.value.setting == "MAIL_IMAP_WORK_ADDRESS"


def test_the_environment_amends_an_account_defined_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[accounts.Work]\nhost = "imap.example.com"\nuser = "me@example.com"\npassword = "from-toml"\n'
        'write_enabled = true\n\n[accounts.Work.smtp]\nhost = "smtp.example.com"\n'
    )
    env = {
        "MAIL_IMAP_WORK_PASS": "from-env",
        "MAIL_IMAP_WORK_WRITE_ENABLED": "false",
        "MAIL_SMTP_WORK_ALLOWED_RECIPIENTS": "@corp.example",
        "MAIL_SMTP_WORK_RATE_LIMIT": "5",
    }
    settings = load_settings(env=env, config_path=path)
    account = settings.accounts["Work"]
    assert list(settings.accounts) == ["Work"]  # one account, not Work and work
    assert account.password is not None and account.password.get_secret_value() == "from-env"
    assert account.write_enabled is False
    assert (
        settings.smtp["Work"].allowed_recipients == ("@corp.example",)
        and settings.smtp["Work"].rate_limit == 5
    )


def test_an_empty_sending_variable_leaves_the_files_value(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('smtp_confirm = "always"\nsmtp_max_attachment_bytes = 1000\nsend_enabled = true\n')
    env = {"MAIL_SMTP_CONFIRM": "", "MAIL_SMTP_MAX_ATTACHMENT_BYTES": " ", "MAIL_SMTP_SEND_ENABLED": ""}
    settings = load_settings(env=env, config_path=path)
    assert (settings.smtp_confirm, settings.max_send_attachment_bytes, settings.send_enabled) == (
        "always",
        1000,
        True,
    )


def test_an_unknown_top_level_key_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'write_enable = true\n\n[accounts.work]\nhost = "imap.example.com"\nuser = "me@example.com"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"MAIL_IMAP_WORK_PASS": "x"}, config_path=path)
    assert caught.value.setting.endswith("write_enable") and "unknown setting" in caught.value.problem
