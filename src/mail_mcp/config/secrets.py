"""Secrets that come from elsewhere than the settings themselves: password commands."""

from __future__ import annotations

import subprocess

from pydantic import SecretStr

from mail_mcp.errors import ConfigError


def run_password_command(command: str, setting: str) -> SecretStr:
    try:
        done = subprocess.run(
            command, shell=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(setting, f"password command could not run ({type(exc).__name__})") from None
    if done.returncode != 0:
        raise ConfigError(setting, f"password command exited with status {done.returncode}")
    secret = done.stdout.decode("utf-8", "replace").rstrip("\r\n")
    if not secret:
        raise ConfigError(setting, "password command printed nothing")
    return SecretStr(secret)
