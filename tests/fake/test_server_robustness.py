"""Server mode as an HTTP server: keep-alive, chunked bodies, HEAD, large bodies, many clients at
once, and clients that misbehave (hang up mid-body, send broken framing, leave before the answer).

The server runs in this process (`FakeCloudServer`) so the cloud's state can be inspected; the
subprocess form is covered by test_server_mode.py.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import oss2
import pytest
import requests
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi.models import Config

from fakecloud import FakeCloud
from fakecloud.server import FakeCloudServer

A = "1234567890123456"


@pytest.fixture
def served():
    cloud = FakeCloud()
    root = cloud.add_account(A, "company-a")
    with FakeCloudServer(cloud) as server:
        data = oss2.Bucket(oss2.Auth(root.access_key_id, root.access_key_secret), server.url, "bkt")
        data.create_bucket()
        yield cloud, server, root, data


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def raw_exchange(port: int, request: bytes, *, shut_write: bool = True, wait: float = 2.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(request)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def test_one_keep_alive_connection_carries_head_get_errors_and_pop_calls(served):
    cloud, server, root, data = served
    data.put_object("k", b"hello")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("HEAD", path_of(data.sign_url("HEAD", "k", 60)))
    head = conn.getresponse()
    assert (head.status, head.getheader("Content-Length"), head.read()) == (200, "5", b"")
    sock = conn.sock
    conn.request("GET", path_of(data.sign_url("HEAD", "k", 60)))  # signed for HEAD, sent as GET
    mismatch = conn.getresponse()
    assert mismatch.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in mismatch.read()
    conn.request("HEAD", path_of(data.sign_url("HEAD", "missing", 60)))
    gone = conn.getresponse()
    assert (gone.status, gone.getheader("Content-Length"), gone.read()) == (404, "0", b"")
    assert gone.getheader("x-oss-err")  # the XML error travels in a header on HEAD, as OSS does
    conn.request("GET", path_of(data.sign_url("GET", "k", 60)))
    assert conn.getresponse().read() == b"hello"
    conn.request("POST", "/?RoleName=x", headers={"x-acs-version": "2015-05-01", "x-acs-action": "GetRole"})
    pop = conn.getresponse()
    assert (pop.status, json.loads(pop.read())["Code"]) == (400, "MissingSignature")
    assert conn.sock is sock  # every answer had a length: the same connection served all five
    conn.close()


def test_chunked_request_bodies_are_read_whole(served):
    cloud, server, root, data = served
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("PUT", path_of(data.sign_url("PUT", "chunked.bin", 60)),
                 body=iter([b"ab", b"", b"c" * 70000, b"d"]), encode_chunked=True)
    reply = conn.getresponse()
    assert reply.status == 200, reply.read()
    reply.read()
    conn.request("GET", path_of(data.sign_url("GET", "chunked.bin", 60)))
    assert conn.getresponse().read() == b"ab" + b"c" * 70000 + b"d"


def test_large_bodies_round_trip(served):
    cloud, server, root, data = served
    payload = bytes(range(256)) * (48 * 1024)  # 12 MiB
    data.put_object("big.bin", payload)
    got = data.get_object("big.bin").read()
    assert hashlib.md5(got).digest() == hashlib.md5(payload).digest()
    assert data.head_object("big.bin").content_length == len(payload)


def test_many_clients_at_once(served):
    cloud, server, root, data = served

    def client(i: int) -> str:
        ram = RamClient(Config(access_key_id=root.access_key_id, access_key_secret=root.access_key_secret,
                               endpoint=f"127.0.0.1:{server.port}", protocol="http", region_id="cn-hangzhou"))
        ram.create_user(ram_models.CreateUserRequest(user_name=f"u{i:02d}"))
        bucket = oss2.Bucket(oss2.Auth(root.access_key_id, root.access_key_secret), server.url, "bkt")
        bucket.put_object(f"k{i:02d}", str(i).encode())
        return bucket.get_object(f"k{i:02d}").read().decode()

    with ThreadPoolExecutor(32) as pool:
        assert list(pool.map(client, range(32))) == [str(i) for i in range(32)]
    assert len(cloud.backend("ram").list_users(A)) == 32
    assert cloud.calls.count("CreateUser", ok=True) == 32 and cloud.calls.count("PutObject", ok=True) == 32


def test_pop_calls_over_http_are_not_held_back_by_nagle(served):
    """Each answer used to wait ~40 ms for the client's delayed ACK (headers and body are two
    writes): 20 sequential calls took most of a second; a round trip should cost milliseconds."""
    cloud, server, root, data = served
    ram = RamClient(Config(access_key_id=root.access_key_id, access_key_secret=root.access_key_secret,
                           endpoint=f"127.0.0.1:{server.port}", protocol="http", region_id="cn-hangzhou"))
    ram.get_account_alias()  # connection set up
    started = time.perf_counter()
    for _ in range(20):
        ram.get_account_alias()
    assert time.perf_counter() - started < 0.6


def test_a_client_hanging_up_mid_body_changes_nothing(served):
    """Content-Length 1000, 10 bytes, then the client is gone: the upload must not be stored
    (it used to be, truncated, and answered 200 to nobody)."""
    cloud, server, root, data = served
    path = path_of(data.sign_url("PUT", "half.bin", 60))
    head = f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: 1000\r\n\r\n".encode()
    assert raw_exchange(server.port, head + b"x" * 10) == b""
    chunked = f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert raw_exchange(server.port, chunked.encode() + b"a\r\nxxxxx") == b""
    time.sleep(0.1)
    assert cloud.backend("oss").get_object_direct(A, "bkt", "half.bin") is None
    assert cloud.calls.count("PutObject") == 0
    assert requests.get(f"{server.url}/_fakecloud/health", timeout=5).ok


@pytest.mark.parametrize("framing", [b"Content-Length: abc\r\n\r\n", b"Content-Length: -5\r\n\r\n",
                                     b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"])
def test_broken_framing_is_a_400_and_the_connection_closes(served, framing):
    cloud, server, root, data = served
    reply = raw_exchange(server.port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + framing, shut_write=False)
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in reply
    assert requests.get(f"{server.url}/_fakecloud/health", timeout=5).ok


def test_a_client_leaving_before_the_answer_does_not_hurt_the_server(served, capfd):
    cloud, server, root, data = served
    data.put_object("big.bin", b"z" * (8 * 1024 * 1024))
    request = f"GET {path_of(data.sign_url('GET', 'big.bin', 60))} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.sendall(request)
            sock.recv(10)  # read a little, then reset the connection
    assert data.get_object("big.bin").read() == b"z" * (8 * 1024 * 1024)
    time.sleep(0.2)
    assert "Traceback" not in capfd.readouterr().err


def test_non_latin1_response_headers_go_out_as_utf8_bytes(served):
    """A UTF-8 file name in response-content-disposition used to crash the response (http.server
    encodes headers as latin-1) and the client saw the connection drop."""
    cloud, server, root, data = served
    data.put_object("report.csv", b"a,b")
    disposition = 'attachment; filename="报告 2026.csv"'
    url = data.sign_url("GET", "report.csv", 60, params={"response-content-disposition": disposition})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", path_of(url))
    reply = conn.getresponse()
    assert reply.read() == b"a,b"
    assert reply.getheader("Content-Disposition").encode("latin-1").decode("utf-8") == disposition
