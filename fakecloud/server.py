"""Server mode: the same fake over HTTP on 127.0.0.1, for SDKs in any language.

One port serves every service; requests are routed by Host when it names an Alibaba
endpoint, else by content (POP version header, FC path, DingTalk path, OSS path style).
A `FakeCrash` fault closes the connection without an answer, like a dropped response.
"""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fakecloud.cloud import FakeCloud
from fakecloud.errors import FakeCrash, UnservedEndpoint
from fakecloud.wire import Request

log = logging.getLogger("fakecloud.server")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakecloud"
    sys_version = ""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._read_body()
        scheme = "http"
        url = f"{scheme}://{self.headers.get('Host', 'localhost')}{self.path}"
        request = Request.build(self.command, url, dict(self.headers.items()), body, peer_ip=self.client_address[0])
        try:
            response = self.server.cloud.handle(request)
        except UnservedEndpoint as problem:
            self._write(404, {"Content-Type": "text/plain"}, str(problem).encode())
            return
        except FakeCrash:
            self.close_connection = True
            self.connection.close()
            return
        except Exception:  # a bug in the fake: answer 500 and keep serving
            log.exception("fakecloud failed on %s %s", self.command, self.path)
            self._write(500, {"Content-Type": "text/plain"}, b"fakecloud internal error")
            return
        self._write(response.status, response.headers, response.body)

    def _write(self, status: int, headers: dict, body: bytes) -> None:
        self.send_response(status)
        sent_length = False
        for name, value in headers.items():
            if name.lower() == "content-length":
                sent_length = True
            self.send_header(name, str(value))
        if not sent_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.client_address[0], *args)


class FakeCloudServer:
    """A FakeCloud behind a threaded HTTP server; `start()` serves in a background thread."""

    def __init__(self, cloud: FakeCloud | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.cloud = cloud or FakeCloud()
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.cloud = self.cloud
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeCloudServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fakecloud-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "FakeCloudServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def banner(server: FakeCloudServer, credentials: dict) -> str:
    return json.dumps({"fakecloud": server.url, "accounts": credentials})
