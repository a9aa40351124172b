"""The one routine every function uses: make RAM match what an agreement says, now.

- `handle_object(key)`  intake: read the file as it is *now* in OSS (never trust the event's
  copy), validate, check guardrails, claim the agreement id, converge, record, notify.
- `reconcile(id)`       timers and workers: converge the *applied* revision at the current
  time (activation, pre-expiry notices, expiry).
- `end(id, reason)`     deletion of the file, kill switch: converge to "ended" per onExpiry.

Bad input is refused before any RAM write; a refusal or failure is written to the status
record, logged and notified, and leaves RAM as it was.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from shared.actions import Action
from shared.agreements.guardrails import check_guardrails, escalating_system_policy
from shared.agreements.model import ON_EXPIRY_DELETE_ROLE, Agreement
from shared.agreements.parse import parse_agreement, read_agreement_id
from shared.documents import deployment_protection, ended_role, iso, target_for, trust_policy
from shared.errors import AgreementRejected, CloudError, NotConverged, Problem
from shared.executor import Executor
from shared.grant import effective_grant, grant_markdown
from shared.log import get_logger
from shared.notify import Notice, Notifier, md_code, md_text, wire_bytes
from shared.onboarding import onboarding_markdown, onboarding_pack
from shared.killswitch import is_banned, kill_switches
from shared.ownership import RoleLedger
from shared.records import OWN_PREFIXES, Records, is_agreement_key, stamp
from shared.rightsize.renewal import notice_note
from shared.state import EndedRole

log = get_logger("reconcile")
HISTORY_LIMIT = 200
NOTICE_LIST_BYTES = 8000  # a refusal's problem list in its notice; the whole notice stays one message
APPLIED_STATES = ("active", "scheduled")


@dataclass
class Outcome:
    key: str | None
    agreement_id: str | None
    result: str  # applied | unchanged | rejected | failed | ended | ignored
    state: str | None = None
    actions: list[str] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"key": self.key, "agreementId": self.agreement_id, "result": self.result, "state": self.state,
                "actions": self.actions, "problems": self.problems}


def _label(offset) -> str:
    seconds = int(offset.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class Reconciler:
    def __init__(self, settings, gateways, *, notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.gateways = gateways
        self.records = Records(gateways.store)
        self.ledger = RoleLedger(gateways.store, settings.now)  # which roles rolepact created (their RoleId)
        self.executor = Executor(gateways.ram, self.ledger, settings.bucket)
        # the guard policy of every agreement keeps the partner away from rolepact's own resources
        self.protect = deployment_protection(settings)
        self.notifier = notifier or Notifier(settings, gateways, self.records)
        self._system_policies: dict[str, object] = {}  # lower-cased name -> GetPolicy answer (or None)
        self._lock = None  # uploaders.LockCheck, read on first use
        self._bans: dict | None = None  # the kill switches, listed once per invocation (timers' pre-check)

    # ======================================================================================== intake
    def handle_object(self, key: str, *, uploader: str | None = None, etag: str | None = None,
                      removed: bool = False) -> Outcome:
        """Converge on what `key` holds now. `uploader`, `etag` and `removed` describe the event.

        The event's uploader is a claim (anyone allowed to invoke intake can send an event), so
        with approved uploaders configured what counts is the bucket policy that keeps everyone
        else from writing `agreements/` (shared/uploaders.py), checked on every event: without it
        nothing is accepted. The event's uploader vouches at most for the content it uploaded:
        when the object now holds something else (another ETag, or the event is a removal and the
        object exists again), a newer event decides — except that a removal followed by content
        rolepact cannot attribute ends the agreement (the approved file is gone).
        """
        if key.startswith(OWN_PREFIXES):
            log.info("ignoring rolepact's own object %s", key)
            return Outcome(key, None, "ignored")
        if not is_agreement_key(key):
            problem = Problem("(key)", f"'{key}' is not an agreement: agreements are objects under agreements/ "
                                       f"whose name ends with .json")
            return self._reject(key, None, "", [problem], "invalid")
        meta = self.gateways.store.head(key)
        if meta is None:
            return self._removed(key)
        limit = self.settings.guardrails.max_file_bytes
        if meta.size > limit:  # refused without reading it: the function's memory is not the bucket's size
            problem = Problem("(file)", f"is {meta.size} bytes; at most {limit} bytes are allowed "
                                        f"(ROLEPACT_MAX_FILE_BYTES)")
            return self._reject(key, self.records.agreement_for_key(key), "", [problem], "invalid",
                                upload=_upload_tag(meta.etag, meta.last_modified))
        found = self.gateways.store.get_with_meta(key)
        if found is None:
            return self._removed(key)
        if removed or (etag and _etag(etag) != _etag(found.etag)):
            if self.settings.guardrails.approved_uploaders is not None:
                if removed and not self.uploader_lock().enforced:
                    return self._removed_then_replaced(key, found.data)
                log.info("event for %s is about content that has since changed; the newer upload's event decides",
                         key)
                return Outcome(key, None, "ignored")
            uploader = None
        raw, upload = found.data, _upload_tag(found.etag, found.last_modified)
        if self.settings.guardrails.approved_uploaders is not None and not self.uploader_lock().enforced:
            lock = self.uploader_lock()
            problem = Problem("(uploader)", "cannot be verified: ROLEPACT_APPROVED_UPLOADERS is set but the bucket "
                                            "policy does not keep everyone else from writing agreements/ ("
                                            + "; ".join(lock.problems[:3]) + ("; ..." if len(lock.problems) > 3 else "")
                                            + "); put the policy `rolepact bucket-policy` prints in place, then "
                                              "upload the file again")
            agreement_id = read_agreement_id(raw) or self.records.agreement_for_key(key)
            return self._reject(key, agreement_id, _digest(raw), [problem], "guardrail", upload=upload)
        try:
            agreement = parse_agreement(raw, key=key, max_bytes=limit)
        except AgreementRejected as rejected:
            agreement_id = read_agreement_id(raw) or self.records.agreement_for_key(key)
            return self._reject(key, agreement_id, _digest(raw), rejected.problems, rejected.reason, upload=upload)
        return self._intake(agreement, uploader, raw, upload, etag=found.etag, written_at=found.last_modified)

    def _intake(self, agreement: Agreement, uploader: str | None, raw: bytes, upload: str = "",
                etag: str | None = None, written_at: datetime | None = None) -> Outcome:
        now = self.settings.now()
        key = agreement.source_key
        status = self.records.status(agreement.agreement_id)
        applied = _applied_agreement(status)
        same_file = status is not None and status.get("sourceKey") == key
        is_new_revision = not (same_file and status.get("digest") == agreement.digest and applied is not None
                               and status.get("state") in APPLIED_STATES)
        problems = check_guardrails(agreement, self.settings, uploader=uploader, now=now,
                                    is_new_revision=is_new_revision)
        if is_new_revision:
            problems += self._older_than_the_lock(written_at)
        if applied is not None and same_file and applied.role_name != agreement.role_name \
                and status.get("state") in APPLIED_STATES:
            problems.append(Problem("role.name", f"an agreement's role cannot be renamed (it is "
                                                 f"'{applied.role_name}'); end this agreement and create a new one"))
        bans = kill_switches(self.gateways.store).get(agreement.partner.account_id)
        if bans:
            problems.append(Problem("partner.accountId", f"partner {agreement.partner.account_id} is revoked by the "
                                                         f"kill switch ({', '.join(bans)}); delete that object to "
                                                         f"allow new agreements"))
        if problems:
            return self._reject(key, agreement.agreement_id, agreement.digest, problems, "guardrail", upload=upload)
        # System-policy documents are judged on every run, a redelivery of an applied file too: the
        # exemption list may have shrunk since (ROLEPACT_ALLOW_PRIVILEGED_POLICIES).
        system_documents: dict = {}  # what RAM returned for each: the granted notice summarises them
        unknown, escalating = self._unknown_system_policies(agreement, system_documents)
        if (unknown and is_new_revision) or escalating:
            return self._reject(key, agreement.agreement_id, agreement.digest, unknown + escalating,
                                "invalid" if unknown else "guardrail", upload=upload)
        previous_id = self.records.agreement_for_key(key)
        if previous_id is not None and previous_id != agreement.agreement_id:
            held = self.records.status(previous_id)
            if held is not None and held.get("sourceKey") == key and held.get("state") in APPLIED_STATES:
                problem = Problem("agreementId", f"this file holds agreement '{previous_id}', and an agreement's id "
                                                 f"cannot be changed; delete the file to end '{previous_id}', then "
                                                 f"upload '{agreement.agreement_id}' as a new file")
                return self._reject(key, previous_id, agreement.digest, [problem], "conflict", upload=upload)
        if applied is not None and not same_file and status.get("state") in APPLIED_STATES:
            # The id is live from another file. If that file still exists, this one is a duplicate;
            # if it is gone (its deletion event is still on its way), end what it granted first.
            other = status.get("sourceKey")
            if other and self.gateways.store.head(other) is not None:
                problem = Problem("agreementId", f"agreement id '{agreement.agreement_id}' is already used by "
                                                 f"{other}; each agreement needs its own id")
                return self._reject(key, agreement.agreement_id, agreement.digest, [problem], "conflict",
                                    upload=upload)
            self.end(agreement.agreement_id, "deleted")
            status = self.records.status(agreement.agreement_id)
            applied = _applied_agreement(status)
        holder = self.records.claim(agreement.agreement_id, key)
        if holder is not None:
            problem = Problem("agreementId", f"agreement id '{agreement.agreement_id}' is already used by {holder}; "
                                             f"each agreement needs its own id")
            return self._reject(key, agreement.agreement_id, agreement.digest, [problem], "conflict", upload=upload)
        first_grant = applied is None or status.get("state") not in APPLIED_STATES
        self.records.remember_key(key, agreement.agreement_id, pending={
            "roleName": agreement.role_name, "onExpiry": agreement.on_expiry} if first_grant else None)
        target = target_for(agreement, now, self.protect, extended_trust=self.settings.extended_trust_conditions)
        cut_for = [] if first_grant or isinstance(target, EndedRole) else sessions_to_cut(applied, agreement)
        previous_trust = None if first_grant or applied is None else \
            trust_policy(applied, extended=self.settings.extended_trust_conditions)  # what rolepact last wrote
        try:
            cut = self._cut_sessions(applied, cut_for)
            converged = self._converge_cutting_drift(target, applied if not cut else None, previous_trust)
        except (CloudError, NotConverged) as error:
            return self._failed(agreement, status, applied, error, raw)
        if converged.refusal is not None:
            return self._reject(key, agreement.agreement_id, agreement.digest, [converged.refusal], "conflict",
                                upload=upload)
        converged.applied[:0] = cut
        if converged.applied and etag is not None and _etag(etag) != self._etag_now(key):
            return self._superseded(agreement, key)
        if isinstance(target, EndedRole):  # uploaded already expired and not refused (not a new revision)
            outcome = self._record_end(agreement.agreement_id, status, converged.applied, "expired")
        else:
            outcome = self._record_applied(agreement, status, converged.applied, raw, uploader, now, cut_for,
                                           system_documents)
        if first_grant:
            self.records.remember_key(key, agreement.agreement_id)  # recorded: nothing pending any more
        if converged.applied and outcome.state in APPLIED_STATES and \
                is_banned(self.gateways.store, agreement.partner.account_id):
            # The kill switch was dropped while this grant ran: the enforcer may have applied it before
            # this agreement was recorded as live. Checked after the record, so one of the two sees the other.
            return self.end(agreement.agreement_id, "revoked")
        return outcome

    def _converge_cutting_drift(self, target, applied: Agreement | None, expected_trust: dict | None = None):
        """Converge `target`; if the role's trust policy had been changed outside rolepact (someone with
        ram:UpdateRole let another principal in), restoring it is not enough — STS never re-checks a trust
        policy for sessions already issued — so the role is deleted and created again, which ends them."""
        converged = self.executor.converge(target, expected_trust=expected_trust)
        if not converged.trust_drift or applied is None or converged.refusal is not None:
            return converged
        log.warning("the trust policy of %s was changed outside rolepact: restored, and its live sessions ended",
                    target.role_name, extra={"agreementId": target.agreement_id})
        cut = self._cut_sessions(applied, ["its trust policy was changed outside rolepact"])
        again = self.executor.converge(target)
        again.applied[:0] = converged.applied + cut
        self._notice(target.agreement_id, f"trust-drift:{iso(self.settings.now())}",
                     f"Trust policy of {target.role_name} was changed outside rolepact",
                     f"The trust policy of **{md_text(target.role_name)}** (agreement **{target.agreement_id}**) "
                     f"did not say what rolepact wrote: someone changed it by hand, perhaps letting another "
                     f"principal assume the role. rolepact restored it and deleted and created the role again, "
                     f"which ends every session issued before (the partner assumes the role again). Find out who "
                     f"changed it in ActionTrail (UpdateRole).")
        return again

    def _cut_sessions(self, applied: Agreement | None, reasons: list[str]) -> list[Action]:
        """An amendment that narrows *who* may assume the role (sessions_to_cut) ends every session issued
        before it: STS tokens cannot be revoked, but deleting the role invalidates them, and the role
        created again right after (same name, new RoleId) does not honour them. Live sessions of the
        remaining principals end too; they assume the role again."""
        if not reasons or applied is None:
            return []
        log.warning("amendment of %s narrows who may assume %s (%s): the role is deleted and created again to end "
                    "its live sessions", applied.agreement_id, applied.role_name, "; ".join(reasons),
                    extra={"agreementId": applied.agreement_id})
        ended = self.executor.converge(ended_role(applied.agreement_id, applied.role_name, self.settings.account_id))
        if ended.refusal is not None:
            raise NotConverged(f"could not end the live sessions of {applied.role_name}: {ended.refusal}")
        return ended.applied

    def _etag_now(self, key: str) -> str:
        meta = self.gateways.store.head(key)
        return _etag(meta.etag if meta is not None else None)

    def _superseded(self, agreement: Agreement, key: str) -> Outcome:
        """This run granted a revision the file no longer holds: a newer upload raced it, and that
        upload's own run applies it (or already has). Put RAM back to what the records say, instead of
        leaving the union of both revisions."""
        log.info("%s changed while it was being applied; RAM is put back to the recorded revision", key,
                 extra={"agreementId": agreement.agreement_id})
        status = self.records.status(agreement.agreement_id)
        if _applied_agreement(status) is not None and status.get("state") in APPLIED_STATES:
            self.reconcile(agreement.agreement_id)
        else:
            self.executor.converge(ended_role(agreement.agreement_id, agreement.role_name, self.settings.account_id,
                                              agreement.on_expiry))
        return Outcome(key, agreement.agreement_id, "ignored")

    def _unknown_system_policies(self, agreement: Agreement, documents: dict | None = None
                                 ) -> tuple[list[Problem], list[Problem]]:
        """(System policies RAM does not have, system policies whose document escalates or reaches a
        service agreements may not grant): refused before any write, not half-way through provisioning.
        `documents` collects what RAM returned for each (name -> document), for the granted notice."""
        problems, escalating = [], []
        for i, policy in enumerate(agreement.policies):
            if policy.type != "System":
                continue
            try:
                found = self._system_policy(policy.name)
            except CloudError as error:
                if error.code.startswith("NoPermission") or error.code.startswith("Forbidden"):
                    log.warning("cannot check system policies (%s); attaching will tell", error.code)
                    return [], []
                raise
            if found is None:
                problems.append(Problem(f"policies[{i}].name", f"RAM has no system policy named {policy.name!r}; "
                                                              f"check the spelling (e.g. AliyunECSFullAccess)"))
            else:
                if documents is not None:
                    documents[policy.name] = found.document
                escalating += escalating_system_policy(i, policy.name, found.document, self.settings)
        return problems, escalating

    def _system_policy(self, name: str):
        """GetPolicy of a system policy, once per name and invocation (a tick may check many agreements
        that grant the same one)."""
        key = name.lower()
        if key not in self._system_policies:
            self._system_policies[key] = self.gateways.ram.get_policy(name, "System")
        return self._system_policies[key]

    def _end_pending(self, key: str) -> list[Action]:
        """A first grant from `key` that never completed (the instance crashed, or its retries ran
        out) may have left a half-provisioned role that no applied revision owns: end it. Only
        while no revision of that agreement id is live (from this file or another)."""
        entry = self.records.key_entry(key)
        pending, agreement_id = entry.get("pending"), entry.get("agreementId")
        if not isinstance(pending, dict) or not pending.get("roleName") or not agreement_id:
            return []
        status = self.records.status(agreement_id)
        if status is not None and status.get("state") in APPLIED_STATES:
            return []
        target = ended_role(agreement_id, pending["roleName"], self.settings.account_id,
                            pending.get("onExpiry") or ON_EXPIRY_DELETE_ROLE)
        converged = self.executor.converge(target)
        if converged.applied:
            log.warning("ended the unfinished grant of %s from %s: %s", agreement_id, key,
                        "; ".join(a.describe() for a in converged.applied), extra={"agreementId": agreement_id})
        self.records.remember_key(key, agreement_id)  # nothing pending any more
        return converged.applied

    def _older_than_the_lock(self, written_at: datetime | None) -> list[Problem]:
        """With approved uploaders, content written before rolepact saw the bucket-policy lock in place is not
        vouched for by it: anyone may have written it then (an invoker can send an event naming an approved
        uploader for it any time later)."""
        if self.settings.guardrails.approved_uploaders is None:
            return []
        since = self.uploader_lock().since
        if since is None or (written_at is not None and written_at >= since):
            return []
        when = iso(written_at) if written_at is not None else "an unknown time"
        return [Problem("(uploader)", f"the file was written at {when}, before rolepact saw the bucket-policy lock in "
                                      f"place ({iso(since)}): the lock cannot say who wrote it; upload the file "
                                      f"again")]

    def uploader_lock(self):
        """Whether the bucket policy enforces the approved uploaders (checked once per invocation)."""
        if self._lock is None:
            from shared.uploaders import check_lock

            self._lock = check_lock(self.settings, self.gateways)
            if not self._lock.enforced:
                log.warning("approved uploaders are not enforced by the bucket policy: %s", "; ".join(self._lock.problems))
        return self._lock

    def _removed_then_replaced(self, key: str, data: bytes) -> Outcome:
        """A removal event, and the key holds other content again, from an uploader rolepact cannot verify
        (no bucket-policy lock): the approved revision's file was deleted. An unverifiable re-upload must
        not keep the agreement alive; it is judged (and refused) on its own event."""
        agreement_id = self.records.agreement_for_key(key)
        status = self.records.status(agreement_id) if agreement_id else None
        if not status or status.get("sourceKey") != key or status.get("state") not in APPLIED_STATES \
                or status.get("digest") == _digest(data):
            return Outcome(key, agreement_id, "ignored")
        log.warning("%s was deleted and holds other content now, from an uploader rolepact cannot verify: "
                    "the agreement ends", key, extra={"agreementId": agreement_id})
        return self.end(agreement_id, "deleted")

    def _removed(self, key: str) -> Outcome:
        agreement_id = self.records.agreement_for_key(key)
        if agreement_id is None:
            return Outcome(key, None, "ignored")
        self._end_pending(key)
        status = self.records.status(agreement_id)
        if status is None or status.get("sourceKey") != key:
            self.records.forget_key(key)
            return Outcome(key, agreement_id, "ignored")
        outcome = self.end(agreement_id, "deleted")
        self.records.forget_key(key)
        return outcome

    # ======================================================================================== timers
    def reconcile(self, agreement_id: str, *, again: bool = True) -> Outcome:
        """Converge the applied revision at the current time; send what is due.

        A timer never grants what has ended meanwhile: a banned partner's or a deleted file's agreement
        is ended instead (the kill switch or the deletion may be half-way, or its event lost). And since
        an ending may run while this run writes RAM from the record it read first, a run that wrote
        anything reads the record (and the ban, and the file) again afterwards: if the agreement ended
        meanwhile it takes back what it wrote; if it was amended, it converges on the new revision."""
        status = self.records.status(agreement_id)
        applied = _applied_agreement(status)
        if applied is None or status.get("state") not in APPLIED_STATES:
            return Outcome(status.get("sourceKey") if status else None, agreement_id, "ignored",
                           status.get("state") if status else None)
        now = self.settings.now()
        target = target_for(applied, now, self.protect, extended_trust=self.settings.extended_trust_conditions)
        if not isinstance(target, EndedRole):
            ends = self._ended_meanwhile(applied, status)
            if ends:
                return self.end(agreement_id, ends)
        broken = [] if isinstance(target, EndedRole) else self._breaks_guardrails(applied, now)
        if broken:  # never grant what intake would refuse; ending stays possible
            return self._refuse_recorded(agreement_id, status, applied, broken)
        try:
            if isinstance(target, EndedRole):
                converged = self.executor.converge(target, on_plan=self._note_ending(agreement_id, status))
            else:
                converged = self._converge_cutting_drift(target, applied)
        except (CloudError, NotConverged) as error:
            self._count_failure(agreement_id, status, error)
            raise
        if converged.refusal is not None:  # someone else's role now holds the name: report, change nothing
            self._count_failure(agreement_id, status, converged.refusal)
            return Outcome(applied.source_key, agreement_id, "failed", status["state"],
                           problems=[converged.refusal.to_dict()])
        if isinstance(target, EndedRole):
            return self._record_end(agreement_id, status, converged.applied, "expired")
        changed = bool(converged.applied)
        state = "scheduled" if applied.starts_at and now < applied.starts_at else "active"
        became_active = status["state"] == "scheduled" and state == "active"
        if state != status["state"] or changed or status.get("failures"):
            # about to write: the record read first may have ended or moved on meanwhile (and a RAM write
            # may have given back what an ending took)
            fresh = self.records.status(agreement_id)
            ends = self._ended_meanwhile(applied, fresh, fresh=True) if changed and _same_revision(status, fresh) \
                else None
            if ends or not _same_revision(status, fresh):
                return self._superseded_run(agreement_id, applied, fresh, ends, again=again, wrote=changed)
            status = dict(fresh, state=state, updatedAt=iso(now), failures=None)
            self._append_history(status, converged.applied, now)
            self.records.put_status(agreement_id, status)
        if became_active:
            self._notice(agreement_id, f"active:{iso(applied.starts_at)}",
                         f"Agreement {agreement_id} is now active",
                         f"{applied.partner.display} can now assume **{applied.role_name}** "
                         f"until {iso(applied.expires_at)}.")
        self._pre_expiry_notices(applied, now)
        return Outcome(applied.source_key, agreement_id, "applied" if changed else "unchanged", state,
                       [a.describe() for a in converged.applied])

    def _ended_meanwhile(self, agreement: Agreement, status: dict | None, *, fresh: bool = False) -> str | None:
        """Why an applied revision must end now although its record says live: "revoked" (its partner is
        banned) or "deleted" (its file is gone); None if neither. `fresh`: read the bans again instead of
        the invocation's first listing (the enforcer ends banned partners before it reconciles anything)."""
        if fresh or self._bans is None:
            self._bans = kill_switches(self.gateways.store)
        if agreement.partner.account_id in self._bans:
            return "revoked"
        source = (status or {}).get("sourceKey")
        if source and self.gateways.store.head(source) is None:
            return "deleted"
        return None

    def _superseded_run(self, agreement_id: str, applied: Agreement, fresh: dict | None, ends: str | None, *,
                        again: bool, wrote: bool) -> Outcome:
        """This run converged a revision that, by the time it finished, had ended or been replaced: its record
        is not written, and RAM is put to what the current record says."""
        log.warning("agreement %s changed while a timer converged it (%s)", agreement_id,
                    ends or (fresh or {}).get("state"), extra={"agreementId": agreement_id})
        if fresh is not None and fresh.get("state") in APPLIED_STATES and _applied_agreement(fresh) is not None:
            if ends:
                return self.end(agreement_id, ends)
            if again:
                return self.reconcile(agreement_id, again=False)
        elif wrote:  # ended meanwhile: take back what this run gave
            self.executor.converge(ended_role(agreement_id, applied.role_name, applied.owner.account_id,
                                              applied.on_expiry))
        return Outcome(applied.source_key, agreement_id, "ignored", (fresh or {}).get("state"))

    def _breaks_guardrails(self, agreement: Agreement, now: datetime) -> list[Problem]:
        """A revision read back from a status record is checked again before it is granted, with
        every guardrail intake applies that does not depend on the upload — the documents RAM
        returns for its system policies included: the record is only as trustworthy as whoever can
        write the bucket, and the guardrails may have been tightened since it was applied."""
        problems = check_guardrails(agreement, self.settings, uploader=None, now=now, is_new_revision=False,
                                    check_uploader=False)
        return problems + self._unknown_system_policies(agreement)[1]

    def _refuse_recorded(self, agreement_id: str, status: dict, applied: Agreement, problems: list[Problem]) -> Outcome:
        """The recorded revision breaks the guardrails: change nothing in RAM, report it."""
        problems = _bounded(problems)
        error = Problem("(status)", ("the applied revision in the status record breaks the guardrails: "
                                     + "; ".join(str(p) for p in problems))[:4000])
        log.error("agreement %s not reconciled: %s", agreement_id, error.message, extra={"agreementId": agreement_id})
        self._count_failure(agreement_id, status, error)
        self._notice(agreement_id, f"guardrails:{_digest(status['agreementText'].encode('utf-8'))}",
                     f"Agreement {agreement_id} not applied: its record breaks the guardrails",
                     f"The revision of **{agreement_id}** recorded in `status/{agreement_id}.json` is not what "
                     f"intake would grant; RAM was not changed. Check who wrote that record.\n\n"
                     + _problem_lines(problems, where=f"status/{agreement_id}.json"))
        return Outcome(applied.source_key, agreement_id, "failed", status.get("state"),
                       problems=[p.to_dict() for p in problems])

    def end(self, agreement_id: str, reason: str) -> Outcome:
        """End an agreement now (file deleted, kill switch), per its onExpiry."""
        status = self.records.status(agreement_id)
        applied = _applied_agreement(status)
        if status is None or applied is None:
            if status is not None and status.get("sourceKey"):
                self._end_pending(status["sourceKey"])  # a first grant that failed half-way
            if status is not None and status.get("state") != "ended":
                self.records.put_status(agreement_id, dict(status, state="ended", updatedAt=iso(self.settings.now()),
                                                           ended={"at": iso(self.settings.now()), "reason": reason,
                                                                  "removed": []}))
            return Outcome(status.get("sourceKey") if status else None, agreement_id, "ignored")
        if status.get("state") == "ended":
            return Outcome(status.get("sourceKey"), agreement_id, "ignored", "ended")
        target = ended_role(agreement_id, applied.role_name, applied.owner.account_id, applied.on_expiry)
        try:
            converged = self.executor.converge(target, on_plan=self._note_ending(agreement_id, status))
        except (CloudError, NotConverged) as error:
            self._count_failure(agreement_id, status, error)
            raise
        outcome = self._record_end(agreement_id, status, converged.applied, reason)
        self._settle(target)
        return outcome

    def _settle(self, target: EndedRole) -> None:
        """After an ending is recorded, look at RAM once more: a timer that read the record before it said
        "ended" may have written the role back meanwhile (it reads the record again before it records, but
        it may have done so just before this ending did). Level-triggered: usually two reads, no write."""
        try:
            late = self.executor.converge(target)
        except (CloudError, NotConverged) as error:  # the auditor reports what is left (expired-present)
            log.error("could not check %s after ending it: %s", target.role_name, error,
                      extra={"agreementId": target.agreement_id})
            return
        if late.applied:
            log.warning("removed what a concurrent run gave back after %s ended: %s", target.agreement_id,
                        "; ".join(a.describe() for a in late.applied), extra={"agreementId": target.agreement_id})

    def _note_ending(self, agreement_id: str, status: dict):
        """Before an ending touches RAM, write down what it will remove: if the run dies half-way,
        the run that finishes it still has the whole evidence."""
        def note(actions: list[Action]) -> None:
            before = (status.get("ending") or {}).get("planned") or []
            planned = list(dict.fromkeys(before + [a.describe() for a in actions]))
            status["ending"] = {"planned": planned, "since": (status.get("ending") or {}).get("since")
                                or iso(self.settings.now())}
            self.records.put_status(agreement_id, status)
        return note

    # ======================================================================================== records
    def _record_applied(self, agreement: Agreement, status: dict | None, applied_actions: list[Action], raw: bytes,
                        uploader: str | None, now: datetime, sessions_cut: list[str] | None = None,
                        system_documents: dict | None = None) -> Outcome:
        previous = _applied_agreement(status)
        state = "scheduled" if agreement.starts_at and now < agreement.starts_at else "active"
        pack = onboarding_pack(agreement, self.settings.region)
        same = (previous is not None and status.get("digest") == agreement.digest
                and status.get("state") == state and not applied_actions)
        if same and not (status.get("lastUpload") or {}).get("errors"):
            return Outcome(agreement.source_key, agreement.agreement_id, "unchanged", state)
        if same:  # the applied file uploaded again after a refused amendment: nothing to grant or announce
            self.records.put_status(agreement.agreement_id, dict(
                status, updatedAt=iso(now), lastUpload=self._upload_record(agreement.digest, now, uploader)))
            return Outcome(agreement.source_key, agreement.agreement_id, "unchanged", state)
        kind = "granted" if previous is None or status.get("state") not in APPLIED_STATES else "amended"
        revision = int((status or {}).get("revision") or 0) + 1  # names this grant/amendment's notices
        record = dict(status or {})
        record.update(
            revision=revision,
            agreementId=agreement.agreement_id, state=state, sourceKey=agreement.source_key,
            digest=agreement.digest, agreementText=raw.decode("utf-8"),
            roleArn=pack["roleArn"], partnerAccountId=agreement.partner.account_id,
            startsAt=iso(agreement.starts_at) if agreement.starts_at else None,
            expiresAt=iso(agreement.expires_at), onExpiry=agreement.on_expiry,
            appliedAt=iso(now), updatedAt=iso(now), errors=[], failures=None, onboarding=pack,
            lastUpload=self._upload_record(agreement.digest, now, uploader),
        )
        record.setdefault("firstAppliedAt", iso(now))
        record.pop("ended", None)
        self._append_history(record, applied_actions, now)
        # The status record is written last: until it names this revision, a retried run (after a
        # crash or a failed write) is not "unchanged" and schedules and notifies again — idempotently.
        self._schedule(agreement, now)
        grants = effective_grant(agreement, system_documents or {})
        record["grant"] = [g.to_dict() for g in grants]
        created = self.ledger.get(agreement.role_name)  # for people: ownership is decided by the ledger itself
        record["roleId"] = created.role_id if created and created.agreement_id == agreement.agreement_id else None
        changes = "\n".join(f"- {md_text(a.brief())}" for a in applied_actions) or "- (no RAM change needed)"
        if sessions_cut:
            changes += ("\n\nThe role was deleted and created again, so every session issued before this "
                        "amendment stopped working (" + md_text("; ".join(sessions_cut)) + ").")
        self._notice(agreement.agreement_id, f"{kind}:{agreement.digest}:{revision}", strict=True, title=
                     f"Agreement {agreement.agreement_id} {kind}", text=
                     f"**{agreement.partner.display}** ({agreement.partner.account_id}) may assume "
                     f"**{agreement.role_name}** in {agreement.owner.display} "
                     f"{'from ' + iso(agreement.starts_at) + ' ' if agreement.starts_at else ''}"
                     f"until {iso(agreement.expires_at)}.\n\n"
                     f"What the role grants, by service (every Allow of the agreed policies; the guard policy "
                     f"still denies the account's control plane and rolepact itself):\n{grant_markdown(grants)}\n\n"
                     f"RAM changes:\n{changes}\n\n"
                     f"### Onboarding for {agreement.partner.display}\n\n{onboarding_markdown(pack)}")
        self.records.put_status(agreement.agreement_id, record)
        if kind == "amended" and previous.expires_at != agreement.expires_at:
            self._pre_expiry_notices(agreement, now)  # moved into a notice window: its point has passed
        return Outcome(agreement.source_key, agreement.agreement_id, "applied", state,
                       [a.describe() for a in applied_actions])

    def _upload_record(self, digest: str, now: datetime, uploader: str | None) -> dict:
        """`claimedUploader` is what the event said — never stated as fact: `uploaderVerified` is true only
        when the bucket policy made anyone else's upload impossible (approved uploaders and their lock)."""
        verified = self.settings.guardrails.approved_uploaders is not None and self.uploader_lock().enforced
        return {"digest": digest, "at": iso(now), "result": "applied", "claimedUploader": uploader,
                "uploaderVerified": verified}

    def _record_end(self, agreement_id: str, status: dict, removed: list[Action], reason: str) -> Outcome:
        now = self.settings.now()
        planned = (status.get("ending") or {}).get("planned") or []
        removals = list(dict.fromkeys(planned + [a.describe() for a in removed]))
        record = dict(status, state="ended", updatedAt=iso(now), failures=None,
                      ended={"at": iso(now), "reason": reason, "removed": removals})
        record.pop("ending", None)
        self._append_history(record, removed, now)
        applied = _applied_agreement(status)
        what = {"expired": "expired", "deleted": "ended: its file was deleted",
                "revoked": "revoked by the kill switch"}.get(reason, f"ended ({reason})")
        evidence = "\n".join(f"- {md_text(line)}" for line in removals) or "- nothing was left to remove"
        # Notice and claim first, the status record last: a run that fails before the record says
        # "ended" is retried in full (RAM is already converged then, the notice deduplicated).
        self._notice(agreement_id, f"ended:{status.get('digest')}:{status.get('revision') or 0}",
                     f"Agreement {agreement_id} {what.split(':')[0]}",
                     f"Agreement **{agreement_id}** {what} at {iso(now)}. "
                     f"{applied.partner.display if applied else 'The partner'} can no longer use "
                     f"**{status.get('roleArn')}** ({status.get('onExpiry')}).\n\nRemoved:\n{evidence}", strict=True)
        self.records.release(agreement_id)
        self.records.put_status(agreement_id, record)
        return Outcome(status.get("sourceKey"), agreement_id, "ended", "ended", removals)

    def _reject(self, key: str, agreement_id: str | None, digest: str, problems: list[Problem],
                reason: str, *, upload: str = "") -> Outcome:
        """Record and notify a refusal; RAM is not touched. `upload` identifies this upload of `key`
        (ETag and time), so that redeliveries notify once but a later identical upload notifies again."""
        now = self.settings.now()
        problems = _bounded(problems)
        errors = [p.to_dict() for p in problems]
        if is_agreement_key(key):
            self._end_pending(key)  # an earlier upload of this file may have been granted half-way
        status = self.records.status(agreement_id) if agreement_id else None
        last_upload = {"digest": digest, "at": iso(now), "result": "rejected", "reason": reason, "errors": errors}
        if status is not None and status.get("sourceKey") == key:
            if status.get("state") in APPLIED_STATES:  # a refused amendment: the applied revision stays
                record = dict(status, lastUpload=last_upload, updatedAt=iso(now))
            else:
                record = dict(status, state="rejected", errors=errors, lastUpload=last_upload, updatedAt=iso(now))
            self.records.put_status(agreement_id, record)
        elif agreement_id is not None and status is None:
            self.records.put_status(agreement_id, {"agreementId": agreement_id, "state": "rejected", "sourceKey": key,
                                                   "digest": digest, "errors": errors, "lastUpload": last_upload,
                                                   "updatedAt": iso(now)})
        else:  # no usable id, or the id belongs to another file: file it under the key
            self.records.put_file_status(key, {"sourceKey": key, "agreementId": agreement_id, "state": "rejected",
                                               "digest": digest, "errors": errors, "updatedAt": iso(now)})
        log.warning("rejected %s: %s", key, "; ".join(str(p) for p in problems),
                    extra={"agreementId": agreement_id, "reason": reason})
        lines = _problem_lines(problems, where=f"status/{agreement_id}.json" if agreement_id else "status/_files/")
        self._notice(agreement_id or "_files", f"rejected:{key}:{digest}:{upload}",
                     f"Agreement file rejected: {key}",
                     f"**{md_text(key)}** was refused ({reason}); nothing in RAM was changed.\n\n{lines}", strict=True)
        return Outcome(key, agreement_id, "rejected", status.get("state") if status else "rejected", problems=errors)

    def _failed(self, agreement: Agreement, status: dict | None, previous: Agreement | None, error: Exception,
                raw: bytes) -> Outcome:
        """A cloud failure mid-way: put RAM back to the last good revision (or nothing), then report.

        Retryable failures (throttling, 5xx) are re-raised after recording, so FC's async
        retry runs intake again; the level-triggered run picks up where this one stopped.
        """
        now = self.settings.now()
        retryable = isinstance(error, CloudError) and error.retryable
        detail = error.to_dict() if isinstance(error, CloudError) else {"code": "NotConverged", "message": str(error)}
        if not retryable:
            self._roll_back(agreement, previous, now)
        upload = {"digest": agreement.digest, "at": iso(now), "result": "failed", "errors": [detail]}
        if status is not None and status.get("state") in APPLIED_STATES and previous is not None:
            record = dict(status, lastUpload=upload, updatedAt=iso(now))
        else:
            record = dict(status or {}, agreementId=agreement.agreement_id, state="failed",
                          sourceKey=agreement.source_key, digest=agreement.digest, errors=[detail],
                          partnerAccountId=agreement.partner.account_id,  # the kill switch finds it
                          lastUpload=upload, updatedAt=iso(now))
        self.records.put_status(agreement.agreement_id, record)
        log.error("agreement %s failed: %s", agreement.agreement_id, error, extra={"agreementId": agreement.agreement_id})
        self._notice(agreement.agreement_id, f"failed:{agreement.digest}:{(status or {}).get('revision') or 0}",
                     f"Agreement {agreement.agreement_id} failed",
                     f"Applying **{md_text(agreement.source_key)}** failed: `{md_code(detail.get('code'))}` "
                     f"{md_text(detail.get('message'))}\n\n"
                     + ("It will be retried." if retryable else
                        "RAM was put back to the last applied revision." if previous else
                        "Nothing was granted; fix the cause and upload the file again."))
        if retryable:
            raise error
        return Outcome(agreement.source_key, agreement.agreement_id, "failed", record["state"], problems=[detail])

    def _roll_back(self, agreement: Agreement, previous: Agreement | None, now: datetime) -> None:
        if previous is not None and self._breaks_guardrails(previous, now):
            previous = None  # never roll "back" to a recorded revision intake would refuse
        extended = self.settings.extended_trust_conditions
        target = target_for(previous, now, self.protect, extended_trust=extended) if previous is not None else ended_role(
            agreement.agreement_id, agreement.role_name, agreement.owner.account_id)
        try:
            self.executor.converge(target)
        except (CloudError, NotConverged) as error:
            log.error("roll-back of %s failed too: %s", agreement.agreement_id, error)

    def _count_failure(self, agreement_id: str, status: dict, error) -> None:
        fresh = self.records.status(agreement_id)  # an ending (or amendment) may have been recorded meanwhile
        if fresh is None or fresh.get("revision") != status.get("revision") or fresh.get("state") != status.get("state"):
            return
        status = fresh
        failures = dict(status.get("failures") or {"count": 0})
        failures["count"] = failures.get("count", 0) + 1
        failures["lastError"] = error.to_dict() if hasattr(error, "to_dict") else {"message": str(error)}
        failures["at"] = iso(self.settings.now())
        self.records.put_status(agreement_id, dict(status, failures=failures))
        if failures["count"] == self.settings.failure_report_after:
            self._notice(agreement_id, f"failing:{status.get('digest')}:{failures['count']}",
                         f"Agreement {agreement_id} keeps failing",
                         f"rolepact could not reconcile **{agreement_id}** {failures['count']} times in a row: "
                         f"`{md_code(failures['lastError'].get('code', ''))}` "
                         f"{md_text(failures['lastError'].get('message', ''))}")

    def _append_history(self, record: dict, actions: list[Action], now: datetime) -> None:
        if actions:
            history = list(record.get("actions") or [])
            history += [{"at": iso(now), "api": a.api, "summary": a.describe()} for a in actions]
            record["actions"] = history[-HISTORY_LIMIT:]

    # ======================================================================================== timers' helpers
    def _schedule(self, agreement: Agreement, now: datetime) -> None:
        if agreement.starts_at and agreement.starts_at > now:
            self.records.schedule(agreement.agreement_id, agreement.starts_at, "start")
        for offset in self.settings.notice_offsets:
            at = agreement.expires_at - offset
            if at > now:
                self.records.schedule(agreement.agreement_id, at, f"notice-{_label(offset)}")
        self.records.schedule(agreement.agreement_id, agreement.expires_at, "expire")

    def _pre_expiry_notices(self, agreement: Agreement, now: datetime) -> None:
        for offset in sorted(self.settings.notice_offsets):  # the nearest notice point that has been reached
            if agreement.expires_at - offset <= now < agreement.expires_at:
                label = _label(offset)
                notice_id = f"expiring-{label}:{iso(agreement.expires_at)}"
                earlier = [f"expiring-{_label(o)}:{iso(agreement.expires_at)}"
                           for o in self.settings.notice_offsets if o > offset]
                self._notice(agreement.agreement_id, notice_id,
                             f"Agreement {agreement.agreement_id} expires in {label}",
                             f"**{agreement.partner.display}** loses access to **{agreement.role_name}** at "
                             f"{iso(agreement.expires_at)}.\n\nTo renew, edit `expiresAt` in "
                             f"`{agreement.source_key}` and upload it again."
                             + notice_note(self.settings, self.gateways, self.records, agreement, notice_id, earlier))
                break  # only the nearest notice is due

    def _notice(self, agreement_id: str | None, notice_id: str, title: str, text: str, *,
                strict: bool = False) -> None:
        """Send a notice at most once. `strict`: a retryable failure (the bucket throttling) is raised,
        for callers that write their status record after the notice and are retried by FC."""
        try:
            self.notifier.send(Notice(agreement_id, notice_id, title,
                                      f"### {md_text(title)}\n\n{text}\n\n— rolepact"))
        except CloudError as error:  # the bucket itself failing must not hide the RAM outcome
            if strict and error.retryable:
                raise
            log.error("could not record notice %s: %s", notice_id, error)


