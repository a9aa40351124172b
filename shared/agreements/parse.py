"""Bytes of an agreement file -> a validated `Agreement`, or every problem with its JSON path.

The file is untrusted bucket content. Whole-file problems (size, encoding, JSON syntax) stop at
once; everything else is collected, so one upload shows the author all their mistakes. Patterns
and limits come from `schema.py`, which publishes the same rules as a JSON Schema.
"""
from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import math
import re
from datetime import datetime, timedelta, timezone

from shared.agreements import schema as S
from shared.agreements.model import (API_VERSION, ON_EXPIRY_DELETE_ROLE, AccessConditions, Agreement, Party,
                                     PolicyGrant)
from shared.errors import AgreementRejected, Problem

FILE = "(file)"
MAX_NESTING = 32  # a valid agreement nests about 10 deep; this bounds every walk below

_ID_SEARCH_BYTES = 1 << 20  # read_agreement_id looks no further into a file of any size
_ABSENT = object()  # a field that is not in the file (unlike null, which is a wrong value)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

TOP_REQUIRED = ("apiVersion", "agreementId", "owner", "partner", "role", "policies", "expiresAt")
TOP_OPTIONAL = ("startsAt", "onExpiry", "conditions")
STATEMENT_FIELDS = ("Effect", "Action", "NotAction", "Resource", "NotResource", "Condition")
STATEMENT_HINTS = {
    "Principal": "is not allowed in a permission policy; the partner's principals go in partner.principals",
}

MSG_ACCOUNT_ID = "must be a 16-digit Alibaba Cloud account id"
MSG_ALIAS = "must be 1-64 lowercase letters, digits or '-'"
MSG_AGREEMENT_ID = ("must be 3-64 lowercase letters, digits or '-', starting and ending with a letter or digit, "
                    "e.g. 'company-b-ecs-admin'")
MSG_ROLE_NAME = "must be 1-64 letters, digits, '.' or '-'"
MSG_SYSTEM_NAME = "must be a system policy name: 1-128 letters, digits or '-', e.g. 'AliyunECSFullAccess'"
MSG_CUSTOM_NAME = "must be 1-64 letters, digits or '-', starting with a letter or digit"
MSG_ACTION = "must be '*' or 'service:Action' (wildcards * and ? allowed), e.g. 'ecs:StartInstance'"
MSG_RESOURCE = "must be '*' or an ARN starting with 'acs:', e.g. 'acs:ecs:*:*:instance/*'"
MSG_CONDITION_KEY = "must be a condition key like 'acs:SourceIp' or 'acs:CurrentTime'"
MSG_EXTERNAL_ID = (f"must be {S.MIN_EXTERNAL_ID_CHARS}-1224 characters: letters, digits or _+=,.@:/- "
                   f"(a random value the partner cannot guess, e.g. 16 hex digits)")
MSG_DATE_TIME = "must be an ISO 8601 date-time such as 2027-06-01T00:00:00Z"
MSG_NAIVE_TIME = "must include a time zone, e.g. 2027-06-01T00:00:00Z"
MSG_POLICY_DATE = ("must be a date as RAM documents it: YYYY-MM-DDThh:mm:ssZ or YYYY-MM-DDThh:mm:ss+hh:mm, "
                   "e.g. 2027-06-01T00:00:00Z")
MSG_MFA_WITH_EXTERNAL_ID = (
    "cannot be combined with conditions.externalId: MFA is present only in a console session signed in with "
    "MFA, and the console's Switch Role cannot pass an ExternalId (nor can `aliyun configure`), so the partner "
    "would have no way in; keep one of the two")
MSG_PRINCIPAL = "must be 'root', 'user/<name>' or 'role/<name>' of the partner account"


def parse_agreement(raw: bytes, *, key: str, max_bytes: int = 65536) -> Agreement:
    """Validate `raw` (the bytes of OSS object `key`); raise AgreementRejected listing every problem."""
    raw = bytes(raw)
    document, duplicates = _load(raw, max_bytes)
    reader = _Reader(duplicates)
    reader.scan(document)
    agreement = reader.agreement(document)
    if reader.problems or agreement is None:
        raise AgreementRejected(reader.reported(), reason="invalid")
    # The trust policy's length is a deployment setting (ROLEPACT_MAX_TRUST_POLICY_CHARS: RAM documents no
    # value), so it is checked with the guardrails (documents.trust_policy_problems), not here.
    return Agreement(**agreement, source_key=key, digest=hashlib.sha256(raw).hexdigest())


