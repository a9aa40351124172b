"""`make bench`: every benchmark in turn (about 6 minutes on 2 cores)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = [
    ["fake_overhead.py"],
    ["cold_start.py"],
    ["report_render.py"],
    ["expiry_scale.py"],
    ["audit_throughput.py", "--rounds", "3", "--modes", "bare,pipeline"],
]


def main() -> int:
    failed = 0
    for script, *args in RUNS:
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / script), *args], cwd=HERE.parent).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
