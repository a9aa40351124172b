"""The partner onboarding pack: what Enterprise B needs to use the role, and nothing broader."""
from __future__ import annotations

import json

from shared.agreements.model import Agreement
from shared.documents import iso, partner_policy


def onboarding_pack(agreement: Agreement, region: str) -> dict:
    owner = agreement.owner
    role_arn = f"acs:ram::{owner.account_id}:role/{agreement.role_name}"
    profile = f"{owner.alias or owner.account_id}-{agreement.role_name}"
    cli = [
        f"aliyun configure --profile {profile} --mode RamRoleArn --region {region} \\",
        "  --access-key-id <your AccessKey ID> --access-key-secret <your AccessKey secret> \\",
        f"  --ram-role-arn {role_arn} --role-session-name <your RAM user name>",
    ]
    pack = {
        "roleArn": role_arn,
        "consoleSwitchRole": {
            "url": "https://signin.aliyun.com/switchRole.htm",
            "enterpriseAlias": owner.alias or owner.account_id,
            "roleName": agreement.role_name,
            "steps": [
                f"Sign in to the Alibaba Cloud console as a RAM user of account {agreement.partner.account_id}.",
                "Open the account menu (top right) and choose Switch Role.",
                f"Enterprise alias: {owner.alias or owner.account_id}; role name: {agreement.role_name}.",
            ],
        },
        "cliProfile": "\n".join(cli),
        "partnerPolicy": partner_policy(role_arn),
        "partnerPolicyNote": ("Attach this custom policy to the users who need the role, instead of the broad "
                              "AliyunSTSAssumeRoleAccess: it allows sts:AssumeRole on exactly this role."),
        "sessionName": ("Use your RAM user name as RoleSessionName: ActionTrail shows company-a only the session "
                        "name and your account, so it is how your actions are attributed to you."),
        "principals": list(agreement.principal_arns()),
        "expiresAt": iso(agreement.expires_at),
    }
    if agreement.starts_at is not None:
        pack["startsAt"] = iso(agreement.starts_at)
    terms = agreement.conditions
    if terms.external_id:
        pack["externalId"] = terms.external_id
        pack["externalIdNote"] = "Pass ExternalId on every AssumeRole call (SDK: AssumeRoleRequest.external_id)."
    if terms.require_mfa:
        pack["mfa"] = "Sign in with MFA: the role can only be assumed in an MFA session."
    if terms.source_ip_ranges:
        pack["sourceIpRanges"] = list(terms.source_ip_ranges)
    return pack


def onboarding_markdown(pack: dict) -> str:
    lines = [
        f"**Role ARN:** `{pack['roleArn']}`",
        f"**Console:** Switch Role → enterprise alias `{pack['consoleSwitchRole']['enterpriseAlias']}`, "
        f"role `{pack['consoleSwitchRole']['roleName']}`",
        "**CLI profile:**",
        "```",
        pack["cliProfile"],
        "```",
        "**Policy for your users** (instead of AliyunSTSAssumeRoleAccess): "
        f"`sts:AssumeRole` on `{pack['roleArn']}` only",
        "```",
        json.dumps(pack["partnerPolicy"], indent=2),
        "```",
    ]
    if "externalId" in pack:
        lines.append(f"**ExternalId:** `{pack['externalId']}`")
    if "mfa" in pack:
        lines.append("**MFA required**")
    if "sourceIpRanges" in pack:
        lines.append("**From networks:** " + ", ".join(pack["sourceIpRanges"]))
    if "startsAt" in pack:
        lines.append(f"**Starts:** {pack['startsAt']}")
    lines.append(f"**Expires:** {pack['expiresAt']}")
    lines.append("**Session name:** your RAM user name")
    return "\n\n".join(lines)
