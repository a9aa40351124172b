"""`json.loads` for the access audit's volume, with msgspec doing the work.

The audit parses every stored event again when it rebuilds a digest, and every EventBridge
payload on arrival; the standard library's parser is most of that cost (docs/benchmarks.md,
"Access audit"). msgspec (a declared dependency, with manylinux x86_64 wheels for FC's
python3.10) parses the same documents about three times faster, into the same dicts and lists.

`loads` answers exactly what `json.loads` answers. msgspec agrees with it on every strict JSON
document (integers of any size included -- orjson, which turns integers beyond 64 bits into
floats, does not); what msgspec refuses (NaN and Infinity, lone surrogates, a BOM, UTF-16,
malformed text) is handed to `json.loads`, which parses it the standard way or raises its
usual `ValueError`. Without msgspec installed, `json.loads` does everything (tested).
"""
from __future__ import annotations

import json

try:
    import msgspec
except ImportError:  # exercised by tests/unit/test_audit_json.py with msgspec hidden
    msgspec = None

PARSER = "msgspec" if msgspec is not None else "json"

if msgspec is not None:
    _decode = msgspec.json.Decoder().decode
    _DecodeError = msgspec.DecodeError

    def loads(data):
        """`json.loads(data)`, fast for strict JSON."""
        try:
            return _decode(data)
        except _DecodeError:
            return json.loads(data)
else:
    loads = json.loads
