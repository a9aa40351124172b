"""Identifiers in the shapes Alibaba Cloud uses (seeded for reproducible test runs)."""
from __future__ import annotations

import random
import string
import threading
import uuid

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


def request_id() -> str:
    return str(uuid.UUID(int=_rng.getrandbits(128), version=4)).upper()


def event_id() -> str:
    return str(uuid.UUID(int=_rng.getrandbits(128), version=4)).upper()


def hex_id(n: int) -> str:
    return _choice("0123456789abcdef", n)
