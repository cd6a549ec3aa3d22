"""Exact cl100k_base token counts of what mail-mcp hands a model, offline, against the sample mailbox.

    .venv/bin/python bench/tokens.py                    # the installed (working-tree) server
    .venv/bin/python bench/tokens.py --rev HEAD         # the server as committed at a git revision
    .venv/bin/python bench/tokens.py --json tokens.json --strict   # exit 1 when a budget is missed

Needs (bench/test extra): tiktoken>=0.8 (the tokenizer) and bpe-openai>=0.1.4, whose wheel ships
bpe_openai/data/cl100k_base.tiktoken.gz. Only that data file is read (bpe_openai itself is imported only by
--cross-check); it is checked against tiktoken's own SHA-256 for cl100k_base, so no vocabulary is ever
downloaded.

Starts the sandbox Dovecot seeded like `mail-mcp sandbox` (plus one 3 KB reply appended to INBOX late, for
a realistic get_message), runs `python -m mail_mcp` as a subprocess over stdio with every tool enabled
(writes, and sending to an SMTP server that is never contacted) and counts:

- tools/list as hosts hand it to the model: per tool the compact JSON of name, title, description,
  inputSchema and annotations (a), and the whole result with outputSchema as sent on the wire (b);
- the text content block(s) the model reads and, separately, structuredContent (compact JSON) for a
  20-message list_messages page of the sample INBOX and one of 20 generated 1-3 KB messages (seeded into
  "Bulk" after list_folders ran), two get_message calls, list_folders, list_accounts and one modify_flags;
- per tool and per result field, the marginal tokens (the rendering with a field vs without it).
--json FILE also keeps what the server returned, under "raw", to compare before/after.

Counts move by a token or two between runs (UIDVALIDITY, dates, duration_ms, the cursor).
"""

from __future__ import annotations

import argparse
import base64
import copy
import gzip
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any
from unittest import mock

import anyio
import tiktoken
from mcp import Client, StdioServerParameters

from mail_mcp.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]
ENCODING = "cl100k_base"
VOCAB_FILE = "data/cl100k_base.tiktoken.gz"  # inside the bpe_openai package
BUDGETS = {"tools_host": 4_000, "tools_wire": 8_000, "list_text": 2_000}
PAGE = 20
SAMPLE_SUBJECT = "Re: Offsite agenda"  # the newest of the sample thread: Cc, In-Reply-To, References
REPLY_SUBJECT = "Re: Vendor shortlist for the Q3 rollout"
BULK_FOLDER = "Bulk"  # 20 generated 1-3 KB plain messages: full 160-character previews, varied senders
HOST_FIELDS = ("name", "title", "description", "inputSchema", "annotations")


# ---------------------------------------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class Tokenizer:
    encoding: tiktoken.Encoding
    source: str
    sha256: str

    def count(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))


