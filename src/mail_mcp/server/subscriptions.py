"""New mail as it arrives: the `mail://{account}/{mailbox}` folder resource and its update notifications.

A client subscribes to a folder's URI, with `resources/subscribe` (2025 protocol generation; updates come as
`notifications/resources/updated` on its session) or with `subscriptions/listen` (2026-07-28; updates are
`ResourceUpdated` events on the server's subscription bus). The folder's watcher (mailbox/watch.py) runs while
it has subscribers of either kind; only folders in the account's WATCH setting can be subscribed to.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections import Counter
from typing import Any
from urllib.parse import quote, unquote

import anyio
from mcp.server import MCPServer
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.server.session import ServerSession
from mcp.server.subscriptions import ResourceUpdated
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    UnsubscribeRequestParams,
)

from mail_mcp.errors import MailError
from mail_mcp.imap.idle import folder_status
from mail_mcp.mailbox.changes import ChangeTracker
from mail_mcp.mailbox.service import MailService
from mail_mcp.mailbox.watch import Watchers, watchers_for
from mail_mcp.server import _compat

log = logging.getLogger(__name__)
FOLDER_TEMPLATE = "mail://{account}/{mailbox}"
SEND_TIMEOUT = 5.0  # seconds: a legacy session that cannot take a notification this fast is dropped
HINT = "call list_changes with state to get what changed"


def folder_uri(account: str, mailbox: str) -> str:
    return f"mail://{quote(account, safe='')}/{quote(mailbox, safe='')}"


def parse_folder_uri(uri: str) -> tuple[str, str] | None:
    """(account, mailbox) of a `mail://<account>/<mailbox>` URI (both percent-encoded; INBOX in any case), else
    None."""
    if not uri.startswith("mail://"):
        return None
    parts = uri[len("mail://") :].split("/")
    if len(parts) != 2 or not all(parts):
        return None
    mailbox = unquote(parts[1])
    return unquote(parts[0]), "INBOX" if mailbox.upper() == "INBOX" else mailbox


def _rpc_error(exc: MailError) -> MCPError:
    return MCPError(INVALID_PARAMS, f"{exc.code}: {exc.message}", exc.as_dict())


class Subscriptions:
    """The subscribers of one MCP server: legacy sessions by connection, and listen streams' folders."""

    def __init__(self, server: MCPServer[Any], watchers: Watchers) -> None:
        self.watchers = watchers
        self.bus = _compat.subscription_bus(server)
        self.legacy: dict[Connection, dict[str, ServerSession]] = {}
        # the URIs clients subscribed with, per folder: each spelling is notified
        self.spellings: dict[tuple[str, str], Counter[str]] = {}

    async def publish(self, account: str, mailbox: str) -> None:
        """Tell every subscriber of the folder that it changed."""
        uris = set(self.spellings.get((account, mailbox), ())) or {folder_uri(account, mailbox)}
        for uri in sorted(uris):
            await self.bus.publish(ResourceUpdated(uri=uri))
        for connection, subscribed in list(self.legacy.items()):
            for uri in uris & set(subscribed):
                sent = False
                with anyio.move_on_after(SEND_TIMEOUT):
                    try:
                        await subscribed[uri].send_resource_updated(uri)
                        sent = True
                    except Exception as exc:  # noqa: BLE001 - the session is gone: forget it
                        log.info("dropping a subscriber that cannot be reached (%s)", type(exc).__name__)
                if not sent:
                    self.drop_connection(connection)
                    break

    async def acquire(self, uri: str) -> bool:
        """Start watching the folder `uri` names; False for a URI that is not a folder's (nothing to watch)."""
        key = parse_folder_uri(uri)
        if key is None:
            if uri.startswith("mail:"):
                raise MCPError(
                    INVALID_PARAMS,
                    f"{uri!r} is not a folder's URI: that is mail://<account>/<mailbox>, the mailbox "
                    'percent-encoded ("/" as %2F, e.g. mail://work/Archive%2F2026)',
                    {"uri": uri},
                )
            return False
        try:
            await self.watchers.acquire(*key)
        except MailError as exc:
            raise _rpc_error(exc) from None
        self.spellings.setdefault(key, Counter())[uri] += 1
        return True

    def release(self, uri: str) -> None:
        key = parse_folder_uri(uri)
        if key is None:
            return
        spellings = self.spellings.get(key)
        if spellings is not None:
            spellings[uri] -= 1
            if spellings[uri] <= 0:
                del spellings[uri]
            if not spellings:
                del self.spellings[key]
        self.watchers.release(*key)

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams
    ) -> EmptyResult:
        uri = str(params.uri)
        connection = _compat.session_connection(ctx.session)
        subscribed = self.legacy.get(connection)
        if subscribed is not None and uri in subscribed:
            return EmptyResult()
        await self.acquire(uri)
        subscribed = self.legacy.get(connection)
        if subscribed is None:
            subscribed = self.legacy[connection] = {}
            connection.exit_stack.callback(self.drop_connection, connection)
        if uri in subscribed:  # the same subscribe twice at once: count it once
            self.release(uri)
        subscribed[uri] = ctx.session
        return EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams
    ) -> EmptyResult:
        uri = str(params.uri)
        subscribed = self.legacy.get(_compat.session_connection(ctx.session), {})
        if subscribed.pop(uri, None) is not None:
            self.release(uri)
        return EmptyResult()

    def drop_connection(self, connection: Connection) -> None:
        """Forget a client's legacy subscriptions (it went away, or cannot take notifications any more)."""
        for uri in self.legacy.pop(connection, {}):
            self.release(uri)


