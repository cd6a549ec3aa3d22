"""Cheap for the model: bench/tokens.py (exact cl100k counts, offline) against the issue's budgets, with every
tool enabled, over stdio; and the text blocks are written for reading, not JSON copies of structuredContent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TOKENS = Path(__file__).resolve().parents[1] / "bench" / "tokens.py"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("tokens") / "tokens.json"
    done = subprocess.run(
        [sys.executable, str(TOKENS), "--json", str(out), "--strict"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MAIL_MCP_LOG_LEVEL": "WARNING"},
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def item(report: dict[str, Any], prefix: str) -> dict[str, Any]:
    return next(i for i in report["items"] if i["name"].startswith(prefix))


def test_budgets(report: dict[str, Any]) -> None:
    assert item(report, "tools/list, host view")["tokens"] <= 4_000
    assert item(report, "tools/list, whole result")["tokens"] <= 8_000
    assert item(report, "list_messages, 20 sample summaries: text")["tokens"] <= 2_000
    assert item(report, "list_messages, 20 bulk summaries (160-char previews): text")["tokens"] <= 2_000


def test_text_blocks_are_not_json_copies(report: dict[str, Any]) -> None:
    for key in ("list_messages", "list_messages_bulk", "get_message_sample", "get_message_reply"):
        assert report[key]["rendering"].startswith("other text"), key
    page = report["raw"]["list_bulk"]["content"][0]["text"]
    assert len(page.splitlines()) <= 2 * 20 + 5  # a line per message, its preview, and a few of ours


def test_get_message_spends_its_tokens_on_the_body(report: dict[str, Any]) -> None:
    reply = report["get_message_reply"]
    assert reply["text_tokens"] - reply["body_tokens"] <= 160
    assert reply["body_tokens"] / reply["text_tokens"] >= 0.6
