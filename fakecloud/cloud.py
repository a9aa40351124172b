"""The fake cloud: accounts, keys, services, and the cross-cutting rules every call obeys.

One `FakeCloud` holds all state. It is thread-safe: services mutate state under `lock`,
while per-call latency (to model real round trips) is spent outside it, so concurrent
callers overlap like they would against the real API.
"""
from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from fakecloud import clock, ids
from fakecloud.auth.pop import NonceCache
from fakecloud.errors import ServiceError
from fakecloud.faults import CallLog, Faults
from fakecloud.iam.identity import Caller
from fakecloud.iam.keys import AccessKey, Credentials, KeyStore
from fakecloud.iam.policy import Decision, RequestContext, evaluate
from fakecloud.limits import Limits
from fakecloud.router import resolve
from fakecloud.trail import Trail
from fakecloud.wire import Request, Response

# service key -> "module:Class" of its wire layer; backends are created by the services.
SERVICE_CLASSES = {
    "ram": "fakecloud.services.ram.responses:RamService",
    "sts": "fakecloud.services.sts.responses:StsService",
    "ecs": "fakecloud.services.ecs.responses:EcsService",
    "actiontrail": "fakecloud.services.actiontrail.responses:ActionTrailService",
    "oss": "fakecloud.services.oss.responses:OssService",
    "fc": "fakecloud.services.fc.responses:FcService",
    "dingtalk": "fakecloud.services.dingtalk.responses:DingTalkService",
    "admin": "fakecloud.admin:AdminService",
}


@dataclass(frozen=True)
class Authorization:
    caller_arn: str
    action: str
    resource: str
    decision: str  # Allow | ImplicitDeny | ExplicitDeny


@dataclass
class Account:
    account_id: str
    alias: str | None
    root_key: AccessKey


