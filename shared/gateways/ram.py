"""RAM (2015-05-01): roles, custom policies, attachments and tags of the owner account.

Reads return the frozen snapshots of `shared.state`, so the planner compares plain values
and never sees an SDK model. Documents are sent in canonical JSON (`shared.documents.canonical`)
and parsed back on read: RAM may re-format what it stores, and comparing parsed dicts keeps
a cosmetic difference from looking like drift.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping

from shared.documents import canonical
from shared.errors import CloudError
from shared.gateways import tea_config
from shared.gateways.retry import call_with_retry
from shared.state import PolicySnapshot, PolicySummary, RoleSnapshot, RoleSummary

RAM_ENDPOINT = "ram.aliyuncs.com"  # global; the SDK would pick ram.<region> for unmapped regions
PAGE_SIZE = 1000  # ListRoles / ListPolicies MaxItems maximum
TAG_PAGE_SIZE = 100  # ListTagResources PageSize maximum
ROTATE = "DeleteOldestNonDefaultVersionWhenLimitExceeded"

Tags = Mapping[str, str] | Iterable[tuple[str, str]]
TagFilter = Mapping[str, str] | tuple[str, str] | None


class RamGateway:
    def __init__(self, settings) -> None:
        from alibabacloud_ram20150501 import models
        from alibabacloud_ram20150501.client import Client

        self.settings = settings
        self._models = models
        self._client = Client(tea_config(settings, settings.endpoints.ram, RAM_ENDPOINT))

    def _call(self, action: str, method: str, request=None) -> dict:
        """One RAM API call with retries; the response body as RAM's own JSON keys."""
        fn = getattr(self._client, method)
        response = call_with_retry(lambda: fn(request) if request is not None else fn(),
                                   service="ram", action=action, settings=self.settings)
        return response.body.to_map() if response.body is not None else {}

    # -- roles: reads ----------------------------------------------------------------------------------

    def get_role(self, name: str, *, with_details: bool = False) -> RoleSnapshot | None:
        """The role, or None if it does not exist.

        GetRole returns neither tags nor attached policies: they are left empty unless
        `with_details` is set, which costs two more calls (ListTagResources, ListPoliciesForRole).
        """
        try:
            body = self._call("GetRole", "get_role", self._models.GetRoleRequest(role_name=name))
        except CloudError as error:
            if error.code == "EntityNotExist.Role":
                return None
            raise
        role = _role_snapshot(body.get("Role") or {})
        if not with_details:
            return role
        return RoleSnapshot(role.name, role.arn, role.role_id, role.description, role.trust,
                            role.max_session_duration, self.role_tags(name), self.list_policies_for_role(name),
                            role.create_date)

    def list_policies_for_role(self, name: str) -> frozenset[tuple[str, str]]:
        """(PolicyType, PolicyName) of every policy attached to the role."""
        body = self._call("ListPoliciesForRole", "list_policies_for_role",
                          self._models.ListPoliciesForRoleRequest(role_name=name))
        return frozenset((p.get("PolicyType"), p.get("PolicyName"))
                         for p in (body.get("Policies") or {}).get("Policy") or [])

    def role_tags(self, name: str) -> dict[str, str]:
        return self._resource_tags("role", name)

    def iter_roles(self, *, tag: TagFilter = None) -> Iterator[RoleSummary]:
        """Every role of the account (Marker paging, 1000 a page); optionally only those with `tag`."""
        request = self._models.ListRolesRequest(max_items=PAGE_SIZE,
                                                tag=_tag_list(self._models.ListRolesRequestTag, _one_tag(tag)))
        for body in self._pages("ListRoles", "list_roles", request):
            for row in (body.get("Roles") or {}).get("Role") or []:
                yield RoleSummary(name=row.get("RoleName", ""), arn=row.get("Arn", ""),
                                  role_id=row.get("RoleId", ""), description=row.get("Description") or "",
                                  max_session_duration=int(row.get("MaxSessionDuration") or 3600),
                                  tags=_tags_of(row), create_date=row.get("CreateDate") or "")

    def iter_users(self) -> Iterator[tuple[str, str]]:
        """(UserName, UserId) of every RAM user of the account (Marker paging)."""
        request = self._models.ListUsersRequest(max_items=PAGE_SIZE)
        for body in self._pages("ListUsers", "list_users", request):
            for row in (body.get("Users") or {}).get("User") or []:
                yield row.get("UserName", ""), str(row.get("UserId", ""))

    # -- policies: reads -------------------------------------------------------------------------------

    def list_policies(self, policy_type: str | None = "Custom", tag: TagFilter = None) -> list[PolicySummary]:
        """Policies of `policy_type` (None: both kinds), optionally only those with `tag` (key, value)."""
        request = self._models.ListPoliciesRequest(
            max_items=PAGE_SIZE, policy_type=policy_type,
            tag=_tag_list(self._models.ListPoliciesRequestTag, _one_tag(tag)))
        return [PolicySummary(name=row.get("PolicyName", ""), policy_type=row.get("PolicyType", ""),
                              description=row.get("Description") or "",
                              default_version=row.get("DefaultVersion") or "",
                              attachment_count=int(row.get("AttachmentCount") or 0), tags=_tags_of(row))
                for body in self._pages("ListPolicies", "list_policies", request)
                for row in (body.get("Policies") or {}).get("Policy") or []]

    def get_policy(self, name: str, policy_type: str = "Custom") -> PolicySnapshot | None:
        """The policy with its default version's document parsed, or None if it does not exist.

        GetPolicy returns no tags; `tags` is empty (use `list_policies(tag=...)` to find by tag).
        """
        try:
            body = self._call("GetPolicy", "get_policy",
                              self._models.GetPolicyRequest(policy_name=name, policy_type=policy_type))
        except CloudError as error:
            if error.code == "EntityNotExist.Policy":
                return None
            raise
        policy = body.get("Policy") or {}
        version = body.get("DefaultPolicyVersion") or {}
        return PolicySnapshot(name=policy.get("PolicyName") or name, policy_type=policy.get("PolicyType") or policy_type,
                              document=_parse(version.get("PolicyDocument")),
                              description=policy.get("Description") or "")

    # -- writes ----------------------------------------------------------------------------------------

    def create_role(self, name: str, trust: dict, description: str, max_session_duration: int,
                    tags: Tags = ()) -> RoleSnapshot:
        tags = dict(tags)
        body = self._call("CreateRole", "create_role", self._models.CreateRoleRequest(
            role_name=name, assume_role_policy_document=canonical(trust), description=description,
            max_session_duration=max_session_duration, tag=_tag_list(self._models.CreateRoleRequestTag, tags)))
        return _role_snapshot(body.get("Role") or {}, tags=tags)

    def update_role(self, name: str, *, trust: dict | None = None, max_session_duration: int | None = None,
                    description: str | None = None) -> RoleSnapshot:
        """Change only what is given; raises CloudError EntityNotExist.Role (404) for a missing role."""
        body = self._call("UpdateRole", "update_role", self._models.UpdateRoleRequest(
            role_name=name, new_assume_role_policy_document=canonical(trust) if trust is not None else None,
            new_max_session_duration=max_session_duration, new_description=description))
        return _role_snapshot(body.get("Role") or {})

    def delete_role(self, name: str) -> None:
        """RAM refuses (DeleteConflict.Role.Policy) while policies are attached: detach them first."""
        self._call("DeleteRole", "delete_role", self._models.DeleteRoleRequest(role_name=name))

    def tag_role(self, name: str, tags: Tags) -> None:
        self._call("TagResources", "tag_resources", self._models.TagResourcesRequest(
            resource_type="role", resource_names=[name],
            tag=_tag_list(self._models.TagResourcesRequestTag, tags)))

    def create_policy(self, name: str, document: dict, description: str, tags: Tags = ()) -> None:
        self._call("CreatePolicy", "create_policy", self._models.CreatePolicyRequest(
            policy_name=name, policy_document=canonical(document), description=description,
            tag=_tag_list(self._models.CreatePolicyRequestTag, tags)))

    def create_policy_version(self, name: str, document: dict) -> None:
        """New default version; the oldest non-default one is dropped when RAM's 5-version limit is hit."""
        self._call("CreatePolicyVersion", "create_policy_version", self._models.CreatePolicyVersionRequest(
            policy_name=name, policy_document=canonical(document), set_as_default=True, rotate_strategy=ROTATE))

    def delete_policy(self, name: str) -> None:
        """Deletes the non-default versions too (CascadingDelete); RAM refuses while it is attached."""
        self._call("DeletePolicy", "delete_policy",
                   self._models.DeletePolicyRequest(policy_name=name, cascading_delete=True))

    def attach_policy_to_role(self, role: str, policy_type: str, policy_name: str) -> None:
        self._call("AttachPolicyToRole", "attach_policy_to_role", self._models.AttachPolicyToRoleRequest(
            role_name=role, policy_type=policy_type, policy_name=policy_name))

    def detach_policy_from_role(self, role: str, policy_type: str, policy_name: str) -> None:
        self._call("DetachPolicyFromRole", "detach_policy_from_role", self._models.DetachPolicyFromRoleRequest(
            role_name=role, policy_type=policy_type, policy_name=policy_name))

    # -- account -----------------------------------------------------------------------------------------

    def get_account_alias(self) -> str:
        """The account alias ("" when none is set): shown to partners in notices."""
        return self._call("GetAccountAlias", "get_account_alias").get("AccountAlias") or ""

    # -- helpers -----------------------------------------------------------------------------------------

    def _pages(self, action: str, method: str, request) -> Iterator[dict]:
        """Marker paging; the request object is reused with only Marker changing.

        A marker seen before would list the same pages forever: that is refused, not followed.
        """
        seen: set[str] = set()
        while True:
            body = self._call(action, method, request)
            yield body
            marker = body.get("Marker")
            if not body.get("IsTruncated") or not marker:
                return
            if marker in seen:
                raise CloudError("ram", action, "PagingDidNotAdvance", f"{action} returned marker {marker!r} twice")
            seen.add(marker)
            request.marker = marker

    def _resource_tags(self, resource_type: str, name: str) -> dict[str, str]:
        request = self._models.ListTagResourcesRequest(resource_type=resource_type, resource_names=[name],
                                                       page_size=TAG_PAGE_SIZE)
        tags: dict[str, str] = {}
        while True:
            body = self._call("ListTagResources", "list_tag_resources", request)
            for row in body.get("TagResources") or []:  # a flat list, unlike every other RAM list
                if isinstance(row, dict) and row.get("TagKey") is not None:
                    tags[row["TagKey"]] = row.get("TagValue") or ""
            if not body.get("NextToken"):
                return tags
            request.next_token = body["NextToken"]


