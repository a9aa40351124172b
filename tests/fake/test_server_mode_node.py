"""Another language's official SDKs against the server mode: Node.js tea SDKs (STS, RAM) and ali-oss.

Needs `node` and `npm` (and the npm registry) on the machine; skipped otherwise — the
Python server-mode test covers the same ground with Python clients.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fc_support import free_port

HERE = Path(__file__).resolve().parent / "node"
KEY, SECRET = "LTAI5tNodeClient00000000", "node-client-secret"


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory):
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not installed")
    work = tmp_path_factory.mktemp("node")
    shutil.copy(HERE / "package.json", work / "package.json")
    shutil.copy(HERE / "server_mode_client.js", work / "client.js")
    try:
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund"], cwd=work, check=True,
                       capture_output=True, timeout=240)
    except (subprocess.SubprocessError, OSError) as problem:
        pytest.skip(f"npm install failed (no registry?): {problem}")
    return work


def test_node_sdks_talk_to_the_fake_over_http(node_modules):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "fakecloud", "--port", str(port), "--account",
                               f"1234567890123456:company-a:{KEY}:{SECRET}", "--account", "1345678901234567:company-b"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()  # the banner: the server is listening
        done = subprocess.run(["node", "client.js", str(port), KEY, SECRET], cwd=node_modules, capture_output=True,
                              text=True, timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == [
        "sts acs:ram::1234567890123456:root Account",
        "ram acs:ram::1234567890123456:role/node-role",
        "roles node-role",
        "err EntityNotExist.Role 404",
        "badsig SignatureDoesNotMatch 400",
        'oss {"a":1}',
        "oss list agreements/x.json",
    ]
