"""Transport-neutral request/response records.

Both the in-process `responses` hook and the HTTP server turn traffic into a `Request`,
hand it to `FakeCloud.handle`, and write the `Response` back, so every behaviour is the
same in both modes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    peer_ip: str | None = None  # TCP peer in server mode; None in-process

    @classmethod
    def build(cls, method: str, url: str, headers, body, peer_ip: str | None = None) -> "Request":
        lowered = {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}
        if body is None:
            raw = b""
        elif isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode("utf-8")
        elif hasattr(body, "read"):
            raw = body.read()
            raw = raw.encode("utf-8") if isinstance(raw, str) else raw
        else:  # generator / iterable of chunks (streamed uploads)
            raw = b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in body)
        return cls(method.upper(), url, lowered, raw, peer_ip)

    @cached_property
    def _split(self):
        return urlsplit(self.url)

    @property
    def scheme(self) -> str:
        return self._split.scheme or "http"

    @property
    def host(self) -> str:
        """Host without port, from the Host header when present (server mode), else the URL."""
        host = self.headers.get("host") or self._split.netloc
        return host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host.lower()

    @property
    def raw_host(self) -> str:
        return self.headers.get("host") or self._split.netloc

    @property
    def path(self) -> str:
        """The path exactly as sent (still percent-encoded)."""
        return self._split.path or "/"

    @property
    def unquoted_path(self) -> str:
        return unquote(self.path)

    @property
    def raw_query(self) -> str:
        return self._split.query

    @cached_property
    def query_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self._split.query, keep_blank_values=True)

    @cached_property
    def query(self) -> dict[str, str]:
        return dict(self.query_pairs)

    @property
    def secure(self) -> bool:
        return self.scheme == "https"


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
