#!/usr/bin/env python3
"""The import rules of mail_mcp: arrows point down, only server/ and serve/ import the MCP SDK, and no import cycle,
not even through imports inside functions. Usage: check_layers.py [SRC_DIR]; exit 1 listing every violation."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "mail_mcp"
# Each package or top module, and the parts of mail_mcp it must never import.
FORBIDDEN: dict[str, set[str]] = {
    "errors": {"*"},
    "ids": {
        "config",
        "imap",
        "smtp",
        "mime",
        "net",
        "auth",
        "mailbox",
        "server",
        "serve",
        "sandbox",
        "cli",
        "audit",
    },
    "mime": {
        "config",
        "imap",
        "smtp",
        "net",
        "auth",
        "mailbox",
        "server",
        "serve",
        "sandbox",
        "cli",
        "audit",
    },
    "net": {"config", "imap", "smtp", "mime", "mailbox", "server", "serve", "sandbox", "cli"},
    "auth": {"imap", "smtp", "mime", "mailbox", "server", "serve", "sandbox", "cli"},
    "config": {"imap", "smtp", "mailbox", "server", "serve", "sandbox", "cli"},
    "imap": {"smtp", "mailbox", "server", "serve", "sandbox", "cli"},
    "smtp": {"imap", "mailbox", "server", "serve", "sandbox", "cli"},
    "audit": {"imap", "smtp", "mime", "mailbox", "server", "serve", "sandbox", "cli"},
    "mailbox": {"server", "serve", "sandbox", "cli"},
    "server": {"serve", "sandbox", "cli"},
    "serve": {"sandbox", "cli"},
    "sandbox": {"config", "imap", "smtp", "mailbox", "server", "serve", "cli"},
}
for _banned in FORBIDDEN.values():  # the command line sits on top: nothing below may reach up to it
    _banned.add("account")
SDK_ALLOWED = {"server", "serve"}
SDK_MODULES = ("mcp", "starlette", "uvicorn")


def module_name(src: Path, path: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(src: Path, path: Path, modules: set[str]) -> list[tuple[int, str]]:
    """Every import in the file, at any depth, as (line, imported module); `from pkg import sub` names pkg.sub."""
    found: list[tuple[int, str]] = []
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module_name(src, path).split(".")
                keep = len(here) - node.level + (1 if path.name == "__init__.py" else 0)
                base = ".".join(here[:keep] + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if sub in modules else base))
    return found


def area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def check(src: Path) -> list[str]:
    files = {module_name(src, p): p for p in (src / PACKAGE).rglob("*.py")}
    modules = set(files)
    problems: list[str] = []
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in sorted(files.items()):
        mine = area(module)
        for line, target in imports_of(src, path, modules):
            where = f"{path.relative_to(src)}:{line}"
            if target.split(".")[0] in SDK_MODULES and mine not in SDK_ALLOWED:
                problems.append(
                    f"{where}: {module} imports the MCP SDK ({target}); only server/ and serve/ may"
                )
            if not target.startswith(PACKAGE + ".") and target != PACKAGE:
                continue
            if target in modules and target != module:
                graph[module].add(target)
            theirs = area(target)
            banned = FORBIDDEN.get(mine, set())
            if theirs and theirs != mine and ("*" in banned or theirs in banned):
                problems.append(f"{where}: {module} imports {target}: {mine} must not depend on {theirs}")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append([*sorted(component), sorted(component)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "src"
    problems = check(src)
    for problem in problems:
        print(problem)
    print(f"layers: {len(problems)} problem(s) in {src / PACKAGE}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
