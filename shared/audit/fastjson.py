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

import importlib.util
import json

# msgspec is imported on first use: every handler imports the audit's modules, and a cold start
# that never parses an event must not pay for it (bench/cold_start.py --smoke checks).
PARSER = "msgspec" if importlib.util.find_spec("msgspec") is not None else "json"
_msgspec = None


def _library():
    global _msgspec
    if _msgspec is None:
        import msgspec

        _msgspec = msgspec
    return _msgspec


def _fallback_to_json(decode, error):
    def load(data):
        try:
            return decode(data)
        except error:  # not strict JSON, or not of the expected shape: as json.loads answers it
            return json.loads(data)

    return load


def _lazy(build):
    """A loader built on its first call (`build()` returns the real one)."""
    real = None

    def load(data):
        nonlocal real
        if real is None:
            real = build()
        return real(data)

    return load


def loads(data):
    """`json.loads(data)`, fast for strict JSON."""
    return _loads(data)


if PARSER == "msgspec":
    _loads = _lazy(lambda: _fallback_to_json(_library().json.Decoder().decode, _library().DecodeError))
else:
    _loads = json.loads


def object_loader(schema: dict):
    """`loads` for JSON objects of which only the keys of `schema` are wanted: the others are skipped
    unread, which is most of the work for a large record. `schema` maps each wanted key to None (take
    the value as it is) or to a nested schema of the same kind (that value, an object, trimmed too).

    Answers `{k: v for k, v in json.loads(data).items() if k in schema}` (nested likewise); a
    document that is not such an object (or is not strict JSON) is answered by `loads` whole.
    """
    if PARSER != "msgspec":
        return loads
    return _lazy(lambda: _fallback_to_json(_library().json.Decoder(_typed_dict(schema)).decode,
                                           _library().DecodeError))


def _typed_dict(schema: dict, name: str = "Trimmed"):
    from typing import Any, TypedDict

    fields = {key: Any if nested is None else _typed_dict(nested, f"{name}_{key}") for key, nested in schema.items()}
    return TypedDict(name, fields, total=False)
