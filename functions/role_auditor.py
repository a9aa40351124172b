"""Timer (hourly): classify every role against the agreements; report or fix drift."""
from shared.auditor import handle_timer
from shared.runtime import run


def handler(event, context):
    return run("role_auditor", event, context, handle_timer)
