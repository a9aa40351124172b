"""Transport-neutral request/response records.

Both the in-process `responses` hook and the HTTP server turn traffic into a `Request`,
hand it to `FakeCloud.handle`, and write the `Response` back, so every behaviour is the
same in both modes.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from operator import itemgetter
from urllib.parse import unquote, unquote_plus, urlsplit

_second = itemgetter(1)
_ONLY_STR = frozenset([str])


class cached_property:  # noqa: N801 - drop-in for functools.cached_property
    """`functools.cached_property` without its per-access lock (Python < 3.12 takes one).

    Every request builds a new `Request` and reads these properties once or twice, on one thread.
    """

    def __init__(self, func) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    peer_ip: str | None = None  # TCP peer in server mode; None in-process

    @classmethod
    def build(cls, method: str, url: str, headers, body, peer_ip: str | None = None) -> "Request":
        store = getattr(headers, "_store", None)
        if type(store) is OrderedDict:  # requests' CaseInsensitiveDict: {lower name: (name, value)}, read in C
            lowered = dict(zip(store, map(_second, store.values())))
        elif hasattr(headers, "lower_items"):
            lowered = dict(headers.lower_items())
        else:
            pairs = headers.items() if hasattr(headers, "items") else (headers or ())
            lowered = {str(k).lower(): v for k, v in pairs}
        if not set(map(type, lowered.values())) <= _ONLY_STR:
            lowered = {k: v.decode("latin-1") if isinstance(v, bytes) else str(v) for k, v in lowered.items()}
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
        return parse_query(self._split.query)

    @cached_property
    def query(self) -> dict[str, str]:
        return dict(self.query_pairs)

    @property
    def secure(self) -> bool:
        return self.scheme == "https"


def parse_query(query: str) -> list[tuple[str, str]]:
    """`parse_qsl(query, keep_blank_values=True)`, minus the work for the usual plain values.

    Every request goes through this; pieces without `%` or `+` need no unquoting.
    """
    pairs = []
    for piece in query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        pairs.append((name, value))
    return pairs


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
