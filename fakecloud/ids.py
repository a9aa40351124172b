"""Identifiers in the shapes Alibaba Cloud uses (seeded for reproducible test runs)."""
from __future__ import annotations

import random
import string
import threading

_rng = random.Random(20261127)
_lock = threading.Lock()
_ALNUM = string.ascii_letters + string.digits


def _choice(alphabet: str, n: int) -> str:
    with _lock:
        return "".join(_rng.choice(alphabet) for _ in range(n))


def access_key_id() -> str:
    """`LTAI5t` + 18 alphanumerics (24 chars), like a current permanent AccessKey id."""
    return "LTAI5t" + _choice(_ALNUM, 18)


def access_key_secret() -> str:
    return _choice(_ALNUM, 30)


def sts_access_key_id() -> str:
    return "STS." + _choice(_ALNUM, 28)


def security_token() -> str:
    return "CAIS" + _choice(_ALNUM + "+/", 200)


def numeric_id(digits: int, first: str = "2") -> str:
    return first + _choice(string.digits, digits - 1)


# Version-4 / RFC 4122 variant bits, set exactly as `uuid.UUID(int=..., version=4)` sets them.
_UUID_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID_SET = (0x8000 << 48) | (4 << 76)


def uuid_text(bits: int) -> str:
    """Same string as `str(uuid.UUID(int=bits, version=4)).upper()`, without building a UUID (hot path)."""
    h = ((bits & _UUID_CLEAR) | _UUID_SET).to_bytes(16, "big").hex().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid_bits() -> int:
    """The random bits of the next id: drawn now (the seeded sequence stays the same), formatted later."""
    return _rng.getrandbits(128)


def request_id() -> str:
    return uuid_text(_rng.getrandbits(128))


def event_id() -> str:
    return uuid_text(_rng.getrandbits(128))


def hex_id(n: int) -> str:
    return _choice("0123456789abcdef", n)
