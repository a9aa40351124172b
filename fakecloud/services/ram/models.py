"""RAM state and rules, per account. No wire concerns here (see responses.py).

Names are unique case-insensitively and keep the case they were created with. Every
operation raises `ServiceError` with RAM's own code and HTTP status.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from importlib import resources

from fakecloud import ids
from fakecloud.clock import iso
from fakecloud.errors import ServiceError
from fakecloud.iam.policy import PolicyGrammarError, parse_policy, validate_policy_document

ROLE_NAME = re.compile(r"^[A-Za-z0-9.\-]+$")
USER_NAME = re.compile(r"^[A-Za-z0-9._@\-]+$")
POLICY_NAME = re.compile(r"^[A-Za-z0-9\-]+$")
VERSION_ID = re.compile(r"^v[1-9][0-9]*$")


def _not_exist(kind: str, message: str) -> ServiceError:
    return ServiceError(f"EntityNotExist.{kind}", message, 404)


@dataclass
class Attachment:
    policy_type: str  # "System" | "Custom"
    policy_name: str
    attach_date: datetime


@dataclass
class Role:
    role_id: str
    name: str
    account_id: str
    trust_document: str
    description: str
    max_session_duration: int
    create_date: datetime
    update_date: datetime
    tags: dict[str, str] = field(default_factory=dict)
    attachments: dict[tuple[str, str], Attachment] = field(default_factory=dict)  # (type, lower name)
    _parsed_trust: object = None

    @property
    def arn(self) -> str:
        return f"acs:ram::{self.account_id}:role/{self.name}"

    @property
    def parsed_trust(self):
        if self._parsed_trust is None:
            self._parsed_trust = parse_policy(self.trust_document, kind="trust")
        return self._parsed_trust


@dataclass
class User:
    user_id: str
    name: str
    display_name: str
    comments: str
    create_date: datetime
    update_date: datetime
    tags: dict[str, str] = field(default_factory=dict)
    attachments: dict[tuple[str, str], Attachment] = field(default_factory=dict)


@dataclass
class PolicyVersion:
    version_id: str
    document: str
    create_date: datetime

    @cached_property
    def parsed(self):
        return parse_policy(self.document, kind="identity")


@dataclass
class Policy:
    name: str
    policy_type: str
    description: str
    create_date: datetime
    update_date: datetime
    versions: dict[str, PolicyVersion]
    default_version: str
    next_version: int
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def default(self) -> PolicyVersion:
        return self.versions[self.default_version]


@dataclass
class RamAccount:
    account_id: str
    alias: str
    roles: dict[str, Role] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)


def _load_system_policies() -> dict[str, Policy]:
    catalogue = json.loads(resources.files(__package__).joinpath("system_policies.json").read_text("utf-8"))
    epoch = datetime(2015, 4, 28, 0, 0, 0).astimezone()
    policies = {}
    for name, entry in catalogue.items():
        version = entry.get("DefaultVersion", "v1")
        document = json.dumps(entry["PolicyDocument"], indent=2)
        policies[name.lower()] = Policy(name, "System", entry.get("Description", name), epoch, epoch,
                                        {version: PolicyVersion(version, document, epoch)}, version,
                                        int(version[1:]) + 1)
    return policies


class RamBackend:
    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self.accounts: dict[str, RamAccount] = {}
        self.system_policies = _load_system_policies()

    @property
    def limits(self):
        return self.cloud.limits

    def now(self) -> datetime:
        return self.cloud.now()

    def add_account(self, account_id: str, alias: str | None) -> None:
        self.accounts[account_id] = RamAccount(account_id, alias or account_id)

    def account(self, account_id: str) -> RamAccount:
        return self.accounts[account_id]

    # -- validation -------------------------------------------------------------------------------
    @staticmethod
    def _check_name(kind: str, name: str | None, pattern: re.Pattern, max_len: int) -> str:
        if not name:
            raise ServiceError(f"MissingParameter", f"The input parameter \"{kind}\" that is mandatory for processing this request is not supplied.", 400)
        if len(name) > max_len:
            raise ServiceError(f"InvalidParameter.{kind}.Length", f"The parameter - {kind} beyond the length limit {max_len}.", 400)
        if not pattern.match(name):
            raise ServiceError(f"InvalidParameter.{kind}.InvalidChars", f"The parameter - {kind} contains invalid chars.", 400)
        return name

    def _check_description(self, description: str | None) -> str:
        description = description or ""
        if len(description) > 1024:
            raise ServiceError("InvalidParameter.Description.Length", "The parameter - Description beyond the length limit 1024.", 400)
        return description

    def _check_document(self, document: str | None, *, kind: str, param: str, max_chars: int) -> str:
        if not document:
            raise ServiceError("MissingParameter", f"The input parameter \"{param}\" that is mandatory for processing this request is not supplied.", 400)
        if len(document) > max_chars:
            raise ServiceError(f"InvalidParameter.{param}.Length",
                               f"The parameter - {param} beyond the length limit {max_chars}.", 400)
        try:
            validate_policy_document(document, kind=kind)
        except PolicyGrammarError as problem:
            raise ServiceError("MalformedPolicyDocument", f"The policy document is malformed: {problem}", 400)
        return document

    def _check_duration(self, value: int | None) -> int:
        if value is None:
            return 3600
        if not 3600 <= value <= 43200:
            raise ServiceError("InvalidParameter.MaxSessionDuration",
                               "The parameter - MaxSessionDuration must be between 3600 and 43200.", 400)
        return value

    def _check_tags(self, tags: list | None) -> dict[str, str]:
        result: dict[str, str] = {}
        for tag in tags or []:
            if not isinstance(tag, dict) or not tag.get("Key"):
                raise ServiceError("InvalidParameter.Tag", "The parameter - Tag is invalid.", 400)
            key, value = str(tag["Key"]), str(tag.get("Value", ""))
            if len(key) > 128 or len(value) > 256 or key.lower().startswith(("aliyun", "acs:")):
                raise ServiceError("InvalidParameter.Tag", f"The tag {key!r} is invalid.", 400)
            result[key] = value
        if len(result) > self.limits.tags_per_resource:
            raise ServiceError("LimitExceeded.Tags", "The number of tags exceeds the limit of 20.", 409)
        return result

    # -- roles -------------------------------------------------------------------------------------------
    def find_role(self, account_id: str, name: str) -> Role | None:
        return self.accounts[account_id].roles.get(name.lower())

    def get_role(self, account_id: str, name: str | None) -> Role:
        self._check_name("RoleName", name, ROLE_NAME, 64)
        role = self.find_role(account_id, name)
        if role is None:
            raise _not_exist("Role", f"The role does not exist: {name}.")
        return role

    def create_role(self, account_id: str, name: str | None, trust_document: str | None, description: str | None,
                    max_session_duration: int | None, tags: list | None) -> Role:
        self._check_name("RoleName", name, ROLE_NAME, 64)
        trust = self._check_document(trust_document, kind="trust", param="AssumeRolePolicyDocument",
                                     max_chars=self.limits.trust_document_chars)
        description = self._check_description(description)
        duration = self._check_duration(max_session_duration)
        tag_map = self._check_tags(tags)
        account = self.accounts[account_id]
        if name.lower() in account.roles:
            raise ServiceError("EntityAlreadyExists.Role", f"The role does already EXIST: {name}.", 409)
        if len(account.roles) >= self.limits.roles_per_account:
            raise ServiceError("LimitExceeded.Role", "The count of roles beyond the current limits.", 409)
        now = self.now()
        role = Role(ids.numeric_id(18, "3"), name, account_id, trust, description, duration, now, now, tag_map)
        account.roles[name.lower()] = role
        return role

    def update_role(self, account_id: str, name: str | None, *, trust_document: str | None = None,
                    max_session_duration: int | None = None, description: str | None = None) -> Role:
        role = self.get_role(account_id, name)
        if trust_document is not None:
            trust_document = self._check_document(trust_document, kind="trust", param="NewAssumeRolePolicyDocument",
                                                  max_chars=self.limits.trust_document_chars)
        if max_session_duration is not None:
            self._check_duration(max_session_duration)
        if description is not None:
            self._check_description(description)
        if trust_document is not None:
            role.trust_document, role._parsed_trust = trust_document, None
        if max_session_duration is not None:
            role.max_session_duration = max_session_duration
        if description is not None:
            role.description = description
        role.update_date = self.now()
        return role

    def delete_role(self, account_id: str, name: str | None) -> None:
        role = self.get_role(account_id, name)
        if role.attachments:
            raise ServiceError("DeleteConflict.Role.Policy",
                               "The role has attached policies. Please detach the policies first.", 409)
        del self.accounts[account_id].roles[role.name.lower()]

    def list_roles(self, account_id: str) -> list[Role]:
        return sorted(self.accounts[account_id].roles.values(), key=lambda r: r.name.lower())

    # -- users and keys ---------------------------------------------------------------------------
    def find_user(self, account_id: str, name: str) -> User | None:
        account = self.accounts.get(account_id)
        return account.users.get(name.lower()) if account else None

    def get_user(self, account_id: str, name: str | None) -> User:
        self._check_name("UserName", name, USER_NAME, 64)
        user = self.find_user(account_id, name)
        if user is None:
            raise _not_exist("User", f"The user does not exist: {name}.")
        return user

    def create_user(self, account_id: str, name: str | None, display_name: str | None, comments: str | None) -> User:
        self._check_name("UserName", name, USER_NAME, 64)
        account = self.accounts[account_id]
        if name.lower() in account.users:
            raise ServiceError("EntityAlreadyExists.User", f"The user does already EXIST: {name}.", 409)
        if len(account.users) >= self.limits.users_per_account:
            raise ServiceError("LimitExceeded.User", "The count of users beyond the current limits.", 409)
        now = self.now()
        user = User(ids.numeric_id(18, "2"), name, display_name or name, comments or "", now, now)
        account.users[name.lower()] = user
        return user

    def delete_user(self, account_id: str, name: str | None) -> None:
        user = self.get_user(account_id, name)
        if self.cloud.keys.for_user(account_id, user.name):
            raise ServiceError("DeleteConflict.User.AccessKey", "The user has access keys. Please delete them first.", 409)
        if user.attachments:
            raise ServiceError("DeleteConflict.User.Policy", "The user has attached policies. Please detach them first.", 409)
        del self.accounts[account_id].users[user.name.lower()]

    def list_users(self, account_id: str) -> list[User]:
        return sorted(self.accounts[account_id].users.values(), key=lambda u: u.name.lower())

    def create_access_key(self, account_id: str, user_name: str):
        user = self.get_user(account_id, user_name)
        if len(self.cloud.keys.for_user(account_id, user.name)) >= self.limits.access_keys_per_user:
            raise ServiceError("LimitExceeded.User.AccessKey", "The count of access keys of the user beyond the limit 2.", 409)
        return self.cloud.keys.new_permanent(account_id, "ram-user", user.name, self.now())

    def _user_key(self, account_id: str, user_name: str, key_id: str | None):
        user = self.get_user(account_id, user_name)
        for key in self.cloud.keys.for_user(account_id, user.name):
            if key.access_key_id == key_id:
                return key
        raise _not_exist("User.AccessKey", f"The access key does not exist: {key_id}.")

    def delete_access_key(self, account_id: str, user_name: str, key_id: str | None) -> None:
        key = self._user_key(account_id, user_name, key_id)
        self.cloud.keys.remove(key.access_key_id)

    def update_access_key(self, account_id: str, user_name: str, key_id: str | None, status: str | None) -> None:
        if status not in ("Active", "Inactive"):
            raise ServiceError("InvalidParameter.Status", "The parameter - Status must be Active or Inactive.", 400)
        self._user_key(account_id, user_name, key_id).status = status

    # -- policies ---------------------------------------------------------------------------------------
    def _check_type(self, policy_type: str | None) -> str:
        if policy_type not in ("System", "Custom"):
            raise ServiceError("InvalidParameter.PolicyType", "The parameter - PolicyType must be System or Custom.", 400)
        return policy_type

    def find_policy(self, account_id: str, policy_type: str, name: str) -> Policy | None:
        if policy_type == "System":
            return self.system_policies.get(name.lower())
        return self.accounts[account_id].policies.get(name.lower())

    def get_policy(self, account_id: str, policy_type: str | None, name: str | None) -> Policy:
        self._check_type(policy_type)
        self._check_name("PolicyName", name, POLICY_NAME, 128)
        policy = self.find_policy(account_id, policy_type, name)
        if policy is None:
            raise _not_exist("Policy", f"The policy does not exist: {name}.")
        return policy

    def create_policy(self, account_id: str, name: str | None, document: str | None, description: str | None,
                      tags: list | None) -> Policy:
        self._check_name("PolicyName", name, POLICY_NAME, 128)
        document = self._check_document(document, kind="identity", param="PolicyDocument",
                                        max_chars=self.limits.policy_document_chars)
        description = self._check_description(description)
        tag_map = self._check_tags(tags)
        account = self.accounts[account_id]
        if name.lower() in account.policies or name.lower() in self.system_policies:
            raise ServiceError("EntityAlreadyExists.Policy", f"The policy does already EXIST: {name}.", 409)
        if len(account.policies) >= self.limits.custom_policies_per_account:
            raise ServiceError("LimitExceeded.Policy", "The count of policies beyond the current limits.", 409)
        now = self.now()
        policy = Policy(name, "Custom", description, now, now, {"v1": PolicyVersion("v1", document, now)}, "v1", 2, tag_map)
        account.policies[name.lower()] = policy
        return policy

    def delete_policy(self, account_id: str, name: str | None, cascading: bool) -> None:
        policy = self.get_policy(account_id, "Custom", name)
        if self.entities_for_policy(account_id, "Custom", policy.name)[0]:
            raise ServiceError("DeleteConflict.Role.Policy", "The policy has been attached to some roles.", 409)
        if self.entities_for_policy(account_id, "Custom", policy.name)[1]:
            raise ServiceError("DeleteConflict.Policy.User", "The policy has been attached to some users.", 409)
        if len(policy.versions) > 1 and not cascading:
            raise ServiceError("DeleteConflict.Policy.Version",
                               "The policy has non-default versions. Please delete them first.", 409)
        del self.accounts[account_id].policies[policy.name.lower()]

    def create_policy_version(self, account_id: str, name: str | None, document: str | None, set_as_default: bool,
                              rotate_strategy: str | None) -> PolicyVersion:
        policy = self.get_policy(account_id, "Custom", name)
        document = self._check_document(document, kind="identity", param="PolicyDocument",
                                        max_chars=self.limits.policy_document_chars)
        rotate_strategy = rotate_strategy or "None"
        if rotate_strategy not in ("None", "DeleteOldestNonDefaultVersionWhenLimitExceeded"):
            raise ServiceError("InvalidParameter.RotateStrategy", "The parameter - RotateStrategy is invalid.", 400)
        if len(policy.versions) >= self.limits.versions_per_policy:
            if rotate_strategy == "None":
                raise ServiceError("LimitExceeded.Policy.Version",
                                   "Exceeded the maximum number of versions of the policy: 5.", 409)
            oldest = min((v for v in policy.versions.values() if v.version_id != policy.default_version),
                         key=lambda v: int(v.version_id[1:]))
            del policy.versions[oldest.version_id]
        now = self.now()
        version = PolicyVersion(f"v{policy.next_version}", document, now)
        policy.next_version += 1
        policy.versions[version.version_id] = version
        if set_as_default:
            policy.default_version = version.version_id
        policy.update_date = now
        return version

    def get_policy_version(self, account_id: str, policy_type: str | None, name: str | None,
                           version_id: str | None) -> PolicyVersion:
        policy = self.get_policy(account_id, policy_type, name)
        if not version_id or not VERSION_ID.match(version_id):
            raise ServiceError("InvalidParameter.VersionId.Format", "The parameter - VersionId is invalid.", 400)
        version = policy.versions.get(version_id)
        if version is None:
            raise _not_exist("Policy.Version", f"The policy version does not exist: {version_id}.")
        return version

    def set_default_policy_version(self, account_id: str, name: str | None, version_id: str | None) -> None:
        policy = self.get_policy(account_id, "Custom", name)
        self.get_policy_version(account_id, "Custom", name, version_id)
        policy.default_version = version_id
        policy.update_date = self.now()

    def delete_policy_version(self, account_id: str, name: str | None, version_id: str | None) -> None:
        policy = self.get_policy(account_id, "Custom", name)
        self.get_policy_version(account_id, "Custom", name, version_id)
        if version_id == policy.default_version:
            raise ServiceError("DeleteConflict.Policy.Version.Default",
                               "The default version of the policy cannot be deleted.", 409)
        del policy.versions[version_id]

    def list_policies(self, account_id: str, policy_type: str | None) -> list[Policy]:
        if policy_type not in (None, "", "System", "Custom"):
            self._check_type(policy_type)
        result: list[Policy] = []
        if policy_type in (None, "", "System"):
            result += sorted(self.system_policies.values(), key=lambda p: p.name.lower())
        if policy_type in (None, "", "Custom"):
            result += sorted(self.accounts[account_id].policies.values(), key=lambda p: p.name.lower())
        return result

    # -- attachments ------------------------------------------------------------------------------------
    def _attach(self, account_id: str, holder, holder_kind: str, policy_type: str | None, policy_name: str | None) -> None:
        policy = self.get_policy(account_id, policy_type, policy_name)
        key = (policy.policy_type, policy.name.lower())
        if key in holder.attachments:
            raise ServiceError(f"EntityAlreadyExists.{holder_kind}.Policy",
                               f"The policy has already been attached to the {holder_kind.lower()}.", 409)
        same_type = sum(1 for t, _ in holder.attachments if t == policy.policy_type)
        limit = {("Role", "Custom"): self.limits.custom_policies_per_role,
                 ("Role", "System"): self.limits.system_policies_per_role,
                 ("User", "Custom"): self.limits.custom_policies_per_user,
                 ("User", "System"): self.limits.system_policies_per_user}[(holder_kind, policy.policy_type)]
        if same_type >= limit:
            raise ServiceError(f"LimitExceeded.{holder_kind}.Policy",
                               f"The count of {policy.policy_type.lower()} policies attached to the "
                               f"{holder_kind.lower()} beyond the limit {limit}.", 409)
        holder.attachments[key] = Attachment(policy.policy_type, policy.name, self.now())

    def _detach(self, account_id: str, holder, holder_kind: str, policy_type: str | None, policy_name: str | None) -> None:
        policy = self.get_policy(account_id, policy_type, policy_name)
        key = (policy.policy_type, policy.name.lower())
        if key not in holder.attachments:
            raise _not_exist(f"{holder_kind}.Policy", f"The policy is not attached to the {holder_kind.lower()}.")
        del holder.attachments[key]

    def attach_policy_to_role(self, account_id, policy_type, policy_name, role_name) -> None:
        self._attach(account_id, self.get_role(account_id, role_name), "Role", policy_type, policy_name)

    def detach_policy_from_role(self, account_id, policy_type, policy_name, role_name) -> None:
        self._detach(account_id, self.get_role(account_id, role_name), "Role", policy_type, policy_name)

    def attach_policy_to_user(self, account_id, policy_type, policy_name, user_name) -> None:
        self._attach(account_id, self.get_user(account_id, user_name), "User", policy_type, policy_name)

    def detach_policy_from_user(self, account_id, policy_type, policy_name, user_name) -> None:
        self._detach(account_id, self.get_user(account_id, user_name), "User", policy_type, policy_name)

    def attached_policies(self, account_id: str, holder) -> list[tuple[Attachment, Policy]]:
        result = []
        for (policy_type, name), attachment in holder.attachments.items():
            policy = self.find_policy(account_id, policy_type, name)
            if policy is not None:
                result.append((attachment, policy))
        return result

    def entities_for_policy(self, account_id: str, policy_type: str, name: str):
        key = (policy_type, name.lower())
        account = self.accounts[account_id]
        roles = [(r, r.attachments[key]) for r in account.roles.values() if key in r.attachments]
        users = [(u, u.attachments[key]) for u in account.users.values() if key in u.attachments]
        return roles, users

    def attachment_count(self, account_id: str, policy: Policy) -> int:
        roles, users = self.entities_for_policy(account_id, policy.policy_type, policy.name)
        return len(roles) + len(users)

    # -- what the evaluator needs ------------------------------------------------------------------------
    def policies_of_user(self, account_id: str, user_name: str) -> list:
        user = self.find_user(account_id, user_name)
        if user is None:
            return []
        return [policy.default.parsed for _, policy in self.attached_policies(account_id, user)]

    def policies_of_role(self, account_id: str, role_name: str, role_id: str) -> list:
        """Current policies of a role; none if the role was deleted (or re-created) since the token was issued."""
        account = self.accounts.get(account_id)
        role = account.roles.get(role_name.lower()) if account else None
        if role is None or role.role_id != role_id:
            return []
        return [policy.default.parsed for _, policy in self.attached_policies(account_id, role)]

    # -- tags -----------------------------------------------------------------------------------------------
    def tag_target(self, account_id: str, resource_type: str | None, name: str):
        if resource_type == "role":
            return self.get_role(account_id, name)
        if resource_type == "policy":
            return self.get_policy(account_id, "Custom", name)
        if resource_type == "user":
            return self.get_user(account_id, name)
        raise ServiceError("InvalidParameter.ResourceType", "The parameter - ResourceType must be role, policy or user.", 400)

    def tag_resources(self, account_id: str, resource_type: str | None, names: list, tags: list) -> None:
        if not names or len(names) > 50:
            raise ServiceError("InvalidParameter.ResourceNames", "The parameter - ResourceNames must list 1 to 50 names.", 400)
        tag_map = self._check_tags(tags)
        if not tag_map:
            raise ServiceError("MissingParameter", "The input parameter \"Tag\" that is mandatory for processing this request is not supplied.", 400)
        targets = [self.tag_target(account_id, resource_type, str(n)) for n in names]
        for target in targets:
            merged = {**target.tags, **tag_map}
            if len(merged) > self.limits.tags_per_resource:
                raise ServiceError("LimitExceeded.Tags", "The number of tags exceeds the limit of 20.", 409)
        for target in targets:
            target.tags.update(tag_map)

    def untag_resources(self, account_id: str, resource_type: str | None, names: list, keys: list | None, all_keys: bool) -> None:
        if not names:
            raise ServiceError("InvalidParameter.ResourceNames", "The parameter - ResourceNames must list 1 to 50 names.", 400)
        for name in names:
            target = self.tag_target(account_id, resource_type, str(name))
            if all_keys:
                target.tags.clear()
            else:
                for key in keys or []:
                    target.tags.pop(str(key), None)

    # -- account ------------------------------------------------------------------------------------------------
    def set_alias(self, account_id: str, alias: str | None) -> None:
        if not alias or not re.match(r"^[a-z0-9](?:[a-z0-9-]{1,48}[a-z0-9])$", alias):
            raise ServiceError("InvalidParameter.AccountAlias",
                               "The parameter - AccountAlias must be 3-50 lower-case letters, digits or hyphens.", 400)
        for other in self.accounts.values():
            if other.alias == alias and other.account_id != account_id:
                raise ServiceError("EntityAlreadyExists.AccountAlias", "The account alias is already in use.", 409)
        self.accounts[account_id].alias = alias
