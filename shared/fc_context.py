"""Adapter over the FC context object: credentials, request id, function name, account.

The shapes it reads (fc-deploy.md §3.3, docs/fake-fidelity.md j.):
- FC 2.0 python3.10: STS credentials of the *service* role in `context.credentials`, and a
  `context.service` with its name;
- FC 3.0 python3.10: credentials of the *function's* role in `context.credentials`, and a
  `context.service` without a name (there are no services) -- nothing here reads it;
- FC 3.0 python3.12: no `credentials` and no `service`: the credentials are only in the
  ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET/_SECURITY_TOKEN variables.
Every field is read with `getattr`, so a missing one falls back instead of failing.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Mapping

from shared.settings import Credentials


def credentials_of(context, environ: Mapping[str, str] | None = None) -> Credentials | None:
    creds = getattr(context, "credentials", None)
    key_id = getattr(creds, "access_key_id", None) or getattr(creds, "accessKeyId", None)
    if key_id:
        return Credentials(key_id, getattr(creds, "access_key_secret", None) or getattr(creds, "accessKeySecret"),
                           getattr(creds, "security_token", None) or getattr(creds, "securityToken", None))
    env = os.environ if environ is None else environ
    if env.get("ALIBABA_CLOUD_ACCESS_KEY_ID"):
        return Credentials(env["ALIBABA_CLOUD_ACCESS_KEY_ID"], env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""),
                           env.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None)
    return None


def request_id_of(context) -> str:
    return getattr(context, "request_id", None) or str(uuid.uuid4())


def function_name_of(context, default: str) -> str:
    function = getattr(context, "function", None)
    return getattr(function, "name", None) or default


def account_id_of(context) -> str | None:
    return getattr(context, "account_id", None)


def timeout_of(context) -> float | None:
    """The function's timeout in seconds (`context.function.timeout`), None if the context has none."""
    timeout = getattr(getattr(context, "function", None), "timeout", None)
    return float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else None
