"""Timer (every minute): activate, warn before expiry, end expired agreements, kill switch."""
from shared.enforcer import handle_timer
from shared.runtime import run


def handler(event, context):
    return run("expiry_enforcer", event, context, handle_timer)
