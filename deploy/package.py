"""Build the deployable code directory for FC (python3.10, Linux x86_64): `make package`.

    build/dist/
      functions/, shared/ (without shared/local)   the project's code
      <dependencies>                                installed for CPython 3.10 manylinux x86_64
      ROLEPACT_BUILD                                version and git revision

Dependencies are resolved and installed for the *target* platform with uv, so the build
works on any machine. `crcmod` (pulled in by oss2) ships only as an sdist with an optional C
extension; it is installed pure-Python (its documented fallback) so no compiled file for the
wrong interpreter is shipped. Nothing from tests/, fakecloud/ or the local runtime is copied.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ["--python-version", "3.10", "--python-platform", "x86_64-manylinux_2_17"]
PURE_FROM_SDIST = {"crcmod"}
CODE = ("functions", "shared")
EXCLUDED = ("shared/local",)


def runtime_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    return list(project["dependencies"])


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, check=True, text=True, **kwargs)


def uv() -> list[str]:
    return [sys.executable, "-m", "uv"]


def build(dist: Path) -> None:
    if dist.exists():
        shutil.rmtree(dist)
    dist.mkdir(parents=True)
    pins = run(uv() + ["pip", "compile", "-", "--quiet", "--no-header", "--no-annotate", *TARGET],
               input="\n".join(runtime_requirements()), capture_output=True).stdout.split()
    wheels = [p for p in pins if p.split("==")[0].lower() not in PURE_FROM_SDIST]
    sdists = [p for p in pins if p.split("==")[0].lower() in PURE_FROM_SDIST]
    run(uv() + ["pip", "install", "--quiet", "--no-deps", "--target", str(dist), *TARGET, *wheels])
    if sdists:
        run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target", str(dist),
             *sdists])
        for compiled in dist.glob("crcmod/_crcfunext*.so"):
            compiled.unlink()  # built for this interpreter, not the runtime's: crcmod falls back to pure Python
    for package in CODE:
        shutil.copytree(ROOT / package, dist / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for excluded in EXCLUDED:
        shutil.rmtree(dist / excluded, ignore_errors=True)
    if sys.version_info[:2] == (3, 10):  # FC's code directory is read-only: ship the runtime's bytecode
        run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(dist)])
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True).stdout.strip() or "unknown"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    (dist / "ROLEPACT_BUILD").write_text(f"rolepact {version} ({revision}) for python3.10 x86_64\n", "utf-8")
    check(dist)
    print(f"built {dist} ({sum(1 for _ in dist.rglob('*.py'))} Python files)")


def check(dist: Path) -> None:
    """The package holds every handler s.yaml names and nothing of the test tooling."""
    for forbidden in ("fakecloud", "tests", "responses", "time_machine", "shared/local"):
        if (dist / forbidden).exists():
            raise SystemExit(f"package check: {forbidden} must not be in {dist}")
    for handler in ("agreement_intake", "expiry_enforcer", "reconcile_worker", "role_auditor", "access_audit"):
        if not (dist / "functions" / f"{handler}.py").exists():
            raise SystemExit(f"package check: functions/{handler}.py missing")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", default=str(ROOT / "build" / "dist"))
    build(Path(parser.parse_args(argv).dist))
    return 0


if __name__ == "__main__":
    sys.exit(main())
