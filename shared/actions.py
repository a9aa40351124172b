"""The RAM writes the planner can ask for. Each is one API call, described for humans."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from shared.documents import canonical


@dataclass(frozen=True)
class Action:
    api: ClassVar[str] = ""

    def describe(self) -> str:
        return f"ram:{self.api}"

    def brief(self) -> str:
        """describe() without policy documents: one short line for notices (the grant is summarised apart)."""
        return self.describe()

    def to_dict(self) -> dict:
        return {"api": self.api, "summary": self.describe()}


@dataclass(frozen=True)
class CreateRole(Action):
    api: ClassVar[str] = "CreateRole"
    role: str
    trust: dict = field(compare=False)
    description: str
    max_session_duration: int
    tags: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        return (f"ram:CreateRole RoleName={self.role} MaxSessionDuration={self.max_session_duration} "
                f"AssumeRolePolicyDocument={canonical(self.trust)}")

    def brief(self) -> str:
        return f"ram:CreateRole RoleName={self.role} MaxSessionDuration={self.max_session_duration}"


@dataclass(frozen=True)
class UpdateRole(Action):
    api: ClassVar[str] = "UpdateRole"
    role: str
    trust: dict | None = field(default=None, compare=False)
    max_session_duration: int | None = None
    description: str | None = None

    def describe(self) -> str:
        parts = [f"ram:UpdateRole RoleName={self.role}"]
        if self.trust is not None:
            parts.append(f"NewAssumeRolePolicyDocument={canonical(self.trust)}")
        if self.max_session_duration is not None:
            parts.append(f"NewMaxSessionDuration={self.max_session_duration}")
        if self.description is not None:
            parts.append(f"NewDescription={self.description!r}")
        return " ".join(parts)

    def brief(self) -> str:
        changed = [what for what, value in (("trust policy", self.trust), ("MaxSessionDuration", self.max_session_duration),
                                            ("description", self.description)) if value is not None]
        return f"ram:UpdateRole RoleName={self.role} ({', '.join(changed)})"


@dataclass(frozen=True)
class TagRole(Action):
    api: ClassVar[str] = "TagResources"
    role: str
    tags: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        return f"ram:TagResources ResourceType=role ResourceNames=[{self.role}] Tag={dict(self.tags)}"


@dataclass(frozen=True)
class DeleteRole(Action):
    api: ClassVar[str] = "DeleteRole"
    role: str

    def describe(self) -> str:
        return f"ram:DeleteRole RoleName={self.role}"


@dataclass(frozen=True)
class CreatePolicy(Action):
    api: ClassVar[str] = "CreatePolicy"
    policy: str
    document: dict = field(compare=False)
    description: str
    tags: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        return f"ram:CreatePolicy PolicyName={self.policy} PolicyDocument={canonical(self.document)}"

    def brief(self) -> str:
        return f"ram:CreatePolicy PolicyName={self.policy}"


@dataclass(frozen=True)
class CreatePolicyVersion(Action):
    api: ClassVar[str] = "CreatePolicyVersion"
    policy: str
    document: dict = field(compare=False)

    def describe(self) -> str:
        return (f"ram:CreatePolicyVersion PolicyName={self.policy} SetAsDefault=true "
                f"RotateStrategy=DeleteOldestNonDefaultVersionWhenLimitExceeded PolicyDocument={canonical(self.document)}")

    def brief(self) -> str:
        return f"ram:CreatePolicyVersion PolicyName={self.policy}"


@dataclass(frozen=True)
class DeletePolicy(Action):
    api: ClassVar[str] = "DeletePolicy"
    policy: str

    def describe(self) -> str:
        return f"ram:DeletePolicy PolicyName={self.policy} CascadingDelete=true"


@dataclass(frozen=True)
class AttachPolicy(Action):
    api: ClassVar[str] = "AttachPolicyToRole"
    role: str
    policy_type: str
    policy: str

    def describe(self) -> str:
        return f"ram:AttachPolicyToRole RoleName={self.role} PolicyType={self.policy_type} PolicyName={self.policy}"


@dataclass(frozen=True)
class DetachPolicy(Action):
    api: ClassVar[str] = "DetachPolicyFromRole"
    role: str
    policy_type: str
    policy: str

    def describe(self) -> str:
        return f"ram:DetachPolicyFromRole RoleName={self.role} PolicyType={self.policy_type} PolicyName={self.policy}"
