"""Every benchmark's smoke run: tiny sizes, its end-state checks, no timing (docs/benchmarks.md).

A benchmark that nobody runs rots (issue 13: `make bench` crashed for weeks); these runs make
`make test` fail the day a script breaks or the state it checks goes wrong.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if not p.name.startswith("_") and p.name != "run_all.py")


def smoke(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCH / script), "--smoke", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{script} --smoke failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert "FAILED" not in done.stdout
    assert "load average at start:" in done.stdout and "load average at end:" in done.stdout  # figures need it
    return done.stdout


def test_every_benchmark_has_a_smoke_test_here_and_runs_in_make_bench():
    sys.path.insert(0, str(ROOT))
    from bench.run_all import RUNS

    assert sorted(run[0] for run in RUNS) == SCRIPTS
    tests = "\n".join(p.read_text("utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    for script in SCRIPTS:  # here as smoke("<script>"), or elsewhere as a run of "bench/<script>" "--smoke"
        assert f'smoke("{script}"' in tests or (f'bench/{script}"' in tests and '"--smoke"' in tests), script


def test_expiry_scale_smoke():
    out = smoke("expiry_scale.py")
    assert "30/30 ended" in out and "others untouched 30/30" in out
    assert "1 enforcer, 3 worker (3 batches expected), failed attempts 0" in out
    assert "-> 1.000x" in out  # RAM calls against the minimum: deterministic, so checked exactly


def test_fake_overhead_smoke():
    assert "all refused what they must" in smoke("fake_overhead.py")


def test_fake_overhead_smoke_with_a_ram_user():
    assert "all refused what they must" in smoke("fake_overhead.py", "--caller", "user")


def test_audit_throughput_smoke():
    out = smoke("audit_throughput.py")
    assert "pipeline counts:" in out and "json-pipeline (3000 events)" in out


def test_cold_start_smoke():
    assert "none imports an SDK early" in smoke("cold_start.py")
