"""Watchers: new mail and other changes of a folder as they happen, for subscribed clients.

One thread per watched folder runs a `FolderIdle` (its own IMAP connection, outside the pool) and calls the
listeners on the event loop for each change, at most one call per folder per `coalesce` seconds (a burst gives
one call at once and one more at the end). IDLE is restarted every `idle_restart` seconds (RFC 2177 allows 29
minutes at most); a dropped connection is re-opened after a pause that doubles up to `backoff_max`, and the
folder is then reported changed once, because what happened meanwhile is unknown. A folder is watched while it
has subscribers (`acquire` / `release`); only folders in the account's WATCH setting can be. The watchers are
process-wide, one set per `MailService` (`watchers_for`), and `stop_watchers` ends them at shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import anyio.from_thread
import anyio.lowlevel

from mail_mcp.config.models import AccountConfig
from mail_mcp.errors import AuthFailed, InvalidInput, MailError, NotFound, Unsupported
from mail_mcp.imap.idle import FolderIdle
from mail_mcp.mailbox.service import MailService

log = logging.getLogger(__name__)
Listener = Callable[[str, str], Awaitable[None]]  # (account id, mailbox): the folder changed
POLL = 1.0  # seconds: how often a watcher looks whether it was asked to stop
PERMANENT = (NotFound, Unsupported, AuthFailed)  # a first attempt failing so is reported to the subscriber


@dataclass
class WatchOptions:
    # seconds between IDLE restarts: servers drop an IDLE after 30 min or less, and NATs forget a connection
    # that said nothing for 5 min or so (AWS: 350 s); the restart is the client's keep-alive
    idle_restart: float = 240.0
    backoff_first: float = 1.0  # seconds before the first reconnection attempt
    backoff_max: float = 120.0  # the pause between attempts doubles up to this
    stable_after: float = 60.0  # a connection that lived this long resets the pause to backoff_first
    coalesce: float = 0.1  # seconds: at most one notification per folder in this window
    ready_timeout: float = 10.0  # seconds a subscription waits for the watcher's IDLE to start


def watch_setting(account_id: str) -> str:
    return f"MAIL_IMAP_{account_id.upper()}_WATCH"


class _Watcher:
    """The thread that watches one folder."""

    def __init__(
        self, owner: Watchers, account: AccountConfig, mailbox: str, token: anyio.lowlevel.EventLoopToken
    ) -> None:
        self.owner = owner
        self.account = account
        self.mailbox = mailbox
        self.token = token
        self.subscribers = 0
        self.connections = 0  # IDLE sessions started (test aid: a reconnection makes it 2)
        self.first_attempt = threading.Event()
        self.first_error: MailError | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._idle: FolderIdle | None = None
        self.thread = threading.Thread(
            target=self._run, name=f"mail-mcp watch {account.id}/{mailbox}", daemon=True
        )

    def stop(self, *, now: bool = False) -> None:
        """Ask the thread to end: within `POLL` seconds with a polite LOGOUT, or `now` by shutting its socket."""
        self._stop.set()
        if now:
            with self._lock:
                idle = self._idle
            if idle is not None:
                idle.abort()

    def _run(self) -> None:
        options = self.owner.options
        delay = options.backoff_first
        again = False  # after a first attempt, what happened until the next connection is unknown
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                idle = FolderIdle(self.account, self.mailbox)
            except MailError as exc:
                if not self.first_attempt.is_set():
                    self.first_error = exc
                    self.first_attempt.set()
                log.warning(
                    "watching %s/%s: %s; trying again in %.1f s", self.account.id, self.mailbox, exc, delay
                )
            except Exception:  # a bug must not end the watching silently: log it, try again later
                log.exception("watching %s/%s failed", self.account.id, self.mailbox)
            else:
                self._watch(idle, again)
                if time.monotonic() - began >= options.stable_after:
                    delay = options.backoff_first
            again = True
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, options.backoff_max)
        self.first_attempt.set()

    def _watch(self, idle: FolderIdle, again: bool) -> None:
        with self._lock:
            self._idle = idle
        try:
            if self._stop.is_set():
                return
            idle.start()
            self.connections += 1
            self.first_attempt.set()
            if again:
                self._publish()
            self._idle_loop(idle)
        except MailError as exc:
            if not self._stop.is_set():
                log.info("watching %s/%s: %s; reconnecting", self.account.id, self.mailbox, exc)
        except Exception:
            if not self._stop.is_set():
                log.exception("watching %s/%s failed; reconnecting", self.account.id, self.mailbox)
        finally:
            with self._lock:
                self._idle = None
            idle.close()

    def _idle_loop(self, idle: FolderIdle) -> None:
        options = self.owner.options
        restart_at = time.monotonic() + options.idle_restart
        last_sent = float("-inf")
        pending = False
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= restart_at:
                pending = idle.restart() or pending
                restart_at = now + options.idle_restart
            if pending and now - last_sent >= options.coalesce:
                self._publish()
                last_sent, pending = time.monotonic(), False
                continue
            deadline = min(restart_at, last_sent + options.coalesce) if pending else restart_at
            pending = idle.check(min(POLL, max(deadline - now, 0.0))) or pending

    def _publish(self) -> None:
        if self._stop.is_set():
            return
        try:
            anyio.from_thread.run(self.owner.publish, self.account.id, self.mailbox, token=self.token)
        except RuntimeError:  # the event loop is gone: nobody left to tell
            self._stop.set()


class Watchers:
    """The folder watchers of one MailService and the listeners they report to."""

    def __init__(self, service: MailService, options: WatchOptions | None = None) -> None:
        self.service = service
        self.options = options or WatchOptions()
        self._listeners: dict[object, Listener] = {}
        self._watchers: dict[tuple[str, str], _Watcher] = {}
        self._started: list[_Watcher] = []  # released ones too, until their threads end

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
        NotFound / Unsupported / AuthFailed when the first attempt to watch it failed so."""
        account = self.check(account_id, mailbox)
        key = (account.id, mailbox)
        watcher = self._watchers.get(key)
        if watcher is None:
            watcher = _Watcher(self, account, mailbox, anyio.lowlevel.current_token())
            self._watchers[key] = watcher
            self._started = [w for w in self._started if w.thread.is_alive()]
            self._started.append(watcher)
            watcher.thread.start()
        watcher.subscribers += 1
        try:
            with anyio.move_on_after(self.options.ready_timeout):
                while not watcher.first_attempt.is_set():
                    await anyio.sleep(0.01)
        except BaseException:  # the subscribe was cancelled while waiting: it never counted
            self.release(account.id, mailbox)
            raise
        if isinstance(watcher.first_error, PERMANENT) and watcher.connections == 0:
            self.release(account.id, mailbox)
            raise watcher.first_error

    def release(self, account_id: str, mailbox: str) -> None:
        """One subscriber fewer; the watcher stops (logging out) when it was the last."""
        watcher = self._watchers.get((account_id, mailbox))
        if watcher is None:
            return
        watcher.subscribers -= 1
        if watcher.subscribers <= 0:
            del self._watchers[(account_id, mailbox)]
            watcher.stop()

    def watching(self) -> dict[tuple[str, str], int]:
        """The watched folders and their subscriber counts."""
        return {key: watcher.subscribers for key, watcher in self._watchers.items()}

    def connections(self, account_id: str, mailbox: str) -> int:
        """IDLE sessions the folder's current watcher started (0 when not watched)."""
        watcher = self._watchers.get((account_id, mailbox))
        return watcher.connections if watcher is not None else 0

    def threads(self) -> list[threading.Thread]:
        """The watcher threads still running (released ones end within `POLL` seconds)."""
        return [w.thread for w in self._started if w.thread.is_alive()]

    async def close(self, budget: float = 0.5) -> None:
        """Stop every watcher now (sockets shut down) and wait up to `budget` seconds for the threads."""
        self._watchers = {}
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