async def folder_state(service: MailService, account: str, mailbox: str) -> dict[str, Any]:
    """The folder resource's body: STATUS counts, the change-tracking state, and what to do with it."""
    service.account(account)
    mailbox = "INBOX" if mailbox.upper() == "INBOX" else mailbox
    counts = await service.pools.get(account).run(
        lambda conn: folder_status(conn, mailbox), action=f"reading the counts of {mailbox!r}"
    )
    state = await ChangeTracker(service).state(account, [mailbox])
    return {"account": account, "mailbox": mailbox, **counts, "state": state, "hint": HINT}


def register(server: MCPServer[Any], service: MailService) -> None:
    """The folder resource, legacy subscribe/unsubscribe handlers, and the watching `subscriptions/listen`."""
    subscriptions = Subscriptions(server, watchers_for(service))
    ref = weakref.ref(subscriptions)

    async def publish(account: str, mailbox: str) -> None:
        found = ref()
        if found is not None:
            await found.publish(account, mailbox)

    remove = subscriptions.watchers.add_listener(publish)
    weakref.finalize(subscriptions, remove)

    @server.resource(
        FOLDER_TEMPLATE,
        name="folder",
        title="Mail folder",
        description="A folder's counts (messages, unseen, uidnext, uidvalidity) and its change state. Subscribe "
        "to be told when it changes (new mail, flags, removals); then call list_changes with the state.",
        mime_type="application/json",
    )
    async def folder(account: str, mailbox: str) -> str:
        try:
            body = await folder_state(service, account, mailbox)
        except MailError as exc:
            kind = ResourceNotFoundError if exc.code in ("not_found", "invalid_input") else ResourceError
            raise kind(f"{exc.code}: {exc.message}") from exc
        return json.dumps(body, ensure_ascii=False)

    lowlevel = _compat.lowlevel_server(server)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscriptions.subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, subscriptions.unsubscribe)
    entry = lowlevel.get_request_handler("subscriptions/listen")
    if entry is None:
        return
    serve_listen = entry.handler

    async def listen(ctx: ServerRequestContext[Any, Any], params: SubscriptionsListenRequestParams) -> Any:
        """Watch the folders the stream subscribes to while it is open, then serve it as the SDK does."""
        watched: list[str] = []
        try:
            for uri in dict.fromkeys(params.notifications.resource_subscriptions or ()):
                if await subscriptions.acquire(uri):
                    watched.append(uri)
            return await serve_listen(ctx, params)
        finally:
            for uri in watched:
                subscriptions.release(uri)

    lowlevel.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, listen)
