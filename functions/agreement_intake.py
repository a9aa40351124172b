"""OSS trigger (agreements/*.json created or removed) -> the role exists exactly as agreed."""
from shared.intake import handle_oss_event
from shared.runtime import run


def handler(event, context):
    return run("agreement_intake", event, context, handle_oss_event)
