"""STS (2015-04-01): who rolepact runs as, and role sessions (e.g. the partner-side check tool)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from shared.gateways import tea_config
from shared.gateways.retry import call_with_retry
from shared.settings import Credentials


@dataclass(frozen=True)
class AssumedCredentials(Credentials):
    """STS credentials of a role session: usable anywhere `Credentials` are, plus when they expire."""

    expiration: datetime | None = None
    assumed_role_arn: str = ""  # acs:ram::<uid>:role/<role>/<session>
    assumed_role_id: str = ""  # <roleId>:<session>

    def __repr__(self) -> str:  # never print the secret or the token
        return (f"AssumedCredentials(access_key_id={self.access_key_id!r}, expiration={self.expiration!r}, "
                f"assumed_role_arn={self.assumed_role_arn!r})")


class StsGateway:
    def __init__(self, settings) -> None:
        from alibabacloud_sts20150401 import models
        from alibabacloud_sts20150401.client import Client

        self.settings = settings
        self._models = models
        region = settings.region
        self._client = Client(tea_config(settings, settings.endpoints.sts, f"sts.{region}.aliyuncs.com"))

    def get_caller_identity(self) -> dict:
        """{AccountId, Arn, IdentityType, PrincipalId, UserId|RoleId} of the credentials in use."""
        response = call_with_retry(self._client.get_caller_identity, service="sts", action="GetCallerIdentity",
                                   settings=self.settings)
        body = response.body.to_map()
        body.pop("RequestId", None)
        return body

    def assume_role(self, role_arn: str, session_name: str, *, duration: int = 3600, external_id: str | None = None,
                    policy: dict | str | None = None) -> AssumedCredentials:
        """Credentials of a new session of `role_arn`; `policy` (dict or JSON) narrows the session."""
        if isinstance(policy, dict):
            policy = json.dumps(policy, sort_keys=True, separators=(",", ":"))
        request = self._models.AssumeRoleRequest(role_arn=role_arn, role_session_name=session_name,
                                                 duration_seconds=duration, external_id=external_id, policy=policy)
        response = call_with_retry(lambda: self._client.assume_role(request), service="sts", action="AssumeRole",
                                   settings=self.settings)
        body = response.body.to_map()
        creds = body.get("Credentials") or {}
        user = body.get("AssumedRoleUser") or {}
        return AssumedCredentials(access_key_id=creds.get("AccessKeyId", ""),
                                  access_key_secret=creds.get("AccessKeySecret", ""),
                                  security_token=creds.get("SecurityToken"),
                                  expiration=_parse_time(creds.get("Expiration")),
                                  assumed_role_arn=user.get("Arn", ""), assumed_role_id=user.get("AssumedRoleId", ""))


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
