"""The access-audit pipeline: one ActionTrail event at a time -> attribution, findings, aggregates.

Pure and in-memory (storage and reporting live elsewhere), and built for volume: an event
that concerns no agreement is dropped after a few dict lookups; times are compared as ISO
strings; per-session, per-IP and per-action answers are cached; de-duplication keeps only a
sliding two-hour window of event ids, so memory stays flat over millions of events. The hot
path is `feed` alone (bench/audit_throughput.py measures it; docs/benchmarks.md).

Attribution: calls made with a role session are recorded in the role owner's trail as
`userIdentity.type = assumed-role`, `userName = "<role>:<session>"`, and
`requestParameters.stsTokenPlayerUid` = the account that assumed the role. A managed role
maps to its agreement; the player account and the session name identify who at the partner.
"""
from __future__ import annotations

import ipaddress
import json
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from datetime import datetime

from shared.audit.model import AgreementActivity, AgreementView, Finding

# RAM writes that change a managed role or its policies (drift made by someone else).
CHANGE_EVENTS = frozenset({
    "UpdateRole", "DeleteRole", "AttachPolicyToRole", "DetachPolicyFromRole", "CreatePolicyVersion",
    "DeletePolicyVersion", "SetDefaultPolicyVersion", "DeletePolicy", "TagResources", "UntagResources",
})
# Events whose request parameters are kept whole (normalize.py): what a RAM write names (role, policy).
KEEP_PARAMETERS = CHANGE_EVENTS | frozenset({"CreateRole", "CreatePolicy"})
# ActionTrail serviceNames of identity writes: RAM, and IMS for users and keys.
IDENTITY_SERVICES = frozenset({"Ram", "Ims"})
DENIAL_PREFIXES = ("NoPermission", "Forbidden", "AccessDenied")
DEDUPE_HOURS = 2
NOTHING: tuple = ()  # what feed() returns for the (vast) majority of events: no finding
UNMANAGED = ("unmanaged",)  # a session of a role no agreement manages
SERVICE_ROLE = ("service-role",)  # a session of rolepact's own FC service role
# ActionTrail's serviceName -> the RAM action prefix (IMS events are RAM users and keys: `ram:CreateUser`).
SERVICE_ALIASES = {"ims": "ram"}


_MIDNIGHTS: dict[str, float] = {}


def _epoch(iso_time: str) -> float:
    """Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS...` (UTC), with the date part cached."""
    day = iso_time[:10]
    midnight = _MIDNIGHTS.get(day)
    try:
        if midnight is None:
            midnight = _MIDNIGHTS[day] = datetime.fromisoformat(day + "T00:00:00+00:00").timestamp()
        return midnight + int(iso_time[11:13]) * 3600 + int(iso_time[14:16]) * 60 + int(iso_time[17:19])
    except ValueError:
        return datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()


def _matches(pattern: str, action: str) -> bool:
    """`ecs:Delete*`-style pattern, case-insensitive (RAM action names are)."""
    import fnmatch

    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


