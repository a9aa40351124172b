"""The role auditor (hourly): every role of the owner account, checked against the agreements.

Classes:
- in-sync            managed by an agreement and exactly as agreed
- drifted            managed, but trust, conditions, policies or session duration were changed by hand
- orphan             rolepact created it (its records hold the RoleId) but no applied agreement owns it
- expired-present    its agreement ended or expired, but the role (or the partner's trust) is still there
- external-unmanaged not rolepact's, and its trust policy lets another account (or anyone) in — a RAM
                     principal, a federated identity provider or a cloud service acting for another
                     account: cross-account access no agreement covers
- marked-unmanaged   not rolepact's, yet its description carries rolepact's `[rolepact:<id>]` mark
                     (forged or copied by hand): reported, never changed

"Rolepact's" means proved by rolepact's own records (shared.ownership: the RoleId recorded when it
created the role), never by a description or a tag, which anyone with ram:UpdateRole can write.

`report` mode only reports. `fix` mode restores drifted roles to their agreement and ends
expired roles through the same reconcile routine as the timers (so the status record and
the notices tell what was done), and removes orphans through the planner; unmanaged roles
are only ever reported, never written to.

Roles are classified from ListRoles and rolepact's role records with bounded concurrency: an
unmanaged role costs one GetRole (its trust policy), a managed one the executor's usual read of
the role and its policies.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from shared.agreements.model import ON_EXPIRY_REMOVE_TRUST
from shared.documents import desired_role, ended_role, iso, marked_agreement
from shared.errors import CloudError, NotConverged
from shared.killswitch import kill_switches
from shared.log import get_logger
from shared.notify import Notice
from shared.planner import plan
from shared.reconcile import Reconciler, _applied_agreement
from shared.records import CLAIMS, stamp

log = get_logger("auditor")
AUDIT_PREFIX = "audit/roles/"
AUDITOR_STATE = "state/auditor.json"
DIGEST_EVERY = timedelta(hours=24)
# An agreement's first provision creates the role before its status record exists: a marked role
# without a status whose claim is younger than this is being provisioned, not an orphan to remove.
ORPHAN_GRACE = timedelta(minutes=15)
APPLIED_STATES = ("active", "scheduled")
SEVERITY = {"in-sync": "info", "drifted": "high", "orphan": "medium", "expired-present": "high",
            "external-unmanaged": "high", "marked-unmanaged": "medium"}


@dataclass
class Finding:
    role: str
    arn: str
    classification: str
    agreement_id: str | None = None
    details: list[str] = field(default_factory=list)
    remediation: list[str] = field(default_factory=list)

    @property
    def severity(self) -> str:
        return SEVERITY[self.classification]

    @property
    def identity(self) -> str:
        return f"{self.role}|{self.classification}"

    def to_dict(self) -> dict:
        return {**asdict(self), "severity": self.severity}


@dataclass
class AuditReport:
    at: str
    mode: str
    findings: list[Finding]
    key: str = ""
    errors: list[dict] = field(default_factory=list)  # roles that could not be audited this run

    def counts(self) -> dict:
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[finding.classification] = counts.get(finding.classification, 0) + 1
        return counts

    def to_dict(self) -> dict:
        return {"at": self.at, "mode": self.mode, "summary": self.counts(),
                "findings": [f.to_dict() for f in self.findings], "errors": self.errors}


def external_principals(trust: dict | None, owner_account: str) -> list[str]:
    """Principals in a trust policy's Allow statements that reach beyond the owner account: RAM principals
    of other accounts (or `*`), identity providers (`Federated`) of other accounts, and cloud services
    acting for another account (`Service: "<uid>@ecs.aliyuncs.com"`)."""
    found = []
    for statement in (trust or {}).get("Statement") or []:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        if principal == "*":
            found.append("*")
            continue
        if not isinstance(principal, dict):
            continue
        for value in _values(principal.get("RAM")):
            if value == "*":
                found.append("*")
            elif _account_of(value) != owner_account:
                found.append(value)
        for value in _values(principal.get("Federated")):
            if value == "*" or _account_of(value) != owner_account:
                found.append(f"identity provider {value}")
        for value in _values(principal.get("Service")):
            account = value.split("@", 1)[0] if "@" in value else None
            if value == "*" or (account is not None and account != owner_account):
                found.append(f"service {value}")
    return found


def _values(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _account_of(principal: str) -> str:
    """The account of `123`, `acs:ram::123:root`, `acs:ram::123:role/x`, `acs:ram::123:saml-provider/x`."""
    if principal.isdigit():
        return principal
    parts = principal.split(":")
    return parts[3] if len(parts) >= 5 else principal


class RoleAuditor:
    def __init__(self, settings, gateways) -> None:
        self.settings = settings
        self.gateways = gateways
        self.reconciler = Reconciler(settings, gateways)
        self.records = self.reconciler.records
        self.executor = self.reconciler.executor
        self.ledger = self.reconciler.ledger

    def run(self) -> AuditReport:
        from shared.enforcer import run_bounded

        now = self.settings.now()
        limit = self.settings.max_concurrency
        ids = list(self.records.iter_status_ids())
        statuses = {i: status or {} for i, status in zip(ids, run_bounded(self.records.status, ids, limit))}
        roles = list(self.gateways.ram.iter_roles())
        known = self.ledger.by_name()  # rolepact's role records, read once for every role
        errors: list[dict] = []

        def classify(summary) -> Finding | None:
            try:
                return self._classify(summary, statuses, now, known)
            except Exception as error:  # reported, and retried at the next run
                log.error("could not audit role %s: %s", summary.name, error)
                errors.append({"role": summary.name, "error": f"{type(error).__name__}: {error}"})
                return None

        findings = run_bounded(classify, roles, limit)
        findings = [f for f in findings if f is not None]
        # an agreement's role is there only if it is the role rolepact created (a role re-created by hand
        # under the same name is not), or if it could not be audited this run
        present = {f.role.lower() for f in findings if f.agreement_id} | {e["role"].lower() for e in errors}
        findings += self._missing_roles(statuses, present, now)
        self._files_gone(statuses, findings, now)
        if self.settings.remediation == "fix":
            run_bounded(lambda finding: self._fix(finding, statuses, now), findings, limit)
        self._keep_schedule(statuses, now)
        report = AuditReport(iso(now), self.settings.remediation, findings, errors=errors)
        report.key = f"{AUDIT_PREFIX}{stamp(now)}.json"
        self.gateways.store.put_json(report.key, report.to_dict())
        self._notify(report, now)
        return report

    # -- classification -------------------------------------------------------------------------------
    def _classify(self, summary, statuses: dict, now: datetime, known: dict | None = None) -> Finding | None:
        name = summary.name
        # rolepact's records decide (the RoleId it recorded); the description mark only says where a
        # record from before those records may be (migration), it proves nothing
        owner = self.ledger.owner(summary, hints=(marked_agreement(summary.description),), known=known)
        role = None
        if owner is None and self.ledger.has_intent(name, known):  # a crash right after CreateRole: provable
            role = self.gateways.ram.get_role(name)                # only from the trust policy GetRole returns
            owner = self.ledger.owner(role, known=known) if role is not None else None
        if owner is None:
            role = role or self.gateways.ram.get_role(name)
            if role is None:  # deleted while we listed
                return None
            external = external_principals(role.trust, self.settings.account_id)
            mark = marked_agreement(role.description)
            forged = [f"its description carries rolepact's mark for agreement '{mark}', but rolepact did not create "
                      f"this role (forged or copied): rolepact never changes it"] if mark else []
            if external:
                return Finding(name, role.arn, "external-unmanaged", None,
                               [f"trusts {p}" for p in external] + ["no rolepact agreement covers this access"]
                               + forged)
            if forged:
                return Finding(name, role.arn, "marked-unmanaged", None, forged)
            return None
        status = statuses.get(owner) or {}
        applied = _applied_agreement(status)
        if applied is None or status.get("state") in (None, "rejected") or applied.role_name.lower() != name.lower():
            details = [f"created by rolepact for agreement '{owner}', which has no applied revision owning this role"]
            if applied is not None and status.get("state") in APPLIED_STATES:
                details.append(f"agreement '{owner}' is live with role '{applied.role_name}': review this role "
                               f"(never removed automatically)")
            return Finding(name, summary.arn, "orphan", owner, details)
        if status.get("state") == "ended" or now >= applied.expires_at:
            target = ended_role(owner, applied.role_name, applied.owner.account_id, applied.on_expiry)
            leftover = plan(target, self.executor.read(target))
            if leftover.actions:
                what = "the partner can still assume it" if applied.on_expiry == ON_EXPIRY_REMOVE_TRUST else "it still exists"
                return Finding(name, summary.arn, "expired-present", owner,
                               [f"agreement ended/expired at {iso(applied.expires_at)} but {what}"]
                               + [a.describe() for a in leftover.actions])
            return Finding(name, summary.arn, "in-sync", owner, ["ended as agreed"])
        desired = desired_role(applied, self.reconciler.protect,
                               extended_trust=self.settings.extended_trust_conditions)
        drift = plan(desired, self.executor.read(desired))
        if drift.refusal is not None:  # the role is no longer the one rolepact created (another RoleId)
            return Finding(name, summary.arn, "drifted", owner, [drift.refusal.message])
        if drift.actions:
            return Finding(name, summary.arn, "drifted", owner, [_explain(a) for a in drift.actions])
        return Finding(name, summary.arn, "in-sync", owner)

    def _missing_roles(self, statuses: dict, seen: set[str], now: datetime) -> list[Finding]:
        """Applied agreements whose role is gone (deleted by hand): drift too."""
        findings = []
        for agreement_id, status in statuses.items():
            applied = _applied_agreement(status)
            if applied is None or status.get("state") not in APPLIED_STATES or now >= applied.expires_at:
                continue
            if applied.role_name.lower() not in seen:
                findings.append(Finding(applied.role_name, status.get("roleArn", ""), "drifted", agreement_id,
                                        ["the role rolepact created was deleted outside rolepact (a role now "
                                         "under that name, if any, is not rolepact's and is never changed)"]))
        return findings

    # -- remediation -----------------------------------------------------------------------------------
    def _fix(self, finding: Finding, statuses: dict, now: datetime) -> None:
        if finding.classification in ("in-sync", "external-unmanaged", "marked-unmanaged") \
                or finding.agreement_id is None:
            return  # roles rolepact did not create are only ever reported
        try:
            if finding.classification == "orphan":
                finding.remediation = self._remove_orphan(finding, now)
                return
            status = statuses.get(finding.agreement_id) or {}
            applied = _applied_agreement(status)
            if applied is not None and status.get("state") in APPLIED_STATES:
                # drift, a role deleted by hand, or an expiry the enforcer missed: the timers' own
                # routine, so the status record and the notices tell what happened
                outcome = self.reconciler.reconcile(finding.agreement_id)
                finding.remediation = list(outcome.actions) or ([f"refused: {outcome.problems}"]
                                                                 if outcome.problems else [])
                return
            if applied is None:
                return
            target = ended_role(finding.agreement_id, applied.role_name, applied.owner.account_id, applied.on_expiry)
            converged = self.executor.converge(target)
            finding.remediation = [a.describe() for a in converged.applied]
            if converged.refusal is not None:
                finding.remediation = [f"refused: {converged.refusal}"]
        except (CloudError, NotConverged) as error:
            finding.remediation = [f"failed: {error}"]
        except Exception as error:  # one role's trouble must not end the audit of the others
            log.exception("could not remediate %s", finding.role)
            finding.remediation = [f"failed: {type(error).__name__}: {error}"]

    def _remove_orphan(self, finding: Finding, now: datetime) -> list[str]:
        """End an orphan role through the planner — unless it may not be one after all."""
        status = self.records.status(finding.agreement_id) or {}  # read again: intake may have just written it
        applied = _applied_agreement(status)
        if applied is not None and status.get("state") in APPLIED_STATES:
            if applied.role_name.lower() == finding.role.lower():
                return ["skipped: its agreement was applied meanwhile"]
            return ["skipped: its agreement is live with another role (review by hand)"]
        if not status:
            claim = self.gateways.store.head(f"{CLAIMS}{finding.agreement_id}.json")
            if claim is not None and claim.last_modified and claim.last_modified > now - ORPHAN_GRACE:
                return ["skipped: its agreement is being provisioned right now"]
        converged = self.executor.converge(ended_role(finding.agreement_id, finding.role, self.settings.account_id))
        if converged.refusal is not None:
            return [f"refused: {converged.refusal}"]
        return [a.describe() for a in converged.applied]

    def _files_gone(self, statuses: dict, findings: list[Finding], now: datetime) -> None:
        """A live agreement whose file is gone should have ended with its deletion event — which may never
        have come (a trigger down, retries exhausted, a key spelled in a way no decoding matches). Its role
        is reported as expired-present, and a marker due now makes the enforcer end it at its next tick
        (the timers end an agreement whose file is gone). Live agreements of a banned partner get such a
        marker too (the kill switch may have been marked handled by a forged record)."""
        from shared.enforcer import run_bounded

        live = [(agreement_id, status["sourceKey"]) for agreement_id, status in statuses.items()
                if status.get("state") in APPLIED_STATES and status.get("sourceKey")]
        heads = run_bounded(lambda item: self.gateways.store.head(item[1]), live, self.settings.max_concurrency)
        gone = {agreement_id: key for (agreement_id, key), meta in zip(live, heads) if meta is None}
        for agreement_id in gone:
            self.records.schedule(agreement_id, now, "file-gone")
        # the same net for the kill switch: its handled-marker is a record in the bucket too
        bans = kill_switches(self.gateways.store)
        for agreement_id, status in statuses.items():
            applied = _applied_agreement(status) if status.get("state") in APPLIED_STATES else None
            if applied is not None and applied.partner.account_id in bans:
                self.records.schedule(agreement_id, now, "banned")
        for finding in findings:
            key = gone.get(finding.agreement_id or "")
            if key and finding.classification in ("in-sync", "drifted"):
                finding.classification = "expired-present"
                finding.details.insert(0, f"its agreement file {key} is gone, but no deletion event ended it: the "
                                          f"enforcer ends it at its next tick")

    def _keep_schedule(self, statuses: dict, now: datetime) -> None:
        """Self-healing: an active agreement past expiry gets an expire marker the enforcer will act on."""
        for agreement_id, status in statuses.items():
            applied = _applied_agreement(status)
            if applied is not None and status.get("state") in APPLIED_STATES and now >= applied.expires_at:
                self.records.schedule(agreement_id, applied.expires_at, "expire")

    # -- reporting --------------------------------------------------------------------------------------
    def _notify(self, report: AuditReport, now: datetime) -> None:
        state = self.gateways.store.get_json(AUDITOR_STATE) or {}
        previous = set(state.get("findings") or [])
        current = {f.identity for f in report.findings if f.classification != "in-sync"}
        unaudited = {e["role"] for e in report.errors}  # not seen this run: not resolved either
        current |= {identity for identity in previous if identity.split("|", 1)[0] in unaudited}
        new, resolved = sorted(current - previous), sorted(previous - current)
        digest_due = not state.get("lastDigestAt") or state["lastDigestAt"] <= iso(now - DIGEST_EVERY)
        title = None
        if digest_due:
            title = "rolepact role audit: daily digest"
            body = self._digest(report)
        elif new or resolved:
            title = "rolepact role audit: changes"
            lines = [f"- NEW {self._line(f)}" for f in report.findings if f.identity in new]
            lines += [f"- resolved: {item.replace('|', ' ')}" for item in resolved]
            body = "\n".join(lines)
        if title:
            text = f"### {title}\n\nMode: {report.mode}. Findings: {json.dumps(report.counts())}. " \
                   f"Full list: `{report.key}`\n\n{body}\n\n— rolepact"
            self.reconciler.notifier.send(Notice(None, f"role-audit:{report.at}", title, text))
        self.gateways.store.put_json(AUDITOR_STATE, {
            "findings": sorted(current), "lastRunAt": report.at,
            "lastDigestAt": report.at if digest_due else state.get("lastDigestAt")})

    def _digest(self, report: AuditReport) -> str:
        lines = [f"- {self._line(f)}" for f in report.findings if f.classification != "in-sync"]
        in_sync = sum(1 for f in report.findings if f.classification == "in-sync")
        return "\n".join(lines + [f"- {in_sync} managed roles in sync"])

    @staticmethod
    def _line(finding: Finding) -> str:
        detail = "; ".join(finding.details[:3])
        fixed = f" — fixed: {len(finding.remediation)} changes" if finding.remediation else ""
        return f"**{finding.classification}** `{finding.role}` ({finding.agreement_id or 'unmanaged'}): {detail}{fixed}"


def _explain(action) -> str:
    name = type(action).__name__
    text = {
        "DetachPolicy": f"extra policy attached by hand: {getattr(action, 'policy', '')}",
        "AttachPolicy": f"agreed policy missing: {getattr(action, 'policy', '')}",
        "CreatePolicy": f"policy missing: {getattr(action, 'policy', '')}",
        "CreatePolicyVersion": f"policy document changed: {getattr(action, 'policy', '')}",
        "TagRole": "ownership tags changed",
        "CreateRole": "role missing",
    }.get(name)
    if name == "UpdateRole":
        parts = []
        if action.trust is not None:
            parts.append("trust policy / conditions changed")
        if action.max_session_duration is not None:
            parts.append(f"session duration changed (agreed {action.max_session_duration}s)")
        if action.description is not None:
            parts.append("description changed")
        text = ", ".join(parts)
    return text or action.describe()


def handle_timer(event, settings, gateways) -> dict:
    from shared.events import parse_timer_event

    parse_timer_event(event)
    report = RoleAuditor(settings, gateways).run()
    return {"key": report.key, "summary": report.counts()}
