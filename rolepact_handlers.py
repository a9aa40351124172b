"""The FC entry points, in the handler form FC documents for Python: `file.function`.

FC resolves a handler `rolepact_handlers.agreement_intake` as "the function `agreement_intake`
in `rolepact_handlers.py` at the root of the code package"
(https://alibabacloud.com/help/en/functioncompute/latest/event-handlers). A dotted
package path such as `functions.agreement_intake.handler` is not in those docs, so both
deployment files (s.yaml, deploy/fc3/s.yaml) and the local runtime name these functions
instead. Each one imports its handler module only when it is first called, so an instance
loads just what its own function needs.
"""
from __future__ import annotations

import importlib

# FC handler name (in this module) -> the module under functions/ that holds `handler`.
HANDLER_MODULES = {
    "agreement_intake": "functions.agreement_intake",
    "expiry_enforcer": "functions.expiry_enforcer",
    "reconcile_worker": "functions.reconcile_worker",
    "role_auditor": "functions.role_auditor",
    "access_audit": "functions.access_audit",
}


def target(name: str):
    """The `handler(event, context)` that the entry point `name` runs."""
    return importlib.import_module(HANDLER_MODULES[name]).handler


def agreement_intake(event, context):
    return target("agreement_intake")(event, context)


def expiry_enforcer(event, context):
    return target("expiry_enforcer")(event, context)


def reconcile_worker(event, context):
    return target("reconcile_worker")(event, context)


def role_auditor(event, context):
    return target("role_auditor")(event, context)


def access_audit(event, context):
    return target("access_audit")(event, context)