def load_tokenizer() -> Tokenizer:
    """tiktoken's own cl100k_base definition (pattern, special tokens, expected hash), with the BPE ranks
    read from the file the bpe-openai wheel ships instead of downloaded."""
    spec = importlib.util.find_spec("bpe_openai")  # locates the package without loading its extension
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "bench/tokens.py needs the bpe-openai wheel (it ships cl100k_base.tiktoken.gz): "
            ".venv/bin/pip install 'bpe-openai>=0.1.4' 'tiktoken>=0.8'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / VOCAB_FILE
    raw = gzip.decompress(path.read_bytes())
    digest = hashlib.sha256(raw).hexdigest()

    def offline_ranks(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        if not blobpath.endswith("/cl100k_base.tiktoken"):
            raise RuntimeError(f"only cl100k_base is available offline, not {blobpath}")
        if digest != expected_hash:
            raise RuntimeError(f"{path}: SHA-256 {digest} is not tiktoken's {expected_hash} for cl100k_base")
        ranks: dict[bytes, int] = {}
        for line in raw.splitlines():
            if line:
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
        return ranks

    import tiktoken_ext.openai_public as public  # type: ignore[import-untyped]

    with mock.patch.object(public, "load_tiktoken_bpe", offline_ranks):
        definition: dict[str, Any] = public.cl100k_base()
    encoding = tiktoken.Encoding(**definition)
    if encoding.encode_ordinary("hello world") != [15339, 1917]:
        raise RuntimeError("cl100k_base self-check failed")
    source = f"tiktoken {version('tiktoken')} + {path} (bpe-openai {version('bpe-openai')})"
    return Tokenizer(encoding, source, digest)


# ---------------------------------------------------------------------------------------------- rendering


def compact(value: Any) -> str:
    """Compact JSON, UTF-8 kept (what the SDK puts on the wire, minus the JSON-RPC envelope)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


RENDERINGS: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("JSON, indent=2", lambda v: json.dumps(v, indent=2, ensure_ascii=False)),
    ("compact JSON", compact),
    ("JSON, default separators", lambda v: json.dumps(v, ensure_ascii=False)),
)


def text_of(result: dict[str, Any]) -> str:
    return "\n".join(block["text"] for block in result.get("content", []) if block.get("type") == "text")


def rendering_of(text: str, structured: Any) -> tuple[str, Callable[[Any], str]]:
    """How the text block renders structuredContent; compact JSON when it is some other text."""
    for label, render in RENDERINGS:
        if structured is not None and render(structured) == text:
            return label, render
    return "other text (field costs measured on compact JSON)", compact


def _records(payload: Any, path: str) -> list[dict[str, Any]]:
    """Dicts at a dotted path ("" is the payload); `[]` after a part walks a list: "data.messages[]"."""
    nodes: list[Any] = [payload]
    for part in path.split(".") if path else []:
        key, many = part.removesuffix("[]"), part.endswith("[]")
        nodes = [n.get(key) for n in nodes if isinstance(n, dict)]
        if many:
            nodes = [item for n in nodes if isinstance(n, list) for item in n]
    return [n for n in nodes if isinstance(n, dict)]


def field_costs(
    tok: Tokenizer,
    payload: Any,
    render: Callable[[Any], str],
    path: str,
) -> list[dict[str, Any]]:
    """Marginal tokens of each key of the dicts at `path`: the rendering with the key vs without it."""
    full = tok.count(render(payload))
    keys: dict[str, None] = {}
    for record in _records(payload, path):
        keys.update(dict.fromkeys(record))
    rows = []
    for key in keys:
        stripped = copy.deepcopy(payload)
        for record in _records(stripped, path):
            record.pop(key, None)
        cost = full - tok.count(render(stripped))
        rows.append({"field": key, "tokens": cost, "share": round(cost / full, 3) if full else 0.0})
    return sorted(rows, key=lambda row: -int(row["tokens"]))


def _drop_defaults(value: Any) -> Any:
    """The same data without null, false, empty-list and empty-dict members."""
    if isinstance(value, dict):
        return {k: _drop_defaults(v) for k, v in value.items() if v not in (None, False, [], {})}
    if isinstance(value, list):
        return [_drop_defaults(v) for v in value]
    return value


def _descriptions(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                yield where, value
            else:
                yield from _descriptions(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _descriptions(value, f"{where}[{index}]")


# ---------------------------------------------------------------------------------------------- the report


@dataclass
class Item:
    name: str
    tokens: int
    budget: int | None = None
    chars: int | None = None
    note: str = ""

    @property
    def within(self) -> bool | None:
        return None if self.budget is None else self.tokens <= self.budget


def tools_report(
    tok: Tokenizer,
    listing: dict[str, Any],
) -> tuple[list[Item], list[dict[str, Any]], list[dict[str, Any]]]:
    tools: list[dict[str, Any]] = listing["tools"]
    host = [{k: tool[k] for k in HOST_FIELDS if k in tool} for tool in tools]
    host_text, wire_text = compact(host), compact(listing)
    rows = []
    for tool, view in zip(tools, host, strict=True):
        rows.append(
            {
                "tool": tool["name"],
                "host_view": tok.count(compact(view)),
                "description": tok.count(tool.get("description") or ""),
                "input_schema": tok.count(compact(tool.get("inputSchema", {}))),
                "output_schema": tok.count(compact(tool["outputSchema"])) if "outputSchema" in tool else 0,
                "annotations": tok.count(compact(tool.get("annotations", {}))),
                "wire": tok.count(compact(tool)),
            }
        )
    rows.sort(key=lambda row: -int(row["wire"]))
    wire = tok.count(wire_text)
    output = sum(int(row["output_schema"]) for row in rows)
    schema_texts = [
        (f"{tool['name']}.{part}{where}", text)
        for tool in tools
        for part in ("inputSchema", "outputSchema")
        for where, text in _descriptions(tool.get(part, {}), "")
    ]
    top_texts = sorted(((tok.count(text), where) for where, text in schema_texts), reverse=True)[:12]
    items = [
        Item(
            f"tools/list, host view ({len(tools)} tools: name+title+description+inputSchema+annotations)",
            tok.count(host_text),
            BUDGETS["tools_host"],
            len(host_text),
        ),
        Item("tools/list, whole result incl. outputSchema", wire, BUDGETS["tools_wire"], len(wire_text)),
        Item("  of which outputSchema", output, note=f"{output / wire:.0%} of the whole result"),
        Item("  of which descriptions (tool level)", sum(int(r["description"]) for r in rows)),
        Item(
            "  of which property descriptions in schemas",
            sum(tok.count(t) for _, t in schema_texts),
            note=f"{len(schema_texts)} strings",
        ),
    ]
    return items, rows, [{"tokens": n, "where": where} for n, where in top_texts]


def result_items(tok: Tokenizer, label: str, result: dict[str, Any], budget: int | None = None) -> list[Item]:
    text = text_of(result)
    blocks, rendering = len(result.get("content", [])), rendering_of(text, result.get("structuredContent"))[0]
    items = [
        Item(f"{label}: text content", tok.count(text), budget, len(text), f"{blocks} block(s); {rendering}")
    ]
    if result.get("structuredContent") is not None:
        structured = compact(result["structuredContent"])
        items.append(
            Item(f"{label}: structuredContent (compact JSON)", tok.count(structured), None, len(structured))
        )
    if result.get("isError"):
        items[0].note += "; isError"
    return items


def message_report(tok: Tokenizer, label: str, result: dict[str, Any]) -> tuple[list[Item], dict[str, Any]]:
    """get_message: the text block, and how much of it is the body text."""
    items = result_items(tok, label, result)
    text, structured = text_of(result), result.get("structuredContent") or {}
    bodies = [str(record.get("text") or "") for record in _records(structured, "data.body")]
    body = bodies[0] if bodies else ""
    escaped = json.dumps(body, ensure_ascii=False)[1:-1]  # as it appears inside a JSON text block
    shown = next((form for form in (escaped, body) if body and form in text), "")
    body_tokens = tok.count(shown)
    total = items[0].tokens
    share = f"{body_tokens / total:.0%} of the text block; the rest {total - body_tokens:,}" if total else ""
    items.append(Item(f"  {label}: body text", body_tokens, note=share))
    label_, render = rendering_of(text, result.get("structuredContent"))
    detail = {
        "body_chars": len(body),
        "body_tokens": body_tokens,
        "text_tokens": total,
        "rendering": label_,
        "fields": field_costs(tok, structured, render, "data"),
        "body_fields": field_costs(tok, structured, render, "data.body"),
        "top_level": field_costs(tok, structured, render, ""),
    }
    return items, detail


def list_report(tok: Tokenizer, label: str, result: dict[str, Any]) -> tuple[list[Item], dict[str, Any]]:
    items = result_items(tok, label, result, BUDGETS["list_text"])
    text, structured = text_of(result), result.get("structuredContent") or {}
    rendering, render = rendering_of(text, structured)
    count = len(_records(structured, "data.messages[]"))
    as_compact = tok.count(compact(structured))
    lean = tok.count(compact(_drop_defaults(structured)))
    detail = {
        "label": label,
        "messages": count,
        "rendering": rendering,
        "text_tokens": items[0].tokens,
        "per_message": round(items[0].tokens / count, 1) if count else None,
        "what_if": {"as compact JSON": as_compact, "as compact JSON without null/false/[]/{} members": lean},
        "summary_fields": field_costs(tok, structured, render, "data.messages[]"),
        "top_level": field_costs(tok, structured, render, ""),
        "data_fields": [
            row for row in field_costs(tok, structured, render, "data") if row["field"] != "messages"
        ],
    }
    return items, detail


# ---------------------------------------------------------------------------------------------- the server


def medium_reply(address: str) -> bytes:
    """A typical medium business reply: greeting, three paragraphs, a list, a signature, the quoted original,
    as text/plain + text/html (3 KB raw, 1 KB of plain text)."""
    answer = (
        "Hi Alice,\n\n"
        "thanks for pulling the shortlist together so quickly. I went through all three proposals last night "
        "and agree that Northwind and Fabrikam are the two we should invite for a second round. Contoso's "
        "price is attractive, but their support hours do not cover our Asia team at all.\n\n"
        "Before we meet them, could you ask both for:\n"
        "- a reference customer of our size in the EU,\n"
        "- their migration plan for the 4,000 existing mailboxes,\n"
        "- the exit terms if we leave after the first year.\n\n"
        "I can do Tuesday or Thursday afternoon for the calls. Bob said he wants to join the technical part, "
        "so maybe we schedule 90 minutes and let him drop off after the first hour.\n\n"
        "Best,\nCarol\n\n--\nCarol Jones | Head of IT Operations | Example Corp\n+49 30 1234 5678\n"
    )
    original = (
        "On Mon, 30 Nov 2026 at 17:02, Alice Example <alice@example.test> wrote:\n"
        "> Hi Carol,\n>\n> attached is the vendor shortlist for the Q3 rollout. Northwind and Fabrikam\n"
        "> meet all must-haves; Contoso is cheapest but misses the 24/7 support requirement.\n"
        "> Could you have a look before Friday?\n>\n> Thanks,\n> Alice\n"
    )
    msg = EmailMessage()
    msg["From"] = Address("Carol Jones", addr_spec="carol@example.test")
    msg["To"] = Address("Alice Example", addr_spec=address)
    msg["Cc"] = Address("Bob Builder", addr_spec="bob@example.test")
    msg["Subject"] = REPLY_SUBJECT
    msg["Date"] = format_datetime(datetime.now(UTC).replace(microsecond=0))
    msg["Message-ID"] = "<tokens-reply@example.test>"
    msg["In-Reply-To"] = "<tokens-shortlist@example.test>"
    msg["References"] = "<tokens-shortlist@example.test>"
    msg.set_content(answer + "\n" + original)
    paragraphs = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in answer.split("\n\n"))
    quote = "<blockquote>" + original.replace("> ", "").replace("\n", "<br>") + "</blockquote>"
    msg.add_alternative(f"<html><body>{paragraphs}{quote}</body></html>", subtype="html")
    return msg.as_bytes()


def server_params(sandbox: Sandbox, source: Path | None) -> StdioServerParameters:
    env = {
        **sandbox.env(),
        "PATH": os.environ["PATH"],
        "MAIL_MCP_LOG_LEVEL": "WARNING",
        "MAIL_IMAP_WRITE_ENABLED": "true",
        "MAIL_SMTP_SEND_ENABLED": "true",
        "MAIL_SMTP_DEFAULT_HOST": "127.0.0.1",
        "MAIL_SMTP_DEFAULT_PORT": "2525",  # never contacted here
        "MAIL_SMTP_DEFAULT_SECURITY": "plain",
        "MAIL_SMTP_DEFAULT_FROM": "alice@example.test",
    }
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return StdioServerParameters(
        command=sys.executable, args=["-m", "mail_mcp"], env=env, cwd=str(source or tempfile.gettempdir())
    )


def _dump(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def _summaries(result: dict[str, Any]) -> list[dict[str, Any]]:
    return _records(result.get("structuredContent") or {}, "data.messages[]")


def _id_of(summary: dict[str, Any]) -> str:
    return str(summary.get("message_id") or summary.get("id"))


async def collect(sandbox: Sandbox, source: Path | None) -> dict[str, Any]:
    """Everything the report counts, as JSON-ready dicts (result fields by their wire names)."""
    calls: dict[str, Any] = {}
    async with Client(server_params(sandbox, source)) as client:
        calls["instructions"] = client.instructions or ""
        calls["tools"] = _dump(await client.list_tools())

        async def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
            result = _dump(await client.call_tool(name, arguments))
            if result.get("isError"):
                raise RuntimeError(f"{name} failed: {text_of(result)[:500]}")
            return result

        calls["list_accounts"] = await call("list_accounts", {})
        calls["list_folders"] = await call("list_folders", {})
        calls["list_messages"] = await call("list_messages", {"limit": PAGE})
        sandbox.seed_bulk("alice", BULK_FOLDER, PAGE, size_hint=2048)  # after list_folders: 9 folders there
        calls["list_bulk"] = await call("list_messages", {"mailbox": BULK_FOLDER, "limit": PAGE})
        sample = next(m for m in _summaries(calls["list_messages"]) if SAMPLE_SUBJECT in m.values())
        calls["get_sample"] = await call("get_message", {"message_id": _id_of(sample)})
        sandbox.append("alice", "INBOX", medium_reply(sandbox.users["alice"].address))
        newest = _summaries(await call("list_messages", {"limit": 1}))[0]
        if REPLY_SUBJECT not in newest.values():
            raise RuntimeError(f"the appended reply is not the newest message: {newest}")
        calls["get_reply"] = await call("get_message", {"message_id": _id_of(newest)})
        calls["get_thread"] = await call("get_thread", {"message_id": _id_of(sample)})
        state = calls["list_messages"]["structuredContent"]["meta"]["state"]
        calls["list_changes"] = await call("list_changes", {"state": state})
        calls["modify_flags"] = await call(
            "modify_flags", {"message_ids": [_id_of(sample)], "add_flags": ["read"]}
        )
    return calls


def export_revision(rev: str, into: Path) -> Path:
    """`git archive REV src` unpacked into `into`; returns the directory to put on PYTHONPATH."""
    tar = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev, "src"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into / "src"


# ---------------------------------------------------------------------------------------------- entry points


def measure(rev: str | None = None, cross_check: bool = False, keep_raw: bool = False) -> dict[str, Any]:
    """Start a sample sandbox and the server (installed, or `rev` of this repo) and count everything;
    `keep_raw` adds what the server returned under "raw"."""
    tok = load_tokenizer()
    with ExitStack() as stack:
        source = None
        if rev:
            source = export_revision(rev, Path(stack.enter_context(tempfile.TemporaryDirectory())))
        sandbox = stack.enter_context(Sandbox())
        sandbox.seed_sample("alice")
        calls = anyio.run(collect, sandbox, source)
    tools_items, per_tool, top_texts = tools_report(tok, calls["tools"])
    list_items, list_detail = list_report(
        tok, f"list_messages, {PAGE} sample summaries", calls["list_messages"]
    )
    bulk_items, bulk_detail = list_report(
        tok, f"list_messages, {PAGE} bulk summaries (160-char previews)", calls["list_bulk"]
    )
    sample_items, sample_detail = message_report(
        tok, f"get_message (sample '{SAMPLE_SUBJECT}')", calls["get_sample"]
    )
    reply_size = len(medium_reply("alice@example.test")) / 1024
    folders = len(_records(calls["list_folders"].get("structuredContent"), "data.folders[]"))
    reply_items, reply_detail = message_report(
        tok, f"get_message ({reply_size:.0f} KB reply, text+HTML)", calls["get_reply"]
    )
    items = [
        *tools_items,
        *list_items,
        *bulk_items,
        *sample_items,
        *reply_items,
        *result_items(tok, f"list_folders ({folders} folders)", calls["list_folders"]),
        *result_items(tok, "list_accounts", calls["list_accounts"]),
        *result_items(tok, "modify_flags (1 message)", calls["modify_flags"]),
        *result_items(tok, f"get_thread (sample '{SAMPLE_SUBJECT}')", calls["get_thread"]),
        *result_items(tok, "list_changes (one new message, the 3 KB reply)", calls["list_changes"]),
        Item(
            "server instructions (initialize)",
            tok.count(calls["instructions"]),
            None,
            len(calls["instructions"]),
        ),
    ]
    report: dict[str, Any] = {
        "encoding": ENCODING,
        "tokenizer": tok.source,
        "vocab_sha256": tok.sha256,
        "server": f"git {rev}" if rev else "installed package",
        "items": [{**asdict(item), "within_budget": item.within} for item in items],
        "tools": per_tool,
        "top_schema_descriptions": top_texts,
        "list_messages": list_detail,
        "list_messages_bulk": bulk_detail,
        "get_message_sample": sample_detail,
        "get_message_reply": reply_detail,
    }
    if cross_check:
        report["cross_check"] = cross_check_bpe_openai(tok, calls)
    if keep_raw:
        report["raw"] = calls
    return report


def cross_check_bpe_openai(tok: Tokenizer, calls: dict[str, Any]) -> str:
    """Count every measured text again with bpe_openai's own (Rust) cl100k_base and compare."""
    bpe: Any = __import__("bpe_openai")
    other = bpe.get_encoding(ENCODING)
    texts = [compact(calls["tools"]), calls["instructions"]]
    texts += [text_of(calls[k]) for k in calls if isinstance(calls[k], dict) and "content" in calls[k]]
    texts += [
        compact(calls[k]["structuredContent"])
        for k in calls
        if isinstance(calls[k], dict) and calls[k].get("structuredContent") is not None
    ]
    diffs = [(tok.count(t), len(other.encode(t))) for t in texts]
    diffs = [d for d in diffs if d[0] != d[1]]
    return f"bpe_openai {bpe.__version__}: {len(texts) - len(diffs)}/{len(texts)} texts agree" + (
        f"; differ: {diffs}" if diffs else ""
    )


def table(report: dict[str, Any]) -> str:
    def num(value: Any) -> str:
        return "" if value is None else f"{value:,}"

    head = (
        f"{report['encoding']} via {report['tokenizer']} (SHA-256 {report['vocab_sha256'][:12]}…); "
        f"server: {report['server']}"
    )
    lines = [
        head,
        "",
        "| item | tokens | budget | within budget | chars | note |",
        "|---|---:|---:|:-:|---:|---|",
    ]
    for item in report["items"]:
        within = {None: "", True: "yes", False: "NO"}[item["within_budget"]]
        lines.append(
            f"| {item['name']} | {num(item['tokens'])} | {num(item['budget'])} | {within} | "
            f"{num(item['chars'])} | {item['note']} |"
        )
    lines += [
        "",
        (
            "Per tool (tokens; host view = name+title+description+inputSchema+annotations; "
            "wire = the tool's whole entry in tools/list)"
        ),
        "",
        "| tool | host view | description | inputSchema | outputSchema | wire |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["tools"]:
        lines.append(
            f"| {row['tool']} | {row['host_view']:,} | {row['description']:,} | "
            f"{row['input_schema']:,} | {row['output_schema']:,} | {row['wire']:,} |"
        )
    lines += ["", "Longest descriptions inside schemas (tokens, where)", ""]
    lines += [f"- {row['tokens']:>4}  {row['where']}" for row in report["top_schema_descriptions"]]
    for key in ("list_messages", "list_messages_bulk"):
        detail = report[key]
        lines += [
            "",
            f"{detail['label']}, text block ({detail['rendering']}): "
            f"{detail['text_tokens']:,} tokens, {detail['per_message']} per summary; the same data "
            + "; ".join(f"{k}: {v:,}" for k, v in detail["what_if"].items()),
            "Marginal tokens of each field over the page (the text block without that field):",
            "- summaries: "
            + ", ".join(f"{r['field']} {r['tokens']:,} ({r['share']:.0%})" for r in detail["summary_fields"]),
            "- top level: " + ", ".join(f"{r['field']} {r['tokens']:,}" for r in detail["top_level"]),
            "- data: " + ", ".join(f"{r['field']} {r['tokens']:,}" for r in detail["data_fields"]),
        ]
    for key in ("get_message_sample", "get_message_reply"):
        msg = report[key]
        lines += [
            "",
            (
                f"{key} ({msg['rendering']}): {msg['text_tokens']:,} tokens, body text "
                f"{msg['body_tokens']:,} ({msg['body_chars']:,} chars). Marginal tokens per field:"
            ),
            "- data: " + ", ".join(f"{r['field']} {r['tokens']:,}" for r in msg["fields"]),
            "- data.body: " + ", ".join(f"{r['field']} {r['tokens']:,}" for r in msg["body_fields"]),
            "- top level: " + ", ".join(f"{r['field']} {r['tokens']:,}" for r in msg["top_level"]),
        ]
    if "cross_check" in report:
        lines += ["", f"cross-check: {report['cross_check']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", help="also write the report to this file")
    parser.add_argument("--rev", help="run the server as committed at this git revision (git archive)")
    parser.add_argument(
        "--cross-check",
        action="store_true",
        help="count every text again with bpe_openai's Rust encoder and compare",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a budget is missed")
    args = parser.parse_args(argv)
    report = measure(args.rev, args.cross_check, keep_raw=bool(args.json))
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False))
    if args.strict and any(item["within_budget"] is False for item in report["items"]):
        raise SystemExit(1)
    return report


if __name__ == "__main__":
    main()
