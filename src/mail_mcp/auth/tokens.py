"""`AccountTokens`: the one OAuth2 `TokenSource` of an account, shared by its IMAP pool threads and its SMTP.

Configuration builds one `AccountTokens` per OAuth2 account (it sits on both the account's and its SMTP's
settings). The `TokenSource` inside is built at the first login, not at start-up, so that an account that was
never signed in (or whose keyring is locked) fails with `auth_failed` and the fix, while the server keeps
serving the other accounts. The refresh token comes from the settings, a command, or the secret store where
``mail-mcp account login`` put it; a rotated one is written back to the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio.to_thread
from pydantic import SecretStr

from mail_mcp.auth.providers import OAuthProvider
from mail_mcp.errors import AuthFailed

if (
    TYPE_CHECKING
):  # the OAuth machinery (Authlib, httpx2) and keyring load at the first OAuth login, not at start-up
    from mail_mcp.auth.endpoint import OAuthEndpointError, Verify
    from mail_mcp.auth.oauth import TokenSource
    from mail_mcp.auth.secrets import FileSecretStore, SecretStore

    Store = SecretStore | FileSecretStore

__all__ = ["AccountTokens"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class AccountTokens:
    """Access tokens for one account; safe to share between threads and the event loop."""

    def __init__(
        self,
        account_id: str,
        provider: OAuthProvider,
        *,
        client_id: str,
        client_secret: SecretStr | None = None,
        refresh_token: SecretStr | None = None,
        refresh_token_command: str | None = None,
        token_command: str | None = None,
        secrets_file: Path | None = None,
        setting_prefix: str | None = None,
        verify: Verify = True,
        store: Callable[[], Store] | None = None,
    ) -> None:
        self.account_id = account_id
        self.provider = provider
        self.client_id = client_id
        self.setting_prefix = setting_prefix or f"MAIL_IMAP_{account_id.upper()}_"
        self.verify = verify
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._refresh_token_command = refresh_token_command
        self._token_command = token_command
        self._open_store = store or (lambda: _open_store(secrets_file))
        self._lock = threading.Lock()
        self._source: TokenSource | None = None
        self._from_store = False

    def __repr__(self) -> str:
        return f"AccountTokens(account={self.account_id!r}, provider={self.provider.name!r})"

    @property
    def configured_refresh(self) -> bool:
        """Whether the settings give the refresh token or a command (else it comes from the secret store)."""
        return bool(self._refresh_token or self._refresh_token_command or self._token_command)

    @property
    def refresh_count(self) -> int:
        """Access tokens obtained so far (0 before the first login)."""
        return self._source.refresh_count if self._source is not None else 0

    def store(self) -> Store:
        """The account's secret store; AuthFailed (never a secret) when there is none usable."""
        from mail_mcp.auth.secrets import SecretStoreError

        try:
            return self._open_store()
        except SecretStoreError as exc:
            raise AuthFailed(
                f"Account '{self.account_id}' needs its OAuth refresh token from the secret store, but "
                f"{exc.problem}",
                account=self.account_id,
            ) from None

    def client_secret(self) -> SecretStr | None:
        """The configured client secret, else one stored by `account add`, else None (a public client)."""
        return self._client_secret or self._optional_client_secret(None)

    def source(self) -> TokenSource:
        """The account's TokenSource, built on first use."""
        with self._lock:
            if self._source is None:
                self._source = self._build()
            return self._source

    def call(self, attempt: Callable[[str], T], is_auth_failure: Callable[[BaseException], bool]) -> T:
        """``attempt(token)``, once more with a fresh token when the server refuses the first (blocking)."""
        from mail_mcp.auth.endpoint import OAuthEndpointError

        try:
            return self.source().call_with_token(attempt, is_auth_failure)
        except OAuthEndpointError as exc:
            self._forget_if_stored(exc)
            raise

    async def acall(
        self, attempt: Callable[[str], Awaitable[T]], is_auth_failure: Callable[[BaseException], bool]
    ) -> T:
        """`call` for asyncio code (SMTP); token endpoint and store calls run in a worker thread."""
        from mail_mcp.auth.endpoint import OAuthEndpointError

        source = await anyio.to_thread.run_sync(self.source)
        try:
            return await source.acall_with_token(attempt, is_auth_failure)
        except OAuthEndpointError as exc:
            self._forget_if_stored(exc)
            raise

    def _forget_if_stored(self, exc: OAuthEndpointError) -> None:
        """After invalid_grant, read the store again next time: `account login` may have put a new token there."""
        if exc.error == "invalid_grant" and self._from_store:
            with self._lock:
                self._source = None

    def _build(self) -> TokenSource:
        from mail_mcp.auth.oauth import TokenSource, login_hint
        from mail_mcp.auth.secrets import OAUTH_REFRESH_TOKEN
        from mail_mcp.auth.store import describe_store

        refresh = self._refresh_token
        secret = self._client_secret
        store: Store | None = None
        self._from_store = False
        if not self.configured_refresh:
            store = self.store()
            refresh = self._get(store, OAUTH_REFRESH_TOKEN)
            if refresh is None:
                raise AuthFailed(
                    f"Account '{self.account_id}' has no OAuth refresh token yet (none configured, none in "
                    f"{describe_store(store)}). Sign in with `{login_hint(self.account_id)}`.",
                    account=self.account_id,
                    fix=login_hint(self.account_id),
                )
            self._from_store = True
        if secret is None and self._token_command is None:
            secret = self._optional_client_secret(store)
        return TokenSource(
            self.account_id,
            token_url=self.provider.token_url,
            client_id=self.client_id,
            client_secret=secret,
            scope=self.provider.scope,
            refresh_token=refresh,
            refresh_token_command=self._refresh_token_command,
            token_command=self._token_command,
            on_rotated=None if self._refresh_token_command else self._store_rotated,
            verify=self.verify,
            setting_prefix=self.setting_prefix,
        )

    def _get(self, store: Store, name: str) -> SecretStr | None:
        from mail_mcp.auth.secrets import SecretStoreError

        try:
            return store.get(self.account_id, name)
        except SecretStoreError as exc:
            raise AuthFailed(
                f"Reading the secrets of account '{self.account_id}' failed: {exc.problem}",
                account=self.account_id,
            ) from None

    def _optional_client_secret(self, store: Store | None) -> SecretStr | None:
        """A client secret stored by `account add`; none (a public client) when there is no store."""
        from mail_mcp.auth.secrets import OAUTH_CLIENT_SECRET, SecretStoreError

        try:
            return (store or self._open_store()).get(self.account_id, OAUTH_CLIENT_SECRET)
        except SecretStoreError:
            return None

    def _store_rotated(self, refresh_token: str) -> None:
        from mail_mcp.auth.secrets import OAUTH_REFRESH_TOKEN
        from mail_mcp.auth.store import describe_store

        store = self._open_store()
        store.set(self.account_id, OAUTH_REFRESH_TOKEN, refresh_token)
        log.info("account %s: stored the rotated refresh token in %s", self.account_id, describe_store(store))
        if self._refresh_token is not None:
            log.warning(
                "account %s: the refresh token in %sOAUTH_REFRESH_TOKEN was replaced by the provider; remove "
                "that setting so the stored one is used after a restart",
                self.account_id,
                self.setting_prefix,
            )


def _open_store(secrets_file: Path | None) -> Store:
    from mail_mcp.auth.store import open_store

    return open_store(secrets_file)