class Pipeline:
    def __init__(self, views: Iterable[AgreementView], *, sensitive_actions: Iterable[str] = (),
                 denial_burst: int = 5, denial_window_seconds: int = 300,
                 service_role_name: str = "rolepact-fc-role", managed_roles: Iterable[str] = (),
                 managed_policy_prefixes: Iterable[str] = (), privileged_policies: Iterable[str] = ()) -> None:
        """`managed_roles` / `managed_policy_prefixes`: what rolepact's records say it created, besides the
        agreements' own (a first grant writes RAM before its status record): the only roles and policies
        the service role may write. `privileged_policies`: system policies it never attaches."""
        views = list(views)
        self.by_role = {v.role_name.lower(): v for v in views}
        self.by_policy_prefix = {v.policy_prefix: v for v in views}
        self.managed_roles = frozenset(r.lower() for r in managed_roles) | frozenset(self.by_role)
        self.managed_prefixes = frozenset(managed_policy_prefixes) | frozenset(self.by_policy_prefix)
        self.privileged = frozenset(p.lower() for p in privileged_policies)
        self.sensitive_patterns = tuple(sensitive_actions)
        self.denial_burst = denial_burst
        self.denial_window = denial_window_seconds
        self.service_role = service_role_name.lower()
        self.activity: dict[str, AgreementActivity] = {}
        self.findings: list[Finding] = []
        self.malformed: list[object] = []
        # Counters are plain ints on the hot path; `counts` assembles them.
        self._n_events = self._n_attributed = self._n_unattributed = 0
        self._n_duplicates = self._n_malformed = self._n_changes = 0
        self._seen: dict[str, set] = {}
        self._hour = ""  # the hour bucket of the previous event, and its set: most events share it
        self._hour_seen: set = set()
        # userName of an assumed-role session -> (view, session, listed, slot) | UNMANAGED
        self._who: dict[str, tuple] = {}
        self._actions: dict[tuple[str, str], tuple[str, bool]] = {}
        # agreed ranges -> {ip: inside them}: agreements with the same ranges share the answers
        self._ip_inside: dict[tuple, dict[str, bool]] = {}
        self._slots: dict[str, list] = {}  # agreement id -> [its AgreementActivity or None, its _ip_inside dict]
        self._denials: dict[tuple[str, str], deque] = {}

    @property
    def counts(self) -> Counter:
        """events (distinct, valid), attributed, unattributed, changes, duplicates, malformed."""
        counts = Counter(events=self._n_events, attributed=self._n_attributed, unattributed=self._n_unattributed,
                         changes=self._n_changes, duplicates=self._n_duplicates, malformed=self._n_malformed)
        return +counts  # without the zeros, like a Counter that was only incremented

    # -- entry ------------------------------------------------------------------------------------------
    def feed(self, event) -> Sequence[Finding]:
        """Process one event; returns the findings it produced (often none: an empty tuple).

        The hot path, written out in one function: de-duplication, attribution (cached per
        session userName), the aggregates and a cheap pre-check of the rules. Anything unusual
        (a possible finding, a denial, a change to a managed role) goes to a helper.
        """
        try:
            event_id = event["eventId"]
            time = event["eventTime"]
            if type(event_id) is not str or type(time) is not str or len(time) < 19:
                raise TypeError
        except (TypeError, KeyError, IndexError):
            return self._malformed(event)
        hour = time[:13]
        seen = self._hour_seen if hour == self._hour else self._bucket(hour)
        if event_id in seen:
            self._n_duplicates += 1
            return NOTHING
        seen.add(event_id)
        self._n_events += 1
        identity = event.get("userIdentity")
        who = UNMANAGED
        if type(identity) is dict and identity.get("type") == "assumed-role":
            user = identity.get("userName")
            who = self._who.get(user) if type(user) is str else None
            if who is None:
                who = self._resolve(user)
        if who is UNMANAGED:
            name = event.get("eventName")
            if name in CHANGE_EVENTS:
                return self._change_event(event, name, identity if type(identity) is dict else {}, event_id, time)
            self._n_unattributed += 1
            return NOTHING
        if who is SERVICE_ROLE:
            return self._service_role_event(event, identity, event_id, time)

        # A partner's call, made with a session of a managed role.
        view, session, listed, slot = who
        self._n_attributed += 1
        params = event.get("requestParameters")
        player = params.get("stsTokenPlayerUid", "") if type(params) is dict else ""
        if type(player) is not str:
            player = str(player)
        key = (event.get("serviceName") or "", event.get("eventName") or "")
        cached = self._actions.get(key)
        if cached is None:
            cached = self._action(key)
        action, sensitive = cached
        ip = event.get("sourceIpAddress") or ""
        stats = slot[0]
        if stats is None:
            stats = self._stats(view, time, slot)
        stats.events += 1
        if event.get("eventRW") == "Read":
            stats.reads += 1
        else:
            stats.writes += 1
        person = (player, session)
        counts = stats.people
        counts[person] = counts.get(person, 0) + 1
        counts = stats.actions
        counts[action] = counts.get(action, 0) + 1
        counts = stats.source_ips
        counts[ip] = counts.get(ip, 0) + 1
        if time > stats.last:
            stats.last = time
        elif time < stats.first:
            stats.first = time
        # The rules: comparisons on the common path; findings (and denials) are rare.
        inside = True
        if ip and view.networks:
            inside = slot[1].get(ip)
            if inside is None:
                inside = self._inside(view, ip)
        error = event.get("errorCode")
        if time < view.starts_at or time >= view.ends_at or (player and player != view.partner_account) \
                or not listed or sensitive or not inside or error:
            return self._unusual(view, stats, event_id, time, session, player, ip, action, sensitive, listed,
                                 inside, error or "")
        return NOTHING

    def _unusual(self, view: AgreementView, stats: AgreementActivity, event_id: str, time: str, session: str,
                 player: str, ip: str, action: str, sensitive: bool, listed: bool, inside: bool,
                 error: str) -> Sequence[Finding]:
        """The rules, for a partner event in which the hot path found something to look at."""
        found = None
        if time < view.starts_at or time >= view.ends_at or (player and player != view.partner_account) \
                or not listed or sensitive or not inside:
            found = self._rules(view, event_id, time, session, player, ip, action, sensitive, error)
        if error and error.startswith(DENIAL_PREFIXES):
            stats.denials += 1
            if self._denial_burst(view.agreement_id, session, time):
                found = (found or []) + [self._finding(
                    "denied-burst", "medium", f"{self.denial_burst} denied calls by {player}/{session} within "
                    f"{self.denial_window // 60} minutes (last: {action} {error})",
                    view, event_id, time, session, player, ip, action)]
        if not found:
            return NOTHING
        for item in found:
            stats.findings[item.severity] = stats.findings.get(item.severity, 0) + 1
        self.findings += found
        return found

    def _stats(self, view: AgreementView, time: str, slot: list) -> AgreementActivity:
        stats = self.activity.get(view.agreement_id)
        if stats is None:
            stats = self.activity[view.agreement_id] = AgreementActivity(view.agreement_id, first=time, last=time)
        slot[0] = stats
        return stats

    def _resolve(self, user) -> tuple:
        """(view, session name, session listed, slot) of an assumed-role userName `<role>:<session>`, cached.

        The slot, shared by every session of an agreement, holds its AgreementActivity (once it has
        one) and the answers to "is this IP inside the agreed ranges" for its ranges.
        """
        role, _, session = str(user if user is not None else "").partition(":")
        view = self.by_role.get(role.lower())
        if role.lower() == self.service_role:
            who = SERVICE_ROLE
        elif view is None:
            who = UNMANAGED
        else:
            slot = self._slots.get(view.agreement_id)
            if slot is None:
                slot = self._slots[view.agreement_id] = [None, self._ip_inside.setdefault(view.networks, {})]
            who = (view, session, not view.listed_users or session.lower() in view.listed_users, slot)
        if type(user) is str:
            if len(self._who) >= 100_000:  # session names of unmanaged roles may be unique per run
                self._who.clear()
            self._who[user] = who
        return who

    def attribution(self, identity) -> tuple[AgreementView, str] | None:
        """(view, session name) an event's userIdentity is attributed to, or None."""
        if type(identity) is not dict or identity.get("type") != "assumed-role":
            return None
        user = identity.get("userName")
        who = (self._who.get(user) if type(user) is str else None) or self._resolve(user)
        return None if who is UNMANAGED or who is SERVICE_ROLE else (who[0], who[1])

    def feed_all(self, events: Iterable) -> list[Finding]:
        found: list[Finding] = []
        for event in events:
            found += self.feed(event)
        return found

    def _malformed(self, event) -> Sequence[Finding]:
        self._n_malformed += 1
        if len(self.malformed) < 1000:
            self.malformed.append(event)
        return NOTHING

    def _bucket(self, hour: str) -> set:
        """The set of event ids of `hour` (a new one if needed); only the newest hours are kept."""
        seen = self._seen.get(hour)
        if seen is None:
            seen = self._seen[hour] = set()
            if len(self._seen) > DEDUPE_HOURS + 1:
                # Keep the newest hours *and* the one being filled: input that goes back in time
                # (newest-first pages, a second region) must not evict the set it is adding to.
                for old in sorted(self._seen)[:-(DEDUPE_HOURS + 1)]:
                    if old != hour:
                        del self._seen[old]
        self._hour, self._hour_seen = hour, seen
        return seen

    def _duplicate(self, event_id: str, time: str) -> bool:
        hour = time[:13]
        seen = self._hour_seen if hour == self._hour else self._bucket(hour)
        if event_id in seen:
            self._n_duplicates += 1
            return True
        seen.add(event_id)
        return False

    # -- partner activity ------------------------------------------------------------------------------------
    def _action(self, key: tuple[str, str]) -> tuple[str, bool]:
        service = key[0].lower()
        action = f"{SERVICE_ALIASES.get(service, service)}:{key[1]}"
        cached = self._actions[key] = (action, any(_matches(p, action) for p in self.sensitive_patterns))
        return cached

    def _rules(self, view: AgreementView, event_id: str, time: str, session: str, player: str, ip: str, action: str,
               sensitive: bool, error: str) -> list[Finding]:
        person = f"{player}/{session}"
        outcome = f"denied ({error})" if error else "allowed"
        found = []

        def add(rule: str, severity: str, message: str) -> None:
            found.append(self._finding(rule, severity, message, view, event_id, time, session, player, ip, action))

        if time < view.starts_at:
            add("activity-before-start", "high",
                f"{action} by {person} at {time}, before the agreement starts ({view.starts_at}); {outcome}")
        if time >= view.ends_at:
            rule = "activity-after-revocation" if view.ended_reason == "revoked" else "activity-after-end"
            add(rule, "high", f"{action} by {person} at {time}, after the agreement ended ({view.ends_at}); {outcome}")
        if player and player != view.partner_account:
            add("unknown-principal", "high",
                f"session {session!r} was assumed from account {player}, not the partner {view.partner_account}")
        elif view.listed_users and session.lower() not in view.listed_users:
            add("unlisted-principal", "medium",
                f"session name {session!r} is none of the listed principals {', '.join(view.principals)}")
        if view.networks and ip and not self._inside(view, ip):
            add("source-ip-outside-ranges", "high", f"{action} by {person} from {ip}, outside the agreed ranges")
        if sensitive:
            add("sensitive-action", "medium" if error else "high", f"{action} by {person}: {outcome}")
        return found

    @staticmethod
    def _finding(rule, severity, message, view, event_id, time, session, player, ip, action) -> Finding:
        return Finding(rule, severity, message, event_id, time, view.agreement_id, view.role_name, session,
                       player or None, ip or None, action)

    def _inside(self, view: AgreementView, ip: str) -> bool:
        cache = self._ip_inside.get(view.networks)
        if cache is None:
            cache = self._ip_inside[view.networks] = {}
        inside = cache.get(ip)
        if inside is None:
            try:
                address = ipaddress.ip_address(ip)
                inside = any(address in network for network in view.networks)
            except ValueError:
                inside = False
            if len(cache) >= 100_000:
                cache.clear()
            cache[ip] = inside
        return inside

    def _denial_burst(self, agreement_id: str, session: str, time: str) -> bool:
        """True exactly when a session's denials reach the burst size within the window."""
        window = self._denials.setdefault((agreement_id, session), deque())
        now = _epoch(time)
        window.append(now)
        while window and window[0] <= now - self.denial_window:
            window.popleft()
        if len(window) >= self.denial_burst:
            window.clear()  # one finding per burst
            return True
        return False

    # -- changes to managed roles ----------------------------------------------------------------------------
    def _change_event(self, event: dict, name: str, identity: dict, event_id: str, time: str) -> list[Finding]:
        params = event.get("requestParameters")
        params = params if type(params) is dict else {}
        role, policy = params.get("RoleName"), params.get("PolicyName")
        view = self.by_role.get(str(role).lower()) if role else None
        if view is None and policy:
            view = self.by_policy_prefix.get(str(policy)[:14])
        if view is None:
            self._n_unattributed += 1
            return NOTHING
        self._n_changes += 1
        caller = str(identity.get("userName", "")) or str(identity.get("principalId", "")) or "unknown"
        if identity.get("type") == "assumed-role" and caller.split(":", 1)[0].lower() == self.service_role:
            return NOTHING  # rolepact's own change
        if event.get("errorCode"):
            return NOTHING  # refused by RAM: nothing changed
        finding = Finding("managed-role-changed", "high",
                          f"{name} on {role or policy} by {caller} ({identity.get('type', '?')}): a managed role was "
                          f"changed outside rolepact", event_id, time, view.agreement_id, view.role_name, None,
                          None, event.get("sourceIpAddress"), f"ram:{name}")
        self.findings.append(finding)
        return [finding]

    # -- rolepact's own service role ------------------------------------------------------------------------
    def _service_role_event(self, event: dict, identity: dict, event_id: str, time: str) -> Sequence[Finding]:
        """rolepact's service role may write RAM only on the roles and policies rolepact manages, and never
        attaches a privileged system policy. Anything else was done with its credentials by someone else
        (or by a bug): a high finding, refused by RAM or not."""
        name = event.get("eventName") or ""
        if event.get("serviceName") not in IDENTITY_SERVICES or event.get("eventRW") == "Read":
            if name in CHANGE_EVENTS:  # e.g. a RAM event without serviceName: as before, rolepact's own change
                return self._change_event(event, name, identity, event_id, time)
            self._n_unattributed += 1
            return NOTHING
        params = event.get("requestParameters")
        params = params if type(params) is dict else {}
        outside = [f"{kind} {target}" for kind, target in _targets(params)
                   if not (kind == "role" and target.lower() in self.managed_roles)
                   and not (kind == "policy" and target[:14] in self.managed_prefixes)]
        policy, policy_type = str(params.get("PolicyName") or ""), str(params.get("PolicyType") or "")
        if name == "AttachPolicyToRole" and policy_type.lower() == "system" and policy.lower() in self.privileged:
            outside.append(f"privileged system policy {policy}")
        if not outside and _targets(params):
            return self._change_event(event, name, identity, event_id, time) if name in CHANGE_EVENTS else NOTHING
        error = event.get("errorCode")
        outcome = f"denied ({error})" if error else "allowed"
        caller = str(identity.get("userName", "")) or "rolepact's service role"
        what = ", ".join(outside) or "a target that is not a role or policy rolepact manages"
        finding = Finding("service-role-unmanaged-write", "high",
                          f"{name} by {caller} on {what}: rolepact's service role writes only roles and policies "
                          f"rolepact manages; {outcome}. Someone may be using its credentials",
                          event_id, time, None, None, None, None, event.get("sourceIpAddress"), f"ram:{name}")
        self._n_changes += 1
        self.findings.append(finding)
        return [finding]


def _targets(params: dict) -> list[tuple[str, str]]:
    """(kind, name) of what a RAM write names: a role, a policy, a user, a group, tagged resources."""
    found = [(kind, str(params[key])) for key, kind in (("RoleName", "role"), ("PolicyName", "policy"),
                                                         ("UserName", "user"), ("GroupName", "group"))
             if params.get(key)]
    if params.get("PolicyType") and str(params.get("PolicyType")).lower() == "system" and params.get("RoleName"):
        found = [t for t in found if t[0] != "policy"]  # attaching a system policy: the role is the target
    names = params.get("ResourceNames")
    if isinstance(names, str):
        try:
            names = json.loads(names)
        except ValueError:
            names = [names]
    kind = str(params.get("ResourceType") or "").lower()
    if kind in ("role", "policy") and isinstance(names, list):
        found += [(kind, str(n)) for n in names]
    return found
