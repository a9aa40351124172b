"""The RAM documents and names rolepact derives from an agreement (pure).

- trust policy: the partner principals and the agreed `sts:ExternalId` — the only condition RAM
  documents for trust policies. With `extended_trust` (ROLEPACT_TRUST_EXTRA_CONDITIONS) it also
  carries the window (`acs:CurrentTime`), `acs:SourceIp` and `acs:MFAPresent`, which RAM documents
  for permission policies only: whether AssumeRole evaluates them is for the conformance suite;
- guard policy: a Deny attached to the role that makes RAM itself end access at `expiresAt`
  (and before `startsAt`, from outside the agreed networks and, with requireMfa, without MFA) —
  for live STS sessions too. The network and MFA Denies use `...IfExists`: a request that does
  not carry the key (a call through a VPC endpoint has no public acs:SourceIp) is denied too;
- names and ownership marks: every policy rolepact creates is named `rp-<hash>-...` and
  every role/policy carries the agreement id in its description and tags, so rolepact never
  touches what it did not create.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone

from shared.agreements.model import Agreement, ON_EXPIRY_DELETE_ROLE
from shared.errors import Problem
from shared.state import DesiredRole, EndedRole

TAG_MANAGED = "rolepact-managed"
TAG_AGREEMENT = "rolepact-agreement"
TAG_DEPLOYMENT = "rolepact-deployment"  # the deployment (its bucket) whose agreement created the policy
# rolepact appends its mark to the description; text before it comes from the agreement file,
# so only a mark at the very end counts (a file must not be able to forge another agreement's).
_MARKER = re.compile(r"\[rolepact:([a-z0-9-]+)\]\s*$")


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical(document: dict) -> str:
    """Compact, key-sorted JSON: the form rolepact sends and compares."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def agreement_hash(agreement_id: str) -> str:
    return hashlib.sha256(agreement_id.encode("utf-8")).hexdigest()[:10]


def policy_prefix(agreement_id: str) -> str:
    return f"rp-{agreement_hash(agreement_id)}-"


def custom_policy_name(agreement_id: str, name: str) -> str:
    """Custom names start with a letter or digit, so they can never equal the guard's `--guard`."""
    return policy_prefix(agreement_id) + name


def guard_policy_name(agreement_id: str) -> str:
    return policy_prefix(agreement_id) + "-guard"


def ownership_marker(agreement_id: str) -> str:
    return f"[rolepact:{agreement_id}]"


def marked_agreement(description: str | None) -> str | None:
    """The agreement id a description was marked with by rolepact, if any."""
    match = _MARKER.search(description or "")
    return match.group(1) if match else None


def ownership_tags(agreement_id: str) -> dict[str, str]:
    return {TAG_MANAGED: "true", TAG_AGREEMENT: agreement_id}


def role_description(agreement: Agreement) -> str:
    text = agreement.role_description.strip()
    marker = ownership_marker(agreement.agreement_id)
    return f"{text} {marker}" if text else marker


def trust_policy(agreement: Agreement, *, extended: bool = False) -> dict:
    """`extended`: add the window, source IP and MFA conditions to AssumeRole (undocumented for trust
    policies; the guard policy enforces all three either way)."""
    condition: dict = {}
    terms = agreement.conditions
    if terms.external_id:
        condition["StringEquals"] = {"sts:ExternalId": terms.external_id}
    if extended:
        if agreement.starts_at is not None:
            condition["DateGreaterThanEquals"] = {"acs:CurrentTime": iso(agreement.starts_at)}
        condition["DateLessThan"] = {"acs:CurrentTime": iso(agreement.expires_at)}
        if terms.require_mfa:
            condition["Bool"] = {"acs:MFAPresent": "true"}
        if terms.source_ip_ranges:
            condition["IpAddress"] = {"acs:SourceIp": list(terms.source_ip_ranges)}
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": list(agreement.principal_arns())}}
    if condition:
        statement["Condition"] = condition
    return {"Version": "1", "Statement": [statement]}


def trust_policy_problems(agreement: Agreement, *, max_chars: int, extended: bool = False) -> list[Problem]:
    """The trust policy rolepact would send, measured up front: RAM refuses one over its limit
    (InvalidParameter.AssumeRolePolicyDocument.Length, value undocumented), and finding out at
    CreateRole/UpdateRole would be too late for an amendment already half applied."""
    length = len(canonical(trust_policy(agreement, extended=extended)))
    if length <= max_chars:
        return []
    return [Problem("partner.principals", f"with these principals and conditions the role's trust policy would be "
                                          f"{length} characters; at most {max_chars} are allowed "
                                          f"(ROLEPACT_MAX_TRUST_POLICY_CHARS): "
                                          f"list fewer principals (or 'root' for the whole partner account), or "
                                          f"a shorter conditions.externalId")]


def closed_trust_policy(owner_account_id: str) -> dict:
    """A valid trust policy that no partner matches: only the owner account may assume."""
    return {"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [f"acs:ram::{owner_account_id}:root"]},
    }]}


