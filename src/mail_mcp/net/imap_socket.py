"""An IMAPClient that runs over a socket opened through a proxy (plain, STARTTLS and implicit TLS).

imapclient (4.x) has no public hook for a caller-made socket, so this relies on two private names, both stable
for years and checked by the proxy tests:

* ``IMAPClient._create_IMAP4()``: called once from ``IMAPClient.__init__`` to build the ``imaplib.IMAP4``
  object (``self.host``, ``self.port``, ``self.ssl``, ``self.ssl_context`` and ``self._timeout.connect``
  are set before it runs);
* ``imaplib.IMAP4._create_socket(timeout)``: called from ``IMAP4.open()`` (run by ``IMAP4.__init__``) to get
  the connected socket; imaplib's own ``IMAP4_SSL`` overrides it the same way to add TLS.

Plain: the proxied socket is used as is. STARTTLS: as plain, then ``client.starttls(context)`` works
unchanged, because imaplib wraps ``self.sock`` (our socket) with ``server_hostname=self.host``. Implicit TLS:
the proxied socket is wrapped here with ``ssl_context`` and ``server_hostname=host`` before imaplib reads the
greeting, so certificates are verified against the mail server's name, not the proxy's.
"""

from __future__ import annotations

import imaplib
import socket
import ssl as ssl_lib

from imapclient import IMAPClient  # type: ignore[import-untyped,unused-ignore]

from mail_mcp.net.proxy import ProxyConfig, open_socket

__all__ = ["ProxiedIMAPClient"]


class _ProxiedIMAP4(imaplib.IMAP4):
    """imaplib.IMAP4 whose socket comes from `open_socket`, optionally wrapped in TLS (implicit TLS)."""

    def __init__(
        self, host: str, port: int, proxy: ProxyConfig, tls: ssl_lib.SSLContext | None, timeout: float | None
    ) -> None:
        self._proxy = proxy
        self._tls = tls
        self._connect_timeout = timeout
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        limit = self._connect_timeout if timeout is None else timeout
        sock = open_socket(self._proxy, self.host, self.port, limit)
        if self._tls is None:
            return sock
        try:
            return self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class ProxiedIMAPClient(IMAPClient):  # type: ignore[misc,unused-ignore]
    """``IMAPClient(host, port, ssl=..., ssl_context=..., timeout=...)`` tunnelled through `proxy`.

    With ``proxy=None`` it is exactly an IMAPClient. Proxy failures raise `ConnectionFailed`/`Timeout` from
    the constructor; TLS and IMAP failures raise what IMAPClient raises. For STARTTLS pass ``ssl=False`` and
    call ``starttls(context)`` as usual.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        proxy: ProxyConfig | None,
        ssl: bool = True,
        ssl_context: ssl_lib.SSLContext | None = None,
        timeout: float | None = None,
        use_uid: bool = True,
    ) -> None:
        self._proxy = proxy
        super().__init__(host, port=port, use_uid=use_uid, ssl=ssl, ssl_context=ssl_context, timeout=timeout)

    def _create_IMAP4(self) -> imaplib.IMAP4:
        if self._proxy is None:
            imap: imaplib.IMAP4 = super()._create_IMAP4()
            return imap
        tls = (self.ssl_context or ssl_lib.create_default_context()) if self.ssl else None
        connect_timeout: float | None = getattr(self._timeout, "connect", None)
        return _ProxiedIMAP4(self.host, self.port, self._proxy, tls, connect_timeout)