def sessions_to_cut(previous: Agreement | None, new: Agreement) -> list[str]:
    """Why an amendment must end the role's live sessions: it removes an identity that may assume it.

    RAM evaluates a session's *permissions* on every call, so removed policies, a shorter window or
    fewer IP ranges (guard policy) bind live sessions at once. The trust policy's principals are only
    read at AssumeRole: another partner or a removed principal would keep the sessions issued before
    the amendment until they expire. (A new ExternalId changes no identity: it is a rotation, and the
    sessions of the same principals stay.)
    """
    if previous is None:
        return []
    reasons = []
    if previous.partner.account_id != new.partner.account_id:
        reasons.append(f"partner changed from {previous.partner.account_id} to {new.partner.account_id}")
    else:
        now_trusted = set(new.principal_arns())
        whole_account = f"acs:ram::{new.partner.account_id}:root" in now_trusted
        removed = [p for p in previous.principals
                   if f"acs:ram::{previous.partner.account_id}:{p}" not in now_trusted and not whole_account]
        if removed:
            reasons.append(f"principals removed: {', '.join(removed)}")
    return reasons


def _same_revision(before: dict | None, after: dict | None) -> bool:
    """Whether `after` (read again) still records the live revision `before` recorded."""
    return (before is not None and after is not None and after.get("state") in APPLIED_STATES
            and after.get("digest") == before.get("digest") and after.get("revision") == before.get("revision"))