def _parse(document) -> dict | None:
    """A JSON policy document as a dict; None when it is missing or not a JSON object."""
    if not isinstance(document, str):
        return None
    try:
        parsed = json.loads(document)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _role_snapshot(role: dict, *, tags: Mapping[str, str] | None = None) -> RoleSnapshot:
    return RoleSnapshot(name=role.get("RoleName", ""), arn=role.get("Arn", ""), role_id=role.get("RoleId", ""),
                        description=role.get("Description") or "", trust=_parse(role.get("AssumeRolePolicyDocument")),
                        max_session_duration=int(role.get("MaxSessionDuration") or 3600), tags=dict(tags or {}),
                        create_date=role.get("CreateDate") or "")


def _tags_of(row: dict) -> dict[str, str]:
    return {t.get("TagKey"): t.get("TagValue") or "" for t in (row.get("Tags") or {}).get("Tag") or []
            if t.get("TagKey") is not None}


def _one_tag(tag: TagFilter) -> dict[str, str]:
    if tag is None:
        return {}
    return dict(tag) if isinstance(tag, Mapping) else {tag[0]: tag[1]}


def _tag_list(model, tags: Tags):
    """SDK tag models (serialized by the SDK as `Tag=[{"Key":..,"Value":..}]`); None when empty."""
    result = [model(key=key, value=value) for key, value in dict(tags).items()]
    return result or None
