"""Async target of the enforcer's fan-out: reconcile a batch of agreements."""
from shared.enforcer import handle_worker
from shared.runtime import run


def handler(event, context):
    return run("reconcile_worker", event, context, handle_worker)
