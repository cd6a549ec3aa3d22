"""The benchmark's smoke mode runs in the suite so it cannot rot (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench.py"


def test_benchmark_smoke_mode_reports_every_operation(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MAIL_MCP_LOG_LEVEL": "WARNING"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    names = [row["operation"] for row in report["rows"]]
    assert names[0] == "list_folders (with counts)" and any(n.startswith("get_message (20 MB") for n in names)
    for row in report["rows"]:
        assert row["ours_ms"] > 0 and row["floor_ms"] > 0
    assert report["startup_ms"] > 0 and report["tools_list_bytes"] > 0 and report["peak_rss_mb"]
    assert "| operation |" in done.stdout
