"""Watchers: new mail and other changes of a folder as they happen, for subscribed clients.

A watcher is a thread with an IMAP connection of its own (outside the pool) in IDLE. Where the server offers
NOTIFY with CONDSTORE, one watcher per account watches every WATCH folder on one connection (`AccountNotify`) and
reports the subscribed ones; elsewhere, and for a folder NOTIFY cannot watch (see imap/notify.py), a folder has a
watcher of its own that selects it (`FolderIdle`). A watcher calls the listeners on the event loop for each
change of a subscribed folder, at most one round of calls per `coalesce` seconds (a burst gives one at once and
one more at the end). IDLE is restarted every `idle_restart` seconds (RFC 2177 allows 29 minutes at most); a
dropped connection is re-opened after a pause that doubles up to `backoff_max`, and its folders are then reported
changed once, because what happened meanwhile is unknown. A folder is watched while it has subscribers
(`acquire` / `release`); only folders in the account's WATCH setting can be. The watchers are process-wide, one
set per `MailService` (`watchers_for`), and `stop_watchers` ends them at shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable

import anyio
import anyio.from_thread
import anyio.lowlevel

from mail_mcp.config.models import AccountConfig
from mail_mcp.errors import AuthFailed, InvalidInput, NotFound, Unsupported
from mail_mcp.imap.notify import notify_safe
from mail_mcp.mailbox.service import MailService
from mail_mcp.mailbox.watcher import Watcher, WatchOptions, canonical

__all__ = ["Listener", "WatchOptions", "Watchers", "stop_watchers", "watch_setting", "watchers_for"]

log = logging.getLogger(__name__)
Listener = Callable[[str, str], Awaitable[None]]  # (account id, mailbox): the folder changed
PERMANENT = (NotFound, Unsupported, AuthFailed)  # a first attempt failing so is reported to the subscriber


def watch_setting(account_id: str) -> str:
    return f"MAIL_IMAP_{account_id.upper()}_WATCH"


class Watchers:
    """The folder watchers of one MailService and the listeners they report to."""

    def __init__(self, service: MailService, options: WatchOptions | None = None) -> None:
        self.service = service
        self.options = options or WatchOptions()
        self._listeners: dict[object, Listener] = {}
        # one per folder, and one per account (mailbox None) watching with NOTIFY
        self._watchers: dict[tuple[str, str | None], Watcher] = {}
        self._served: dict[tuple[str, str], Watcher] = {}  # the watcher of each subscribed folder
        self._no_notify: set[str] = set()  # accounts whose server cannot NOTIFY
        self._locks: dict[tuple[str, str], anyio.Lock] = {}
        self._started: list[Watcher] = []  # released ones too, until their threads end

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(account_id, mailbox)` on the event loop for every change; returns the remover."""
        key = object()
        self._listeners[key] = listener
        return lambda: self._listeners.pop(key, None) and None

    async def publish(self, account_id: str, mailbox: str) -> None:
        for listener in list(self._listeners.values()):
            try:
                await listener(account_id, mailbox)
            except Exception:  # one listener failing must not keep the change from the others
                log.exception("a watch listener failed for %s/%s", account_id, mailbox)

    def check(self, account_id: str, mailbox: str) -> AccountConfig:
        """The account, when `mailbox` may be watched; else a typed error naming the setting."""
        account = self.service.account(account_id)
        if not account.may_watch(mailbox):
            allowed = ", ".join(account.watch) or "none"
            raise InvalidInput(
                f"folder {mailbox!r} of account {account.id} is not watched (watched: {allowed}); the owner can "
                f"add it to {watch_setting(account.id)} (comma-separated folder names). Without a "
                "subscription, call list_changes with the last state",
                account=account.id,
                folder=mailbox,
                setting=watch_setting(account.id),
            )
        return account

    async def acquire(self, account_id: str, mailbox: str) -> None:
        """One more subscriber for the folder: its watcher starts with the first and is listening when this
        returns (or after `ready_timeout`, still trying). Raises InvalidInput for a folder WATCH leaves out,
        NotFound / Unsupported / AuthFailed when the first attempt to watch it failed so. The account's NOTIFY
        watcher serves it where it can; else the folder gets a watcher of its own. One folder's subscriptions
        are decided one at a time, so all of its subscribers share one watcher."""
        account = self.check(account_id, mailbox)
        key = (account.id, mailbox)
        async with self._locks.setdefault(key, anyio.Lock()):
            watcher = self._served.get(key)
            if watcher is None:
                watcher = await self._choose(account, mailbox)
            else:
                watcher.subscribers[mailbox] = watcher.subscribers.get(mailbox, 0) + 1
            self._served[key] = watcher

    async def _choose(self, account: AccountConfig, mailbox: str) -> Watcher:
        """The watcher for a folder that has no subscriber yet, with this one counted on it."""
        if self._may_notify(account, mailbox):
            notifier = self._watcher(account, None)
            await self._wait(notifier, mailbox)
            error = notifier.first_error
            if notifier.connections:
                if canonical(mailbox) in (notifier.covered or ()):
                    return notifier
            elif not isinstance(error, PERMANENT):
                return notifier  # a slow or unreachable server: it watches the folder once it is connected
            self._leave(notifier, mailbox)
            if isinstance(error, Unsupported) and not notifier.connections:
                self._no_notify.add(account.id)
            elif error is not None and not notifier.connections:
                raise error  # AuthFailed: a watcher of the folder's own would only be refused again
        watcher = self._watcher(account, mailbox)
        await self._wait(watcher, mailbox)
        if isinstance(watcher.first_error, PERMANENT) and watcher.connections == 0:
            self._leave(watcher, mailbox)
            raise watcher.first_error
        return watcher

    def _may_notify(self, account: AccountConfig, mailbox: str) -> bool:
        return self.options.notify and account.id not in self._no_notify and notify_safe(mailbox)

    def _watcher(self, account: AccountConfig, mailbox: str | None) -> Watcher:
        """The running watcher of a folder (or the account's NOTIFY watcher, `mailbox` None), started if need be."""
        watcher = self._watchers.get((account.id, mailbox))
        if watcher is None:
            watcher = Watcher(self, account, mailbox, anyio.lowlevel.current_token())
            self._watchers[(account.id, mailbox)] = watcher
            self._started = [w for w in self._started if w.thread.is_alive()]
            self._started.append(watcher)
            watcher.thread.start()
        return watcher

    async def _wait(self, watcher: Watcher, mailbox: str) -> None:
        """Count the subscriber and wait for the watcher's first attempt (a cancelled wait never counted)."""
        watcher.subscribers[mailbox] = watcher.subscribers.get(mailbox, 0) + 1
        try:
            with anyio.move_on_after(self.options.ready_timeout):
                while not watcher.first_attempt.is_set():
                    await anyio.sleep(0.01)
        except BaseException:
            self._leave(watcher, mailbox)
            raise

    def _leave(self, watcher: Watcher, mailbox: str) -> None:
        """One subscriber of `mailbox` fewer on `watcher`, which stops (logging out) when it has none left."""
        count = watcher.subscribers.get(mailbox, 0) - 1
        if count > 0:
            watcher.subscribers[mailbox] = count
            return
        watcher.subscribers.pop(mailbox, None)
        if not watcher.subscribers:
            key = (watcher.account.id, watcher.mailbox)
            if self._watchers.get(key) is watcher:
                del self._watchers[key]
            watcher.stop()

    def release(self, account_id: str, mailbox: str) -> None:
        """One subscriber fewer; the folder's watcher stops (logging out) when it has none left."""
        watcher = self._served.get((account_id, mailbox))
        if watcher is None:
            return
        self._leave(watcher, mailbox)
        if not watcher.subscribers.get(mailbox):
            del self._served[(account_id, mailbox)]

    def watching(self) -> dict[tuple[str, str], int]:
        """The watched folders and their subscriber counts."""
        return {key: watcher.subscribers.get(key[1], 0) for key, watcher in self._served.items()}

    def connections(self, account_id: str, mailbox: str) -> int:
        """IDLE sessions the folder's current watcher started (0 when not watched)."""
        watcher = self._served.get((account_id, mailbox))
        return watcher.connections if watcher is not None else 0

    def threads(self) -> list[threading.Thread]:
        """The watcher threads still running (released ones end within a second)."""
        return [w.thread for w in self._started if w.thread.is_alive()]

    async def close(self, budget: float = 0.5) -> None:
        """Stop every watcher now (sockets shut down) and wait up to `budget` seconds for the threads."""
        self._watchers, self._served = {}, {}
        for watcher in self._started:
            watcher.stop(now=True)
        threads = self.threads()
        deadline = time.monotonic() + budget
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            await anyio.sleep(0.02)


_REGISTRY: weakref.WeakKeyDictionary[MailService, Watchers] = weakref.WeakKeyDictionary()


def watchers_for(service: MailService) -> Watchers:
    """The process-wide watchers of `service` (made on first use)."""
    found = _REGISTRY.get(service)
    if found is None:
        found = _REGISTRY[service] = Watchers(service)
    return found


async def stop_watchers(service: MailService) -> None:
    """Stop all watchers of `service` (at shutdown, before the pools close)."""
    found = _REGISTRY.get(service)
    if found is not None:
        await found.close()
