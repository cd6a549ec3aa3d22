"""Interactive sign-in for ``mail-mcp account login``: obtain a refresh token from the user once (the loopback
flow is in auth/loopback.py).

- `device_code_login`: the device authorization grant (RFC 8628), e.g. Microsoft. It shows a code and a URL,
  then polls the token endpoint, honouring ``interval`` and ``slow_down``.
- `loopback_login`: the authorization code grant with PKCE S256 (RFC 7636) and a loopback redirect (RFC 8252),
  e.g. Google. A one-shot HTTP server on 127.0.0.1 (random port) receives the redirect and checks ``state``.
  Without a browser the user opens the URL anywhere and pastes back the address they were sent to, or the code.

Authlib builds the authorization URL and the token requests; the few lines Authlib has no client helper for
(the device authorization request and its polling loop, the redirect listener) are here. The access token, the
refresh token, the authorization code and the PKCE verifier never reach a log line, exception or repr.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from authlib.integrations.base_client import OAuthError  # type: ignore[import-untyped,unused-ignore]
from pydantic import SecretStr

from mail_mcp.auth.endpoint import DEFAULT_LIFETIME, OAuthEndpointError, Verify, request_token
from mail_mcp.auth.oauth import login_hint
from mail_mcp.errors import AuthFailed, ServerError

__all__ = [
    "DEVICE_CODE_GRANT",
    "DeviceCode",
    "LoginResult",
    "device_code_login",
]

log = logging.getLogger(__name__)

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5.0  # RFC 8628 §3.5
DEFAULT_INTERVAL = 5.0
DEFAULT_DEVICE_CODE_LIFETIME = 900.0


@dataclass(frozen=True, slots=True)
class LoginResult:
    """Tokens from a completed sign-in. ``expires_in`` is the access token's lifetime in seconds."""

    refresh_token: SecretStr
    access_token: SecretStr
    expires_in: float
    scope: str | None


@dataclass(frozen=True, slots=True)
class DeviceCode:
    """What the user needs for a device code sign-in: open ``verification_uri`` and enter ``user_code``.

    ``message`` is the provider's ready-made instruction when it sends one (Microsoft does).
    """

    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float
    message: str | None


def _fix(account_id: str | None) -> str:
    return f"Start again with `{login_hint(account_id)}`." if account_id else "Start the sign-in again."


def _result(token: Mapping[str, Any], account_id: str | None) -> LoginResult:
    refresh = token.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise AuthFailed(
            "The provider signed you in but issued no refresh token; the app registration must allow "
            "offline access (Microsoft: scope offline_access; Google: access_type=offline). "
            + _fix(account_id)
        )
    try:
        expires_in = float(token["expires_in"])
    except (KeyError, TypeError, ValueError):
        expires_in = DEFAULT_LIFETIME
    scope = token.get("scope")
    return LoginResult(
        refresh_token=SecretStr(refresh),
        access_token=SecretStr(token["access_token"]),
        expires_in=expires_in,
        scope=scope if isinstance(scope, str) else None,
    )


def _json_answer(response: Any) -> dict[str, Any]:
    """A JSON object from ``response``; an RFC 6749 error object raises Authlib's OAuthError."""
    if response.status_code >= 500:
        response.raise_for_status()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if "error" in body:
            raise OAuthError(error=str(body["error"]), description=body.get("error_description"))
        return body
    response.raise_for_status()
    raise ValueError("not a JSON object")


# ---------------------------------------------------------------------------------------------- device code


def device_code_login(
    *,
    client_id: str,
    device_authorization_url: str,
    token_url: str,
    scope: str,
    show: Callable[[DeviceCode], None],
    client_secret: SecretStr | str | None = None,
    account_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    http_timeout: float = 30.0,
    verify: Verify = True,
) -> LoginResult:
    """Sign in with the device authorization grant: ``show`` the code and URL, poll until the user approves.

    Raises AuthFailed when the user declines or the code expires; ``sleep`` waits between polls.
    """
    secret = SecretStr(client_secret) if isinstance(client_secret, str) else client_secret
    fix = _fix(account_id)
    grant = request_token(
        lambda client: _json_answer(
            client.request(
                "POST",
                device_authorization_url,
                withhold_token=True,
                data={"scope": scope},
                auth=client.client_auth(client.token_endpoint_auth_method),
            )
        ),  # RFC 8628 §3.1: as at /token
        client_id=client_id,
        client_secret=secret,
        url=device_authorization_url,
        fix=fix,
        timeout=http_timeout,
        verify=verify,
        expect_token=False,
    )
    device_code = grant.get("device_code")
    user_code = grant.get("user_code")
    uri = grant.get("verification_uri") or grant.get("verification_url")  # Google says verification_url
    if not all(isinstance(v, str) and v for v in (device_code, user_code, uri)):
        raise ServerError(
            "The device authorization response lacks device_code, user_code or verification_uri."
        )
    assert isinstance(device_code, str) and isinstance(user_code, str) and isinstance(uri, str)
    interval = _number(grant.get("interval"), DEFAULT_INTERVAL)
    lifetime = _number(grant.get("expires_in"), DEFAULT_DEVICE_CODE_LIFETIME)
    complete = grant.get("verification_uri_complete")
    message = grant.get("message")
    show(
        DeviceCode(
            user_code=user_code,
            verification_uri=uri,
            verification_uri_complete=complete if isinstance(complete, str) else None,
            expires_in=lifetime,
            interval=interval,
            message=message if isinstance(message, str) else None,
        )
    )
    deadline = time.monotonic() + lifetime
    polls = 0
    while True:
        sleep(interval)
        if time.monotonic() > deadline:
            raise AuthFailed(f"The sign-in code expired before it was used. {fix}")
        polls += 1
        try:
            token = request_token(
                lambda client: client.fetch_token(
                    token_url, grant_type=DEVICE_CODE_GRANT, device_code=device_code
                ),
                client_id=client_id,
                client_secret=secret,
                url=token_url,
                fix=fix,
                secrets=[device_code],
                timeout=http_timeout,
                verify=verify,
            )
        except OAuthEndpointError as exc:
            if exc.error == "authorization_pending":
                continue
            if exc.error == "slow_down":
                interval += SLOW_DOWN_STEP
                log.debug("device code sign-in: slow_down, polling every %.0f s", interval)
                continue
            if exc.error == "access_denied":
                raise AuthFailed(f"The sign-in was declined. {fix}", oauth_error=exc.error) from None
            if exc.error == "expired_token":
                raise AuthFailed(
                    f"The sign-in code expired before it was used. {fix}", oauth_error=exc.error
                ) from None
            raise
        log.debug("device code sign-in completed after %d polls", polls)
        return _result(token, account_id)


def _number(value: Any, default: float) -> float:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return default


# ------------------------------------------------------------------------------------- loopback redirect + PKCE
