"""Handlers the FC 3.0 tests deploy by name (CreateFunction's `handler`), in-process and in server mode."""
from __future__ import annotations

import json

received: list[dict] = []


def echo(event, context):
    """Returns the event and what the context says about the invocation."""
    return {"event": json.loads(event or b"null"), "requestId": context.request_id,
            "function": context.function.name, "region": context.region, "accountId": context.account_id}


def record(event, context):
    received.append(json.loads(event))
    return "ok"


def fail(event, context):
    raise RuntimeError("always fails")


def touch(event, context):
    """Creates the file the event names: shows a server-mode async invocation ran."""
    with open(json.loads(event)["path"], "w", encoding="utf-8") as out:
        out.write(context.request_id)
