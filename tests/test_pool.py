"""The connection pool against the real server: reuse, bounded size, dead-connection recovery."""

from __future__ import annotations

import socket

import anyio
import pytest

from mail_mcp.config.models import Settings
from mail_mcp.errors import AuthFailed, Timeout
from mail_mcp.imap.search import Filters
from mail_mcp.mailbox.reading import Reader
from mail_mcp.mailbox.service import MailService

pytestmark = pytest.mark.anyio


async def test_connections_are_reused(settings: Settings) -> None:
    service = MailService(settings)
    try:
        for _ in range(10):
            await Reader(service).list_messages(None, "INBOX", Filters(), 5, None)
        pool = service.pools.get("default")
        assert pool.logins == 1 and pool.open_connections == 1
    finally:
        await service.close()


async def test_concurrency_stays_within_pool_size(settings: Settings) -> None:
    service = MailService(settings)
    try:
        async with anyio.create_task_group() as tg:
            for _ in range(12):
                tg.start_soon(Reader(service).list_folders, None)
        pool = service.pools.get("default")
        assert pool.open_connections <= settings.accounts["default"].pool_size
        assert pool.logins <= settings.accounts["default"].pool_size
    finally:
        await service.close()


async def test_dead_connection_is_replaced_and_the_read_retried(settings: Settings) -> None:
    service = MailService(settings)
    try:
        await Reader(service).list_folders(None)
        pool = service.pools.get("default")
        (slot,) = [s for s in pool._slots if s.conn is not None]
        assert slot.conn is not None
        slot.conn.client.socket().shutdown(socket.SHUT_RDWR)
        folders = await Reader(service).list_folders(None)
        assert folders.folders and pool.logins == 2
    finally:
        await service.close()


async def test_wrong_password_is_auth_failed(settings: Settings) -> None:
    from pydantic import SecretStr

    account = settings.accounts["default"].model_copy(update={"password": SecretStr("nope")})
    service = MailService(settings.model_copy(update={"accounts": {"default": account}}))
    try:
        with pytest.raises(AuthFailed) as caught:
            await Reader(service).list_folders(None)
        assert "nope" not in caught.value.message
    finally:
        await service.close()


async def test_silent_server_times_out_and_the_connection_is_not_kept(settings: Settings) -> None:
    """A server that accepts but never greets: the call fails with `timeout` within the configured time."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        account = settings.accounts["default"].model_copy(
            update={"port": listener.getsockname()[1], "timeout": 0.5, "security": "plain"}
        )
        service = MailService(settings.model_copy(update={"accounts": {"default": account}}))
        try:
            with anyio.fail_after(5):
                with pytest.raises(Timeout) as caught:
                    await Reader(service).list_folders(None)
            assert "0.5 s" in caught.value.message
            assert service.pools.get("default").open_connections == 0
        finally:
            await service.close()
    finally:
        listener.close()
