"""The import rules hold for mail_mcp, and the checker really catches a wrong arrow, an SDK import and a cycle."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
check = runpy.run_path(str(ROOT / "scripts" / "check_layers.py"))["check"]


def test_mail_mcp_follows_the_import_rules() -> None:
    assert check(ROOT / "src") == []


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "mail_mcp" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_checker_reports_an_upward_arrow_an_sdk_import_and_a_cycle(tmp_path: Path) -> None:
    src = write(
        tmp_path,
        {
            "__init__.py": "",
            "imap/__init__.py": "",
            "imap/pool.py": "def f():\n    from mail_mcp.mailbox import reading\n",
            "mailbox/__init__.py": "",
            "mailbox/reading.py": "import mcp.types\nfrom mail_mcp.mailbox import drafts\n",
            "mailbox/drafts.py": "from mail_mcp.mailbox.reading import x\n",
        },
    )
    problems = check(src)
    assert any("imap.pool imports mail_mcp.mailbox.reading" in p for p in problems)
    assert any("imports the MCP SDK (mcp.types)" in p for p in problems)
    assert any(p.startswith("import cycle:") and "mailbox.drafts" in p for p in problems)
    assert len(problems) == 3
