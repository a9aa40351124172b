"""The audit's JSON parsing: msgspec's speed with exactly `json.loads`'s answers, and stored
lines read back whole whatever characters their values hold."""
from __future__ import annotations

import gzip
import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from shared.audit import fastjson
from shared.audit.storage import decode_lines, encode_lines

TRICKY = [
    b'{"a": 1, "b": [true, false, null], "c": "\\u00e9\\ud83d\\ude00"}',
    '{"eventId": "x", "v": "line\u2028separator\u2029and\x85next"}',
    b'{"big": 123456789012345678901234567890}',  # beyond 64 bits (orjson would answer a float)
    b'{"nan": NaN, "inf": -Infinity}',  # not JSON, but json.loads accepts it
    b'{"lone": "\\ud800"}',  # a lone surrogate escape
    b'"\\udd1e\\ud834"',  # surrogates in the wrong order
    b'1e400',  # json.loads: inf
    '{"a": 1}'.encode("utf-16"),  # json.loads detects UTF-16
    b'{"dup": 1, "dup": 2}',
    b"1.5e308",
]
BAD = [b"", b"{", b'{"a": }', b"\xff\xfe\x00", "{'single': 1}", b'"a\x01b"', b"[1,]", b"01", b'{"a":1}x']


def _same(left, right) -> bool:
    if isinstance(left, float) and math.isnan(left):
        return isinstance(right, float) and math.isnan(right)
    if isinstance(left, dict):
        return isinstance(right, dict) and left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return isinstance(right, list) and len(left) == len(right) and all(map(_same, left, right))
    return type(left) is type(right) and left == right


@pytest.mark.parametrize("document", TRICKY)
def test_loads_answers_what_json_loads_answers(document):
    assert _same(fastjson.loads(document), json.loads(document))


@pytest.mark.parametrize("document", BAD)
def test_loads_refuses_what_json_loads_refuses_with_the_same_error(document):
    with pytest.raises(ValueError) as expected:
        json.loads(document)
    with pytest.raises(type(expected.value)):
        fastjson.loads(document)


def test_loads_refuses_non_text_like_json_loads():
    with pytest.raises(TypeError):
        fastjson.loads({"already": "parsed"})


def test_the_declared_fast_parser_is_used():
    assert fastjson.PARSER == "msgspec"  # declared in pyproject.toml: a missing wheel must not go unnoticed


def test_without_msgspec_the_standard_parser_does_everything(monkeypatch):
    monkeypatch.setitem(sys.modules, "msgspec", None)  # `import msgspec` fails, find_spec finds nothing
    try:
        fallback = importlib.reload(fastjson)
        assert fallback.PARSER == "json" and fallback.object_loader({"a": None}) is fallback.loads
        for document in TRICKY:
            assert _same(fallback.loads(document), json.loads(document))
        stored = encode_lines([{"eventId": "a", "eventTime": "2027-03-01T00:00:00Z"}])
        import shared.audit.storage as storage

        monkeypatch.setattr(storage, "loads", fallback.loads)
        assert list(storage.decode_lines(stored)) == [{"eventId": "a", "eventTime": "2027-03-01T00:00:00Z"}]
    finally:
        monkeypatch.delitem(sys.modules, "msgspec")
        importlib.reload(fastjson)
    assert fastjson.PARSER == "msgspec"


def test_msgspec_is_imported_only_when_something_is_parsed():
    code = ("import sys, shared.audit.storage, shared.audit.normalize; assert 'msgspec' not in sys.modules; "
            "from shared.audit.normalize import load_event; load_event(b'{}'); assert 'msgspec' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_stored_lines_come_back_whole_whatever_their_values_hold():
    """U+2028, U+2029, NEL, form feeds and lone CRs are line breaks to `str.splitlines`: an event
    holding one (a partner can put them in request parameters) must not be cut and dropped."""
    events = [{"eventId": f"e{i}", "eventTime": "2027-03-01T00:00:00Z",
               "requestParameters": {"NewDescription": f"x{sep}y"}}
              for i, sep in enumerate(["\u2028", "\u2029", "\x85", "\x0c", "\r", "\x1c", "plain"])]
    assert list(decode_lines(encode_lines(events))) == events


def test_a_damaged_line_is_skipped_and_damaged_bytes_read_as_text_would_be():
    good = b'{"eventId": "a"}'
    not_utf8 = b'{"eventId": "b\xff"}'
    data = gzip.compress(b"\n".join([good, b"{damaged", not_utf8, b"", b"[1, 2]", good]) + b"\n")
    assert list(decode_lines(data)) == [{"eventId": "a"}, {"eventId": "b\ufffd"}, {"eventId": "a"}]
    assert list(decode_lines(b"not gzip")) == []


def _trimmed(value, schema):
    return {k: v if schema[k] is None or not isinstance(v, dict) else _trimmed(v, schema[k])
            for k, v in value.items() if k in schema}


def _raw_events():
    import random
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench.audit_throughput import generate

    return [json.loads(line) for line in generate(400, seed=13)] + [
        {"eventId": "x", "eventTime": "2027-03-01T00:00:00Z", "userIdentity": {"type": "ram-user", "extra": [1]},
         "requestParameters": {"RoleName": "r", "Nested": {"a": [1, {"b": None}]}}, "unknown": {"deep": [1, 2]},
         "errorCode": None, "isGlobal": True, "rolepact": {"agreementId": "a"}, "resourceName": 12345678901234567890123},
        {"eventId": "y", "userIdentity": None},  # not an object where one is expected: parsed whole
        {"eventId": "z", "userIdentity": "forged"},
        {"eventId": "w", "eventTime": "2027-03-01T00:00:00Z", "value": random.Random(1).random()},
    ]


def test_load_event_answers_the_fields_the_audit_reads_exactly_as_json_loads_would():
    from shared.audit.normalize import EVENT_SCHEMA, load_event

    for event in _raw_events():
        line = json.dumps(event).encode()
        expected = json.loads(line)
        got = load_event(line)
        if isinstance(expected.get("userIdentity", {}), dict):
            assert got == _trimmed(expected, EVENT_SCHEMA)
        else:
            assert got == expected


def test_load_event_keeps_everything_a_normalized_event_holds():
    """Stored events are normalized ones: the trimming schema must not drop any of their fields."""
    from shared.audit.normalize import load_event, normalize_event

    for raw in _raw_events():
        normalized, problem = normalize_event(raw)
        if problem is None:
            stored = dict(normalized, rolepact={"agreementId": "a", "kind": "partner"})
            assert load_event(json.dumps(stored).encode()) == stored


