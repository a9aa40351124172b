"""Cold start: import time of each FC handler module in a fresh interpreter, next to the bare
import of the SDK clients that handler needs.

Handlers import their SDKs lazily (gateways import them on first use), so two figures are
printed per handler:
- `handler`  — `import functions.<name>` alone (what FC pays before the first line runs);
- `handler+sdk` — the handler plus every SDK module its first invocation imports, i.e. the
  real cold-start import cost;
and the ratio `handler+sdk / sdk` (goal ≤ 1.2).

    python bench/cold_start.py [--repeat 7]
    python bench/cold_start.py --smoke     # one import of each: every handler measured, no SDK imported early
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import banner, footer  # noqa: E402
SDKS = {
    "ram": "alibabacloud_ram20150501.client",
    "sts": "alibabacloud_sts20150401.client",
    "oss": "oss2",
    "fc": "fc2",
    "actiontrail": "alibabacloud_actiontrail20200706.client",
    "requests": "requests",
    "msgspec": "msgspec.json",  # the audit's JSON parser (shared/audit/fastjson.py)
}
NEEDS = {
    "agreement_intake": ["ram", "oss", "requests"],
    "expiry_enforcer": ["ram", "oss", "fc", "requests"],
    "reconcile_worker": ["ram", "oss", "requests"],
    "role_auditor": ["ram", "oss", "requests"],
    "access_audit": ["actiontrail", "oss", "requests", "msgspec"],
}
# Libraries a handler may import at module level, on purpose (none today).
EAGER: dict[str, set[str]] = {}


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


def best_of(modules: list[str], repeat: int) -> float:
    """The fastest of `repeat` fresh interpreters: load on a shared machine only ever adds time."""
    return min(timed_import(modules) for _ in range(repeat))


def early_imports(handler: str) -> set[str]:
    """The libraries of SDKS that `import functions.<handler>` imports (a fresh interpreter)."""
    roots = sorted({module.split(".")[0] for module in SDKS.values()})
    code = f"import sys, functions.{handler}\nprint(' '.join(m for m in {roots!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    names = set(out.split())
    return {name for name, module in SDKS.items() if module.split(".")[0] in names}


def check_handlers() -> list[str]:
    """Every handler is measured, and none imports an SDK before its first invocation needs it."""
    problems = []
    handlers = sorted(p.stem for p in (ROOT / "functions").glob("*.py") if p.stem != "__init__")
    for name in handlers:
        if name not in NEEDS:
            problems.append(f"functions/{name}.py is not measured: add it to NEEDS in bench/cold_start.py")
            continue
        early = early_imports(name) - EAGER.get(name, set())
        if early:
            problems.append(f"importing functions/{name}.py imports {', '.join(sorted(early))} (FC pays for it on "
                            f"every cold start, even when the invocation does not need it)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-precompile", action="store_true", help="measure with rolepact compiled from source")
    parser.add_argument("--smoke", action="store_true", help="check every handler once, no timing")
    args = parser.parse_args(argv)
    banner("Cold start: handler imports vs the SDK imports of its first invocation", smoke=args.smoke)
    problems = check_handlers()
    if args.smoke:
        for name, needs in NEEDS.items():  # each import set once, so that a broken import fails here
            timed_import([f"functions.{name}", *(SDKS[n] for n in needs)])
        print(f"  {len(NEEDS)} handlers import cleanly; none imports an SDK early")
        footer()
        for problem in problems:
            print(f"  FAILED: {problem}")
        return 1 if problems else 0
    if not args.no_precompile:
        precompile()
    print(f"{'handler':<18}{'handler ms':>12}{'sdk ms':>10}{'handler+sdk ms':>16}{'ratio':>8}")
    worst = 0.0
    for name, needs in NEEDS.items():
        if not (ROOT / "functions" / f"{name}.py").exists():
            continue
        sdk = [SDKS[n] for n in needs]
        handler = best_of([f"functions.{name}"], args.repeat)
        bare = best_of(sdk, args.repeat)
        both = best_of([f"functions.{name}", *sdk], args.repeat)
        ratio = both / bare
        worst = max(worst, ratio)
        print(f"{name:<18}{handler * 1000:>12.1f}{bare * 1000:>10.1f}{both * 1000:>16.1f}{ratio:>8.2f}")
    print(f"worst ratio {worst:.2f} (goal <= 1.20) -> {'MET' if worst <= 1.2 else 'MISSED'}")
    footer()
    for problem in problems:
        print(f"  FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
