"""Run-wide hooks. The conformance suite (tests/conformance) writes a report of what it observed;
its workers cannot print to this terminal under xdist, so the path is printed from here."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

_started = time.time()


def _report_dir() -> Path:
    configured = os.environ.get("ROLEPACT_CONFORMANCE_REPORT_DIR", "").strip()
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / "build" / "conformance"


def pytest_terminal_summary(terminalreporter) -> None:
    report = _report_dir() / "report.json"
    try:
        if report.stat().st_mtime < _started:
            return
        run = json.loads(report.read_text("utf-8"))
    except (OSError, ValueError):
        return
    terminalreporter.write_line(f"conformance report ({run.get('mode')}, {len(run.get('outcomes', {}))} tests): "
                                f"{report.with_suffix('.md')} (JSON: {report})")
