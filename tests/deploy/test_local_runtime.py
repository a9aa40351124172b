"""`rolepact local`: the main job and the watch mode, as a user runs them."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from shared.local.commands import watch
from shared.local.runner import EXAMPLE

ROOT = Path(__file__).resolve().parents[2]


def test_the_main_job_plays_the_seed_and_exits_0(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "shared.cli", "local", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "All expected effects observed." in done.stdout
    for step in ("intake creates the role", "Alice switches into ecs-admin", "RAM denies her live session",
                 "deletes the role", "attributes the work to company-b/alice",
                 "right-size at renewal: the 7-day notice proposes exactly what Alice used"):
        assert step in done.stdout
    steps = json.loads((out / "timeline.json").read_text())
    assert steps and all(s["ok"] is not False for s in steps)
    titles = sorted(p.name for p in (out / "dingtalk").iterdir())
    assert any("granted" in t for t in titles) and any("expired" in t for t in titles)
    assert list((out / "reports" / "digest").glob("*.md"))
    assert len(list((out / "reports" / "digest").glob("*.html"))) == len(list((out / "reports" / "digest").glob("*.md")))
    page = (out / "report.html").read_text("utf-8")  # issue 15: the seed's report, the whole run
    assert page.startswith("<!DOCTYPE html>") and 'data-agreement="company-b-ecs-admin"' in page
    assert "activity-after-end" in page and 'id="chart-a1"' in page and "<script" not in page
    proposal = json.loads((out / "proposals" / "company-b-ecs-admin.json").read_text())  # issue 14
    assert [p["type"] for p in proposal["policies"]] == ["Custom"]
    status = json.loads((out / "status" / "company-b-ecs-admin.json").read_text())
    assert status["state"] == "ended" and status["ended"]["reason"] == "expired"


def test_the_main_job_plays_the_seed_on_the_fc3_deployment_file(tmp_path):
    """`rolepact local --deployment deploy/fc3/s.yaml`: the same story on FC 3.0 functions and API."""
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "shared.cli", "local", "--deployment", "deploy/fc3/s.yaml", "--json",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    steps = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert steps[0]["step"] == "fake cloud up" and "deploy/fc3/s.yaml (FC API fc3)" in steps[0]["detail"]
    assert "rolepact-agreement-intake" in steps[0]["detail"] and "rolepact-reconcile-worker" in steps[0]["detail"]
    assert len(steps) >= 15 and all(step["ok"] is not False for step in steps)
    status = json.loads((out / "status" / "company-b-ecs-admin.json").read_text())
    assert status["state"] == "ended" and status["ended"]["reason"] == "expired"


def test_a_deployment_file_left_unresolved_is_refused_with_exit_2(tmp_path):
    broken = tmp_path / "s.yaml"
    broken.write_text((ROOT / "s.yaml").read_text("utf-8").replace("${env(ROLEPACT_BUCKET)}", "${env(BUCKET_TYPO)}"))
    done = subprocess.run([sys.executable, "-m", "shared.cli", "local", "--deployment", str(broken), "--out",
                           str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "${env(BUCKET_TYPO)}" in done.stderr and "Traceback" not in done.stderr


def test_the_main_job_as_json_lines(tmp_path):
    done = subprocess.run([sys.executable, "-m", "shared.cli", "local", "--json", "--out", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and len(lines) >= 10 and {"time", "step", "ok"} <= set(lines[0])


def test_watch_mode_reacts_to_files_dropped_and_deleted(tmp_path):
    bucket = tmp_path / "bucket"
    (bucket / "agreements").mkdir(parents=True)
    agreement = bucket / "agreements" / "company-b-ecs-admin.json"
    stream, stop = io.StringIO(), threading.Event()

    def wait_for(text: str, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in stream.getvalue():
                return True
            time.sleep(0.05)
        return False

    def user():
        try:
            wait_for("watching")
            agreement.write_bytes(EXAMPLE.read_bytes())
            assert wait_for("Agreement company-b-ecs-admin granted")
            agreement.unlink()
            wait_for("ended: its file was deleted")
        finally:
            stop.set()

    helper = threading.Thread(target=user, daemon=True)
    helper.start()
    assert watch(bucket, tmp_path / "out", interval=0.2, stream=stream, stop_after=60, stop=stop) == 0
    helper.join(timeout=5)
    output = stream.getvalue()
    assert "uploaded agreements/company-b-ecs-admin.json" in output
    assert "Agreement company-b-ecs-admin granted" in output
    assert "deleted agreements/company-b-ecs-admin.json" in output
    assert "ended: its file was deleted" in output
    status = json.loads((tmp_path / "out" / "status" / "company-b-ecs-admin.json").read_text())
    assert status["state"] == "ended" and status["ended"]["reason"] == "deleted"
