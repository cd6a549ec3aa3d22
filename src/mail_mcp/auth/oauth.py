"""OAuth2 access tokens for IMAP/SMTP logins: `TokenSource` and the token endpoint (the SASL strings: auth/sasl.py).

A `TokenSource` belongs to one account. It hands out a current access token, exchanging the refresh token
(RFC 6749 §6) when the cached one expires within a margin, or runs a command that prints a token. One lock makes
the refresh single-flight across IMAP worker threads; `TokenSource.aget_token` serves asyncio code (SMTP).

Token endpoint requests go through Authlib's httpx2-based ``OAuth2Client`` (client authentication, token
response parsing, RFC 6749 §5.2 errors). Secrets are held as pydantic ``SecretStr``; no log line, exception or
repr made here contains one.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeVar

import anyio.to_thread
from pydantic import SecretStr

from mail_mcp.auth.endpoint import DEFAULT_LIFETIME, OAuthEndpointError, Verify, lifetime, request_token
from mail_mcp.auth.providers import check_endpoint_url
from mail_mcp.errors import AuthFailed, ConfigError, MailError, Timeout

__all__ = [
    "TokenSource",
    "login_hint",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

Command = str | Sequence[str]
DEFAULT_MARGIN = 60.0


def login_hint(account_id: str) -> str:
    """The command that obtains a new refresh token for ``account_id``."""
    return f"mail-mcp account login {account_id}"


def _secret(value: SecretStr | str | None) -> SecretStr | None:
    if value is None or isinstance(value, SecretStr):
        return value
    return SecretStr(value)


# --------------------------------------------------------------------------------------------- TokenSource


class TokenSource:
    """Current OAuth2 access tokens for one account; safe to share between threads.

    Exactly one of ``refresh_token``, ``refresh_token_command`` (prints the refresh token) or ``token_command``
    (prints a current access token) is given. A refresh needs ``token_url`` and ``client_id``;
    ``client_secret`` and ``scope`` are sent when set. A command given as a string runs through ``/bin/sh``,
    as a sequence without a shell.

    `get_token` refreshes when the cached token expires within ``margin`` seconds (at most half its lifetime, so
    that short-lived tokens are still reused) or after `invalidate`.
    When the endpoint returns a new refresh token, ``on_rotated`` gets it, so that it can be stored. A token
    from ``token_command`` is reused for ``command_lifetime`` seconds (no margin: the command knows best).
    """

    def __init__(
        self,
        account_id: str,
        *,
        token_url: str | None = None,
        client_id: str | None = None,
        client_secret: SecretStr | str | None = None,
        scope: str | None = None,
        refresh_token: SecretStr | str | None = None,
        refresh_token_command: Command | None = None,
        token_command: Command | None = None,
        on_rotated: Callable[[str], None] | None = None,
        margin: float = DEFAULT_MARGIN,
        command_lifetime: float = 60.0,
        http_timeout: float = 30.0,
        command_timeout: float = 30.0,
        verify: Verify = True,
        setting_prefix: str | None = None,
    ) -> None:
        self.account_id = account_id
        prefix = setting_prefix if setting_prefix is not None else f"MAIL_IMAP_{account_id.upper()}_"
        given = [
            name
            for name, value in (
                ("OAUTH_REFRESH_TOKEN", refresh_token),
                ("OAUTH_REFRESH_TOKEN_COMMAND", refresh_token_command),
                ("OAUTH_TOKEN_COMMAND", token_command),
            )
            if value
        ]
        if len(given) != 1:
            raise ConfigError(
                f"{prefix}OAUTH_REFRESH_TOKEN",
                "set exactly one of OAUTH_REFRESH_TOKEN, OAUTH_REFRESH_TOKEN_COMMAND and "
                f"OAUTH_TOKEN_COMMAND (found {', '.join(given) or 'none'}); "
                f"`{login_hint(account_id)}` obtains a refresh token",
            )
        if token_command is None:
            if not token_url:
                raise ConfigError(f"{prefix}OAUTH_TOKEN_URL", "required to refresh tokens")
            if not client_id:
                raise ConfigError(f"{prefix}OAUTH_CLIENT_ID", "required to refresh tokens")
            check_endpoint_url(token_url, f"{prefix}OAUTH_TOKEN_URL")
        self.mode: Literal["refresh_token", "token_command"] = (
            "token_command" if token_command is not None else "refresh_token"
        )
        self.token_url = token_url
        self.client_id = client_id
        self.scope = scope or None
        self.margin = margin
        self.command_lifetime = command_lifetime
        self.http_timeout = http_timeout
        self.command_timeout = command_timeout
        self.verify = verify
        self._client_secret = _secret(client_secret or None)
        self._refresh_token = _secret(refresh_token)
        self._refresh_token_command = refresh_token_command or None
        self._token_command = token_command
        self._on_rotated = on_rotated
        self._lock = threading.Lock()
        self._access: SecretStr | None = None
        self._expires_at = self._refresh_at = 0.0
        self._stale = False
        self._refreshes = 0
        self._prefix = prefix

    def __repr__(self) -> str:
        return (
            f"TokenSource(account={self.account_id!r}, mode={self.mode!r}, token_url={self.token_url!r}, "
            f"refreshes={self._refreshes})"
        )

    @property
    def refresh_count(self) -> int:
        """How many access tokens were obtained so far (endpoint refreshes or token command runs)."""
        return self._refreshes

    @property
    def expires_in(self) -> float | None:
        """Seconds until the cached access token expires (None before the first token)."""
        if self._access is None:
            return None
        return self._expires_at - time.monotonic()

    def get_token(self) -> str:
        """A current access token, refreshing it first when it is due (blocking; thread-safe)."""
        with self._lock:
            if self._access is None or self._stale or time.monotonic() >= self._refresh_at:
                self._renew()
            assert self._access is not None
            return self._access.get_secret_value()

    async def aget_token(self) -> str:
        """`get_token` for asyncio code: a refresh runs in a worker thread."""
        return await anyio.to_thread.run_sync(self.get_token)

    def invalidate(self, token: str | None = None) -> bool:
        """Force a refresh at the next `get_token`, after the server refused ``token``.

        With ``token`` given, only when that is still the cached token: many connections failing with the same
        token cause one refresh. Returns whether the cached token was dropped.
        """
        with self._lock:
            if (
                self._access is None
                or self._stale
                or (token is not None and token != self._access.get_secret_value())
            ):
                return False
            self._stale = True
            return True

    def call_with_token(
        self, attempt: Callable[[str], T], is_auth_failure: Callable[[BaseException], bool]
    ) -> T:
        """``attempt(token)``; if it fails with an auth failure, invalidate that token and try once more."""
        token = self.get_token()
        try:
            return attempt(token)
        except Exception as exc:
            if not is_auth_failure(exc):
                raise
        self._note_refused(token)
        return attempt(self.get_token())

    async def acall_with_token(
        self, attempt: Callable[[str], Awaitable[T]], is_auth_failure: Callable[[BaseException], bool]
    ) -> T:
        """`call_with_token` for asyncio code."""
        token = await self.aget_token()
        try:
            return await attempt(token)
        except Exception as exc:
            if not is_auth_failure(exc):
                raise
        self._note_refused(token)
        return await attempt(await self.aget_token())

    def _note_refused(self, token: str) -> None:
        log.info(
            "account %s: the server refused the OAuth access token; obtaining a new one", self.account_id
        )
        self.invalidate(token)

    # -------------------------------------------------------------------------------------------- internals

    def _renew(self) -> None:
        if self._token_command is not None:
            printed = self._run(self._token_command, "OAUTH_TOKEN_COMMAND")
            self._store_access(printed, self.command_lifetime, margin=0.0)
            log.debug(
                "account %s: access token from OAUTH_TOKEN_COMMAND (#%d)", self.account_id, self._refreshes
            )
            return
        refresh = self._current_refresh_token()
        assert self.token_url is not None and self.client_id is not None
        try:
            token = request_token(
                lambda client: client.refresh_token(self.token_url, refresh_token=refresh.get_secret_value()),
                client_id=self.client_id,
                client_secret=self._client_secret,
                scope=self.scope,
                url=self.token_url,
                fix=self._fix_hint(),
                secrets=[refresh.get_secret_value()],
                timeout=self.http_timeout,
                verify=self.verify,
            )
        except OAuthEndpointError as exc:
            if self._refresh_token_command is not None:
                self._refresh_token = None  # run the command again next time: the store may have a new one
            raise OAuthEndpointError(
                self._refused_message(exc.error, exc.message),
                error=exc.error,
                account=self.account_id,
                fix=login_hint(self.account_id),
            ) from None
        except AuthFailed as exc:
            raise AuthFailed(exc.message, account=self.account_id, fix=login_hint(self.account_id)) from None
        except MailError as exc:
            exc.details.setdefault("account", self.account_id)
            raise
        seconds = lifetime(token, DEFAULT_LIFETIME)
        self._store_access(token["access_token"], seconds, margin=min(self.margin, seconds / 2))
        rotated = token.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != refresh.get_secret_value():
            self._refresh_token = SecretStr(rotated)
            log.info("account %s: the token endpoint rotated the refresh token", self.account_id)
            if self._on_rotated is not None:
                try:
                    self._on_rotated(rotated)
                except Exception as exc:  # noqa: BLE001 (a failing store must not fail the login)
                    log.warning(
                        "account %s: storing the rotated refresh token failed (%s); run `%s` after "
                        "a restart if the old one is refused",
                        self.account_id,
                        type(exc).__name__,
                        login_hint(self.account_id),
                    )
        log.debug(
            "account %s: refreshed the OAuth access token (valid %.0f s, refresh #%d)",
            self.account_id,
            seconds,
            self._refreshes,
        )

    def _store_access(self, token: str, lifetime: float, margin: float) -> None:
        self._access = SecretStr(token)
        self._expires_at = time.monotonic() + lifetime
        self._refresh_at = self._expires_at - margin
        self._stale = False
        self._refreshes += 1

    def _current_refresh_token(self) -> SecretStr:
        if self._refresh_token is None:
            assert self._refresh_token_command is not None
            self._refresh_token = SecretStr(
                self._run(self._refresh_token_command, "OAUTH_REFRESH_TOKEN_COMMAND")
            )
        return self._refresh_token

    def _fix_hint(self) -> str:
        return f"Sign in again with `{login_hint(self.account_id)}`."

    def _refused_message(self, error: str, endpoint_message: str) -> str:
        if error == "invalid_grant":
            return (
                f"The OAuth refresh token of account '{self.account_id}' is no longer valid (revoked, expired "
                f"or replaced). Sign in again with `{login_hint(self.account_id)}`."
            )
        if error in ("invalid_client", "unauthorized_client"):
            return (
                f"{endpoint_message} Check {self._prefix}OAUTH_CLIENT_ID and {self._prefix}OAUTH_CLIENT_SECRET "
                "(the provider's app registration)."
            )
        return endpoint_message

    def _run(self, command: Command, setting: str) -> str:
        """Run a credential command and return its first output line; never reveals the output."""
        name = f"{self._prefix}{setting}"
        args: str | list[str] = command if isinstance(command, str) else list(command)
        try:
            done = subprocess.run(
                args,
                shell=isinstance(command, str),
                capture_output=True,
                text=True,
                timeout=self.command_timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise Timeout(
                f"{name} did not finish within {self.command_timeout:.0f} s.", account=self.account_id
            ) from None
        except OSError as exc:
            raise AuthFailed(
                f"{name} could not be started ({type(exc).__name__}: {exc.strerror}).",
                account=self.account_id,
            ) from None
        if done.returncode != 0:
            raise AuthFailed(
                f"{name} failed with exit status {done.returncode}; run it by hand to see why.",
                account=self.account_id,
            )
        lines = done.stdout.strip().splitlines()
        value = lines[0].strip() if lines else ""
        if not value:
            raise AuthFailed(
                f"{name} printed nothing; it must print the token on its first line.", account=self.account_id
            )
        if len(value.split()) != 1:
            raise AuthFailed(
                f"{name} printed more than one word on its first line; it must print only the token.",
                account=self.account_id,
            )
        return value
