"""RAM policy language: grammar validation and a pure evaluator (Allow / explicit / implicit Deny).

Used by the fake for every API call (identity and session policies) and by STS
AssumeRole (trust policies).  Nothing here reads the clock or the environment:
callers pass time, source IP, MFA and the like as condition values.
"""
from fakecloud.iam.policy.conditions import wildcard_match
from fakecloud.iam.policy.evaluator import (
    Decision,
    ParsedPolicy,
    PrincipalRef,
    RequestContext,
    evaluate,
    evaluate_trust,
    parse_policy,
)
from fakecloud.iam.policy.grammar import PolicyGrammarError, validate_policy_document

__all__ = [
    "Decision",
    "ParsedPolicy",
    "PolicyGrammarError",
    "PrincipalRef",
    "RequestContext",
    "evaluate",
    "evaluate_trust",
    "parse_policy",
    "validate_policy_document",
    "wildcard_match",
]
