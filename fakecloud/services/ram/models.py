"""RAM state and rules, per account. No wire concerns here (see responses.py).

Names are unique case-insensitively and keep the case they were created with. Every
operation raises `ServiceError` with RAM's own code and HTTP status.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from importlib import resources

from fakecloud import ids
from fakecloud.errors import ServiceError
from fakecloud.iam.policy import PolicyGrammarError, parse_policy, validate_policy_document

ROLE_NAME = re.compile(r"^[A-Za-z0-9.\-]+$")
USER_NAME = re.compile(r"^[A-Za-z0-9._\-]+$")
POLICY_NAME = re.compile(r"^[A-Za-z0-9\-]+$")
VERSION_ID = re.compile(r"^v[1-9][0-9]*$")
# 3-32 lower-case letters, digits and single hyphens, not at either end (SDK SetAccountAlias doc).
ACCOUNT_ALIAS = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TAGGABLE = ("role", "policy")


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
    allow_console_login: bool = True
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
    email: str = ""
    mobile_phone: str = ""
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
        # Indexes, so that per-policy answers do not scan every role and user of the account
        # (ListPolicies reports each policy's AttachmentCount; DeletePolicy checks it):
        # (account, policy type, lower policy name) -> {"Role"|"User": {lower holder name: None}}
        self._holders: dict[tuple[str, str, str], dict[str, dict[str, None]]] = {}
        # (account, tag key, tag value) -> {lower custom policy name: None}
        self._policy_tags: dict[tuple[str, str, str], dict[str, None]] = {}
        # RAM is eventually consistent: after a detach, DeleteRole / DeletePolicy may still see the
        # attachment for a while (Terraform's alicloud provider retries DeleteConflict.* for that).
        # Off by default (strict consistency); e.g. timedelta(seconds=5) models the lag.
        self.propagation_delay: timedelta | None = None
        # (account, "Role"|"Policy", lower name) -> when the last detach becomes visible to deletes
        self._settling: dict[tuple[str, str, str], datetime] = {}

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
            raise ServiceError("MissingParameter", f"The input parameter \"{kind}\" that is mandatory for processing this request is not supplied.", 400)
        if len(name) > max_len:
            raise ServiceError(f"InvalidParameter.{kind}.Length", f"The parameter - \"{kind}\" beyond the length limit.", 400)
        if not pattern.match(name):
            raise ServiceError(f"InvalidParameter.{kind}.InvalidChars", f"The parameter - \"{kind}\" contains invalid chars.", 400)
        return name

    @staticmethod
    def _check_length(param: str, value: str | None, max_len: int) -> str:
        value = value or ""
        if len(value) > max_len:
            raise ServiceError(f"InvalidParameter.{param}.Length", f"The parameter - \"{param}\" beyond the length limit.", 400)
        return value

    def _check_description(self, description: str | None) -> str:
        return self._check_length("Description", description, 1024)

    def _check_document(self, document: str | None, *, kind: str, param: str, max_chars: int) -> str:
        if not document:
            raise ServiceError("MissingParameter", f"The input parameter \"{param}\" that is mandatory for processing this request is not supplied.", 400)
        if len(document) > max_chars:
            raise ServiceError(f"InvalidParameter.{param}.Length",
                               f"The parameter - \"{param}\" beyond the length limit.", 400)
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
            raise _not_exist("Role", "The role does not exist.")
        return role

    def create_role(self, account_id: str, name: str | None, trust_document: str | None, description: str | None,
                    max_session_duration: int | None, tags: list | None, allow_console_login: bool = True) -> Role:
        self._check_name("RoleName", name, ROLE_NAME, 64)
        trust = self._check_document(trust_document, kind="trust", param="AssumeRolePolicyDocument",
                                     max_chars=self.limits.trust_document_chars)
        description = self._check_description(description)
        duration = self._check_duration(max_session_duration)
        tag_map = self._check_tags(tags)
        account = self.accounts[account_id]
        if name.lower() in account.roles:
            raise ServiceError("EntityAlreadyExists.Role", "The role does already EXIST.", 409)
        if len(account.roles) >= self.limits.roles_per_account:
            raise ServiceError("LimitExceeded.Role", "The count of roles beyond the current limits.", 409)
        now = self.now()
        role = Role(ids.numeric_id(18, "3"), name, account_id, trust, description, duration, now, now, tag_map,
                    allow_console_login=allow_console_login)
        account.roles[name.lower()] = role
        return role

    def update_role(self, account_id: str, name: str | None, *, trust_document: str | None = None,
                    max_session_duration: int | None = None, description: str | None = None,
                    allow_console_login: bool | None = None) -> Role:
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
        if allow_console_login is not None:
            role.allow_console_login = allow_console_login
        role.update_date = self.now()
        return role

    def _still_settling(self, account_id: str, kind: str, name: str) -> bool:
        until = self._settling.get((account_id, kind, name.lower()))
        if until is None:
            return False
        if self.now() >= until:
            del self._settling[(account_id, kind, name.lower())]
            return False
        return True

    def delete_role(self, account_id: str, name: str | None) -> None:
        role = self.get_role(account_id, name)
        if role.attachments or self._still_settling(account_id, "Role", role.name):
            raise ServiceError("DeleteConflict.Role.Policy",
                               "The role CAN NOT has any attached policy while deleting the role.", 409)
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
            raise _not_exist("User", "The user does not exist.")
        return user

    def create_user(self, account_id: str, name: str | None, display_name: str | None, comments: str | None,
                    email: str | None = None, mobile_phone: str | None = None) -> User:
        self._check_name("UserName", name, USER_NAME, 64)
        display_name = self._check_length("DisplayName", display_name, 128)
        comments = self._check_length("Comments", comments, 128)
        if email and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
            raise ServiceError("InvalidParameter.Email.Format", "The format of the parameter - \"Email\" is incorrect.", 400)
        if mobile_phone and not re.match(r"^\d{1,4}-\d{4,15}$", mobile_phone):
            raise ServiceError("InvalidParameter.MobilePhone.Format",
                               "The format of the parameter - \"MobilePhone\" is incorrect.", 400)
        account = self.accounts[account_id]
        if name.lower() in account.users:
            raise ServiceError("EntityAlreadyExists.User", "The user does already EXIST.", 409)
        if len(account.users) >= self.limits.users_per_account:
            raise ServiceError("LimitExceeded.User", "The count of users beyond the current limits.", 409)
        now = self.now()
        user = User(ids.numeric_id(18, "2"), name, display_name or name, comments, now, now,
                    email=email or "", mobile_phone=mobile_phone or "")
        account.users[name.lower()] = user
        return user

    def delete_user(self, account_id: str, name: str | None) -> None:
        user = self.get_user(account_id, name)
        if self.cloud.keys.for_user(account_id, user.name):
            raise ServiceError("DeleteConflict.User.AccessKey",
                               "The user CAN NOT has any access key while deleting the user.", 409)
        if user.attachments:
            raise ServiceError("DeleteConflict.User.Policy",
                               "The user CAN NOT has any attached policy while deleting the user.", 409)
        del self.accounts[account_id].users[user.name.lower()]

    def list_users(self, account_id: str) -> list[User]:
        return sorted(self.accounts[account_id].users.values(), key=lambda u: u.name.lower())

    def create_access_key(self, account_id: str, user_name: str):
        user = self.get_user(account_id, user_name)
        if len(self.cloud.keys.for_user(account_id, user.name)) >= self.limits.access_keys_per_user:
            raise ServiceError("LimitExceeded.User.AccessKey",
                               "The access key count of the user access keys beyond the current limits.", 409)
        return self.cloud.keys.new_permanent(account_id, "ram-user", user.name, self.now())

    def _user_key(self, account_id: str, user_name: str, key_id: str | None):
        user = self.get_user(account_id, user_name)
        for key in self.cloud.keys.for_user(account_id, user.name):
            if key.access_key_id == key_id:
                return key
        raise _not_exist("User.AccessKey", "The user access key does not exist.")

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
            raise ServiceError("InvalidParameter.PolicyType", "The parameter - \"PolicyType\" is incorrect.", 400)
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
            raise _not_exist("Policy", "The policy does not exist.")
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
            raise ServiceError("EntityAlreadyExists.Policy", "The policy does already EXIST.", 409)
        if len(account.policies) >= self.limits.custom_policies_per_account:
            raise ServiceError("LimitExceeded.Policy", "The count of policy beyond the current limits.", 409)
        now = self.now()
        policy = Policy(name, "Custom", description, now, now, {"v1": PolicyVersion("v1", document, now)}, "v1", 2, tag_map)
        account.policies[name.lower()] = policy
        self._index_policy_tags(account_id, policy, add=True)
        return policy

    def delete_policy(self, account_id: str, name: str | None, cascading: bool) -> None:
        policy = self.get_policy(account_id, "Custom", name)
        roles, users = self.entities_for_policy(account_id, "Custom", policy.name)
        if roles or self._still_settling(account_id, "Policy", policy.name):  # RAM documents no DeleteConflict.Policy.Role; clients expect this code (fake-fidelity.md e.)
            raise ServiceError("DeleteConflict.Role.Policy",
                               "The policy CAN NOT been attached to any role while deleting the policy.", 409)
        if users:
            raise ServiceError("DeleteConflict.Policy.User",
                               "The policy CAN NOT been attached to any user while deleting the policy.", 409)
        if len(policy.versions) > 1 and not cascading:
            raise ServiceError("DeleteConflict.Policy.Version",
                               "The policy CAN NOT has any version except the default version.", 409)
        del self.accounts[account_id].policies[policy.name.lower()]
        self._index_policy_tags(account_id, policy, add=False)

    def create_policy_version(self, account_id: str, name: str | None, document: str | None, set_as_default: bool,
                              rotate_strategy: str | None) -> PolicyVersion:
        policy = self.get_policy(account_id, "Custom", name)
        document = self._check_document(document, kind="identity", param="PolicyDocument",
                                        max_chars=self.limits.policy_document_chars)
        rotate_strategy = rotate_strategy or "None"
        if rotate_strategy not in ("None", "DeleteOldestNonDefaultVersionWhenLimitExceeded"):
            raise ServiceError("InvalidParameter.RotateStrategy", "The parameter - \"RotateStrategy\" is incorrect.", 400)
        if len(policy.versions) >= self.limits.versions_per_policy:
            if rotate_strategy == "None":
                raise ServiceError("LimitExceeded.Policy.Version",
                                   "The count of policy version beyond the current limits.", 409)
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
            raise ServiceError("InvalidParameter.VersionId.Format",
                               "The format of the parameter - \"VersionId\" is incorrect.", 400)
        version = policy.versions.get(version_id)
        if version is None:
            raise _not_exist("Policy.Version", "The policy version does not exist.")
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
                               "The default policy version CAN NOT been deleted directly.", 409)
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
                               f"The {holder_kind.lower()} has already been attached this policy.", 409)
        same_type = sum(1 for t, _ in holder.attachments if t == policy.policy_type)
        limit = {("Role", "Custom"): self.limits.custom_policies_per_role,
                 ("Role", "System"): self.limits.system_policies_per_role,
                 ("User", "Custom"): self.limits.custom_policies_per_user,
                 ("User", "System"): self.limits.system_policies_per_user}[(holder_kind, policy.policy_type)]
        if same_type >= limit:
            message = ("The count of policies attached to the role beyond the current limits." if holder_kind == "Role"
                       else "The policy count of the user attached policies beyond the current limits.")
            raise ServiceError(f"LimitExceeded.{holder_kind}.Policy", message, 409)
        holder.attachments[key] = Attachment(policy.policy_type, policy.name, self.now())
        self._holders.setdefault((account_id, *key), {"Role": {}, "User": {}})[holder_kind][holder.name.lower()] = None

    def _detach(self, account_id: str, holder, holder_kind: str, policy_type: str | None, policy_name: str | None) -> None:
        policy = self.get_policy(account_id, policy_type, policy_name)
        key = (policy.policy_type, policy.name.lower())
        if key not in holder.attachments:
            raise _not_exist(f"{holder_kind}.Policy", f"The indicate policy of the {holder_kind.lower()} does not exist.")
        del holder.attachments[key]
        entry = self._holders.get((account_id, *key))
        if entry is not None:
            entry[holder_kind].pop(holder.name.lower(), None)
        if self.propagation_delay and holder_kind == "Role":
            until = self.now() + self.propagation_delay
            self._settling[(account_id, "Role", holder.name.lower())] = until
            if policy.policy_type == "Custom":
                self._settling[(account_id, "Policy", policy.name.lower())] = until

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
        """([(role, attachment)], [(user, attachment)]) holding the policy, in attachment order."""
        key = (policy_type, name.lower())
        entry = self._holders.get((account_id, *key))
        if not entry:
            return [], []
        account = self.accounts[account_id]
        roles = [(r, r.attachments[key]) for r in map(account.roles.get, entry["Role"])
                 if r is not None and key in r.attachments]
        users = [(u, u.attachments[key]) for u in map(account.users.get, entry["User"])
                 if u is not None and key in u.attachments]
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
    @staticmethod
    def check_resource_type(resource_type: str | None) -> str:
        if resource_type not in TAGGABLE:
            raise ServiceError("InvalidParameter.ResourceType", "The parameter - \"ResourceType\" is incorrect.", 400)
        return resource_type

    def tag_target(self, account_id: str, resource_type: str | None, name: str):
        if self.check_resource_type(resource_type) == "role":
            return self.get_role(account_id, name)
        return self.get_policy(account_id, "Custom", name)

    def taggable(self, account_id: str, resource_type: str | None) -> list:
        """Every resource of the type, in name order (ListTagResources without ResourceNames)."""
        if self.check_resource_type(resource_type) == "role":
            return self.list_roles(account_id)
        return self.list_policies(account_id, "Custom")

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
            self._retag(account_id, target, lambda tags: tags.update(tag_map))

    def untag_resources(self, account_id: str, resource_type: str | None, names: list, keys: list | None, all_keys: bool) -> None:
        if not names:
            raise ServiceError("InvalidParameter.ResourceNames", "The parameter - ResourceNames must list 1 to 50 names.", 400)
        targets = [self.tag_target(account_id, resource_type, str(n)) for n in names]  # all exist, or none changes
        for target in targets:
            if all_keys:
                self._retag(account_id, target, dict.clear)
            else:
                self._retag(account_id, target, lambda tags: [tags.pop(str(k), None) for k in keys or []])

    def _retag(self, account_id: str, target, change) -> None:
        """Apply `change(tags)` to a role's or policy's tags, keeping the policy tag index in step."""
        is_policy = isinstance(target, Policy)
        if is_policy:
            self._index_policy_tags(account_id, target, add=False)
        change(target.tags)
        if is_policy:
            self._index_policy_tags(account_id, target, add=True)

    def _index_policy_tags(self, account_id: str, policy: Policy, *, add: bool) -> None:
        for key, value in policy.tags.items():
            names = self._policy_tags.setdefault((account_id, key, value), {})
            if add:
                names[policy.name.lower()] = None
            else:
                names.pop(policy.name.lower(), None)

    def custom_policies_tagged(self, account_id: str, tags: dict[str, str]) -> list[Policy]:
        """Custom policies carrying every `key: value` of `tags`, in name order (from the index)."""
        account = self.accounts[account_id]
        names = None
        for key, value in tags.items():
            found = self._policy_tags.get((account_id, key, value), {}).keys()
            names = set(found) if names is None else names & found
            if not names:
                return []
        policies = [account.policies[n] for n in names or () if n in account.policies]
        return sorted(policies, key=lambda p: p.name.lower())

    # -- account ------------------------------------------------------------------------------------------------
    def set_alias(self, account_id: str, alias: str | None) -> None:
        if not alias or not 3 <= len(alias) <= 32:
            raise ServiceError("InvalidParameter.AccountAlias.Length",
                               "The parameter - \"AccountAlias\" MUST be in the range of 3 and 32.", 400)
        if not ACCOUNT_ALIAS.match(alias):
            raise ServiceError("InvalidParameter.AccountAlias.Format",
                               "The format of parameter - \"AccountAlias\" is incorrect.", 400)
        for other in self.accounts.values():
            if other.alias == alias and other.account_id != account_id:
                raise ServiceError("EntityAlreadyExists.AccountAlias", "The account alias does already exist.", 409)
        self.accounts[account_id].alias = alias
