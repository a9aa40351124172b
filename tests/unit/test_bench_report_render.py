"""Smoke run of bench/report_render.py (make test): the benchmark still runs, and no FC handler loads
the charts library when it is imported (it is imported lazily, where the digest page is rendered)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_report_render_benchmark_runs_and_no_handler_loads_pygal():
    done = subprocess.run([sys.executable, "bench/report_render.py", "--smoke"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "handlers that import pygal when loaded: none" in done.stdout
    assert "render 2 agreement(s)" in done.stdout
