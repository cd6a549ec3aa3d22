"""The shape every tool result shares: `{summary, data, meta}` (`ToolResult`), and compact JSON Schemas."""

from __future__ import annotations

import contextvars
import time
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from mail_mcp import audit

T = TypeVar("T")
started: contextvars.ContextVar[float] = contextvars.ContextVar("mail_mcp_started", default=0.0)


class Meta(BaseModel):
    now_utc: str = Field(description="Server time when the call finished, ISO 8601 UTC.")
    duration_ms: int = Field(description="How long the call took on the server.")
    audit_failed: str | None = Field(
        None,
        description="The action was done, but its audit-log line could not be written (why).",
        exclude_if=lambda value: value is None,
    )


class PageMeta(Meta):
    next_cursor: str | None = Field(None, description="Pass to the same tool as `cursor` for the next page.")
    has_more: bool = Field(False, description="Whether another page exists.")
    state: str | None = Field(
        None,
        description="The folders' state before this call: list_changes(state) later gives what changed since.",
        exclude_if=lambda value: value is None,
    )


class ToolResult(BaseModel, Generic[T]):
    summary: str = Field(description="One line saying what happened.")
    data: T
    meta: Meta


class PageResult(BaseModel, Generic[T]):
    summary: str
    data: T
    meta: PageMeta


def meta() -> Meta:
    """The `meta` of a result: the server time, and how long the call has taken so far."""
    begun = started.get() or time.perf_counter()
    return Meta(
        now_utc=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        duration_ms=round((time.perf_counter() - begun) * 1000),
        audit_failed=audit.failure(),
    )


def page_meta(next_cursor: str | None, state: str | None = None) -> PageMeta:
    return PageMeta(
        **meta().model_dump(exclude_none=True),
        next_cursor=next_cursor,
        has_more=next_cursor is not None,
        state=state,
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


def _lean(node: Any, *, drop: set[str], close: bool) -> Any:
    """Without the `drop` keywords and `default: null`; every object closed (`additionalProperties: false`)
    when `close`. Property names are never taken for keywords."""
    if isinstance(node, list):
        return [_lean(item, drop=drop, close=close) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in drop or (key == "default" and value is None):
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: _lean(sub, drop=drop, close=close) for name, sub in value.items()}
        else:
            out[key] = _lean(value, drop=drop, close=close)
    if close and (out.get("type") == "object" or "properties" in out):
        out.setdefault("properties", {})
        out["additionalProperties"] = False
    return out


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Local `$ref`s replaced by their (non-recursive) definitions: strict clients validate no references."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {**target, **{k: _inline(v, defs) for k, v in node.items() if k != "$ref"}}
    return {key: _inline(value, defs) for key, value in node.items() if key != "$defs"}


def compact_input_schema(schema: Any) -> Any:
    """Input schemas: compact, closed and without references, so strict clients load them and unknown arguments
    are refused. String length caps stay enforced on the server but are not published: a model never needs
    them."""
    inlined = _inline(schema, schema.get("$defs", {})) if isinstance(schema, dict) else schema
    return _lean(compact_schema(inlined), drop={"maxLength"}, close=True)


def compact_output_schema(schema: Any) -> Any:
    """Output schemas are for programs: the structure only. What fields mean is said once, in the tool
    descriptions and the text block the model reads; long enums (folder roles) are said in list_folders. Every
    field is always present in the results, so `required` would only repeat the property names; an object is
    known by its `properties` (the top level keeps its `type`, as MCP requires); `meta` (server time, duration,
    a failed audit line; for listings next_cursor, has_more and state) is the same for every tool and said once,
    in the tool descriptions and the README."""
    lean = _lean(compact_schema(schema), drop={"description", "default", "required", "format"}, close=False)
    defs = lean.get("$defs", {})
    meta_ref = lean.get("properties", {}).get("meta", {}).get("$ref", "")
    if meta_ref in ("#/$defs/Meta", "#/$defs/PageMeta"):
        lean["properties"]["meta"] = {"type": "object"}
        defs.pop(meta_ref.removeprefix("#/$defs/"), None)
    return {"type": "object", **_untyped_objects(_short_enums(lean))}


def _untyped_objects(node: Any) -> Any:
    if isinstance(node, list):
        return [_untyped_objects(item) for item in node]
    if not isinstance(node, dict):
        return node
    typed = node.get("type") == "object" and "properties" in node
    return {k: _untyped_objects(v) for k, v in node.items() if not (typed and k == "type")}


def _short_enums(node: Any) -> Any:
    if isinstance(node, list):
        return [_short_enums(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: _short_enums(value)
        for key, value in node.items()
        if not (key == "enum" and isinstance(value, list) and len(value) > 5 and "type" in node)
    }
