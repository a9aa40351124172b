"""Condition operators of the RAM policy language, and the wildcard matcher they share.

Policy values are parsed once, when the policy is compiled, so a bad date, number or
CIDR in a policy is a grammar error (`ConditionError`, wrapped by the grammar module
into a `PolicyGrammarError` naming the statement).  Context values are converted at
evaluation time and never raise: a value the operator cannot interpret makes the
condition unsatisfied.

Semantics (Alibaba Cloud RAM, which follows AWS here):

* Values listed for one key are OR'ed; several keys under one operator and several
  operators are AND'ed (the AND is done by the evaluator, which gets one `Condition`
  per operator/key pair).
* Missing key, plain operators: positive ones evaluate to false.  What RAM does with a
  *negated* operator (StringNotEquals, NotIpAddress, ...) on a key the request does not
  carry is not documented; the fake's guess is an option (`RequestContext.negated_missing`):
  False (default) = the condition is false, so e.g. a Deny guarded by `NotIpAddress` does
  not fire -- the permissive reading, which makes a product that relies on such a Deny fail
  its tests; True = "absent means not-equal" (AWS's reading).
* `...IfExists` variants of every operator (RAM's time-of-day page documents them for the
  Date operators; AWS semantics): the condition is true when the key is missing, and is
  the plain operator otherwise.
* Context value lists (and sets/tuples): a positive operator is satisfied when ANY
  context value matches ANY policy value; a negated operator when NO context value
  matches any policy value.  An empty list counts as a missing key.
* Bad context value (e.g. "abc" for a Numeric operator, "not-an-ip" for IpAddress):
  if any of the request's values for the key cannot be interpreted, the condition is
  unsatisfied, for negated operators too.  Guessing either way could grant access.
"""
from __future__ import annotations

import functools
import ipaddress
import math
import operator
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable

__all__ = [
    "Condition",
    "ConditionError",
    "OPERATORS",
    "compile_conditions",
    "parse_datetime",
    "wildcard_match",
    "wildcard_regex",
]


class ConditionError(ValueError):
    """A Condition block that cannot be compiled; the message names operator and key."""


# --------------------------------------------------------------------------- wildcards


def _translate(pattern: str) -> str:
    """Regex source for one wildcard pattern: '*' = any run (even empty), '?' = one char."""
    return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)


@functools.lru_cache(maxsize=4096)
def wildcard_regex(patterns: tuple[str, ...], case_insensitive: bool = False) -> re.Pattern[str]:
    """One compiled regex matching any of `patterns` in full.

    Cached because the same patterns recur across policies and the translation is the
    only non-trivial cost of compiling a statement.
    """
    source = "|".join(f"(?:{_translate(p)})" for p in patterns)
    flags = re.DOTALL | (re.IGNORECASE if case_insensitive else 0)
    return re.compile(source, flags)


def wildcard_match(pattern: str, value: str, *, case_insensitive: bool = False) -> bool:
    """True if `value` matches `pattern` in full ('*' any sequence incl. empty, '?' one char)."""
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern.casefold() == value.casefold() if case_insensitive else pattern == value
    return wildcard_regex((pattern,), case_insensitive).fullmatch(value) is not None


# --------------------------------------------------------------------------- value parsing

_BAD = object()  # sentinel: a context value the operator cannot interpret

_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"([Zz]|[+-]\d{2}(?::?\d{2})?)?"
)
# What RAM documents for date condition values: ISO 8601 `YYYY-MM-DDThh:mm:ssZ` or with an
# offset `YYYY-MM-DDThh:mm:ss+hh:mm` (RAM "Allow or deny access based on time of day").
POLICY_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})")


