"""Build the deployable code directory for FC (python3.10, Linux x86_64): `make package`.

    build/dist/
      rolepact_handlers.py                          the FC entry points (handler `rolepact_handlers.<name>`)
      functions/, shared/ (without shared/local)   the project's code
      <dependencies>                                installed for CPython 3.10 manylinux x86_64
      ROLEPACT_BUILD                                version and git revision

Dependencies are resolved and installed for the *target* platform with uv, so the build
works on any machine with Python 3.10 or later. `crcmod` (pulled in by oss2) ships only as an
sdist with an optional C extension; it is installed pure-Python (its documented fallback) so
no compiled file for the wrong interpreter is shipped. Nothing from tests/, fakecloud/ or the
local runtime is copied, and distributions the functions can never import are left out
(`unused_distributions`: not reachable by any import statement from the entry points, and not
named in any string of the code that is, so not importable by name either).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the `package` extra installs tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
TARGET = ["--python-version", "3.10", "--python-platform", "x86_64-manylinux_2_17"]
PURE_FROM_SDIST = {"crcmod"}
CODE = ("functions", "shared")
ENTRY = "rolepact_handlers.py"
EXCLUDED = ("shared/local",)
HANDLERS = ("agreement_intake", "expiry_enforcer", "reconcile_worker", "role_auditor", "access_audit")


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]


def runtime_requirements() -> list[str]:
    return list(project()["dependencies"])


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, check=True, text=True, **kwargs)


def uv() -> list[str]:
    return [sys.executable, "-m", "uv"]


def copy_code(dist: Path) -> None:
    """rolepact's own code: the entry module at the code root, functions/ and shared/."""
    shutil.copy2(ROOT / ENTRY, dist / ENTRY)
    for package in CODE:
        shutil.copytree(ROOT / package, dist / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for excluded in EXCLUDED:
        shutil.rmtree(dist / excluded, ignore_errors=True)


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
    shutil.rmtree(dist / "bin", ignore_errors=True)  # console scripts of the dependencies: never run in FC
    copy_code(dist)
    for name in prune(dist):
        print(f"left out {name}: no code path of the functions imports it")
    if sys.version_info[:2] == (3, 10):  # FC's code directory is read-only: ship the runtime's bytecode
        compile_bytecode(dist)
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True).stdout.strip() or "unknown"
    (dist / "ROLEPACT_BUILD").write_text(f"rolepact {project()['version']} ({revision}) for python3.10 x86_64\n",
                                         "utf-8")
    check(dist)
    print(f"built {dist} ({sum(1 for _ in dist.rglob('*.py'))} Python files)")


def compile_bytecode(dist: Path) -> None:
    """`__pycache__` for this interpreter, validated by a hash of each source (PEP 552), not by its
    modification time: the zip upload and FC's unpacking need not keep file times, and a timestamp
    pyc whose source time moved is ignored — recompiled in memory at every cold start, since the
    code directory is read-only. A source edited in place still wins over its pyc."""
    run([sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "checked-hash", str(dist)])


# --------------------------------------------------------------------------- what to leave out
def distributions(dist: Path) -> dict[str, tuple[set[str], list[Path]]]:
    """Installed distributions in `dist`: name -> (top-level import names, files from RECORD)."""
    found = {}
    for info in sorted(dist.glob("*.dist-info")):
        record = info / "RECORD"
        files = [dist / line.split(",")[0] for line in record.read_text("utf-8").splitlines() if line.strip()] \
            if record.exists() else []
        top_level = info / "top_level.txt"
        names = set(top_level.read_text("utf-8").split()) if top_level.exists() else {
            path.relative_to(dist).parts[0].removesuffix(".py") for path in files
            if path.is_relative_to(dist) and not path.relative_to(dist).parts[0].endswith((".dist-info", ".data"))
            and path.relative_to(dist).parts[0] not in ("__pycache__", "bin")}
        found[info.name.split("-")[0]] = (names, files)
    return found


