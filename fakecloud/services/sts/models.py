"""STS rules: who may assume which role, for how long, and the temporary keys it issues."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from fakecloud import ids
from fakecloud.clock import iso
from fakecloud.errors import ServiceError
from fakecloud.iam.identity import Caller
from fakecloud.iam.keys import AccessKey, StsSession
from fakecloud.iam.policy import (Decision, PolicyGrammarError, PrincipalRef, RequestContext, evaluate_trust,
                                  parse_policy)

ROLE_ARN = re.compile(r"^acs:ram::(?P<account>\d+):role/(?P<name>[A-Za-z0-9.\-]{1,64})$", re.IGNORECASE)
# ASCII only: the documented character classes are Java's, where \w does not match other scripts.
SESSION_NAME = re.compile(r"^[\w.@\-]{2,64}$", re.ASCII)
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/\-]{2,1224}$", re.ASCII)
NO_PERMISSION = "You are not authorized to do this action. You should be authorized by RAM."
# ActionTrail's stsTokenPlayerUid for service-role sessions is the *service's* account; the docs
# mask it (165266556947****), so this completion is made up [?].
SERVICE_ACCOUNT_UID = "1652665569470000"


def _expiry(now, duration: int):
    """When a session's token stops working: exactly the `Expiration` STS shows, which has whole
    seconds. Sub-second precision here would accept the token for up to a second after the
    moment the client was told it expires."""
    return (now + timedelta(seconds=duration)).replace(microsecond=0)


def trust_denied(caller: Caller, decision: Decision) -> ServiceError:
    """NoPermission for a trust-policy refusal; the detail names the trust policy as the cause."""
    return ServiceError("NoPermission", NO_PERMISSION, 403, AccessDeniedDetail={
        "AuthAction": "sts:AssumeRole",
        "AuthPrincipalDisplayName": caller.principal_id if caller.kind == "assumed-role" else caller.user_name,
        "AuthPrincipalOwnerId": caller.account_id,
        "AuthPrincipalType": "AssumedRoleUser" if caller.kind == "assumed-role" else "SubUser",
        "NoPermissionType": decision.value,
        "PolicyType": "AssumeRolePolicy",
        "EncodedDiagnosticMessage": "",
    })


@dataclass
class AssumeRoleRequest:
    role_arn: str | None
    session_name: str | None
    duration_seconds: int | None
    session_policy: str | None
    external_id: str | None
    source_identity: str | None = None


class StsBackend:
    def __init__(self, cloud) -> None:
        self.cloud = cloud

    def assume_role(self, caller: Caller, request: AssumeRoleRequest, authorize_identity) -> AccessKey:
        """Issue a role session, or raise the error STS would answer.

        `authorize_identity(resource_arn)` checks the caller's own policies for sts:AssumeRole
        (raising NoPermission); the trust policy is checked here.
        """
        if caller.is_root:
            raise ServiceError("NoPermission", "Roles may not be assumed by root accounts.", 403)
        match = ROLE_ARN.match(request.role_arn or "")
        if not match:
            raise ServiceError("InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed.", 400)
        if not request.session_name or not SESSION_NAME.match(request.session_name):
            raise ServiceError("InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed.", 400)
        if request.external_id is not None and not EXTERNAL_ID.match(request.external_id):
            raise ServiceError("InvalidParameter.ExternalId", "The parameter ExternalId is wrongly formed.", 400)
        session_policy = None
        if request.session_policy is not None:
            if len(request.session_policy.encode("utf-8")) > self.cloud.limits.session_policy_chars:
                raise ServiceError("InvalidParameter.PolicySize", "The size of Policy must be smaller than 2048 bytes.", 400)
            try:
                session_policy = parse_policy(request.session_policy, kind="session")
            except PolicyGrammarError:
                raise ServiceError("InvalidParameter.PolicyGrammar", "The parameter Policy has not passed grammar check.", 400)
        owner, role_name = match["account"], match["name"]
        authorize_identity(f"acs:ram::{owner}:role/{role_name}")
        ram = self.cloud.services["ram"].backend
        role = ram.find_role(owner, role_name) if owner in ram.accounts else None
        if role is None:
            raise ServiceError("EntityNotExist.Role", "The specified Role not exists .", 404)
        duration = 3600 if request.duration_seconds is None else request.duration_seconds
        if not 900 <= duration <= role.max_session_duration:
            raise ServiceError("InvalidParameter.DurationSeconds",
                               f"The Min/Max value of DurationSeconds is 15min/{role.max_session_duration // 3600}hr.", 400)
        conditions = self.cloud.condition_values(caller)
        if request.external_id is not None:
            conditions["sts:ExternalId"] = request.external_id
        ctx = RequestContext("sts:AssumeRole", role.arn, conditions, negated_missing=self.cloud.negated_missing_key)
        decision = evaluate_trust(role.parsed_trust, caller.principal_ref(), ctx)
        if decision != Decision.ALLOW:
            raise trust_denied(caller, decision)
        now = self.cloud.now()
        # ActionTrail's stsTokenPlayerUid is the *account* of whoever assumed (docs/fake-fidelity.md).
        assumer_uid = caller.key.account_id if caller.key else caller.account_id
        assumer_name = caller.user_name
        session = StsSession(
            role_account_id=owner, role_name=role.name, role_id=role.role_id, session_name=request.session_name,
            session_policy=session_policy, assumer_account_id=caller.key.account_id if caller.key else caller.account_id,
            assumer_kind=caller.kind, assumer_name=assumer_name, assumer_uid=assumer_uid, mfa=caller.mfa,
            created=now, source_identity=request.source_identity,
        )
        key = AccessKey(ids.sts_access_key_id(), ids.access_key_secret(), owner, "sts", None, now,
                        security_token=ids.security_token(), expiration=_expiry(now, duration),
                        session=session, parent_key_id=caller.access_key_id)
        self.cloud.keys.add(key)
        return key

    def issue_service_session(self, account_id: str, role_name: str, service: str = "fc.aliyuncs.com",
                              duration: int = 3600, session_name: str | None = None, *,
                              fixed_duration: bool = False) -> AccessKey:
        """Credentials a cloud service obtains for a service role (FC's `context.credentials`).

        There is no API call behind this: the service assumes the role itself. The role must
        exist and its trust policy must let the Service principal assume it, exactly like
        `Principal: {"Service": ["fc.aliyuncs.com"]}`; otherwise the same errors AssumeRole
        would give. The duration is clamped to 900..MaxSessionDuration, unless `fixed_duration`: the
        service sets it itself (FC: 36 hours, whatever the role's MaxSessionDuration).
        """
        ram = self.cloud.services["ram"].backend
        role = ram.find_role(account_id, role_name) if account_id in ram.accounts else None
        if role is None:
            raise ServiceError("EntityNotExist.Role", "The specified Role not exists .", 404)
        now = self.cloud.now()
        ctx = RequestContext("sts:AssumeRole", role.arn, {"acs:CurrentTime": iso(now), "acs:SecureTransport": True})
        if evaluate_trust(role.parsed_trust, PrincipalRef("service", account_id, service), ctx) != Decision.ALLOW:
            raise ServiceError("NoPermission", NO_PERMISSION, 403)
        if not fixed_duration:
            duration = min(max(duration, 900), role.max_session_duration)
        session = StsSession(
            role_account_id=account_id, role_name=role.name, role_id=role.role_id,
            session_name=session_name or service.split(".")[0], session_policy=None,
            assumer_account_id=SERVICE_ACCOUNT_UID, assumer_kind="service", assumer_name=service,
            assumer_uid=SERVICE_ACCOUNT_UID, mfa=False, created=now,
        )
        key = AccessKey(ids.sts_access_key_id(), ids.access_key_secret(), account_id, "sts", None, now,
                        security_token=ids.security_token(), expiration=_expiry(now, duration),
                        session=session)
        self.cloud.keys.add(key)
        return key
