"""The shape every tool result shares: `{summary, data, meta}` (`ToolResult`), and compact JSON Schemas."""

from __future__ import annotations

import contextvars
import time
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")
started: contextvars.ContextVar[float] = contextvars.ContextVar("mail_mcp_started", default=0.0)


class Meta(BaseModel):
    now_utc: str = Field(description="Server time when the call finished, ISO 8601 UTC.")
    duration_ms: int = Field(description="How long the call took on the server.")
    next_cursor: str | None = Field(None, description="Pass to the same tool as `cursor` for the next page.")
    has_more: bool | None = Field(None, description="Whether another page exists.")


class ToolResult(BaseModel, Generic[T]):
    summary: str = Field(description="One line saying what happened.")
    data: T
    meta: Meta


def meta(**paging: Any) -> Meta:
    """The `meta` of a result: the server time, and how long the call has taken so far."""
    begun = started.get() or time.perf_counter()
    return Meta(
        now_utc=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        duration_ms=round((time.perf_counter() - begun) * 1000),
        **paging,
    )


def compact_schema(node: Any) -> Any:
    """The same JSON Schema with less to read: no per-property `title` (pydantic repeats the field name), and
    `anyOf: [X, {type: null}]` folded into X's `type` list where X is a plain type. tools/list goes into the
    model's context on every session, so its size matters."""
    if isinstance(node, list):
        return [compact_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: compact_schema(value)
        for key, value in node.items()
        if not (key == "title" and isinstance(value, str))
    }
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = options[0] if options[1] == {"type": "null"} else options[1]
        if isinstance(other.get("type"), str) and not {"$ref", "anyOf", "const"} & other.keys():
            del out["anyOf"]
            out = {**other, **out, "type": [other["type"], "null"]}
            if "enum" in other:
                out["enum"] = [*other["enum"], None]
    return out
