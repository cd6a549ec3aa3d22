"""Which secret store an account uses: a private file when one is named, else the OS keyring.

The keyring is the one `keyring` selects. A backend the user chose explicitly (``PYTHON_KEYRING_BACKEND`` or
keyring's ``keyringrc.cfg``) is used even when keyring rates it "not recommended": that is asked for, not a
silent fallback. Without such a choice only a recommended backend is used (`SecretStore` refuses others).
"""

from __future__ import annotations

import os
from pathlib import Path

import keyring
import keyring.core
from keyring.backend import KeyringBackend

from mail_mcp.auth.secrets import FILE_SETTING, FileSecretStore, SecretStore

__all__ = ["describe_store", "explicit_keyring", "open_store", "secrets_file_from_env"]


def secrets_file_from_env() -> Path | None:
    """``MAIL_MCP_SECRETS_FILE``, when set."""
    value = os.environ.get(FILE_SETTING, "").strip()
    return Path(value).expanduser() if value else None


def explicit_keyring() -> KeyringBackend | None:
    """The active keyring backend when the user named one (environment or keyring's config file), else None."""
    try:
        chosen = keyring.core.load_env() or keyring.core.load_config()
    except Exception:  # noqa: BLE001 (a broken keyring setting is reported by SecretStore below)
        return None
    return keyring.get_keyring() if chosen is not None else None


def open_store(file: Path | None = None) -> SecretStore | FileSecretStore:
    """The store for secrets: ``file`` (else ``MAIL_MCP_SECRETS_FILE``) when given, else the OS keyring.

    Raises `NoKeyringBackend` (a ConfigError whose message offers the alternatives) when neither is usable.
    """
    chosen_file = file if file is not None else secrets_file_from_env()
    if chosen_file is not None:
        return FileSecretStore(chosen_file)
    return SecretStore(explicit_keyring())


def describe_store(store: SecretStore | FileSecretStore) -> str:
    """Where a secret went, for the user: never the secret itself."""
    if isinstance(store, FileSecretStore):
        return f"the private file {store.path} (mode 0600)"
    return f"the OS keyring ({type(store.backend).__name__}, service 'mail-mcp')"
