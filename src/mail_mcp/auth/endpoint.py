"""The OAuth2 token endpoint: one token request through Authlib's httpx2 ``OAuth2Client`` (client authentication,
token response parsing, RFC 6749 §5.2 errors), mapped to our typed errors with every secret blanked out."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx2
from authlib.common.errors import AuthlibBaseError  # type: ignore[import-untyped,unused-ignore]
from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped,unused-ignore]
from pydantic import SecretStr

from mail_mcp.errors import AuthFailed, ConnectionFailed, MailError, ServerError, Timeout

__all__ = ["DEFAULT_LIFETIME", "MAX_DESCRIPTION", "OAuthEndpointError", "Verify", "lifetime", "request_token"]

log = logging.getLogger(__name__)

Verify = bool | str | ssl.SSLContext
"""TLS verification for the token endpoint, as httpx2 takes it: True, False, a CA file path or an SSLContext."""
DEFAULT_LIFETIME = 3600.0
MAX_DESCRIPTION = 300


class OAuthEndpointError(AuthFailed):
    """The token endpoint refused a request with an RFC 6749 §5.2 error; `error` is its code."""

    def __init__(self, message: str, *, error: str, **details: Any) -> None:
        super().__init__(message, oauth_error=error, **details)
        self.error = error


def _redact(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return text[:MAX_DESCRIPTION]


def _client(
    client_id: str,
    client_secret: SecretStr | None,
    scope: str | None,
    timeout: float,
    verify: Verify,
    **kwargs: Any,
) -> Any:
    return OAuth2Client(
        client_id=client_id,
        client_secret=client_secret.get_secret_value() if client_secret is not None else None,
        scope=scope,
        timeout=timeout,
        verify=verify,
        **kwargs,
    )


def request_token(
    call: Callable[[Any], Any],
    *,
    client_id: str,
    client_secret: SecretStr | None = None,
    scope: str | None = None,
    url: str,
    fix: str,
    secrets: Iterable[str] = (),
    timeout: float = 30.0,
    verify: Verify = True,
    client_kwargs: Mapping[str, Any] | None = None,
    expect_token: bool = True,
) -> dict[str, Any]:
    """Run ``call(client)`` on a fresh Authlib ``OAuth2Client`` and return the token response it parses.

    Failures become project errors without secrets: an OAuth error answer is `OAuthEndpointError` (its message
    ends with ``fix``), another 4xx is `AuthFailed`, 5xx/429 and network failures are `ConnectionFailed`, a
    time-out is `Timeout`, a reply that is not a token is `ServerError`. ``secrets`` are blanked out of any
    text the endpoint sent back. With ``expect_token=False`` any JSON object is accepted (e.g. a device
    authorization response).
    """
    host = urlsplit(url).netloc
    hidden = [*secrets, *([client_secret.get_secret_value()] if client_secret is not None else [])]
    failure: MailError | None = None
    token: Any = None
    try:
        with _client(client_id, client_secret, scope, timeout, verify, **(client_kwargs or {})) as client:
            token = call(client)
    except AuthlibBaseError as exc:
        error = _redact(str(exc.error or "oauth_error"), hidden)
        described = f"{error}: {_redact(str(exc.description), hidden)}" if exc.description else error
        failure = OAuthEndpointError(
            f"The OAuth token endpoint {host} refused the request ({described}). {fix}", error=error
        )
    except httpx2.HTTPStatusError as exc:
        status = exc.response.status_code
        if status >= 500 or status == 429:
            failure = ConnectionFailed(
                f"The OAuth token endpoint {host} is unavailable (HTTP {status}); try again later.",
                status=status,
            )
        else:
            failure = AuthFailed(
                f"The OAuth token endpoint {host} answered HTTP {status}. {fix}", status=status
            )
    except httpx2.TimeoutException:
        failure = Timeout(f"The OAuth token endpoint {host} did not answer in time; try again later.")
    except httpx2.TransportError as exc:
        failure = ConnectionFailed(
            f"Cannot reach the OAuth token endpoint {host} "
            f"({type(exc).__name__}: {_redact(str(exc), hidden)})."
        )
    except ValueError:
        failure = ServerError(f"The OAuth token endpoint {host} sent no JSON token response; check its URL.")
    if failure is not None:
        raise failure
    if not isinstance(token, Mapping):
        raise ServerError(f"The OAuth endpoint {host} sent no JSON object.")
    if not expect_token:
        return dict(token)
    if not isinstance(token.get("access_token"), str) or not token["access_token"]:
        raise ServerError(f"The OAuth token endpoint {host} answered without an access_token.")
    token_type = str(token.get("token_type", "Bearer"))
    if token_type.lower() != "bearer":
        raise ServerError(
            f"The OAuth token endpoint {host} issued a {token_type!r} token, not a Bearer token."
        )
    return dict(token)


def lifetime(token: Mapping[str, Any], default: float) -> float:
    try:
        return max(0.0, float(token["expires_in"]))
    except (KeyError, TypeError, ValueError):
        return default
