"""deploy/package.py (`make package`): runs on Python 3.10, and leaves out only what no code path imports."""
from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
import package  # noqa: E402

sys.path.remove(str(ROOT / "deploy"))


def test_reads_pyproject_without_tomllib_as_on_python_3_10():
    """tomllib is 3.11+; on 3.10 the `package` extra's tomli stands in (the import must not fail)."""
    probe = ("import sys; sys.modules['tomllib'] = None\n"  # what Python 3.10 has: no tomllib
             f"sys.path.insert(0, {str(ROOT / 'deploy')!r}); import package\n"
             "assert package.tomllib.__name__ == 'tomli'\n"
             "print(len(package.runtime_requirements()), package.project()['version'])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    count, version = done.stdout.split()
    assert int(count) >= 5 and version
    assert any("tomli" in extra and "python_version < '3.11'" in extra
               for extra in package.project()["optional-dependencies"]["package"])


def test_make_package_installs_no_test_tools():
    makefile = (ROOT / "Makefile").read_text("utf-8")
    recipe = makefile[makefile.index("\n$(PACKAGING):"):makefile.index("\npackage:")]
    target = makefile[makefile.index("\npackage:"):].split("\n\n")[0]
    assert ".[package]" in recipe and "[test]" not in recipe and "$(STAMP)" not in target


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), "utf-8")


def _distribution(root: Path, name: str, files: dict[str, str]) -> None:
    for relative, text in files.items():
        _write(root, relative, text)
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files) + f"{info.name}/RECORD,,\n", "utf-8")


def test_leaves_out_exactly_the_distributions_no_code_path_can_import(tmp_path):
    dist = tmp_path / "dist"
    _write(dist, "rolepact_handlers.py", "import functions.one\n")
    _write(dist, "functions/__init__.py", "")
    _write(dist, "functions/one.py", "import toplevel\n\ndef handler(event, context):\n    from . import two\n")
    _write(dist, "functions/two.py", "def go():\n    import lazydep.sub\n")
    _write(dist, "shared/__init__.py", "NAMES = ('bystring',)\n")
    _distribution(dist, "toplevel", {"toplevel/__init__.py": "from .inner import x\n",
                                     "toplevel/inner.py": "x = 1\ntry:\n    import transitive\nexcept ImportError:\n"
                                                          "    pass\n"})
    _distribution(dist, "transitive", {"transitive.py": ""})
    _distribution(dist, "lazydep", {"lazydep/__init__.py": "", "lazydep/sub.py": ""})
    _distribution(dist, "bystring", {"bystring.py": ""})  # importlib.import_module("bystring") is possible
    _distribution(dist, "unused", {"unused/__init__.py": "import alsounused\n"})
    _distribution(dist, "alsounused", {"alsounused.py": ""})
    assert set(package.unused_distributions(dist)) == {"unused", "alsounused"}
    assert sorted(package.prune(dist)) == ["alsounused", "unused"]
    assert not (dist / "unused").exists() and not (dist / "alsounused.py").exists()
    assert not list(dist.glob("unused-*.dist-info")) and (dist / "toplevel" / "inner.py").exists()
    assert (dist / "lazydep" / "sub.py").exists() and (dist / "bystring.py").exists()


def _runtime_distributions() -> list[importlib.metadata.Distribution]:
    """rolepact's runtime dependencies, as installed in this environment (no extras)."""
    found, todo, seen = [], ["rolepact"], set()
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        distribution = importlib.metadata.distribution(name)
        for requirement in map(Requirement, distribution.requires or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
        if key != "rolepact":
            found.append(distribution)
    return found


def test_the_pruned_package_imports_every_handler_and_gateway_in_isolation(tmp_path):
    """The build's layout from this environment's installed dependencies, pruned, then imported by a
    Python that sees nothing but the standard library and that directory."""
    dist = tmp_path / "dist"
    dist.mkdir()
    for distribution in _runtime_distributions():
        for file in distribution.files or []:
            source = Path(distribution.locate_file(file))
            if ".." in file.parts or not source.is_file():  # bytecode too: valid for copies (mtime kept)
                continue
            (dist / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dist / file)
    package.copy_code(dist)
    removed = package.prune(dist)
    # Only the local runtime reads YAML, but msgspec (the audit's parser) can import PyYAML from its
    # msgspec.yaml module, so the conservative prune keeps it; distributions nothing reaches still go.
    assert removed and "msgspec" not in {name.lower() for name in removed}
    package.check(dist)
    probe = textwrap.dedent(f"""
        import importlib, pkgutil, sys
        sys.path.insert(0, {str(dist)!r})
        import rolepact_handlers, shared.gateways
        for name in rolepact_handlers.HANDLER_MODULES:
            assert callable(rolepact_handlers.target(name))
        for module in pkgutil.iter_modules(shared.gateways.__path__):
            importlib.import_module("shared.gateways." + module.name)
        for name in {sorted(_imports_of_rolepacts_code(dist))!r}:
            importlib.import_module(name)
        outside = [m.__name__ for m in list(sys.modules.values())
                   if getattr(m, "__file__", None) and "site-packages" in m.__file__]
        assert not outside, outside
        assert "yaml" not in sys.modules
    """)
    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def _imports_of_rolepacts_code(dist: Path) -> set[str]:
    """Every module rolepact's packaged code imports by name anywhere (lazily inside functions too)
    that resolves inside the package: the runtime's own imports, which pruning must keep."""
    import ast

    names = set()
    for root in package.code_roots(dist):
        path = package._module_file(dist, root)
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module)
    own = ("functions", "shared", "rolepact_handlers")
    return {name for name in names
            if not name.startswith(own) and package._module_file(dist, name) is not None}


def test_shipped_bytecode_is_used_whatever_file_times_the_upload_leaves(tmp_path):
    """The zip upload and FC's unpacking need not keep modification times (zip stores 2-second local
    times); bytecode checked against them would be ignored on a read-only /code at every cold start."""
    dist = tmp_path / "dist"
    _write(dist, "shipped/__init__.py", "")
    _write(dist, "shipped/module.py", "VALUE = 1\n")
    package.compile_bytecode(dist)
    for source in dist.rglob("*.py"):
        os.utime(source, (source.stat().st_atime, source.stat().st_mtime - 3601))  # as unpacked elsewhere
    probe = f"import sys; sys.path.insert(0, {str(dist)!r}); import shipped.module; assert shipped.module.VALUE == 1"
    done = subprocess.run([sys.executable, "-B", "-I", "-v", "-c", probe], capture_output=True, text=True,
                          timeout=60)  # -B: nothing is written, as on FC's read-only code directory
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = [line.split(" from ", 1)[1].strip("'") for line in done.stderr.splitlines()
              if line.startswith("# code object from ") and str(dist) in line]
    assert len(loaded) == 2 and all(path.endswith(".pyc") for path in loaded), loaded  # not compiled from source


@pytest.mark.parametrize("forbidden", ["fakecloud", "shared/local"])
def test_the_package_check_refuses_test_tooling(tmp_path, forbidden):
    dist = tmp_path / "dist"
    dist.mkdir()
    package.copy_code(dist)
    (dist / forbidden).mkdir(parents=True, exist_ok=True)
    with pytest.raises(SystemExit, match=forbidden):
        package.check(dist)
