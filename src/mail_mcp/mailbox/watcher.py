"""One watcher: a thread with an IMAP connection of its own (outside the pool) in IDLE, on one folder
(`FolderIdle`) or, with NOTIFY, on every WATCH folder of its account (`AccountNotify`). It reconnects with backoff
and calls its owner's `publish` on the event loop for the subscribed folders that changed; see mailbox/watch.py.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import anyio
import anyio.from_thread
import anyio.lowlevel

from mail_mcp.config.models import AccountConfig
from mail_mcp.errors import MailError, Unsupported
from mail_mcp.imap.idle import FolderIdle, IdleSession
from mail_mcp.imap.notify import AccountNotify

log = logging.getLogger(__name__)
POLL = 1.0  # seconds: how often a watcher looks whether it was asked to stop


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
    notify: bool = True  # one connection per account with NOTIFY where offered (False: one per folder always)


class Owner(Protocol):
    options: WatchOptions

    async def publish(self, account_id: str, mailbox: str) -> None: ...


def canonical(mailbox: str) -> str:
    return "INBOX" if mailbox.upper() == "INBOX" else mailbox


class Watcher:
    """The thread that watches folders of one account: `mailbox` alone with IDLE, or (`mailbox` None) with NOTIFY
    every WATCH folder it can, of which it reports the subscribed ones."""

    def __init__(
        self,
        owner: Owner,
        account: AccountConfig,
        mailbox: str | None,
        token: anyio.lowlevel.EventLoopToken,
    ) -> None:
        self.owner = owner
        self.account = account
        self.mailbox = mailbox
        self.token = token
        self.subscribers: dict[str, int] = {}
        self.connections = 0  # IDLE sessions started (test aid: a reconnection makes it 2)
        self.covered: frozenset[str] | None = None  # the folders its connection watches, once connected
        self.first_attempt = threading.Event()
        self.first_error: MailError | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._idle: IdleSession | None = None
        self.label = f"{account.id}/{mailbox}" if mailbox is not None else f"{account.id} (NOTIFY)"
        self.thread = threading.Thread(target=self._run, name=f"mail-mcp watch {self.label}", daemon=True)

    def stop(self, *, now: bool = False) -> None:
        """Ask the thread to end: within `POLL` seconds with a polite LOGOUT, or `now` by shutting its socket."""
        self._stop.set()
        if now:
            with self._lock:
                idle = self._idle
            if idle is not None:
                idle.abort()

    def _open(self) -> IdleSession:
        if self.mailbox is not None:
            return FolderIdle(self.account, self.mailbox)
        return AccountNotify(self.account, self.account.watch)

    def _run(self) -> None:
        options = self.owner.options
        delay = options.backoff_first
        again = False  # after a first attempt, what happened until the next connection is unknown
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                idle = self._open()
            except MailError as exc:
                if not self.first_attempt.is_set():
                    self.first_error = exc
                    self.first_attempt.set()
                    if isinstance(exc, Unsupported) and self.mailbox is None:
                        break  # no NOTIFY: the folders get watchers of their own
                log.warning("watching %s: %s; trying again in %.1f s", self.label, exc, delay)
            except Exception:  # a bug must not end the watching silently: log it, try again later
                log.exception("watching %s failed", self.label)
            else:
                self._watch(idle, again)
                if time.monotonic() - began >= options.stable_after:
                    delay = options.backoff_first
            again = True
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, options.backoff_max)
        self.first_attempt.set()

    def _watch(self, idle: IdleSession, again: bool) -> None:
        with self._lock:
            self._idle = idle
        try:
            if self._stop.is_set():
                return
            idle.start()
            self.covered = idle.folders
            self.connections += 1
            self.first_attempt.set()
            if again:
                self._publish(set(idle.folders))
            self._idle_loop(idle)
        except MailError as exc:
            if not self._stop.is_set():
                log.info("watching %s: %s; reconnecting", self.label, exc)
        except Exception:
            if not self._stop.is_set():
                log.exception("watching %s failed; reconnecting", self.label)
        finally:
            with self._lock:
                self._idle = None
            idle.close()

    def _idle_loop(self, idle: IdleSession) -> None:
        options = self.owner.options
        restart_at = time.monotonic() + options.idle_restart
        last_sent = float("-inf")
        pending: set[str] = set()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= restart_at:
                pending |= idle.restart()
                restart_at = now + options.idle_restart
            if pending and now - last_sent >= options.coalesce:
                self._publish(pending)
                last_sent, pending = time.monotonic(), set()
                continue
            deadline = min(restart_at, last_sent + options.coalesce) if pending else restart_at
            pending |= idle.check(min(POLL, max(deadline - now, 0.0)))

    def _publish(self, folders: set[str]) -> None:
        # NOTIFY watches every WATCH folder it can: only the subscribed ones are reported, by the name subscribed
        subscribed = [
            name for name in list(self.subscribers) if canonical(name) in folders or name in folders
        ]
        for mailbox in subscribed:
            if self._stop.is_set():
                return
            try:
                anyio.from_thread.run(self.owner.publish, self.account.id, mailbox, token=self.token)
            except RuntimeError:  # the event loop is gone: nobody left to tell
                self._stop.set()
