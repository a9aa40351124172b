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


def object_loader(schema: dict):
    """`loads` for JSON objects of which only the keys of `schema` are wanted: the others are skipped
    unread, which is most of the work for a large record. `schema` maps each wanted key to None (take
    the value as it is) or to a nested schema of the same kind (that value, an object, trimmed too).

    Answers `{k: v for k, v in json.loads(data).items() if k in schema}` (nested likewise); a
    document that is not such an object (or is not strict JSON) is answered by `loads` whole.
    """
    if msgspec is None:
        return loads
    decode = msgspec.json.Decoder(_typed_dict(schema)).decode

    def load_object(data):
        try:
            return decode(data)
        except _DecodeError:  # not an object, a nested value of another type, not strict JSON: as json.loads
            return loads(data)

    return load_object


def _typed_dict(schema: dict, name: str = "Trimmed"):
    from typing import Any, TypedDict

    fields = {key: Any if nested is None else _typed_dict(nested, f"{name}_{key}") for key, nested in schema.items()}
    return TypedDict(name, fields, total=False)
