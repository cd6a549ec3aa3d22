"""The SASL strings of an OAuth2 login: XOAUTH2 and OAUTHBEARER (RFC 7628), and which of them a server offers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal


def _check_sasl_part(name: str, value: str) -> None:
    if not value or any(ch in value for ch in "\x00\x01\r\n"):
        raise ValueError(f"{name} is empty or contains a control character")


def xoauth2_string(user: str, token: str) -> bytes:
    """The SASL XOAUTH2 initial response ``user=<user>^Aauth=Bearer <token>^A^A`` (not yet base64-encoded).

    imaplib/imapclient and aiosmtplib base64-encode it themselves.
    """
    _check_sasl_part("user", user)
    _check_sasl_part("token", token)
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer_string(user: str, token: str, host: str, port: int) -> bytes:
    """The RFC 7628 OAUTHBEARER initial client response (GS2 header with authzid, host, port, bearer token)."""
    _check_sasl_part("user", user)
    _check_sasl_part("token", token)
    _check_sasl_part("host", host)
    if not 0 < port < 65536:
        raise ValueError("port must be between 1 and 65535")
    authzid = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01".encode()


def pick_sasl_mechanism(offered: Iterable[str | bytes]) -> Literal["XOAUTH2", "OAUTHBEARER"] | None:
    """XOAUTH2 when offered, else OAUTHBEARER when offered, else None.

    ``offered`` is IMAP capabilities (``AUTH=XOAUTH2``) or the SMTP EHLO AUTH list (``xoauth2``).
    """
    names = set()
    for item in offered:
        text = item.decode("ascii", "replace") if isinstance(item, bytes) else item
        names.add(text.upper().removeprefix("AUTH="))
    if "XOAUTH2" in names:
        return "XOAUTH2"
    if "OAUTHBEARER" in names:
        return "OAUTHBEARER"
    return None