# The control plane of the owner account: whatever an agreement grants (even a broad system policy
# exempted from the guardrails), a partner's session never reaches these. Whole services where the
# service *is* control (identity, audit trail, event routing, organization); the destructive verbs of
# logging (the trail's copy in SLS); running commands on instances, which act with the instance's
# RAM role; and ECS's image export/import, which read and write any bucket the caller names with ECS's own
# service role (AliyunECSImageExport/ImportDefaultRole), past the guard's Deny on rolepact's buckets. Kept in one statement with wildcards: RAM's 6144-character limit holds the whole guard.
CONTROL_PLANE_ACTIONS = (
    "ram:*", "ims:*",                                              # identity: users, keys, roles, policies
    "actiontrail:*", "log:Delete*", "log:Update*",                 # the audit trail and the logs keeping it
    "eventbridge:*",                                               # event routing: what runs on which event
    "resourcemanager:*", "resourcedirectorymaster:*", "cloudsso:*",  # organization, control policies, SSO
    "ecs:RunCommand", "ecs:InvokeCommand", "ecs:SendFile",         # code on instances holding RAM roles
    "ecs:ExportImage", "ecs:ImportImage",  # ECS copies images to/from any bucket with its own service role
)


def control_plane_denials(owner_account: str, bucket: str, service: str,
                          deployment_prefix: str = "rolepact") -> tuple[dict, ...]:
    """Deny statements every agreement's guard policy carries, whatever the agreement grants.

    - the control plane of the account (CONTROL_PLANE_ACTIONS);
    - assuming any other role of the owner account (role chaining would leave this guard behind);
    - every rolepact deployment of the account: its bucket (agreements, and the status records the timers
      act on) and its FC service (FC 3.0: its functions, named `<service>-<name>`), found by the naming
      scheme `<deployment_prefix>*`,
      plus this deployment's own bucket and service by name in case they do not follow the scheme.
      Without them a partner could rewrite an agreement — its own, or one of another deployment.
    """
    buckets = [f"acs:oss:*:*:{deployment_prefix}*", f"acs:oss:*:*:{deployment_prefix}*/*"]
    if not bucket.startswith(deployment_prefix):
        buckets += [f"acs:oss:*:*:{bucket}", f"acs:oss:*:*:{bucket}/*"]
    functions = [f"acs:fc:*:*:services/{deployment_prefix}*", f"acs:fc:*:*:functions/{deployment_prefix}*"]
    if not service.startswith(deployment_prefix):
        functions += [f"acs:fc:*:*:services/{service}", f"acs:fc:*:*:services/{service}.*",
                      f"acs:fc:*:*:services/{service}/*",
                      f"acs:fc:*:*:functions/{service}-*"]  # FC 3.0: deploy/fc3/s.yaml names them <service>-<name>
    return (
        {"Effect": "Deny", "Action": list(CONTROL_PLANE_ACTIONS), "Resource": "*"},
        {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": f"acs:ram:*:{owner_account}:role/*"},
        {"Effect": "Deny", "Action": "oss:*", "Resource": buckets},
        {"Effect": "Deny", "Action": "fc:*", "Resource": functions},
    )


def deployment_protection(settings) -> tuple[dict, ...]:
    """control_plane_denials for the deployment `settings` describe."""
    return control_plane_denials(settings.account_id or "*", settings.bucket, settings.service_name,
                                 settings.deployment_prefix)


def guard_policy(agreement: Agreement, protect: tuple[dict, ...] = ()) -> dict:
    """`protect`: extra Deny statements (control_plane_denials) appended to the time and network ones."""
    def deny(condition: dict) -> dict:
        return {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": condition}

    statements = []
    if agreement.starts_at is not None:
        statements.append(deny({"DateLessThan": {"acs:CurrentTime": iso(agreement.starts_at)}}))
    statements.append(deny({"DateGreaterThanEquals": {"acs:CurrentTime": iso(agreement.expires_at)}}))
    if agreement.conditions.source_ip_ranges:  # no acs:SourceIp (VPC endpoint) = not from the agreed networks
        statements.append(deny({"NotIpAddressIfExists": {"acs:SourceIp": list(agreement.conditions.source_ip_ranges)}}))
    if agreement.conditions.require_mfa:  # no acs:MFAPresent = no MFA shown
        statements.append(deny({"BoolIfExists": {"acs:MFAPresent": "false"}}))
    statements += [dict(statement) for statement in protect]
    return {"Version": "1", "Statement": statements}


def desired_role(agreement: Agreement, protect: tuple[dict, ...] = (), *, extended_trust: bool = False) -> DesiredRole:
    marker = ownership_marker(agreement.agreement_id)
    return DesiredRole(
        agreement_id=agreement.agreement_id,
        role_name=agreement.role_name,
        description=role_description(agreement),
        trust=trust_policy(agreement, extended=extended_trust),
        max_session_duration=agreement.max_session_duration,
        tags=ownership_tags(agreement.agreement_id),
        guard_name=guard_policy_name(agreement.agreement_id),
        guard_document=guard_policy(agreement, protect),
        custom={custom_policy_name(agreement.agreement_id, p.name): p.document for p in agreement.custom_policies},
        system=frozenset(agreement.system_policies),
        policy_description=f"rolepact policy of agreement {agreement.agreement_id} {marker}",
    )


def ended_role(agreement_id: str, role_name: str, owner_account_id: str, mode: str = ON_EXPIRY_DELETE_ROLE) -> EndedRole:
    return EndedRole(agreement_id, role_name, mode, closed_trust_policy(owner_account_id),
                     guard_policy_name(agreement_id))


def target_for(agreement: Agreement, now: datetime, protect: tuple[dict, ...] = (), *,
               extended_trust: bool = False) -> DesiredRole | EndedRole:
    """Level-triggered: what RAM should hold for this agreement at `now`."""
    if now >= agreement.expires_at:
        return ended_role(agreement.agreement_id, agreement.role_name, agreement.owner.account_id, agreement.on_expiry)
    return desired_role(agreement, protect, extended_trust=extended_trust)


def partner_policy(role_arn: str) -> dict:
    """Least privilege for the partner's users: assume exactly this role, nothing else."""
    return {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]}