def read_agreement_id(raw: bytes) -> str | None:
    """Best-effort agreementId of a file that may be invalid, so its rejection is filed under that id.

    Only an id matching the agreementId pattern is returned, so it is always safe in an object key.
    It is whatever the file claims: the caller must not let it overwrite another file's record.
    """
    head = bytes(raw[:_ID_SEARCH_BYTES])
    try:
        value = json.loads(head.decode("utf-8-sig")).get("agreementId")
    except Exception:  # any malformed file: fall back to a textual search
        found = re.search(rb'"agreementId"\s*:\s*"([a-z0-9-]{3,64})"', head)
        value = found.group(1).decode("ascii") if found else None
    if isinstance(value, str) and re.fullmatch(S.AGREEMENT_ID_PATTERN, value):
        return value
    return None


# ======================================================================================= loading
class _DuplicateKeys:
    """object_pairs_hook that builds plain dicts and remembers which keys each one repeated."""

    def __init__(self) -> None:
        self._repeated: dict[int, list[str]] = {}
        self._keep_alive: list[dict] = []  # ids stay unique only while the objects live

    def hook(self, pairs: list[tuple[str, object]]) -> dict:
        obj: dict = {}
        repeated: list[str] = []
        for key, value in pairs:
            if key in obj and key not in repeated:
                repeated.append(key)
            obj[key] = value
        if repeated:
            self._repeated[id(obj)] = repeated
            self._keep_alive.append(obj)
        return obj

    def repeated(self, obj: dict) -> list[str]:
        return self._repeated.get(id(obj), [])


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NotJson(f"{name} is not a JSON number")


def _file_problem(message: str) -> AgreementRejected:
    return AgreementRejected([Problem(FILE, message)], reason="invalid")


