"""The pipeline as the function and the report use it: the same rules, plus what to keep.

`Pipeline` (pipeline.py) is the lean hot path the benchmark measures. `RecordingPipeline`
adds, only for events the pipeline tied to an agreement (after `Pipeline.feed`, off its hot
path), what storage and the report need: the events themselves (to store them, tagged with their agreement), the STS
sessions seen (distinct temporary AccessKeyIds), the calls per hour (allowed and denied: the report's
timeline) and the changes to managed roles.
"""
from __future__ import annotations

from shared.audit.pipeline import DENIAL_PREFIXES, Pipeline


class RecordingPipeline(Pipeline):
    def __init__(self, views, *, keep: bool = True, **options) -> None:
        super().__init__(views, **options)
        self.kept: list[dict] | None = [] if keep else None
        self.session_keys: dict[str, set] = {}  # agreement id -> STS AccessKeyIds (one per AssumeRole)
        self.changes: dict[str, dict] = {}  # agreement id -> {"rolepact": n, "others": n}
        # agreement id -> {"YYYY-MM-DDTHH": [allowed, denied]}; denied as the pipeline counts denials
        self.hourly: dict[str, dict[str, list[int]]] = {}

    @classmethod
    def for_settings(cls, views, settings, config, *, keep: bool = True,
                     managed: tuple = ((), ())) -> "RecordingPipeline":
        """`managed`: views.load_managed's (role names, policy prefixes) — what the service role may write."""
        rails = settings.guardrails
        privileged = {p.lower() for p in rails.privileged_policies} - {p.lower() for p in
                                                                       rails.allowed_privileged_policies}
        return cls(views, keep=keep, sensitive_actions=settings.sensitive_actions,
                   denial_burst=settings.denial_burst, denial_window_seconds=config.denial_window_seconds,
                   service_role_name=config.service_role_name, managed_roles=managed[0],
                   managed_policy_prefixes=managed[1], privileged_policies=privileged)

    def _service_role_event(self, event, identity, event_id, time):
        found = super()._service_role_event(event, identity, event_id, time)
        if self.kept is not None and any(f.rule == "service-role-unmanaged-write" for f in found):
            self.kept.append(dict(event, rolepact={"agreementId": None, "kind": "service-role"}))
        return found

    def feed(self, event):
        attributed = self._n_attributed
        found = super().feed(event)
        if self._n_attributed != attributed:  # a partner's call: keep it, note its STS session
            view, _session = self.attribution(event.get("userIdentity"))
            key = event["userIdentity"].get("accessKeyId")
            if key:
                self.session_keys.setdefault(view.agreement_id, set()).add(key)
            hours = self.hourly.setdefault(view.agreement_id, {})
            counts = hours.get(event["eventTime"][:13])
            if counts is None:
                counts = hours[event["eventTime"][:13]] = [0, 0]
            counts[1 if str(event.get("errorCode") or "").startswith(DENIAL_PREFIXES) else 0] += 1
            if self.kept is not None:
                self.kept.append(dict(event, rolepact={"agreementId": view.agreement_id, "kind": "partner"}))
        return found

    def _change_event(self, event, name, identity, event_id, time):
        before = self._n_changes
        found = super()._change_event(event, name, identity, event_id, time)
        if self._n_changes == before:  # not about a managed role
            return found
        role = (str(identity.get("userName", "")).split(":", 1)[0].lower()
                if identity.get("type") == "assumed-role" else "")
        own = role == self.service_role
        params = event.get("requestParameters") if type(event.get("requestParameters")) is dict else {}
        view = self.by_role.get(str(params.get("RoleName", "")).lower()) or \
            self.by_policy_prefix.get(str(params.get("PolicyName", ""))[:14])
        if view is not None:
            tally = self.changes.setdefault(view.agreement_id, {"rolepact": 0, "others": 0})
            tally["rolepact" if own else "others"] += 1
            if self.kept is not None and not own:
                self.kept.append(dict(event, rolepact={"agreementId": view.agreement_id, "kind": "change"}))
        return found
