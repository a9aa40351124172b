"""EventBridge (ActionTrail write events, near real time) and timer (LookupEvents pull, digest) -> access audit."""
from shared.audit.service import handle_event
from shared.runtime import run


def handler(event, context):
    return run("access_audit", event, context, handle_event)
