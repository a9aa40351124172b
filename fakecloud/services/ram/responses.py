"""RAM wire layer: parameters in, JSON out, shaped exactly as the tea SDK models read them."""
from __future__ import annotations

import base64
import json

from fakecloud.clock import iso
from fakecloud.errors import ServiceError
from fakecloud.services.pop import PopCall, PopService, action
from fakecloud.services.ram.models import Policy, PolicyVersion, RamBackend, Role, User


def role_body(role: Role, *, full: bool = True, tags: bool = False) -> dict:
    body = {
        "RoleId": role.role_id,
        "RoleName": role.name,
        "Arn": role.arn,
        "Description": role.description,
        "MaxSessionDuration": role.max_session_duration,
        "CreateDate": iso(role.create_date),
        "UpdateDate": iso(role.update_date),
        "AllowConsoleLogin": role.allow_console_login,
        "IsServiceLinkedRole": False,
        "RolePrincipalName": f"{role.name}@role.{role.account_id}.onaliyunservice.com",
    }
    if full:
        body["AssumeRolePolicyDocument"] = role.trust_document
    if tags:
        body["Tags"] = {"Tag": [{"TagKey": k, "TagValue": v} for k, v in role.tags.items()]}
    return body


def user_body(user: User) -> dict:
    return {
        "UserId": user.user_id,
        "UserName": user.name,
        "DisplayName": user.display_name,
        "Comments": user.comments,
        "Email": user.email,
        "MobilePhone": user.mobile_phone,
        "CreateDate": iso(user.create_date),
        "UpdateDate": iso(user.update_date),
    }


def version_body(version: PolicyVersion, policy: Policy) -> dict:
    return {
        "VersionId": version.version_id,
        "IsDefaultVersion": version.version_id == policy.default_version,
        "PolicyDocument": version.document,
        "CreateDate": iso(version.create_date),
    }


_MARKER_PREFIX = "fakecloud-marker:"


def _policy_order(policy: Policy) -> str:
    """Sort key of ListPolicies, which lists system policies first, then custom ones, by name.

    `paginate` needs keys that increase along the listing ("System" > "Custom" would not).
    """
    return f"{0 if policy.policy_type == 'System' else 1}:{policy.name.lower()}"


def paginate(call: PopCall, items: list, key) -> tuple[list, dict]:
    """RAM's Marker paging over `items`, which must be in increasing `key` order.

    The marker is opaque to clients and names the first item of the next page by its sort key,
    so pages stay consistent when items are created or deleted between calls: nothing is
    returned twice and nothing that existed throughout is skipped. A marker this fake did not
    issue is refused rather than silently restarting the listing.
    """
    max_items = call.int("MaxItems", default=100, minimum=1, maximum=1000)
    marker = call.str("Marker")
    start = 0
    if marker:
        try:
            decoded = base64.urlsafe_b64decode(marker.encode("ascii")).decode("utf-8")
        except (ValueError, UnicodeError):
            decoded = ""
        if not decoded.startswith(_MARKER_PREFIX):
            raise ServiceError("InvalidParameter.Marker", "The parameter - \"Marker\" is incorrect.", 400)
        after = decoded[len(_MARKER_PREFIX):]
        start = next((i for i, item in enumerate(items) if key(item) >= after), len(items))
    page = items[start:start + max_items]
    truncated = start + max_items < len(items)
    meta = {"IsTruncated": truncated}
    if truncated:
        meta["Marker"] = base64.urlsafe_b64encode(
            (_MARKER_PREFIX + key(items[start + max_items])).encode("utf-8")).decode("ascii")
    return page, meta


def _encode_tag_token(row_key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps([_MARKER_PREFIX, *row_key]).encode("utf-8")).decode("ascii")