class FakeCloud:
    def __init__(self, *, default_region: str = "cn-hangzhou", latency: float = 0.0,
                 limits: Limits | None = None, record_assume_role_in_owner_account: bool = False,
                 default_source_ip: str = "198.51.100.10", negated_missing_key: bool = False,
                 vpc_source_ip: str = "omit") -> None:
        """`negated_missing_key`: the fake's guess of what a plain negated condition operator
        (NotIpAddress, StringNotEquals, ...) gives for a key the request does not carry
        (undocumented; False = the condition is false). `vpc_source_ip`: what acs:SourceIp a call
        through a VPC endpoint carries (undocumented): "omit" (default; the KMS condition-key page
        says acs:SourceIp holds public addresses only) or "private" (the caller's private address,
        as OSS bucket policies see it)."""
        if vpc_source_ip not in ("omit", "private"):
            raise ValueError("vpc_source_ip must be 'omit' or 'private'")
        self.negated_missing_key = negated_missing_key
        self.vpc_source_ip = vpc_source_ip
        self.default_region = default_region
        self.latency = latency
        self.limits = limits or Limits()
        self.record_assume_role_in_owner_account = record_assume_role_in_owner_account
        self.default_source_ip = default_source_ip
        self.lock = threading.RLock()
        self.keys = KeyStore()
        self.nonces = NonceCache()
        self.trail = Trail()
        self.faults = Faults()
        self.calls = CallLog()
        self.policy_stream: list[Authorization] | None = None  # see record_authorizations()
        self.accounts: dict[str, Account] = {}
        self._callers: dict[tuple, tuple[Caller, object]] = {}  # see resolve_caller
        self.services = {}
        for key, target in SERVICE_CLASSES.items():
            module_name, _, class_name = target.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as missing:
                if module_name == missing.name or module_name.startswith(f"{missing.name}."):
                    continue  # service not built yet
                raise
            self.services[key] = getattr(module, class_name)(self)

    # -- time ---------------------------------------------------------------------------------
    clock_offset = timedelta(0)  # the fake's clock ahead (+) or behind (-) the process clock: clock-skew tests

    def now(self) -> datetime:
        return clock.now() + self.clock_offset

    # -- accounts and identities ---------------------------------------------------------------
    def add_account(self, account_id: str, alias: str | None = None, *, access_key_id: str | None = None,
                    access_key_secret: str | None = None) -> Credentials:
        """Create an account and return its root credentials (like a fresh Alibaba Cloud account).

        Fixed credentials can be given so that tools outside the process (server mode) can be
        configured before the fake starts.
        """
        if not (account_id.isdigit() and 8 <= len(account_id) <= 20):
            raise ValueError(f"account id must be digits, got {account_id!r}")
        with self.lock:
            if account_id in self.accounts:
                raise ValueError(f"account {account_id} already exists")
            if access_key_id:
                if self.keys.get(access_key_id):
                    raise ValueError(f"access key {access_key_id} already exists")
                key = self.keys.add(AccessKey(access_key_id, access_key_secret or ids.access_key_secret(),
                                              account_id, "root", None, self.now()))
            else:
                key = self.keys.new_permanent(account_id, "root", None, self.now())
            self.accounts[account_id] = Account(account_id, alias, key)
            for service in self.services.values():
                on_account = getattr(service, "on_account_added", None)
                if on_account:
                    on_account(account_id, alias)
        return Credentials(key.access_key_id, key.secret, None, account_id)

    def account_id_by_alias(self, alias: str) -> str | None:
        for account in self.accounts.values():
            if account.alias == alias:
                return account.account_id
        return None

    def set_caller_context(self, access_key_id: str, *, source_ip: str | None = None, vpc_id: str | None = None,
                           mfa: bool | None = None) -> None:
        """Say where calls with this key come from: `source_ip` (acs:SourceIp), or through a VPC
        endpoint of `vpc_id` (acs:SourceVpc; see `vpc_source_ip`); "" goes back to public.

        MFA cannot be set here: acs:MFAPresent is true only after an MFA console logon, never for
        AccessKey calls (RAM docs) -- model the console with `console_logon` / `console_switch_role`.
        """
        if mfa:
            raise ValueError("AccessKey calls never carry MFA (acs:MFAPresent is true only after an MFA console "
                             "logon); use cloud.console_logon(account_id, user_name, mfa=True)")
        self.keys.set_context(access_key_id, source_ip=source_ip, vpc_id=vpc_id)

    # -- the console ------------------------------------------------------------------------------------
    def console_logon(self, account_id: str, user_name: str, *, mfa: bool, source_ip: str | None = None) -> Credentials:
        """A RAM user signs in to the console (with MFA or not): credentials for what that console
        session does. Only such sessions -- and roles switched into from them -- carry
        acs:MFAPresent = true."""
        with self.lock:
            if self.services["ram"].backend.find_user(account_id, user_name) is None:
                raise ValueError(f"no RAM user {user_name!r} in account {account_id}")
            key = self.keys.add(AccessKey(ids.sts_access_key_id(), ids.access_key_secret(), account_id, "ram-user",
                                          user_name, self.now(), console=True, console_mfa=mfa))
        if source_ip:
            self.keys.set_context(key.access_key_id, source_ip=source_ip)
        return Credentials(key.access_key_id, key.secret, None, account_id)

    def console_switch_role(self, console: Credentials, role_arn: str, session_name: str | None = None) -> Credentials:
        """The console's Switch Role: AssumeRole as the signed-in user, with no ExternalId (the console
        has no such field) and the logon's MFA; raises ServiceError as STS would refuse."""
        from fakecloud.services.sts.models import AssumeRoleRequest

        key = self.keys.get(console.access_key_id)
        if key is None or not key.console:
            raise ValueError("console_switch_role needs credentials from console_logon")
        context = self.keys.context_of(key)
        caller, _ = self._build_caller(key, context, context.source_ip or self.default_source_ip, True, "console")

        def authorize(arn: str) -> None:
            from fakecloud.iam.policy import Decision

            if self.decide(caller, "sts:AssumeRole", arn, resource_account=caller.account_id) != Decision.ALLOW:
                raise ServiceError("NoPermission", "You are not authorized to do this action. You should be "
                                                   "authorized by RAM.", 403)

        request = AssumeRoleRequest(role_arn, session_name or caller.user_name, None, None, None)
        with self.lock:
            session_key = self.services["sts"].backend.assume_role(caller, request, authorize)
        return Credentials(session_key.access_key_id, session_key.secret, session_key.security_token,
                           session_key.account_id)

    def resolve_caller(self, key: AccessKey, request: Request) -> Caller:
        """The identity behind an authenticated key.

        Callers are immutable and every call of a client looks the same, so the Caller built for
        (key, source IP, transport, user agent, MFA) is reused; a RAM user's Caller only while
        that very user still exists (deleted or re-created users are looked up afresh).
        """
        context = self.keys.context_of(key)
        source_ip = context.source_ip or request.peer_ip or self.default_source_ip
        user_agent = request.headers.get("user-agent", "")
        cache_key = (key.access_key_id, source_ip, request.secure, user_agent, context.vpc_id)
        cached = self._callers.get(cache_key)
        if cached is not None:
            caller, user = cached
            if user is None or self.services["ram"].backend.find_user(key.account_id, key.user_name or "") is user:
                return caller
        caller, user = self._build_caller(key, context, source_ip, request.secure, user_agent)
        if len(self._callers) >= 10_000:
            self._callers.clear()
        self._callers[cache_key] = (caller, user)
        return caller

    def _build_caller(self, key: AccessKey, context, source_ip: str, secure: bool, user_agent: str):
        common = dict(access_key_id=key.access_key_id, source_ip=source_ip, secure_transport=secure,
                      key=key, user_agent=user_agent, vpc_id=context.vpc_id)
        account = key.account_id
        if key.kind == "root":
            return Caller("root-account", account, arn=f"acs:ram::{account}:root", principal_id=account,
                          user_name="root", mfa=False, **common), None
        ram = self.services["ram"].backend
        if key.kind == "ram-user":
            user = ram.find_user(account, key.user_name or "")
            if user is None:
                raise ServiceError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
            return Caller("ram-user", account, arn=f"acs:ram::{account}:user/{user.name}", principal_id=user.user_id,
                          user_name=user.name, user_id=user.user_id, mfa=key.console and key.console_mfa,
                          **common), user
        session = key.session
        mfa = session.mfa
        return Caller("assumed-role", session.role_account_id,
                      arn=f"acs:ram::{session.role_account_id}:assumed-role/{session.role_name}/{session.session_name}",
                      principal_id=f"{session.role_id}:{session.session_name}",
                      user_name=f"{session.role_name}:{session.session_name}", session=session, mfa=bool(mfa),
                      **common), None

    # -- authorization ---------------------------------------------------------------------------
    def condition_values(self, caller: Caller, extra: dict | None = None) -> dict:
        values = {
            "acs:CurrentTime": clock.iso(self.now()),
            "acs:SourceIp": caller.source_ip,
            "acs:SecureTransport": caller.secure_transport,
            "acs:MFAPresent": caller.mfa,
            "acs:AccessId": caller.access_key_id,
            "acs:PrincipalARN": caller.arn,
        }
        if caller.vpc_id:
            values["acs:SourceVpc"] = caller.vpc_id
            if self.vpc_source_ip == "omit":
                del values["acs:SourceIp"]
        if extra:
            values.update(extra)
        return values

    def decide(self, caller: Caller, action: str, resource: str, *, resource_account: str,
               conditions: dict | None = None):
        """RAM's decision for `caller` doing `action` on `resource` owned by `resource_account`.

        Root may do anything in its own account; a RAM user gets what its attached policies
        allow; a role session gets the role's *current* policies intersected with its session
        policy. Nothing crosses accounts except through AssumeRole.
        """
        decision = self._decide(caller, action, resource, resource_account, conditions)
        if self.policy_stream is not None:
            self.policy_stream.append(Authorization(caller.arn, action, resource, decision.value))
        return decision

    def record_authorizations(self) -> list["Authorization"]:
        """Start keeping every authorization decision (a policy stream, like LocalStack's):
        what a least-privilege policy must allow is exactly what the code was authorized for."""
        if self.policy_stream is None:
            self.policy_stream = []
        return self.policy_stream

    def _decide(self, caller: Caller, action: str, resource: str, resource_account: str, conditions: dict | None):
        if resource_account != caller.account_id:
            return Decision.IMPLICIT_DENY
        if caller.is_root:
            return Decision.ALLOW
        return self.identity_decision(caller, action, resource, conditions)

    def identity_decision(self, caller: Caller, action: str, resource: str, conditions: dict | None = None):
        """What the caller's own RAM policies (and session policy) say, whoever owns the resource.

        Resource-based policies (OSS bucket policies) combine this with their own answer: an
        explicit Deny here wins even where the bucket policy allows. Root: ImplicitDeny here
        (root needs no policy in its own account, see `decide`).
        """
        if caller.is_root:
            return Decision.IMPLICIT_DENY
        ram = self.services["ram"].backend
        ctx = RequestContext(action, resource, self.condition_values(caller, conditions),
                             negated_missing=self.negated_missing_key)
        if caller.kind == "ram-user":
            return evaluate(ram.policies_of_user(caller.account_id, caller.user_name), ctx)
        session = caller.session
        decision = evaluate(ram.policies_of_role(session.role_account_id, session.role_name, session.role_id), ctx)
        if session.session_policy is None or decision == Decision.EXPLICIT_DENY:
            return decision
        session_decision = evaluate([session.session_policy], ctx)
        if Decision.EXPLICIT_DENY in (decision, session_decision):
            return Decision.EXPLICIT_DENY
        if decision == session_decision == Decision.ALLOW:
            return Decision.ALLOW
        return Decision.IMPLICIT_DENY

    def session_policy_decision(self, caller: Caller, action: str, resource: str, conditions: dict | None = None):
        """The AssumeRole session policy's own answer, or None when the session has none."""
        if caller.session is None or caller.session.session_policy is None:
            return None
        ctx = RequestContext(action, resource, self.condition_values(caller, conditions),
                             negated_missing=self.negated_missing_key)
        return evaluate([caller.session.session_policy], ctx)

    # -- dispatch ----------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        route = resolve(request, self.default_region)
        service = self.services.get(route.service)
        if service is None:
            from fakecloud.errors import UnservedEndpoint

            raise UnservedEndpoint(f"fakecloud has no {route.service} service")
        if self.latency and route.service != "admin":
            time.sleep(self.latency)
        arrived = self.faults.garbled(route.service, request.method, request.body, request=True)
        if arrived is not request.body:
            request = replace(request, body=arrived)
        response = service.handle(request, route)
        delivered = self.faults.garbled(route.service, request.method, response.body, request=False)
        if delivered is not response.body:
            response = replace(response, body=delivered)
        return response

    def run_call(self, service: str, action: str, apply, resource: str = ""):
        """Run one handler with fault injection; returns (result, error, crash). `resource`: what the call
        is on, for faults limited to some resources (OSS: `bucket/key`)."""
        rule = self.faults.check(service, action, resource)
        if rule is not None and rule.answers:
            return self.faults.next_answer(rule), None, False
        if rule is not None and not rule.after:
            return None, rule.error(), False
        try:
            with self.lock:
                result = apply()
        except ServiceError as error:
            return None, error, False
        if rule is not None:
            return (result, None, True) if rule.crash else (None, rule.error(), False)
        return result, None, False

    # -- conveniences for tests --------------------------------------------------------------------
    def service(self, name: str):
        return self.services[name]

    def backend(self, name: str):
        return self.services[name].backend

    @property
    def ram(self):
        return self.backend("ram")

    def add_dingtalk_robot(self, secret: str | None = None, keyword: str | list[str] | None = None, *,
                           name: str | None = None, account_id: str | None = None) -> str:
        """Create a DingTalk custom robot; returns its webhook URL (`…/robot/send?access_token=<64 hex>`).

        With `secret` the robot requires signed URLs; with `keyword` (one or a list) messages must
        contain one; with `account_id` its sends show up in that account's ActionTrail.
        Accepted messages: `cloud.backend("dingtalk").messages(url)`.
        """
        return self.backend("dingtalk").add_robot(secret, keyword, name=name, account_id=account_id)

    def new_request_id(self) -> str:
        return ids.request_id()
