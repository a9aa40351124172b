"""JSON-lines logging with a request id, and redaction of secrets everywhere.

`fc2` logs full request headers (authorization, x-fc-security-token) at ERROR through the
root logger when a call fails; the SDKs and `requests` can echo URLs carrying DingTalk
tokens. `RedactSecrets` scrubs every record that passes through the handlers rolepact
installs, whatever logger it came from.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import datetime, timezone

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("rolepact_request_id", default=None)
function_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("rolepact_function", default=None)

_SECRET_PATTERNS = [
    # header / field style: authorization: ..., 'x-fc-security-token': '...', "AccessKeySecret": "..."
    # (within one line: a header dump keeps its line structure)
    re.compile(r"(?i)(['\"]?(?:authorization|x-fc-security-token|x-acs-security-token|x-oss-security-token|"
               r"security[-_]?token|securitytoken|access[-_]?key[-_]?secret|accesskeysecret|secret|signature|"
               r"dingtalk[-_]?secret)['\"]?[ \t]*[:=][ \t]*)(['\"]?)([^'\",}\s&]+(?:[ \t][^'\",}\s&]+)?)"),
    # query-string style: access_token=..., sign=..., Signature=..., SecurityToken=...
    re.compile(r"(?i)([?&](?:access_token|sign|signature|securitytoken|security_token)=)([^&\s'\"]+)"),
]
_MASK = "***"


def redact(text: str) -> str:
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{_MASK}", text)
    return _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}{_MASK}", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message so that no token, secret or signature survives."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep what we can
            message = str(record.msg)
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, function, extras."""

    RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "requestId": request_id_var.get(),
            "function": function_var.get(),
        }
        for key, value in vars(record).items():
            if key not in self.RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:
            entry["error"] = record.exc_text
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever `sys.stdout` (or `sys.stderr`) is at the time of the record — FC's log
    capture, a test's — rather than the stream of the moment it was installed."""

    def __init__(self) -> None:
        self.to_stderr = False
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stderr if self.to_stderr else sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler assigns it; the live sys.stdout wins
        pass


_installed = False


def setup(level: str | int = "INFO", stream=None, *, to_stderr: bool = False) -> None:
    """Install the JSON handler with redaction on the root logger (idempotent).

    Functions log to stdout (FC ships it to SLS); the CLI passes `to_stderr` so its stdout
    carries only the command's output (`--json` stays parseable).
    """
    global _installed
    root = logging.getLogger()
    if not _installed:
        handler = logging.StreamHandler(stream) if stream is not None else _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RedactSecrets())
        root.addHandler(handler)
        _installed = True
    for existing in root.handlers:
        if isinstance(existing, _StdoutHandler):
            existing.to_stderr = to_stderr
    for existing in root.handlers:  # the FC runtime's own handler, pytest's capture handler, ...
        if not any(isinstance(f, RedactSecrets) for f in existing.filters):
            existing.addFilter(RedactSecrets())
    root.setLevel(level)
    logging.getLogger("oss2").setLevel(logging.WARNING)  # oss2 logs every 404 (an expected "absent") at INFO


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"rolepact.{name}")
