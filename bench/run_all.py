"""`make bench`: every benchmark in turn, with its default sizes (about 10 minutes on 2 quiet cores,
most of it provisioning the 10 000 agreements of the expiry benchmark; far longer on a loaded machine).

    .venv/bin/python bench/run_all.py            # the figures in docs/benchmarks.md
    .venv/bin/python bench/run_all.py --smoke    # every script's smoke run (what `make test` runs, in a minute)

Exits non-zero when a script does (a broken benchmark, or an end state it checks that is wrong);
a missed speed goal is printed as MISSED, not failed: timings depend on the machine's load.
"""
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
    ["audit_throughput.py", "--rounds", "3"],
]


def main(argv: list[str] | None = None) -> int:
    smoke = "--smoke" in (sys.argv[1:] if argv is None else argv)
    failed = []
    for script, *args in RUNS:
        args = ["--smoke"] if smoke else args
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *args], cwd=HERE.parent).returncode != 0:
            failed.append(script)
    print(f"\n{len(RUNS) - len(failed)} of {len(RUNS)} benchmarks ran" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
