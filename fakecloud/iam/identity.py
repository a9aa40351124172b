"""Who is calling: the authenticated identity behind a request."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fakecloud.iam.keys import AccessKey, StsSession


@dataclass(frozen=True)
class Caller:
    kind: str  # "root-account" | "ram-user" | "assumed-role" (ActionTrail's userIdentity.type)
    account_id: str  # for assumed-role: the role owner's account
    access_key_id: str
    arn: str
    principal_id: str
    user_name: str  # ActionTrail userName: "root", the user, or "<role>:<session>"
    source_ip: str
    secure_transport: bool
    mfa: bool
    user_id: str | None = None
    session: StsSession | None = None
    key: AccessKey | None = None
    user_agent: str = ""
    vpc_id: str | None = None  # the call came through a VPC endpoint (acs:SourceVpc)

    @property
    def is_root(self) -> bool:
        return self.kind == "root-account"

    @property
    def role_name(self) -> str | None:
        return self.session.role_name if self.session else None

    @property
    def session_created(self) -> datetime | None:
        return self.session.created if self.session else None

    def principal_ref(self):
        from fakecloud.iam.policy import PrincipalRef

        if self.kind == "ram-user":
            return PrincipalRef("ram-user", self.account_id, self.user_name)
        if self.kind == "assumed-role":
            return PrincipalRef("assumed-role", self.account_id, self.session.role_name)
        return PrincipalRef("root", self.account_id, None)

    def user_identity(self) -> dict:
        """ActionTrail `userIdentity` block."""
        identity = {
            "type": self.kind,
            "principalId": self.principal_id,
            "accountId": self.account_id,
            "userName": self.user_name,
            "accessKeyId": self.access_key_id,
        }
        if self.session:
            identity["sessionContext"] = {
                "attributes": {
                    "creationDate": self.session.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "mfaAuthenticated": "true" if self.mfa else "false",
                }
            }
        return identity
