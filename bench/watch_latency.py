"""Latency from delivery to notification: LMTP delivery into the sandbox INBOX until an MCP client subscribed to
mail://alice/INBOX receives the update, on both protocol generations (in-memory `mcp.Client`).

    .venv/bin/python bench/watch_latency.py                 # 20 deliveries per generation
    .venv/bin/python bench/watch_latency.py -n 50 --json watch.json

Each delivery is timed from just before the LMTP transaction starts to the moment the client sees the
notification (2025: `notifications/resources/updated` via resources/subscribe; 2026-07-28: a `ResourceUpdated`
event on a subscriptions/listen stream), with either kind of watcher (the account's NOTIFY connection, and one
IDLE connection selecting the folder). Deliveries are spaced so each gets its own notification. Dovecot
itself waits before telling a session of a change (about 0.5 s for a selected folder in IDLE, mostly 0.2 s
under NOTIFY), which dominates the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
import warnings
from typing import Any

import anyio
import anyio.to_thread
from mcp import Client
from mcp.types import ResourceUpdatedNotification

from mail_mcp.config.sources import load_settings
from mail_mcp.mailbox.service import MailService
from mail_mcp.mailbox.watch import WatchOptions, stop_watchers, watchers_for
from mail_mcp.sandbox import Sandbox
from mail_mcp.server.app import build_server

URI = "mail://alice/INBOX"
SPACING = 0.3  # seconds between a notification and the next delivery


def message() -> bytes:
    return (
        "From: bench@example.test\r\nTo: alice@example.test\r\nSubject: latency\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.test>\r\n\r\nping\r\n"
    ).encode()


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "min_ms": round(ordered[0] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def legacy_run(sb: Sandbox, service: MailService, count: int) -> list[float]:
    arrived = anyio.Event()
    box: dict[str, anyio.Event] = {"event": arrived}

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification) and str(message.params.uri) == URI:
            box["event"].set()

    samples = []
    async with Client(build_server(service), mode="legacy", message_handler=on_message) as client:
        await client.subscribe_resource(URI)
        for _ in range(count):
            box["event"] = anyio.Event()
            started = time.perf_counter()
            await anyio.to_thread.run_sync(sb.deliver, "alice@example.test", message())
            with anyio.fail_after(10):
                await box["event"].wait()
            samples.append(time.perf_counter() - started)
            await anyio.sleep(SPACING)
        await client.unsubscribe_resource(URI)
    return samples


async def listen_run(sb: Sandbox, service: MailService, count: int) -> list[float]:
    samples = []
    async with Client(build_server(service)) as client, client.listen(resource_subscriptions=[URI]) as sub:
        for _ in range(count):
            started = time.perf_counter()
            await anyio.to_thread.run_sync(sb.deliver, "alice@example.test", message())
            with anyio.fail_after(10):
                await sub.__anext__()
            samples.append(time.perf_counter() - started)
            await anyio.sleep(SPACING)
    return samples


async def main(count: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with Sandbox(users=("alice",)) as sb:
        for notify, kind in (
            (True, "NOTIFY, one connection per account"),
            (False, "IDLE, one connection per folder"),
        ):
            service = MailService(load_settings(env=sb.env("alice", account="alice")))
            watchers_for(service).options = WatchOptions(notify=notify)
            try:
                figures[f"resources/subscribe (2025), {kind}"] = summary(await legacy_run(sb, service, count))
                figures[f"subscriptions/listen (2026-07-28), {kind}"] = summary(
                    await listen_run(sb, service, count)
                )
            finally:
                await stop_watchers(service)
                await service.close()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--deliveries", type=int, default=20)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    figures = anyio.run(main, args.deliveries)
    for name, row in figures.items():
        print(
            f"{name:70} n={row['n']:<3} median {row['median_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  "
            f"(min {row['min_ms']:.1f}, max {row['max_ms']:.1f})"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(figures, out, indent=2)
    sys.exit(0)