def _decode_tag_token(token: str) -> tuple[str, str]:
    try:
        prefix, order, tag_key = json.loads(base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8"))
        if prefix != _MARKER_PREFIX or not isinstance(order, str) or not isinstance(tag_key, str):
            raise ValueError(token)
    except (ValueError, TypeError, UnicodeError):
        raise ServiceError("InvalidParameter.NextToken", "The parameter - \"NextToken\" is incorrect.", 400)
    return order, tag_key


class RamService(PopService):
    name = "ram"
    api_version = "2015-05-01"
    trail_service_name = "Ram"
    event_source = "ram.aliyuncs.com"
    is_global = True
    no_permission_message = "You are not authorized to do this action."
    # User and AccessKey APIs are recorded by ActionTrail as IMS events.
    ims_actions = frozenset({"CreateUser", "GetUser", "DeleteUser", "ListUsers", "CreateAccessKey",
                             "DeleteAccessKey", "UpdateAccessKey", "ListAccessKeys", "AttachPolicyToUser",
                             "DetachPolicyFromUser", "ListPoliciesForUser"})

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.backend = RamBackend(cloud)

    def trail_source(self, call: PopCall) -> tuple[str, str]:
        if call.action in self.ims_actions:
            return "Ims", "ims-share.aliyuncs.com"
        return self.trail_service_name, self.event_source

    def on_account_added(self, account_id: str, alias: str | None) -> None:
        self.backend.add_account(account_id, alias)

    @staticmethod
    def arn(call: PopCall, kind: str, name: str | None) -> str:
        """Resource ARN RAM authorizes against: global, so the region field is empty.

        Policies may write `acs:ram:*:<uid>:role/x` or `acs:ram::<uid>:role/x`; both match.
        """
        return f"acs:ram::{call.account_id}:{kind}/{name or '*'}"

    def _role_call(self, call: PopCall, ram_action: str) -> str | None:
        name = call.str("RoleName")
        call.authorize(ram_action, self.arn(call, "role", name))
        call.trail_resource_type, call.trail_resource_name = "ACS::RAM::Role", name
        return name

    # -- roles -----------------------------------------------------------------------------------------
    @action("CreateRole")
    def create_role(self, call: PopCall) -> dict:
        name = self._role_call(call, "ram:CreateRole")
        role = self.backend.create_role(call.account_id, name, call.str("AssumeRolePolicyDocument"),
                                        call.str("Description"), call.int("MaxSessionDuration"), call.json("Tag"),
                                        allow_console_login=call.bool("AllowConsoleLogin", default=True))
        body = role_body(role)
        body.pop("UpdateDate")
        return {"Role": body}

    @action("GetRole")
    def get_role(self, call: PopCall) -> dict:
        name = self._role_call(call, "ram:GetRole")
        return {"Role": role_body(self.backend.get_role(call.account_id, name))}

    @action("UpdateRole")
    def update_role(self, call: PopCall) -> dict:
        name = self._role_call(call, "ram:UpdateRole")
        role = self.backend.update_role(call.account_id, name,
                                        trust_document=call.str("NewAssumeRolePolicyDocument"),
                                        max_session_duration=call.int("NewMaxSessionDuration"),
                                        description=call.str("NewDescription"),
                                        allow_console_login=(call.bool("NewAllowConsoleLogin")
                                                             if call.str("NewAllowConsoleLogin") else None))
        return {"Role": role_body(role)}

    @action("DeleteRole")
    def delete_role(self, call: PopCall) -> dict:
        self.backend.delete_role(call.account_id, self._role_call(call, "ram:DeleteRole"))
        return {}

    @action("ListRoles")
    def list_roles(self, call: PopCall) -> dict:
        call.authorize("ram:ListRoles", self.arn(call, "role", "*"))
        roles = self.backend.list_roles(call.account_id)
        wanted = {t["Key"]: t.get("Value") for t in (call.json("Tag") or []) if isinstance(t, dict) and "Key" in t}
        if wanted:
            roles = [r for r in roles if all(k in r.tags and (v is None or r.tags[k] == v) for k, v in wanted.items())]
        page, meta = paginate(call, roles, lambda r: r.name.lower())
        return {**meta, "Roles": {"Role": [role_body(r, full=False, tags=True) for r in page]}}

    # -- users --------------------------------------------------------------------------------------------
    def _user_call(self, call: PopCall, ram_action: str, *, default_self: bool = False) -> str | None:
        name = call.str("UserName")
        if name is None and default_self and call.caller.kind == "ram-user":
            name = call.caller.user_name
        call.authorize(ram_action, self.arn(call, "user", name))
        call.trail_resource_type, call.trail_resource_name = "ACS::RAM::User", name
        return name

    @action("CreateUser")
    def create_user(self, call: PopCall) -> dict:
        name = self._user_call(call, "ram:CreateUser")
        user = self.backend.create_user(call.account_id, name, call.str("DisplayName"), call.str("Comments"),
                                        call.str("Email"), call.str("MobilePhone"))
        return {"User": user_body(user)}

    @action("GetUser")
    def get_user(self, call: PopCall) -> dict:
        name = self._user_call(call, "ram:GetUser")
        return {"User": user_body(self.backend.get_user(call.account_id, name))}

    @action("DeleteUser")
    def delete_user(self, call: PopCall) -> dict:
        self.backend.delete_user(call.account_id, self._user_call(call, "ram:DeleteUser"))
        return {}

    @action("ListUsers")
    def list_users(self, call: PopCall) -> dict:
        call.authorize("ram:ListUsers", self.arn(call, "user", "*"))
        page, meta = paginate(call, self.backend.list_users(call.account_id), lambda u: u.name.lower())
        return {**meta, "Users": {"User": [user_body(u) for u in page]}}

    @action("CreateAccessKey")
    def create_access_key(self, call: PopCall) -> dict:
        name = self._user_call(call, "ram:CreateAccessKey", default_self=True)
        if name is None:
            raise ServiceError("MissingParameter", "The input parameter \"UserName\" that is mandatory for processing this request is not supplied.", 400)
        key = self.backend.create_access_key(call.account_id, name)
        call.trail_response_elements = {"AccessKeyId": key.access_key_id}
        return {"AccessKey": {"AccessKeyId": key.access_key_id, "AccessKeySecret": key.secret,
                              "Status": key.status, "CreateDate": iso(key.created)}}

    @action("DeleteAccessKey")
    def delete_access_key(self, call: PopCall) -> dict:
        name = self._user_call(call, "ram:DeleteAccessKey", default_self=True)
        self.backend.delete_access_key(call.account_id, name or "", call.str("UserAccessKeyId", required=True))
        return {}

    @action("UpdateAccessKey")
    def update_access_key(self, call: PopCall) -> dict:
        name = self._user_call(call, "ram:UpdateAccessKey", default_self=True)
        self.backend.update_access_key(call.account_id, name or "", call.str("UserAccessKeyId", required=True),
                                       call.str("Status", required=True))
        return {}

    @action("ListAccessKeys")
    def list_access_keys(self, call: PopCall) -> dict:
        name = self._user_call(call, "ram:ListAccessKeys", default_self=True)
        user = self.backend.get_user(call.account_id, name)
        keys = self.cloud.keys.for_user(call.account_id, user.name)
        return {"AccessKeys": {"AccessKey": [
            {"AccessKeyId": k.access_key_id, "Status": k.status, "CreateDate": iso(k.created)} for k in keys]}}

    # -- policies ------------------------------------------------------------------------------------------
    def _policy_call(self, call: PopCall, ram_action: str) -> str | None:
        name = call.str("PolicyName")
        call.authorize(ram_action, self.arn(call, "policy", name))
        call.trail_resource_type, call.trail_resource_name = "ACS::RAM::Policy", name
        return name

    def policy_body(self, call: PopCall, policy: Policy, *, document: bool = False, tags: bool = False) -> dict:
        body = {
            "PolicyName": policy.name,
            "PolicyType": policy.policy_type,
            "Description": policy.description,
            "DefaultVersion": policy.default_version,
            "CreateDate": iso(policy.create_date),
            "UpdateDate": iso(policy.update_date),
            "AttachmentCount": self.backend.attachment_count(call.account_id, policy),
        }
        if document:
            body["PolicyDocument"] = policy.default.document
        if tags:
            body["Tags"] = {"Tag": [{"TagKey": k, "TagValue": v} for k, v in policy.tags.items()]}
        return body

    @action("CreatePolicy")
    def create_policy(self, call: PopCall) -> dict:
        name = self._policy_call(call, "ram:CreatePolicy")
        policy = self.backend.create_policy(call.account_id, name, call.str("PolicyDocument"),
                                            call.str("Description"), call.json("Tag"))
        return {"Policy": {"PolicyName": policy.name, "PolicyType": "Custom", "Description": policy.description,
                           "DefaultVersion": policy.default_version, "CreateDate": iso(policy.create_date)}}

    @action("GetPolicy")
    def get_policy(self, call: PopCall) -> dict:
        name = self._policy_call(call, "ram:GetPolicy")
        policy = self.backend.get_policy(call.account_id, call.str("PolicyType"), name)
        return {"Policy": self.policy_body(call, policy, document=True),
                "DefaultPolicyVersion": version_body(policy.default, policy)}

    @action("DeletePolicy")
    def delete_policy(self, call: PopCall) -> dict:
        self.backend.delete_policy(call.account_id, self._policy_call(call, "ram:DeletePolicy"),
                                   call.bool("CascadingDelete"))
        return {}

    @action("ListPolicies")
    def list_policies(self, call: PopCall) -> dict:
        call.authorize("ram:ListPolicies", self.arn(call, "policy", "*"))
        policy_type = call.str("PolicyType")
        wanted = {t["Key"]: t.get("Value") for t in (call.json("Tag") or []) if isinstance(t, dict) and "Key" in t}
        if wanted and None not in wanted.values() and policy_type in (None, "Custom"):
            policies = self.backend.custom_policies_tagged(call.account_id, wanted)  # system policies have no tags
        else:
            policies = self.backend.list_policies(call.account_id, policy_type)
            if wanted:
                policies = [p for p in policies
                            if all(k in p.tags and (v is None or p.tags[k] == v) for k, v in wanted.items())]
        page, meta = paginate(call, policies, _policy_order)
        return {**meta, "Policies": {"Policy": [self.policy_body(call, p, tags=True) for p in page]}}

    @action("CreatePolicyVersion")
    def create_policy_version(self, call: PopCall) -> dict:
        name = self._policy_call(call, "ram:CreatePolicyVersion")
        version = self.backend.create_policy_version(call.account_id, name, call.str("PolicyDocument"),
                                                     call.bool("SetAsDefault"), call.str("RotateStrategy"))
        policy = self.backend.get_policy(call.account_id, "Custom", name)
        return {"PolicyVersion": version_body(version, policy)}

    @action("GetPolicyVersion")
    def get_policy_version(self, call: PopCall) -> dict:
        name = self._policy_call(call, "ram:GetPolicyVersion")
        policy_type = call.str("PolicyType")
        version = self.backend.get_policy_version(call.account_id, policy_type, name, call.str("VersionId"))
        return {"PolicyVersion": version_body(version, self.backend.get_policy(call.account_id, policy_type, name))}

    @action("ListPolicyVersions")
    def list_policy_versions(self, call: PopCall) -> dict:
        name = self._policy_call(call, "ram:ListPolicyVersions")
        policy = self.backend.get_policy(call.account_id, call.str("PolicyType"), name)
        versions = sorted(policy.versions.values(), key=lambda v: int(v.version_id[1:]))
        return {"PolicyVersions": {"PolicyVersion": [version_body(v, policy) for v in versions]}}

    @action("SetDefaultPolicyVersion")
    def set_default_policy_version(self, call: PopCall) -> dict:
        self.backend.set_default_policy_version(call.account_id, self._policy_call(call, "ram:SetDefaultPolicyVersion"),
                                                call.str("VersionId"))
        return {}

    @action("DeletePolicyVersion")
    def delete_policy_version(self, call: PopCall) -> dict:
        self.backend.delete_policy_version(call.account_id, self._policy_call(call, "ram:DeletePolicyVersion"),
                                           call.str("VersionId"))
        return {}

    # -- attachments -------------------------------------------------------------------------------------------
    @action("AttachPolicyToRole")
    def attach_policy_to_role(self, call: PopCall) -> dict:
        role = self._role_call(call, "ram:AttachPolicyToRole")
        self.backend.attach_policy_to_role(call.account_id, call.str("PolicyType"), call.str("PolicyName"), role)
        return {}

    @action("DetachPolicyFromRole")
    def detach_policy_from_role(self, call: PopCall) -> dict:
        role = self._role_call(call, "ram:DetachPolicyFromRole")
        self.backend.detach_policy_from_role(call.account_id, call.str("PolicyType"), call.str("PolicyName"), role)
        return {}

    @action("ListPoliciesForRole")
    def list_policies_for_role(self, call: PopCall) -> dict:
        role = self.backend.get_role(call.account_id, self._role_call(call, "ram:ListPoliciesForRole"))
        return {"Policies": {"Policy": [self._attached_body(a, p) for a, p in self.backend.attached_policies(call.account_id, role)]}}

    @action("AttachPolicyToUser")
    def attach_policy_to_user(self, call: PopCall) -> dict:
        user = self._user_call(call, "ram:AttachPolicyToUser")
        self.backend.attach_policy_to_user(call.account_id, call.str("PolicyType"), call.str("PolicyName"), user)
        return {}

    @action("DetachPolicyFromUser")
    def detach_policy_from_user(self, call: PopCall) -> dict:
        user = self._user_call(call, "ram:DetachPolicyFromUser")
        self.backend.detach_policy_from_user(call.account_id, call.str("PolicyType"), call.str("PolicyName"), user)
        return {}

    @action("ListPoliciesForUser")
    def list_policies_for_user(self, call: PopCall) -> dict:
        user = self.backend.get_user(call.account_id, self._user_call(call, "ram:ListPoliciesForUser"))
        return {"Policies": {"Policy": [self._attached_body(a, p) for a, p in self.backend.attached_policies(call.account_id, user)]}}

    @staticmethod
    def _attached_body(attachment, policy: Policy) -> dict:
        return {"PolicyName": policy.name, "PolicyType": policy.policy_type, "Description": policy.description,
                "DefaultVersion": policy.default_version, "AttachDate": iso(attachment.attach_date)}

    @action("ListEntitiesForPolicy")
    def list_entities_for_policy(self, call: PopCall) -> dict:
        name = self._policy_call(call, "ram:ListEntitiesForPolicy")
        policy = self.backend.get_policy(call.account_id, call.str("PolicyType"), name)
        roles, users = self.backend.entities_for_policy(call.account_id, policy.policy_type, policy.name)
        return {
            "Groups": {"Group": []},
            "Users": {"User": [{"UserId": u.user_id, "UserName": u.name, "DisplayName": u.display_name,
                                "AttachDate": iso(a.attach_date)} for u, a in users]},
            "Roles": {"Role": [{"RoleId": r.role_id, "RoleName": r.name, "Arn": r.arn, "Description": r.description,
                                "AttachDate": iso(a.attach_date)} for r, a in roles]},
        }

    # -- tags ------------------------------------------------------------------------------------------------------
    def _tag_call(self, call: PopCall, ram_action: str) -> tuple[str | None, list]:
        resource_type = self.backend.check_resource_type(call.str("ResourceType", required=True))
        names = call.json("ResourceNames", default=[])
        if not isinstance(names, list):
            raise ServiceError("InvalidParameter.ResourceNames", "The parameter - ResourceNames must be a JSON list.", 400)
        for name in names or ["*"]:
            call.authorize(ram_action, self.arn(call, resource_type, str(name)))
        return resource_type, names

    @action("TagResources")
    def tag_resources(self, call: PopCall) -> dict:
        resource_type, names = self._tag_call(call, "ram:TagResources")
        self.backend.tag_resources(call.account_id, resource_type, names, call.json("Tag", default=[]))
        return {}

    @action("UntagResources")
    def untag_resources(self, call: PopCall) -> dict:
        resource_type, names = self._tag_call(call, "ram:UntagResources")
        self.backend.untag_resources(call.account_id, resource_type, names, call.json("TagKeys"), call.bool("All"))
        return {}

    @action("ListTagResources")
    def list_tag_resources(self, call: PopCall) -> dict:
        resource_type, names = self._tag_call(call, "ram:ListTagResources")
        page_size = call.int("PageSize", default=100, minimum=1, maximum=100)
        if names:  # in the order asked for; the position keeps paging stable if a name repeats its case
            targets = [(f"{i:04d}", self.backend.tag_target(call.account_id, resource_type, str(n)))
                       for i, n in enumerate(names)]
        else:  # in name order
            targets = [(t.name.lower(), t) for t in self.backend.taggable(call.account_id, resource_type)]
        wanted = {t["Key"]: t.get("Value") for t in (call.json("Tag") or []) if isinstance(t, dict) and "Key" in t}
        rows = [((order, k), {"ResourceName": t.name, "ResourceType": resource_type, "TagKey": k, "TagValue": v})
                for order, t in targets for k, v in sorted(t.tags.items())
                if not wanted or (k in wanted and wanted[k] in (None, v))]
        # The token names the first row of the next page by its sort key (like ListRoles' Marker), so
        # tags added or removed between pages neither repeat a row nor skip one that stayed.
        start = 0
        token = call.str("NextToken")
        if token is not None:
            after = _decode_tag_token(token)
            start = next((i for i, (row_key, _) in enumerate(rows) if row_key >= after), len(rows))
        page = rows[start:start + page_size]
        body = {"TagResources": [row for _, row in page]}
        if start + page_size < len(rows):
            body["NextToken"] = _encode_tag_token(rows[start + page_size][0])
        return body

    # -- account ---------------------------------------------------------------------------------------------------
    @action("GetAccountAlias")
    def get_account_alias(self, call: PopCall) -> dict:
        call.authorize("ram:GetAccountAlias", f"acs:ram::{call.account_id}:*")
        return {"AccountAlias": self.backend.account(call.account_id).alias}

    @action("SetAccountAlias")
    def set_account_alias(self, call: PopCall) -> dict:
        call.authorize("ram:SetAccountAlias", f"acs:ram::{call.account_id}:*")
        self.backend.set_alias(call.account_id, call.str("AccountAlias", required=True))
        return {}
