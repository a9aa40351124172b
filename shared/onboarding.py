"""The partner onboarding pack: what Enterprise B needs to use the role, and nothing broader.

It offers only the ways in that can work for the agreed conditions (docs/agreement.md):
- the console's Switch Role cannot pass an ExternalId, so with `externalId` there is no console path;
- an AccessKey call never carries MFA (acs:MFAPresent is true only after an MFA console logon), so
  with `requireMfa` the console is the only path;
- `aliyun configure --mode RamRoleArn` has no ExternalId flag, so with `externalId` the CLI path is
  an explicit `aliyun sts AssumeRole --ExternalId …`, and the SDK snippet passes it on every call.
(`requireMfa` together with `externalId` is refused when the file is validated: no path would work.)
"""
from __future__ import annotations

import json

from shared.agreements.model import Agreement
from shared.documents import iso, partner_policy

SDK_SNIPPET = '''# pip install alibabacloud-sts20150401
from alibabacloud_sts20150401.client import Client
from alibabacloud_sts20150401.models import AssumeRoleRequest
from alibabacloud_tea_openapi.models import Config

sts = Client(Config(access_key_id="<your AccessKey ID>", access_key_secret="<your AccessKey secret>",
                    region_id="{region}"))
credentials = sts.assume_role(AssumeRoleRequest(
    role_arn="{role_arn}",
    role_session_name="<your RAM user name>",{external_id}
    duration_seconds=3600,
)).body.credentials  # access_key_id, access_key_secret, security_token, expiration'''


def onboarding_pack(agreement: Agreement, region: str) -> dict:
    owner = agreement.owner
    terms = agreement.conditions
    role_arn = f"acs:ram::{owner.account_id}:role/{agreement.role_name}"
    pack = {
        "roleArn": role_arn,
        "paths": _paths(agreement),
        "partnerPolicy": partner_policy(role_arn),
        "partnerPolicyNote": ("Attach this custom policy to the users who need the role, instead of the broad "
                              "AliyunSTSAssumeRoleAccess: it allows sts:AssumeRole on exactly this role."),
        "sessionName": ("Use your RAM user name as RoleSessionName: ActionTrail shows company-a only the session "
                        "name and your account, so it is how your actions are attributed to you."),
        "principals": list(agreement.principal_arns()),
        "expiresAt": iso(agreement.expires_at),
    }
    if not terms.external_id:
        pack["consoleSwitchRole"] = {
            "url": "https://signin.aliyun.com/switchRole.htm",
            "enterpriseAlias": owner.alias or owner.account_id,
            "roleName": agreement.role_name,
            "steps": [
                f"Sign in to the Alibaba Cloud console as a RAM user of account {agreement.partner.account_id}"
                + (" with MFA." if terms.require_mfa else "."),
                "Open the account menu (top right) and choose Switch Role.",
                f"Enterprise alias: {owner.alias or owner.account_id}; role name: {agreement.role_name}.",
            ],
        }
    if not terms.require_mfa:
        pack["sdkSnippet"] = SDK_SNIPPET.format(
            region=region, role_arn=role_arn,
            external_id=f'\n    external_id="{terms.external_id}",' if terms.external_id else "")
        pack["cliProfile"] = _cli(agreement, region, role_arn)
    if agreement.starts_at is not None:
        pack["startsAt"] = iso(agreement.starts_at)
    if terms.external_id:
        pack["externalId"] = terms.external_id
        pack["externalIdNote"] = ("Pass ExternalId on every AssumeRole call (SDK: AssumeRoleRequest.external_id). "
                                  "The console's Switch Role and `aliyun configure` cannot pass it.")
    if terms.require_mfa:
        pack["mfa"] = ("Sign in to the console with MFA and use Switch Role: calls made with an AccessKey (SDK, CLI) "
                       "never carry MFA, so they are denied.")
    if terms.source_ip_ranges:
        pack["sourceIpRanges"] = list(terms.source_ip_ranges)
        pack["sourceIpNote"] = ("Call from these public addresses, through public endpoints: calls through VPC or "
                                "internal endpoints carry no public source address and are denied.")
    return pack


def _paths(agreement: Agreement) -> list[str]:
    terms = agreement.conditions
    if terms.require_mfa:
        return ["console"]
    return ["sdk", "cli"] if terms.external_id else ["console", "cli", "sdk"]


def _cli(agreement: Agreement, region: str, role_arn: str) -> str:
    owner = agreement.owner
    if agreement.conditions.external_id:  # `aliyun configure` has no ExternalId flag: assume explicitly
        return "\n".join([
            f"aliyun sts AssumeRole --region {region} --RoleArn {role_arn} \\",
            f"  --RoleSessionName <your RAM user name> --ExternalId {agreement.conditions.external_id}",
            "# then use the returned AccessKeyId, AccessKeySecret and SecurityToken, e.g.",
            f"# aliyun configure --profile {owner.alias or owner.account_id}-{agreement.role_name} --mode StsToken",
        ])
    profile = f"{owner.alias or owner.account_id}-{agreement.role_name}"
    return "\n".join([
        f"aliyun configure --profile {profile} --mode RamRoleArn --region {region} \\",
        "  --access-key-id <your AccessKey ID> --access-key-secret <your AccessKey secret> \\",
        f"  --ram-role-arn {role_arn} --role-session-name <your RAM user name>",
    ])


def onboarding_markdown(pack: dict) -> str:
    lines = [f"**Role ARN:** `{pack['roleArn']}`"]
    if "consoleSwitchRole" in pack:
        console = pack["consoleSwitchRole"]
        lines.append(f"**Console:** {'sign in with MFA, then ' if 'mfa' in pack else ''}Switch Role → enterprise "
                     f"alias `{console['enterpriseAlias']}`, role `{console['roleName']}`")
    else:
        lines.append("**Console:** not available — the console's Switch Role cannot pass the ExternalId")
    if "cliProfile" in pack:
        lines += ["**CLI:**", "```", pack["cliProfile"], "```"]
    if "sdkSnippet" in pack:
        lines += ["**SDK (Python):**", "```", pack["sdkSnippet"], "```"]
    lines += [
        "**Policy for your users** (instead of AliyunSTSAssumeRoleAccess): "
        f"`sts:AssumeRole` on `{pack['roleArn']}` only",
        "```",
        json.dumps(pack["partnerPolicy"], indent=2),
        "```",
    ]
    if "externalId" in pack:
        lines.append(f"**ExternalId:** `{pack['externalId']}`")
    if "mfa" in pack:
        lines.append(f"**MFA required:** {pack['mfa']}")
    if "sourceIpRanges" in pack:
        lines.append("**From networks:** " + ", ".join(pack["sourceIpRanges"]) + f" — {pack['sourceIpNote']}")
    if "startsAt" in pack:
        lines.append(f"**Starts:** {pack['startsAt']}")
    lines.append(f"**Expires:** {pack['expiresAt']}")
    lines.append("**Session name:** your RAM user name")
    return "\n\n".join(lines)
