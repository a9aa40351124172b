"""Server mode: the same fake over HTTP on 127.0.0.1, for SDKs in any language.

One port serves every service; requests are routed by Host when it names an Alibaba
endpoint, else by content (POP version header, FC path, DingTalk path, OSS path style).
A `FakeCrash` fault closes the connection without an answer, like a dropped response.
"""
from __future__ import annotations

import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fakecloud.cloud import FakeCloud
from fakecloud.errors import FakeCrash, UnservedEndpoint
from fakecloud.wire import Request

log = logging.getLogger("fakecloud.server")


class _BadRequest(Exception):
    """A request whose framing cannot be read (bad Content-Length or chunk size): 400, then close."""


class _ClientGone(Exception):
    """The client closed the connection before the announced body arrived."""


def _wire_header_value(value) -> str:
    """A header value as http.server can send it (latin-1). Text outside latin-1 (a UTF-8 file
    name in `response-content-disposition`) goes out as its UTF-8 bytes, as OSS sends it, instead
    of failing the whole response."""
    text = str(value)
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        text = text.encode("utf-8").decode("latin-1")
    return text


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Socket timeout: an idle keep-alive connection, or a client that stalls mid-body, frees its
    # thread after this long instead of holding it forever.
    timeout = 120
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body then waits
    # for the client's delayed ACK (~40 ms per call on Linux), which made every POP call slow.
    disable_nagle_algorithm = True
    server_version = "fakecloud"
    sys_version = ""

    def _read_body(self) -> bytes:
        """The whole request body, or `_BadRequest` / `_ClientGone`.

        A body shorter than announced means the client went away mid-request: the request is
        dropped unanswered and changes nothing, like on the real service (a half-sent PutObject
        must not store the half that arrived).
        """
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line.endswith(b"\n"):
                    if len(line) > 65536:
                        raise _BadRequest("chunk size line too long")
                    raise _ClientGone()
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise _BadRequest(f"invalid chunk size {line[:40]!r}")
                if size < 0:
                    raise _BadRequest("invalid chunk size")
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    break
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    raise _ClientGone()
                chunks.append(chunk)
                self.rfile.readline(65537)
            return b"".join(chunks)
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            length = -1
        if length < 0:
            raise _BadRequest(f"invalid Content-Length {raw_length!r}")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise _ClientGone()
        return body

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BadRequest as problem:
            self.close_connection = True
            self._write(400, {"Content-Type": "text/plain", "Connection": "close"}, str(problem).encode())
            return
        except (_ClientGone, ConnectionError, TimeoutError):
            self.close_connection = True
            return
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
        try:
            # send_response() would add its own Server and Date headers beside the service's: a
            # client then sees two Date values (and OSS's, the only one, carries the fake's clock).
            self.log_request(status)
            self.send_response_only(status)
            present = {name.lower() for name in headers}
            if "server" not in present:
                self.send_header("Server", self.version_string())
            if "date" not in present:
                self.send_header("Date", self.date_time_string())
            sent_length = False
            for name, value in headers.items():
                if name.lower() == "content-length":
                    sent_length = True
                self.send_header(name, _wire_header_value(value))
            if not sent_length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)
            self.wfile.flush()
        except (ConnectionError, TimeoutError):  # the client hung up before reading the answer
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.client_address[0], *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a burst of concurrent clients (SDK connection
    # pools, parallel tests) overflowed it and got resets or a 1 s SYN retry.
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        """A client that resets or times out its connection is routine, not a traceback on stderr."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            log.debug("connection from %s dropped", client_address)
            return
        super().handle_error(request, client_address)


class FakeCloudServer:
    """A FakeCloud behind a threaded HTTP server; `start()` serves in a background thread."""

    def __init__(self, cloud: FakeCloud | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.cloud = cloud or FakeCloud()
        self.httpd = _Server((host, port), _Handler)
        self.httpd.cloud = self.cloud
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeCloudServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fakecloud-server", daemon=True)
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


class ServerProcess:
    """`python -m fakecloud` in a child process, for clients that must talk over real HTTP
    (other languages, or rolepact's own real-mode code paths such as `rolepact doctor`).

        with ServerProcess(["1234567890123456:company-a:LTAI5t…:secret"]) as server:
            server.url, server.accounts["1234567890123456"]["accessKeyId"]
    """

    def __init__(self, accounts: list[str], *, extra_args: list[str] | None = None, timeout: float = 15.0,
                 env: dict[str, str] | None = None) -> None:
        """`env`: the server's environment (default: this process's), e.g. a PYTHONPATH under which
        the handlers of functions created over the FC 3.0 API can be imported."""
        self.account_specs = accounts
        self.extra_args = extra_args or []
        self.env = env
        self.timeout = timeout
        self.process = None
        self.url = ""
        self.port = 0
        self.accounts: dict[str, dict] = {}

    def start(self) -> "ServerProcess":
        import socket
        import subprocess
        import time
        import urllib.request

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        command = [sys.executable, "-m", "fakecloud", "--port", str(self.port), *self.extra_args]
        for spec in self.account_specs:
            command += ["--account", spec]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                        env=self.env)
        banner = json.loads(self.process.stdout.readline() or "{}")
        self.url, self.accounts = banner.get("fakecloud", ""), banner.get("accounts", {})
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_fakecloud/health", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"python -m fakecloud did not start: {' '.join(command)}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
