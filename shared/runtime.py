"""What every FC handler does around its one line of work.

Settings are read from the environment once per instance (cold start); credentials come
from each invocation's context (they rotate). Logs are JSON lines tagged with the request
id. Malformed trigger bytes are logged and answered, never raised: retrying garbage helps
nobody. A versioned bucket (no once-only record holds there) makes every invocation refuse
before any work (shared/bucket_guard.py). Cloud failures that may pass (throttling, 5xx)
are raised, so FC retries the invocation — every handler is idempotent.
"""
from __future__ import annotations

import dataclasses
import os
from datetime import timedelta
from collections.abc import Callable

from shared import log
from shared.bucket_guard import refuse as refuse_versioned
from shared.errors import BucketVersioned
from shared.events import EventError
from shared.fc_context import account_id_of, credentials_of, function_name_of, request_id_of, timeout_of
from shared.settings import Settings

_settings: Settings | None = None
logger = log.get_logger("runtime")


def base_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings.from_env(os.environ)
    return _settings


def reset_settings(settings: Settings | None = None) -> None:
    """Forget (or replace) the cached settings: for tests and the local runtime."""
    global _settings
    _settings = settings


def settings_for(context) -> Settings:
    settings = base_settings()
    changes = {"credentials": credentials_of(context) or settings.credentials}
    timeout = timeout_of(context)
    if timeout is not None:  # stop waiting for the cloud while there is time left to record, notify, drain
        changes["deadline"] = settings.now() + timedelta(seconds=timeout - max(10.0, timeout / 4))
    if not settings.account_id and account_id_of(context):
        changes["account_id"] = account_id_of(context)
    return dataclasses.replace(settings, **changes)


def run(function: str, event, context, work: Callable) -> dict:
    """Call `work(event, settings, gateways)` the way every rolepact handler does."""
    from shared.gateways import Gateways

    log.setup(os.environ.get("LOG_LEVEL", "INFO"))
    name = function_name_of(context, function)
    tokens = (log.request_id_var.set(request_id_of(context)), log.function_var.set(name))
    try:
        settings = settings_for(context)
        gateways = Gateways.connect(settings)
        try:
            gateways.store.ensure_unversioned()  # one read per invocation; every marker write relies on it
            result = work(event, settings, gateways)
        except BucketVersioned as refused:  # retrying cannot help: answer, do not raise
            return refuse_versioned(refused, settings, gateways)
        return result if isinstance(result, dict) else {"result": result}
    except EventError as problem:
        logger.error("malformed trigger event: %s", problem)
        return {"error": "malformed event", "detail": str(problem)}
    finally:
        log.request_id_var.reset(tokens[0])
        log.function_var.reset(tokens[1])