@functools.lru_cache(maxsize=4096)
def parse_datetime(text: str) -> datetime | None:
    """Parse ISO 8601 into an aware UTC datetime, or None.

    Accepts 'Z' or '+08:00'-style offsets and date-only values (midnight).  A value
    without an offset is taken as UTC, which is what RAM does with acs:CurrentTime.
    Hand-written rather than `datetime.fromisoformat` so Python 3.10 accepts 'Z' too.
    Cached: the same acs:CurrentTime string is tested by several statements per call.
    """
    m = _ISO_RE.fullmatch(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, frac, tz = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        dt = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                      int(second or 0), micro, tzinfo=timezone.utc)
    except ValueError:  # e.g. month 13, Feb 30
        return None
    if tz and tz not in ("Z", "z"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if hours > 23 or minutes > 59:
            return None
        dt -= sign * timedelta(hours=hours, minutes=minutes)  # wall time -> UTC instant
    return dt


def _number(value: object) -> int | float | object:
    """int/float (bools excluded), or a numeric string; `_BAD` otherwise.

    Integers stay ints so large ids compare exactly; NaN/inf are refused because they
    make every comparison meaningless.
    """
    if isinstance(value, bool):
        return _BAD
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _BAD
    if isinstance(value, str):
        text = value.strip()
        if "_" in text:  # int()/float() accept "1_000"; RAM does not
            return _BAD
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return _BAD
        return number if math.isfinite(number) else _BAD
    return _BAD


def _context_string(value: object) -> str | object:
    """Context value as the string RAM would compare; JSON spelling for bools."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return _BAD


def _policy_string(value: object) -> str:
    if isinstance(value, (str, int, float)):  # bool is an int; _context_string spells it
        return _context_string(value)  # type: ignore[return-value]
    raise ValueError(f"expected a string, got {type(value).__name__}")


def _context_date(value: object) -> datetime | object:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, str):
        parsed = parse_datetime(value)
        return _BAD if parsed is None else parsed
    number = _number(value)  # epoch seconds, as AWS also accepts
    if number is _BAD:
        return _BAD
    try:
        return datetime.fromtimestamp(number, tz=timezone.utc)  # type: ignore[arg-type]
    except (OverflowError, OSError, ValueError):
        return _BAD


def _policy_date(value: object) -> datetime:
    """Only the documented format: no date-only value, no missing zone, no space, no fraction."""
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 date string, got {value!r}")
    parsed = parse_datetime(value) if POLICY_DATE_RE.fullmatch(value) else None
    if parsed is None:
        raise ValueError(f"invalid date {value!r} (expected YYYY-MM-DDThh:mm:ssZ or YYYY-MM-DDThh:mm:ss+hh:mm)")
    return parsed


def _policy_number(value: object) -> int | float:
    number = _number(value)
    if number is _BAD:
        raise ValueError(f"invalid number {value!r}")
    return number  # type: ignore[return-value]


def _bool(value: object) -> bool | object:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return _BAD


def _policy_bool(value: object) -> bool:
    parsed = _bool(value)
    if parsed is _BAD:
        raise ValueError(f"invalid boolean {value!r} (use true/false)")
    return parsed  # type: ignore[return-value]


def _policy_network(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(value, str):
        raise ValueError(f"expected an IP address or CIDR string, got {value!r}")
    try:
        return ipaddress.ip_network(value, strict=False)  # host bits allowed: "10.0.0.1/24"
    except ValueError:
        raise ValueError(f"invalid IP address or CIDR {value!r}") from None


def _context_ip(value: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | object:
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        address = value
    elif isinstance(value, str):
        return _parse_ip(value)
    else:
        return _BAD
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # "::ffff:1.2.3.4" is an IPv4 client behind a v6 socket
    return address


@functools.lru_cache(maxsize=4096)
def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | object:
    """Cached: ipaddress parsing dominates IpAddress checks, and callers reuse few IPs."""
    try:
        return _context_ip(ipaddress.ip_address(text.strip()))
    except ValueError:
        return _BAD


# --------------------------------------------------------------------------- operators

Matcher = Callable[[object], bool]  # converted context value -> matches any policy value?


def _any_of(test: Callable[[object, object], bool], values: tuple) -> Matcher:
    return lambda ctx_value: any(test(ctx_value, v) for v in values)


def _compile_equal(values: tuple) -> Matcher:
    return frozenset(values).__contains__


def _compile_like(values: tuple) -> Matcher:
    regex = wildcard_regex(tuple(values))
    return lambda ctx_value: regex.fullmatch(ctx_value) is not None  # type: ignore[arg-type]


def _compile_networks(values: tuple) -> Matcher:
    return lambda address: any(address in net for net in values)  # v4-in-v6 is just False


@dataclass(frozen=True)
class _Operator:
    """How one operator parses policy values, converts context values and matches."""

    parse: Callable[[object], object]      # policy value -> parsed (raises ValueError)
    convert: Callable[[object], object]    # context value -> converted or _BAD
    compile: Callable[[tuple], Matcher]    # parsed policy values -> matcher
    negated: bool = False


def _cmp(op: Callable[[object, object], bool]) -> Callable[[tuple], Matcher]:
    return lambda values: _any_of(op, values)


def _casefold_string(value: object) -> object:
    converted = _context_string(value)
    return converted if converted is _BAD else converted.casefold()  # type: ignore[union-attr]


def _family(prefix: str, parse, convert, comparisons: dict[str, Callable[[tuple], Matcher]],
            equals: Callable[[tuple], Matcher]) -> dict[str, _Operator]:
    ops = {
        f"{prefix}Equals": _Operator(parse, convert, equals),
        f"{prefix}NotEquals": _Operator(parse, convert, equals, negated=True),
    }
    for suffix, compiler in comparisons.items():
        ops[f"{prefix}{suffix}"] = _Operator(parse, convert, compiler)
    return ops


_ORDERINGS = {
    "LessThan": _cmp(operator.lt),
    "LessThanEquals": _cmp(operator.le),
    "GreaterThan": _cmp(operator.gt),
    "GreaterThanEquals": _cmp(operator.ge),
}

OPERATORS: dict[str, _Operator] = {
    "StringEquals": _Operator(_policy_string, _context_string, _compile_equal),
    "StringNotEquals": _Operator(_policy_string, _context_string, _compile_equal, negated=True),
    "StringEqualsIgnoreCase": _Operator(lambda v: _policy_string(v).casefold(), _casefold_string,
                                        _compile_equal),
    "StringNotEqualsIgnoreCase": _Operator(lambda v: _policy_string(v).casefold(), _casefold_string,
                                           _compile_equal, negated=True),
    "StringLike": _Operator(_policy_string, _context_string, _compile_like),
    "StringNotLike": _Operator(_policy_string, _context_string, _compile_like, negated=True),
    **_family("Numeric", _policy_number, _number, _ORDERINGS, _cmp(operator.eq)),
    **_family("Date", _policy_date, _context_date, _ORDERINGS, _cmp(operator.eq)),
    "Bool": _Operator(_policy_bool, _bool, _compile_equal),
    "IpAddress": _Operator(_policy_network, _context_ip, _compile_networks),
    "NotIpAddress": _Operator(_policy_network, _context_ip, _compile_networks, negated=True),
}
IF_EXISTS = "IfExists"
OPERATORS.update({f"{name}{IF_EXISTS}": spec for name, spec in list(OPERATORS.items())})


@dataclass(frozen=True, eq=False)
class Condition:
    """One operator/key pair of a Condition block, with its policy values pre-parsed."""

    operator: str
    key: str
    key_lower: str  # condition keys are case-insensitive; the evaluator looks this up
    values: tuple  # parsed policy values, for introspection and repr
    negated: bool
    if_exists: bool
    _convert: Callable[[object], object] = field(repr=False)
    _matches: Matcher = field(repr=False)

    def is_satisfied(self, context_value: object, present: bool = True, negated_missing: bool = False) -> bool:
        """Evaluate against the request's value(s) for this key; see module docstring.

        `negated_missing`: what a plain negated operator gives for a missing key (the fake's guess)."""
        raw = context_value if isinstance(context_value, (list, tuple, set, frozenset)) else (context_value,)
        if not present or not raw:
            return self.if_exists or (self.negated and negated_missing)
        hit = False
        for item in raw:
            converted = self._convert(item)
            if converted is _BAD:
                return False
            if not hit and self._matches(converted):
                hit = True
        return not hit if self.negated else hit


def compile_conditions(block: object) -> tuple[Condition, ...]:
    """Validate and compile a Condition block `{Operator: {Key: value | [values]}}`.

    Raises `ConditionError` with a message naming the offending operator/key.
    """
    if not isinstance(block, dict) or not block:
        raise ConditionError("must be a non-empty object of {Operator: {Key: values}}")
    compiled: list[Condition] = []
    for op_name, keys in block.items():
        spec = OPERATORS.get(op_name)
        if spec is None:
            raise ConditionError(f"unknown operator {op_name!r}")
        if not isinstance(keys, dict) or not keys:
            raise ConditionError(f"{op_name} must be a non-empty object of {{Key: values}}")
        for key, raw_values in keys.items():
            if not isinstance(key, str) or not key.strip():
                raise ConditionError(f"{op_name}: condition key must be a non-empty string")
            values = raw_values if isinstance(raw_values, list) else [raw_values]
            if not values:
                raise ConditionError(f"{op_name} {key!r}: value list must not be empty")
            parsed = []
            for value in values:
                if value is None or isinstance(value, (list, dict)):
                    raise ConditionError(f"{op_name} {key!r}: values must be scalars, got {value!r}")
                try:
                    parsed.append(spec.parse(value))
                except ValueError as exc:
                    raise ConditionError(f"{op_name} {key!r}: {exc}") from None
            values_tuple = tuple(parsed)
            compiled.append(Condition(op_name, key, key.lower(), values_tuple, spec.negated,
                                      op_name.endswith(IF_EXISTS), spec.convert, spec.compile(values_tuple)))
    return tuple(compiled)