def _load(raw: bytes, max_bytes: int) -> tuple[dict, _DuplicateKeys]:
    """Bytes -> JSON object; a whole-file problem is raised at once, as nothing after it can be checked."""
    if len(raw) > max_bytes:
        raise _file_problem(f"is {len(raw)} bytes; at most {max_bytes} bytes are allowed")
    try:
        text = raw.decode("utf-8-sig")  # tolerate the byte-order mark some editors write
    except UnicodeDecodeError as exc:
        raise _file_problem(f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None
    if not text.strip():
        raise _file_problem("is empty; expected a JSON object")
    duplicates = _DuplicateKeys()
    try:
        document = json.loads(text, object_pairs_hook=duplicates.hook, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise _file_problem(f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise _file_problem(f"is nested too deeply (more than {MAX_NESTING} levels)") from None
    except _NotJson as exc:
        raise _file_problem(f"is not valid JSON: {exc}") from None
    except ValueError:  # Python refuses to convert integers of more than 4300 digits
        raise _file_problem("has a number with too many digits") from None
    if not isinstance(document, dict):
        raise _file_problem(f"must be a JSON object, not {_kind(document)}")
    return document, duplicates


# ======================================================================================= helpers
def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _join(path: str, key: str) -> str:
    """`role` + `name` -> `role.name`; keys that are not identifiers are quoted: `x["sts:ExternalId"]`."""
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _kind(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), "a number")


def _show(value: object) -> str:
    """A value as quoted in a message, shortened: 'rolepact/v2', 3600.5, ["root"]."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    """` (did you mean 'policies'?)` for a near miss, else an empty string."""
    if len(word) > 100:  # difflib is quadratic; nobody misspells a field that long
        return ""
    same_case = [c for c in choices if c.lower() == word.lower()]
    close = same_case or difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_field(key: str, allowed: tuple[str, ...]) -> str:
    hint = _suggest(key, allowed) if len(key) <= 100 else ""
    return f"unknown field {_show(key)}" + (hint or f"; expected one of: {', '.join(allowed)}")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _to_utc(text: str) -> datetime:
    """A string matching DATE_TIME_PATTERN -> aware UTC datetime (ValueError/OverflowError if no such time)."""
    local, offset = (text[:-1], timedelta(0)) if text.endswith("Z") else (text[:-6], _offset(text[-6:]))
    layout = "%Y-%m-%dT%H:%M:%S.%f" if "." in local else "%Y-%m-%dT%H:%M:%S"
    return datetime.strptime(local, layout).replace(tzinfo=timezone(offset)).astimezone(timezone.utc)


def _whole_second(moment: datetime | None, *, up: bool) -> datetime | None:
    if moment is None or not moment.microsecond:
        return moment
    floor = moment.replace(microsecond=0)
    return floor + timedelta(seconds=1) if up else floor


def _offset(text: str) -> timedelta:
    sign = -1 if text[0] == "-" else 1
    return sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6]))


# ======================================================================================= the reader
class _Reader:
    """Walks the parsed file section by section, collecting every problem instead of stopping at one.

    Each reader method returns the model value, or None when the value is absent or invalid; a model
    is built only when no problem was found, so None never leaks into an Agreement by mistake.
    """

    def __init__(self, duplicates: _DuplicateKeys) -> None:
        self.duplicates = duplicates
        self.problems: list[Problem] = []
        self.unreported = 0  # problems past MAX_PROBLEMS: counted, not listed

    def problem(self, path: str, message: str) -> None:
        """Record a problem. A hostile file can have thousands: past MAX_PROBLEMS they are only counted,
        and every path and message is cut short, so one refusal stays one bounded message and record."""
        if len(self.problems) >= S.MAX_PROBLEMS:
            self.unreported += 1
            return
        self.problems.append(Problem(_clip(path or FILE, 200), _clip(message, S.MAX_PROBLEM_CHARS)))

    def reported(self) -> list[Problem]:
        if not self.unreported:
            return self.problems
        return self.problems + [Problem(FILE, f"... and {self.unreported} more problems not listed; fix the "
                                              f"ones above and upload the file again")]

    # ------------------------------------------------------------------ whole-tree checks
    def scan(self, document: dict) -> None:
        """What no field reader sees: repeated keys, nesting depth, lone surrogates, overflowing numbers."""
        stack: list[tuple[object, str, int]] = [(document, "", 1)]
        while stack:
            value, path, depth = stack.pop()
            if depth > MAX_NESTING:
                raise _file_problem(f"is nested too deeply (more than {MAX_NESTING} levels)")
            if isinstance(value, dict):
                for key in self.duplicates.repeated(value):
                    self.problem(_join(path, key), f"duplicate key {key!r}: JSON would silently keep only "
                                                   f"the last one; remove the others")
                for key in value:
                    if not _encodable(key):
                        self.problem(_join(path, key), "field name contains an unpaired surrogate (\\ud800-\\udfff)")
                children = [(item, _join(path, key)) for key, item in value.items()]
            elif isinstance(value, list):
                children = [(item, f"{path}[{i}]") for i, item in enumerate(value)]
            else:
                children = []
                self.check_scalar(value, path)
            stack.extend((item, child, depth + 1) for item, child in reversed(children))

    def check_scalar(self, value: object, path: str) -> None:
        if isinstance(value, str) and not _encodable(value):
            self.problem(path, "contains an unpaired surrogate (\\ud800-\\udfff), which is not valid Unicode")
        elif isinstance(value, float) and not math.isfinite(value):
            self.problem(path, "is a number too large to represent")

    # ------------------------------------------------------------------ generic values
    def object(self, value: object, path: str, required: tuple[str, ...], optional: tuple[str, ...] = (),
               hints: dict[str, str] | None = None) -> dict | None:
        """The object, after reporting unknown and missing fields; None if it is not an object."""
        if value is _ABSENT:
            return None
        if not isinstance(value, dict):
            self.problem(path, f"must be an object, not {_kind(value)}")
            return None
        allowed = required + optional
        for key in value:
            if key not in allowed:
                self.problem(_join(path, key), (hints or {}).get(key) or _unknown_field(key, allowed))
        for key in required:
            if key not in value:
                self.problem(_join(path, key), "is required")
        return value

    def string(self, value: object, path: str, pattern: str, message: str) -> str | None:
        if value is _ABSENT:
            return None
        if not isinstance(value, str):
            self.problem(path, f"must be a string, not {_kind(value)}")
            return None
        if not re.fullmatch(pattern, value):
            self.problem(path, f"{message} (got {_show(value)})")
            return None
        return value

    def choice(self, value: object, path: str, choices: tuple[str, ...]) -> str | None:
        if value is _ABSENT:
            return None
        if value not in choices or not isinstance(value, str):
            hint = _suggest(value, choices) if isinstance(value, str) else ""
            self.problem(path, f"must be one of: {', '.join(choices)} (got {_show(value)}){hint}")
            return None
        return value

    def boolean(self, value: object, path: str) -> bool | None:
        if value is _ABSENT:
            return None
        if not isinstance(value, bool):
            self.problem(path, f"must be true or false, not {_kind(value)}")
            return None
        return value

    def string_list(self, value: object, path: str, pattern: str, message: str) -> None:
        """RAM's "a string or a non-empty list of strings"."""
        if isinstance(value, str):
            self.string(value, path, pattern, message)
        elif not isinstance(value, list):
            self.problem(path, f"must be a string or a list of strings, not {_kind(value)}")
        elif not value:
            self.problem(path, "must not be an empty list")
        else:
            for i, item in enumerate(value):
                self.string(item, f"{path}[{i}]", pattern, message)

    def duplicate(self, seen: dict, item: object, path: str, index: int) -> bool:
        """Report `item` if an earlier entry of the list at `path` was equal (by `seen` key)."""
        if item in seen:
            self.problem(f"{path}[{index}]", f"is listed twice (also at {path}[{seen[item]}])")
            return True
        seen[item] = index
        return False

    # ------------------------------------------------------------------ the agreement
    def agreement(self, doc: dict) -> dict | None:
        """Keyword arguments for Agreement, or None when anything is wrong."""
        self.object(doc, "", TOP_REQUIRED, TOP_OPTIONAL)
        self.api_version(doc.get("apiVersion", _ABSENT))
        agreement_id = self.string(doc.get("agreementId", _ABSENT), "agreementId", S.AGREEMENT_ID_PATTERN,
                                   MSG_AGREEMENT_ID)
        owner, _ = self.party(doc.get("owner", _ABSENT), "owner")
        partner, partner_fields = self.party(doc.get("partner", _ABSENT), "partner", ("principals",))
        principals = self.principals(partner_fields.get("principals", _ABSENT), partner)
        if owner and partner and owner.account_id == partner.account_id:
            self.problem("partner.accountId", "must differ from owner.accountId; an account needs no "
                                              "agreement with itself")
        role = self.role(doc.get("role", _ABSENT)) or {}
        policies = self.policies(doc.get("policies", _ABSENT))
        starts_at, expires_at = self.window(doc.get("startsAt", _ABSENT), doc.get("expiresAt", _ABSENT))
        on_expiry = self.choice(doc.get("onExpiry", ON_EXPIRY_DELETE_ROLE), "onExpiry", S.ON_EXPIRY_CHOICES)
        conditions = self.conditions(doc.get("conditions", _ABSENT))
        if self.problems:
            return None
        return dict(agreement_id=agreement_id, owner=owner, partner=partner, principals=principals,
                    role_name=role["name"], role_description=role["description"],
                    max_session_duration=role["max_session_duration"], policies=policies,
                    starts_at=starts_at, expires_at=expires_at, on_expiry=on_expiry, conditions=conditions)

    def api_version(self, value: object) -> None:
        if value is _ABSENT or (isinstance(value, str) and value == API_VERSION):
            return
        self.problem("apiVersion", f"must be '{API_VERSION}' (got {_show(value)}); this rolepact reads "
                                   f"only {API_VERSION} files")

    def party(self, value: object, path: str, extra: tuple[str, ...] = ()) -> tuple[Party | None, dict]:
        """The Party (None if invalid) and the object's fields, for the partner's principals."""
        fields = self.object(value, path, ("accountId",) + extra, ("alias",))
        if fields is None:
            return None, {}
        account_id = self.string(fields.get("accountId", _ABSENT), f"{path}.accountId", S.ACCOUNT_ID_PATTERN,
                                 MSG_ACCOUNT_ID)
        alias = self.string(fields.get("alias", _ABSENT), f"{path}.alias", S.ALIAS_PATTERN, MSG_ALIAS)
        return (Party(account_id, alias) if account_id else None), fields

    # ------------------------------------------------------------------ partner principals
    def principals(self, value: object, partner: Party | None) -> tuple[str, ...]:
        path = "partner.principals"
        if value is _ABSENT:
            return ()
        if not isinstance(value, list):
            self.problem(path, f"must be a list such as [\"root\"] or [\"user/alice\"], not {_kind(value)}")
            return ()
        if not value:
            self.problem(path, "must name at least one principal: 'root', 'user/<name>' or 'role/<name>'")
        if len(value) > S.MAX_PRINCIPALS:
            self.problem(path, f"lists {len(value)} principals; at most {S.MAX_PRINCIPALS} are allowed "
                               f"(use 'root' to trust the whole partner account)")
        seen: dict = {}
        for i, item in enumerate(value[:S.MAX_PRINCIPALS]):
            if not isinstance(item, str):
                self.problem(f"{path}[{i}]", f"must be a string, not {_kind(item)}")
            elif not re.fullmatch(S.PRINCIPAL_PATTERN, item):
                self.problem(f"{path}[{i}]", _principal_advice(item, partner))
            else:
                self.duplicate(seen, item, path, i)
        return tuple(value)

    # ------------------------------------------------------------------ role
    def role(self, value: object) -> dict | None:
        fields = self.object(value, "role", ("name",), ("description", "maxSessionDurationSeconds"))
        if fields is None:
            return None
        name = self.string(fields.get("name", _ABSENT), "role.name", S.ROLE_NAME_PATTERN, MSG_ROLE_NAME)
        if name is not None and re.fullmatch(S.RESERVED_ROLE_NAME_PATTERN, name):
            self.problem("role.name", f"{name!r} is reserved: names starting with 'Aliyun' (Alibaba Cloud's service "
                                      f"roles and service-linked roles, e.g. AliyunFCDefaultRole, "
                                      f"aliyunosseventnotificationrole) or 'rolepact-' (rolepact's own roles) are "
                                      f"never an agreement's role, in any case; choose another name")
            name = None
        description = fields.get("description", "")
        if not isinstance(description, str):
            self.problem("role.description", f"must be a string, not {_kind(description)}")
        elif len(description) > S.MAX_ROLE_DESCRIPTION_CHARS:
            self.problem("role.description", f"is {len(description)} characters; at most "
                                             f"{S.MAX_ROLE_DESCRIPTION_CHARS} are allowed")
        duration = self.session_seconds(fields.get("maxSessionDurationSeconds", S.DEFAULT_SESSION_SECONDS))
        return {"name": name, "description": description, "max_session_duration": duration}

    def session_seconds(self, value: object) -> int | None:
        """Whole seconds. 3600.0 is accepted as 3600, as JSON Schema's "integer" does; true is not a number."""
        path = "role.maxSessionDurationSeconds"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(path, f"must be a whole number of seconds, not {_kind(value)}")
        elif isinstance(value, float) and not value.is_integer():
            self.problem(path, f"must be a whole number of seconds (got {_show(value)})")
        elif not S.MIN_SESSION_SECONDS <= value <= S.MAX_SESSION_SECONDS:
            self.problem(path, f"must be between {S.MIN_SESSION_SECONDS} and {S.MAX_SESSION_SECONDS} seconds "
                               f"(got {_show(value)})")
        else:
            return int(value)
        return None

    # ------------------------------------------------------------------ policies
    def policies(self, value: object) -> tuple[PolicyGrant, ...]:
        if value is _ABSENT:
            return ()
        if not isinstance(value, list):
            self.problem("policies", f"must be a list of policies, not {_kind(value)}")
            return ()
        if not value:
            self.problem("policies", "must list at least one policy, e.g. "
                                     "{\"type\": \"System\", \"name\": \"AliyunECSReadOnlyAccess\"}")
        grants = [self.policy(item, f"policies[{i}]") for i, item in enumerate(value)]
        self.policy_counts(value)
        self.duplicate_policies(value)
        return tuple(grant for grant in grants if grant is not None)

    def policy(self, value: object, path: str) -> PolicyGrant | None:
        fields = self.object(value, path, ("type", "name"), ("document",))
        if fields is None:
            return None
        policy_type = self.choice(fields.get("type", _ABSENT), f"{path}.type", S.POLICY_TYPES)
        name = fields.get("name", _ABSENT)
        if policy_type == "System":
            name = self.string(name, f"{path}.name", S.SYSTEM_POLICY_NAME_PATTERN, MSG_SYSTEM_NAME)
            if "document" in fields:
                self.problem(f"{path}.document", "is only allowed for Custom policies; a System policy is "
                                                 "defined by Alibaba Cloud")
            return PolicyGrant("System", name)
        if policy_type == "Custom":
            name = self.string(name, f"{path}.name", S.CUSTOM_POLICY_NAME_PATTERN, MSG_CUSTOM_NAME)
            if "document" not in fields:
                self.problem(f"{path}.document", "is required for a Custom policy")
            document = self.policy_document(fields.get("document", _ABSENT), f"{path}.document")
            return PolicyGrant("Custom", name, document)
        if name is not _ABSENT and not isinstance(name, str):
            self.problem(f"{path}.name", f"must be a string, not {_kind(name)}")
        return None

    def policy_counts(self, items: list) -> None:
        for policy_type, limit, why in (
                ("Custom", S.MAX_CUSTOM_POLICIES, "RAM attaches at most 10 custom policies to a role and "
                                                  "rolepact uses one for its guard policy"),
                ("System", S.MAX_SYSTEM_POLICIES, "RAM attaches at most 20 system policies to a role")):
            count = sum(1 for item in items if isinstance(item, dict) and item.get("type") == policy_type)
            if count > limit:
                self.problem("policies", f"has {count} {policy_type} policies; at most {limit} are allowed "
                                         f"({why})")

    def duplicate_policies(self, items: list) -> None:
        seen: dict[tuple[str, str], int] = {}
        for i, item in enumerate(items):
            if not isinstance(item, dict) or item.get("type") not in S.POLICY_TYPES:
                continue
            name = item.get("name")
            if not isinstance(name, str):
                continue
            key = (item["type"], name.lower())  # RAM policy names are case-insensitive
            if key in seen:
                self.problem(f"policies[{i}]", f"duplicates policies[{seen[key]}] ({key[0]} policy {name!r})")
            else:
                seen[key] = i

    # ------------------------------------------------------------------ custom policy documents
    def policy_document(self, value: object, path: str) -> dict | None:
        fields = self.object(value, path, ("Version", "Statement"))
        if fields is None:
            return None
        version = fields.get("Version", "1")
        if version != "1" or not isinstance(version, str):
            self.problem(f"{path}.Version", f"must be \"1\", the RAM policy language version (got {_show(version)})")
        statements = fields.get("Statement", _ABSENT)
        if statements is not _ABSENT and (not isinstance(statements, list) or not statements):
            self.problem(f"{path}.Statement", f"must be a non-empty list of statements, not "
                                              f"{'an empty list' if statements == [] else _kind(statements)}")
        elif statements is not _ABSENT:
            for j, statement in enumerate(statements):
                self.statement(statement, f"{path}.Statement[{j}]")
        length = len(json.dumps(fields, separators=(",", ":")))  # as sent to RAM: compact, ASCII-escaped
        if length > S.MAX_POLICY_DOCUMENT_CHARS:
            self.problem(path, f"is {length} characters as compact JSON; RAM allows at most "
                               f"{S.MAX_POLICY_DOCUMENT_CHARS}")
        return fields

    def statement(self, value: object, path: str) -> None:
        fields = self.object(value, path, ("Effect",), STATEMENT_FIELDS[1:], hints=STATEMENT_HINTS)
        if fields is None:
            return
        self.choice(fields.get("Effect", _ABSENT), f"{path}.Effect", S.EFFECTS)
        for plain, negated, pattern, message in (("Action", "NotAction", S.ACTION_PATTERN, MSG_ACTION),
                                                 ("Resource", "NotResource", S.RESOURCE_PATTERN, MSG_RESOURCE)):
            present = [k for k in (plain, negated) if k in fields]
            if len(present) == 2:
                self.problem(path, f"must have exactly one of {plain} or {negated}, not both")
            elif not present:
                self.problem(f"{path}.{plain}", f"is required (or {negated})")
            for key in present:
                self.string_list(fields[key], f"{path}.{key}", pattern, message)
        if "Condition" in fields:
            self.condition(fields["Condition"], f"{path}.Condition")

    def condition(self, value: object, path: str) -> None:
        if not isinstance(value, dict) or not value:
            self.problem(path, "must be a non-empty object like {\"IpAddress\": {\"acs:SourceIp\": "
                               "\"203.0.113.0/24\"}}; omit Condition if there is none")
            return
        for operator, block in value.items():
            block_path = _join(path, operator)
            if operator not in S.CONDITION_OPERATORS:
                self.problem(block_path, f"unknown condition operator {operator!r}"
                                         f"{_suggest(operator, S.CONDITION_OPERATORS)}")
            if not isinstance(block, dict) or not block:
                self.problem(block_path, "must be a non-empty object of {condition key: value or [values]}")
                continue
            for key, values in block.items():
                self.string(key, _join(block_path, key), S.CONDITION_KEY_PATTERN, MSG_CONDITION_KEY)
                self.condition_values(values, _join(block_path, key))
                if operator.startswith("Date"):
                    self.policy_dates(values, _join(block_path, key))

    def policy_dates(self, value: object, path: str) -> None:
        """RAM documents only YYYY-MM-DDThh:mm:ssZ / ...+hh:mm for date conditions."""
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            where = f"{path}[{i}]" if isinstance(value, list) else path
            if isinstance(item, str) and not re.fullmatch(S.POLICY_DATE_PATTERN, item):
                self.problem(where, f"{MSG_POLICY_DATE} (got {_show(item)})")
            elif not isinstance(item, str) and item is not None and not isinstance(item, (dict, list)):
                self.problem(where, f"{MSG_POLICY_DATE}, not {_kind(item)}")

    def condition_values(self, value: object, path: str) -> None:
        if isinstance(value, list) and not value:
            self.problem(path, "must not be an empty list")
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if item is None or isinstance(item, (dict, list)):
                where = f"{path}[{i}]" if isinstance(value, list) else path
                self.problem(where, f"must be a string, number or true/false, not {_kind(item)}")

    # ------------------------------------------------------------------ dates
    def window(self, starts: object, expires: object) -> tuple[datetime | None, datetime | None]:
        # RAM compares acs:CurrentTime to the second: a fractional startsAt is rounded up and a fractional
        # expiresAt down, so that access never begins early nor ends late.
        starts_at = _whole_second(self.timestamp(starts, "startsAt"), up=True)
        expires_at = _whole_second(self.timestamp(expires, "expiresAt"), up=False)
        if starts_at and expires_at and expires_at <= starts_at:
            self.problem("expiresAt", f"must be after startsAt ({starts}); access would never begin")
        return starts_at, expires_at

    def timestamp(self, value: object, path: str) -> datetime | None:
        if value is _ABSENT:
            return None
        if not isinstance(value, str):
            self.problem(path, f"{MSG_DATE_TIME}, not {_kind(value)}")
            return None
        if not re.fullmatch(S.DATE_TIME_PATTERN, value):
            naive = re.fullmatch(S.DATE_TIME_PATTERN, value + "Z")
            self.problem(path, f"{MSG_NAIVE_TIME if naive else MSG_DATE_TIME} (got {_show(value)})")
            return None
        try:
            return _to_utc(value)
        except (ValueError, OverflowError) as exc:
            self.problem(path, f"is not a valid date/time: {exc} (got {_show(value)})")
            return None

    # ------------------------------------------------------------------ trust conditions
    def conditions(self, value: object) -> AccessConditions:
        fields = self.object(value, "conditions", (), ("externalId", "requireMfa", "sourceIpRanges"))
        if fields is None:
            return AccessConditions()
        external_id = self.string(fields.get("externalId", _ABSENT), "conditions.externalId",
                                  S.EXTERNAL_ID_PATTERN, MSG_EXTERNAL_ID)
        require_mfa = self.boolean(fields.get("requireMfa", _ABSENT), "conditions.requireMfa")
        if require_mfa and external_id:
            self.problem("conditions.requireMfa", MSG_MFA_WITH_EXTERNAL_ID)
        ranges = self.ip_ranges(fields.get("sourceIpRanges", _ABSENT))
        return AccessConditions(external_id, bool(require_mfa), ranges)

    def ip_ranges(self, value: object) -> tuple[str, ...]:
        path = "conditions.sourceIpRanges"
        if value is _ABSENT:
            return ()
        if not isinstance(value, list) or not value:
            self.problem(path, "must be a non-empty list of IP addresses or CIDR ranges; omit sourceIpRanges "
                               "to allow any address")
            return ()
        if len(value) > S.MAX_IP_RANGES:
            self.problem(path, f"lists {len(value)} ranges; at most {S.MAX_IP_RANGES} are allowed")
        written: dict[str, int] = {}
        networks: dict[str, int] = {}
        for i, item in enumerate(value[:S.MAX_IP_RANGES]):
            network = self.ip_range(item, f"{path}[{i}]")
            if network is None or self.duplicate(written, item, path, i):
                continue
            if network in networks:
                self.problem(f"{path}[{i}]", f"is the same range as {path}[{networks[network]}] ({network})")
            else:
                networks[network] = i
        self.ip_coverage(networks)
        return tuple(networks)

    def ip_coverage(self, networks: dict[str, int]) -> None:
        """Ranges that together cover (nearly) every address (0.0.0.0/1 + 128.0.0.0/1) are "from anywhere"
        in disguise: refused. The union is counted, so overlapping ranges are not counted twice."""
        path = "conditions.sourceIpRanges"
        parsed = [ipaddress.ip_network(n) for n in networks]
        embedded = [v4 for n in parsed if n.version == 6 for v4 in _embedded_ipv4(n)]
        for version, limit, size in ((4, S.MAX_IPV4_ADDRESSES, "/8"), (6, S.MAX_IPV6_ADDRESSES, "/32")):
            ranges = [n for n in parsed if n.version == version] + (embedded if version == 4 else [])
            covered = sum(n.num_addresses for n in ipaddress.collapse_addresses(ranges))
            if covered > limit:
                how = (" (counting the IPv4 addresses that IPv6 ranges such as ::ffff:0:0/96 or 64:ff9b::/96 embed: "
                       "RAM does not document how it compares an IPv4 caller with them)" if version == 4 and embedded
                       else "")
                self.problem(path, f"the IPv{version} ranges together cover {covered} addresses{how}; at most "
                                   f"{limit} (a {size}) are allowed — list the partner's own networks, or omit "
                                   f"sourceIpRanges to allow any address")

    def ip_range(self, value: object, path: str) -> str | None:
        """The normalized network ("10.0.0.1" -> "10.0.0.1/32"), or None if invalid."""
        text = self.string(value, path, S.IP_RANGE_PATTERN, "must be an IP address or CIDR range such as "
                                                           "203.0.113.0/24")
        if text is None:
            return None
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            self.problem(path, f"is not a valid IP address or CIDR range: {exc}")
            return None
        if network.prefixlen == 0:
            self.problem(path, f"{text!r} allows any address; omit sourceIpRanges instead")
            return None
        return str(network)


# IPv6 ranges that carry an IPv4 address in their last 32 bits: IPv4-mapped, IPv4-translated,
# IPv4-compatible (deprecated) and NAT64's well-known prefix (RFC 4291, 2765, 6052).
_EMBEDDING_96 = tuple(ipaddress.ip_network(p) for p in ("::ffff:0:0/96", "::ffff:0:0:0/96", "::/96", "64:ff9b::/96"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")  # 6to4: the IPv4 address is bits 16-47 (RFC 3056)
_ALL_IPV4 = ipaddress.ip_network("0.0.0.0/0")


def _embedded_ipv4(network: ipaddress.IPv6Network) -> list[ipaddress.IPv4Network]:
    """The IPv4 addresses an IPv6 range embeds. Whether RAM matches an IPv4 caller against them is not
    documented, so they count as IPv4 coverage (conservative): `::ffff:0:0/96` is "any IPv4 address"."""
    found = []
    for prefix in _EMBEDDING_96:
        if network.subnet_of(prefix):
            found.append(ipaddress.ip_network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96)))
        elif network.supernet_of(prefix):
            found.append(_ALL_IPV4)
    if network.subnet_of(_SIX_TO_FOUR):
        bits = min(32, network.prefixlen - 16)
        address = (int(network.network_address) >> 80) & 0xFFFFFFFF
        found.append(ipaddress.ip_network((address & ~((1 << (32 - bits)) - 1) & 0xFFFFFFFF, bits)))
    elif network.supernet_of(_SIX_TO_FOUR):
        found.append(_ALL_IPV4)
    return found


def _principal_advice(item: str, partner: Party | None) -> str:
    """Why a principal is refused, and what to write instead."""
    named = "name the partner principals: 'root', 'user/<name>' or 'role/<name>'"
    if item == "*":
        return f"'*' is not allowed; {named}"
    if "*" in item or "?" in item:
        return f"wildcards are not allowed (got {_show(item)}); {named}"
    arn = re.fullmatch(r"acs:ram:[^:]*:([^:]*):(.*)", item, re.IGNORECASE)
    if arn:
        account, relative = arn.groups()
        if partner and account == partner.account_id and re.fullmatch(S.PRINCIPAL_PATTERN, relative):
            return f"write {relative!r} instead of the full ARN; principals are relative to the partner account"
        return f"{_show(item)} is an ARN of account {account}, not a principal of the partner account; {named}"
    if re.fullmatch(S.ACCOUNT_ID_PATTERN, item):
        return f"{item!r} is an account id; write 'root' for the whole partner account"
    if item.startswith("user/"):
        return f"{_show(item)}: a RAM user name is 1-64 letters, digits, '.', '_', '@' or '-'"
    if item.startswith("role/"):
        return f"{_show(item)}: a RAM role name is 1-64 letters, digits, '.' or '-'"
    return f"{MSG_PRINCIPAL} (got {_show(item)})"
