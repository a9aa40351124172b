"""The OSS gateway's proxies come from Settings, read once: requests would otherwise re-scan the
whole environment on every call (a fifth of an OSS call's CPU). Over real HTTP, against the fake's
server mode, a proxy is used when Settings captured one, bypassed for `no_proxy` hosts, and a
variable that appears in the environment later is never consulted."""
from __future__ import annotations

import socket

import oss2
import pytest

from fakecloud.server import ServerProcess
from shared.errors import CloudError
from shared.gateways.oss import ObjectStore
from shared.settings import Network, Settings

A, KEY, SECRET = "1234567890123456", "LTAI5tNetworkOwner0000000", "network-owner-secret"


def closed_port() -> int:
    with socket.socket() as sock:  # bound and closed again: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    with ServerProcess([f"{A}:company-a:{KEY}:{SECRET}"]) as running:
        oss2.Bucket(oss2.Auth(KEY, SECRET), running.url, "rolepact-data").create_bucket()
        yield running


def store(server, **env: str) -> ObjectStore:
    return ObjectStore(Settings.from_env({
        "ROLEPACT_ACCOUNT_ID": A, "ROLEPACT_OSS_ENDPOINT": server.url.split("://")[1],
        "ROLEPACT_ENDPOINT_PROTOCOL": "http", "ROLEPACT_MAX_ATTEMPTS": "1",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET, **env}))


def test_a_proxy_in_the_environment_after_settings_were_read_is_never_consulted(server, monkeypatch):
    direct = store(server)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port()}")
    direct.put_json("network/a.json", {"n": 1})
    assert direct.get_json("network/a.json") == {"n": 1}


def test_the_proxy_settings_captured_are_used_and_no_proxy_bypasses_them(server):
    dead = f"http://127.0.0.1:{closed_port()}"
    store(server).put_json("network/b.json", {"n": 2})
    with pytest.raises(CloudError):
        store(server, HTTP_PROXY=dead).get_json("network/b.json")
    assert store(server, HTTP_PROXY=dead, NO_PROXY="127.0.0.1").get_json("network/b.json") == {"n": 2}


def test_network_reads_lower_case_first_and_only_the_proxy_and_ca_variables():
    network = Network.from_env({"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:1",
                                "NO_PROXY": ".aliyuncs.com", "REQUESTS_CA_BUNDLE": "/etc/ca.pem", "PATH": "/bin"})
    assert network.proxies_for("https://rolepact-data.oss-cn-hangzhou.aliyuncs.com/x") == {}
    assert network.proxies_for("https://example.com/x") == {"https": "http://lower:1"}
    assert network.ca_bundle == "/etc/ca.pem"
    assert dict(network.variables).keys() == {"https_proxy", "no_proxy", "requests_ca_bundle"}
