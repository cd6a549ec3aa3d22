"""SMTP AUTH on an open aiosmtplib connection: the password, or SASL XOAUTH2 (OAUTHBEARER when only that is
offered) with the account's OAuth2 token, the same one its IMAP logins use. A refused token is replaced by a
fresh one once. No secret reaches a log line or an error."""

from __future__ import annotations

import base64

import aiosmtplib

from mail_mcp.config.models import SmtpConfig
from mail_mcp.errors import AuthFailed

__all__ = ["authenticate"]

AUTH_OK = 235
AUTH_CONTINUE = 334


async def authenticate(client: aiosmtplib.SMTP, cfg: SmtpConfig) -> None:
    """Log in when the server offers AUTH. Raises SMTPAuthenticationError for a refused password, AuthFailed
    for OAuth2 failures (with the fix), and whatever the token endpoint raised."""
    if not client.supports_extension("auth"):
        return
    if cfg.auth != "oauth2":
        assert cfg.password is not None
        await client.login(cfg.user, cfg.password.get_secret_value())
        return
    from mail_mcp.auth.oauth import login_hint
    from mail_mcp.auth.sasl import pick_sasl_mechanism

    assert cfg.oauth is not None
    where = f"{cfg.host}:{cfg.effective_port}"
    account = cfg.oauth.account_id
    mechanism = pick_sasl_mechanism(client.server_auth_methods)
    if mechanism is None:
        raise AuthFailed(
            f"the SMTP server {where} offers neither XOAUTH2 nor OAUTHBEARER, so it cannot take an OAuth2 "
            "token; give its SMTP a password (MAIL_SMTP_<ID>_PASS). Nothing was sent.",
            account=account,
        )

    async def attempt(token: str) -> None:
        if mechanism == "XOAUTH2":
            await client.auth_xoauth2(cfg.user, token)
        else:
            await _oauthbearer(client, cfg, token)

    try:
        await cfg.oauth.acall(attempt, lambda exc: isinstance(exc, aiosmtplib.SMTPAuthenticationError))
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise AuthFailed(
            f"the SMTP server {where} refused the OAuth2 access token for {cfg.user!r} ({mechanism}, "
            f"{exc.code}) even after a fresh one was obtained; check that the scope covers SMTP, or sign in "
            f"again with `{login_hint(account)}`. Nothing was sent.",
            account=account,
            fix=login_hint(account),
        ) from None


async def _oauthbearer(client: aiosmtplib.SMTP, cfg: SmtpConfig, token: str) -> None:
    """RFC 7628 over SMTP: AUTH OAUTHBEARER <initial response>; an error challenge is answered with ^A."""
    from mail_mcp.auth.sasl import oauthbearer_string

    blob = oauthbearer_string(cfg.user, token, cfg.host, cfg.effective_port)
    response = await client.execute_command(b"AUTH", b"OAUTHBEARER", base64.b64encode(blob))
    if response.code == AUTH_CONTINUE:
        response = await client.execute_command(base64.b64encode(b"\x01"))
    if response.code != AUTH_OK:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)
