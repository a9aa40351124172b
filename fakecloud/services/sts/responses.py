"""STS wire layer."""
from __future__ import annotations

from fakecloud.clock import iso
from fakecloud.services.pop import PopCall, PopService, action
from fakecloud.services.sts.models import AssumeRoleRequest, StsBackend


class StsService(PopService):
    name = "sts"
    api_version = "2015-04-01"
    trail_service_name = "Sts"
    event_source = "sts.aliyuncs.com"

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.backend = StsBackend(cloud)

    @action("AssumeRole", read=False)
    def assume_role(self, call: PopCall) -> dict:
        request = AssumeRoleRequest(
            role_arn=call.str("RoleArn"), session_name=call.str("RoleSessionName"),
            duration_seconds=call.int("DurationSeconds", code="InvalidParameter.DurationSeconds"),
            session_policy=call.str("Policy"), external_id=call.str("ExternalId"),
            source_identity=call.str("SourceIdentity"),
        )
        call.trail_resource_type, call.trail_resource_name = "ACS::RAM::Role", request.role_arn
        owner = (request.role_arn or "").split(":")[3] if (request.role_arn or "").count(":") >= 4 else None
        if self.cloud.record_assume_role_in_owner_account and owner and owner != call.account_id \
                and owner in self.cloud.accounts:
            call.trail_extra_accounts.append(owner)
        key = self.backend.assume_role(call.caller, request,
                                       lambda arn: call.authorize("sts:AssumeRole", arn))
        session = key.session
        assumed = {"Arn": f"acs:ram::{session.role_account_id}:role/{session.role_name}/{session.session_name}",
                   "AssumedRoleId": f"{session.role_id}:{session.session_name}"}
        call.trail_response_elements = {
            "assumedRoleUser": {"arn": assumed["Arn"], "assumedRoleId": assumed["AssumedRoleId"]},
            "credentials": {"accessKeyId": key.access_key_id, "accessKeySecret": "****",
                            "expiration": iso(key.expiration)},
        }
        body = {
            "Credentials": {"AccessKeyId": key.access_key_id, "AccessKeySecret": key.secret,
                            "SecurityToken": key.security_token, "Expiration": iso(key.expiration)},
            "AssumedRoleUser": assumed,
        }
        if request.source_identity:
            body["SourceIdentity"] = request.source_identity
        return body

    @action("GetCallerIdentity", read=True)
    def get_caller_identity(self, call: PopCall) -> dict:
        caller = call.caller
        body = {"AccountId": caller.account_id, "Arn": caller.arn, "PrincipalId": caller.principal_id}
        if caller.kind == "root-account":
            body.update(IdentityType="Account", UserId=caller.account_id)
        elif caller.kind == "ram-user":
            body.update(IdentityType="RAMUser", UserId=caller.user_id)
        else:
            body.update(IdentityType="AssumedRoleUser", RoleId=caller.session.role_id)
        return body
