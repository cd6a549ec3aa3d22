"""Logging in on a fresh IMAP connection: LOGIN with a password, or SASL XOAUTH2/OAUTHBEARER with the account's
OAuth2 token (a refused token is replaced by a fresh one once). No secret reaches a log line or an error."""

from __future__ import annotations

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from mail_mcp.config.models import AccountConfig
from mail_mcp.errors import AuthFailed

__all__ = ["login"]


def login(client: IMAPClient, account: AccountConfig, port: int) -> None:
    """Authenticate ``client`` (connected, TLS done) as the account's user."""
    if account.auth != "oauth2":
        assert account.password is not None
        client.login(account.user, account.password.get_secret_value())
        return
    from mail_mcp.auth.oauth import login_hint
    from mail_mcp.auth.sasl import oauthbearer_string, pick_sasl_mechanism, xoauth2_string

    assert account.oauth is not None
    where = f"{account.host}:{port}"
    mechanism = pick_sasl_mechanism(client.capabilities())
    if mechanism is None:
        raise AuthFailed(
            f"the IMAP server {where} offers neither AUTH=XOAUTH2 nor AUTH=OAUTHBEARER, so it cannot take an "
            "OAuth2 token; sign in with a password (AUTH=password) instead",
            account=account.id,
        )

    def attempt(token: str) -> None:
        blob = (
            xoauth2_string(account.user, token)
            if mechanism == "XOAUTH2"
            else oauthbearer_string(account.user, token, account.host, port)
        )
        sent = False

        def respond(challenge: bytes) -> bytes:
            nonlocal sent  # an error challenge after the token gets the empty (XOAUTH2) / ^A (RFC 7628) answer
            if sent:
                return b"" if mechanism == "XOAUTH2" else b"\x01"
            sent = True
            return blob

        client.sasl_login(mechanism, respond)

    try:
        account.oauth.call(attempt, lambda exc: isinstance(exc, LoginError))
    except LoginError:
        raise AuthFailed(
            f"the IMAP server {where} refused the OAuth2 access token for {account.user!r} ({mechanism}) even "
            "after a fresh one was obtained; check that the user is the signed-in account and that the "
            f"scope covers IMAP, or sign in again with `{login_hint(account.id)}`",
            account=account.id,
            fix=login_hint(account.id),
        ) from None