def _applied_agreement(status: dict | None) -> Agreement | None:
    if not status or not status.get("agreementText"):
        return None
    try:
        return parse_agreement(status["agreementText"].encode("utf-8"), key=status.get("sourceKey", ""),
                               max_bytes=1 << 30)
    except AgreementRejected:
        return None


def _bounded(problems: list[Problem]) -> list[Problem]:
    """At most MAX_PROBLEMS problems (and a line counting the rest), each cut short: a refusal is one
    bounded status record whatever the file (or the guardrails) found."""
    from shared.agreements.schema import MAX_PROBLEM_CHARS, MAX_PROBLEMS

    kept = [Problem(p.path[:200], p.message[:MAX_PROBLEM_CHARS]) for p in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        kept.append(Problem("(file)", f"... and {len(problems) - MAX_PROBLEMS} more problems not listed"))
    return kept


def _problem_lines(problems: list[Problem], *, where: str, budget: int = NOTICE_LIST_BYTES) -> str:
    """The problems as markdown lines that fit one DingTalk message: one refusal, one message."""
    lines, size = [], 0
    for index, problem in enumerate(problems):
        line = f"- `{md_code(problem.path)}`: {md_text(problem.message)}"
        if lines and size + wire_bytes(line) > budget:
            lines.append(f"- ... and {len(problems) - index} more: see `{md_code(where)}`")
            break
        lines.append(line)
        size += wire_bytes(line) + 1
    return "\n".join(lines)


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _etag(value: str | None) -> str:
    return (value or "").strip().strip('"').upper()


def _upload_tag(etag: str | None, last_modified: datetime | None) -> str:
    """One upload of a key: its ETag and time (a redelivered event reads the same object)."""
    return f"{_etag(etag)}@{stamp(last_modified) if last_modified else ''}"