_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w. \t,]+)", re.MULTILINE)
_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]+)", re.MULTILINE)
_NAME = re.compile(r"""['"]([A-Za-z_][\w.]{0,150})['"]""")


def reachable(dist: Path, roots: list[str]) -> tuple[set[str], set[str]]:
    """Modules under `dist` that any import statement (anywhere in a module, not only at its top)
    can reach from `roots`, and every name-like string in them (what importlib could be given).

    The scan reads source text, so an `import` in a docstring or comment counts too: it can only
    keep more, never leave out something a real import statement names."""
    seen: set[str] = set()
    found: set[str] = set()
    strings: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if not name or name in seen:
            continue
        seen.add(name)
        path = _module_file(dist, name)
        if path is None:
            continue  # the standard library, an optional extra not installed, or an attribute
        found.add(name)
        if "." in name:
            todo.append(name.rsplit(".", 1)[0])
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        source = path.read_text("utf-8", errors="replace")
        for match in _IMPORT.finditer(source):
            todo += [part.split()[0] for part in match.group(1).split(",") if part.split()]
        for match in _FROM.finditer(source):
            dots, module, names = match.groups()
            if dots:
                parts = package.split(".")[:len(package.split(".")) - len(dots) + 1]
                module = ".".join(parts + ([module] if module else []))
            todo.append(module)
            todo += [f"{module}.{part.split()[0]}" for part in names.strip("()").replace("\\", " ").split(",")
                     if part.split() and part.split()[0] != "*"]
        strings.update(_NAME.findall(source))
    return found, strings


def _module_file(dist: Path, name: str) -> Path | None:
    path = dist.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def code_roots(dist: Path) -> list[str]:
    """Every module of rolepact's own code in the package: the entry module, functions, shared."""
    roots = [Path(ENTRY).stem]
    for package in CODE:
        for path in sorted((dist / package).rglob("*.py")):
            parts = path.relative_to(dist).with_suffix("").parts
            roots.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return roots


def unused_distributions(dist: Path) -> dict[str, list[Path]]:
    """Distributions no import statement reaches and no reached module names in a string."""
    modules, strings = reachable(dist, code_roots(dist))
    tops = {module.split(".")[0] for module in modules}
    mentioned = strings | {text.split(".")[0] for text in strings}
    return {name: files for name, (names, files) in distributions(dist).items()
            if names and not names & tops and not names & mentioned}


def prune(dist: Path) -> list[str]:
    removed = []
    for name, files in unused_distributions(dist).items():
        for path in files:
            if path.is_relative_to(dist) and path.is_file():
                path.unlink()
        for info in dist.glob(f"{name}-*.dist-info"):
            shutil.rmtree(info)
        for directory in sorted({p.parent for p in files}, key=lambda p: len(p.parts), reverse=True):
            if directory != dist and directory.is_relative_to(dist) and directory.is_dir():
                shutil.rmtree(directory / "__pycache__", ignore_errors=True)
                if not any(directory.iterdir()):
                    directory.rmdir()
        removed.append(name)
    return removed


def check(dist: Path) -> None:
    """The package holds every handler the deployment files name and nothing of the test tooling."""
    for forbidden in ("fakecloud", "tests", "responses", "time_machine", "shared/local"):
        if (dist / forbidden).exists():
            raise SystemExit(f"package check: {forbidden} must not be in {dist}")
    if not (dist / ENTRY).exists():
        raise SystemExit(f"package check: {ENTRY} missing")
    for handler in HANDLERS:
        if not (dist / "functions" / f"{handler}.py").exists():
            raise SystemExit(f"package check: functions/{handler}.py missing")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", default=str(ROOT / "build" / "dist"))
    build(Path(parser.parse_args(argv).dist))
    return 0


if __name__ == "__main__":
    sys.exit(main())
