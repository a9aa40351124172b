"""Issue #15 acceptance: the digest's page in a real browser — Debian's Chromium, headless, driven by
playwright-core (no browser download). Served over HTTP from 127.0.0.1 (as from a bucket) and
opened from a file (offline): no console message of type error, no page error, and no request but
the page itself — proven by the browser's own request log and by what the server was asked for.
The screenshot is saved to build/screenshots/access-report.png.

Setup: Chromium comes from the Debian package `chromium`; when it is missing the test installs it
with apt-get where it can (root, apt-get present) and is skipped — saying why — only where that
is impossible. playwright-core is installed with npm into build/browser-test/ (kept between runs).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from audit_support import clock, fake, stage  # noqa: F401 - fixtures
from report_support import HOSTILE_ACTION, HOSTILE_IP, HOSTILE_SESSION, seed_with_a_digest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "browser"
WORK = ROOT / "build" / "browser-test"
SCREENSHOT = ROOT / "build" / "screenshots" / "access-report.png"


def _locked(name: str):
    WORK.mkdir(parents=True, exist_ok=True)
    handle = open(WORK / f".{name}.lock", "w")
    fcntl.flock(handle, fcntl.LOCK_EX)  # xdist workers (or two runs) install one at a time
    return handle


def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Chromium is not installed and cannot be installed here (needs root and apt-get: "
                    "apt-get install chromium)")
    with _locked("apt"):
        if not shutil.which("chromium"):
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
            done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:  # the package lists may be missing or stale
                subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
                done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                pytest.skip(f"Chromium could not be installed with apt-get: {done.stderr.strip()[-300:]}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get installed chromium but no `chromium` command is on PATH")
    return found


def playwright_dir() -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not installed (playwright-core drives the browser)")
    with _locked("npm"):
        shutil.copy(HERE / "package.json", WORK / "package.json")
        shutil.copy(HERE / "check_page.js", WORK / "check_page.js")
        if not (WORK / "node_modules" / "playwright-core" / "package.json").exists():
            try:
                subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund"], cwd=WORK, check=True,
                               capture_output=True, timeout=300,
                               env=dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1"))
            except (subprocess.SubprocessError, OSError) as problem:
                pytest.skip(f"npm could not install playwright-core (no registry?): {problem}")
    return WORK


def test_the_page_renders_in_chromium_without_errors_or_requests(stage, clock, tmp_path):
    browser = chromium()
    work = playwright_dir()
    made = seed_with_a_digest(stage, clock)
    page = tmp_path / "report.html"
    page.write_text(made["page"], "utf-8")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    done = subprocess.run(["node", "check_page.js", browser, str(page), str(SCREENSHOT)], cwd=work,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    agreements = [a["agreementId"] for a in made["json"]["agreements"]]
    served_url, file_url = (visit["url"] for visit in result["visits"])
    for visit in result["visits"]:
        assert visit["errors"] == [], visit["errors"]
        assert [m for m in visit["console"] if m["type"] in ("error", "warning")] == [], visit["console"]
        assert visit["requests"] == [visit["url"]], f"the page made requests: {visit['requests']}"
        assert visit["failed"] == []
        assert visit["title"].startswith("rolepact access audit digest")
        assert visit["sections"] == agreements
        # one overview chart, one per agreement, each laid out with a size and labelled
        assert [c["id"] for c in visit["charts"]] == ["chart-overview"] + [f"chart-a{i}" for i in
                                                                           range(1, len(agreements) + 1)]
        assert all(c["width"] > 300 and c["height"] > 50 for c in visit["charts"]), visit["charts"]
        assert all(c["label"][0] and len(c["label"][1]) > 40 for c in visit["charts"])
        # no column is squeezed until its words break ("ACTIO N", "ecs:Descri beInstances"); only the
        # hostile values, made to be awkward, may be cut
        hostile = HOSTILE_SESSION + HOSTILE_ACTION + HOSTILE_IP
        assert [w for w in visit["brokenWords"] if w["word"].split(":")[-1] not in hostile] == [], visit["brokenWords"]
    assert result["visits"][0]["status"] == 200
    assert served_url.startswith("http://127.0.0.1") and file_url.startswith("file://")
    assert result["served"] == ["/reports/digest/report.html"]  # not even a favicon
    assert SCREENSHOT.exists() and SCREENSHOT.stat().st_size > 20_000

    # The check can fail: the same page with one reference to the outside is caught by what the
    # browser tried (the CSP refuses the image, and says so on the console).
    tampered = tmp_path / "tampered.html"
    tampered.write_text(made["page"].replace("<main>", '<main><img src="https://example.invalid/p.png" alt="">', 1),
                        "utf-8")
    done = subprocess.run(["node", "check_page.js", browser, str(tampered), str(tmp_path / "tampered.png")],
                          cwd=work, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    for visit in json.loads(done.stdout.strip().splitlines()[-1])["visits"]:
        assert "https://example.invalid/p.png" in visit["requests"]
        assert [m for m in visit["console"] if m["type"] == "error"]
