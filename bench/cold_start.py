"""Cold start: import time of each FC handler module in a fresh interpreter, next to the bare
import of the SDK clients that handler needs.

Handlers import their SDKs lazily (gateways import them on first use), so two figures are
printed per handler:
- `handler`  — `import functions.<name>` alone (what FC pays before the first line runs);
- `handler+sdk` — the handler plus every SDK module its first invocation imports, i.e. the
  real cold-start import cost;
and the ratio `handler+sdk / sdk` (goal ≤ 1.2).

    python bench/cold_start.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDKS = {
    "ram": "alibabacloud_ram20150501.client",
    "sts": "alibabacloud_sts20150401.client",
    "oss": "oss2",
    "fc": "fc2",
    "actiontrail": "alibabacloud_actiontrail20200706.client",
    "requests": "requests",
}
NEEDS = {
    "agreement_intake": ["ram", "oss", "requests"],
    "expiry_enforcer": ["ram", "oss", "fc", "requests"],
    "reconcile_worker": ["ram", "oss", "requests"],
    "role_auditor": ["ram", "oss", "requests"],
    "access_audit": ["actiontrail", "oss", "requests"],
}


def precompile() -> None:
    """Write the project's bytecode, as site-packages already has the SDKs' (pip compiles at
    install). Without it every run would compile rolepact's modules and only rolepact's."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", "shared", "functions"], cwd=ROOT, env=env, check=True)


def timed_import(modules: list[str]) -> float:
    code = ("import time; t = time.perf_counter()\n" + "".join(f"import {m}\n" for m in modules)
            + "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def median_of(modules: list[str], repeat: int) -> float:
    return statistics.median(timed_import(modules) for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-precompile", action="store_true", help="measure with rolepact compiled from source")
    args = parser.parse_args(argv)
    if not args.no_precompile:
        precompile()
    print(f"{'handler':<18}{'handler ms':>12}{'sdk ms':>10}{'handler+sdk ms':>16}{'ratio':>8}")
    worst = 0.0
    for name, needs in NEEDS.items():
        if not (ROOT / "functions" / f"{name}.py").exists():
            continue
        sdk = [SDKS[n] for n in needs]
        handler = median_of([f"functions.{name}"], args.repeat)
        bare = median_of(sdk, args.repeat)
        both = median_of([f"functions.{name}", *sdk], args.repeat)
        ratio = both / bare
        worst = max(worst, ratio)
        print(f"{name:<18}{handler * 1000:>12.1f}{bare * 1000:>10.1f}{both * 1000:>16.1f}{ratio:>8.2f}")
    print(f"worst ratio {worst:.2f} (goal <= 1.20)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
