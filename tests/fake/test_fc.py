"""Function Compute in the fake, reached through the real fc2 SDK.

Covers sync/async invocation, the handler context and its working role credentials, async
retries and on-failure destinations, FakeCrash, the FC signature, STS tokens, RAM
authorization, not-found errors, Get/List shapes, ActionTrail, call counting and faults,
OSS triggers and background workers.
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta

import fc2
import pytest
import requests
import time_machine
from fc2.auth import Auth

from fakecloud import FakeCrash
from fakecloud.services.fc import models as fc_models
from fc_support import (ACCOUNT, OTHER, REGION, cloud_fixture, fc_client, fc_error, policy, ram_client,  # noqa: F401
                        ram_models, ram_user, raw_fc, service_role, sts_client, sts_models)

INVOKE = "/2016-08-15/services/svc/functions/{}/invocations"


@pytest.fixture
def root(cloud):
    return cloud.add_account(ACCOUNT)


@pytest.fixture
def fc(cloud):
    return cloud.backend("fc")


def echo(event, context):
    return {"event": json.loads(event), "request_id": context.request_id}


class Flaky:
    """Fails the first `failures` calls, then returns "ok"; remembers what it saw."""

    def __init__(self, failures: int, error: BaseException | None = None) -> None:
        self.failures = failures
        self.error = error
        self.calls: list[bytes] = []

    def __call__(self, event, context):
        self.calls.append(event)
        if len(self.calls) <= self.failures:
            raise self.error or RuntimeError(f"boom {len(self.calls)}")
        return "ok"


# ------------------------------------------------------------------------------------ invoke
def test_sync_invoke_returns_the_handler_result(root, fc):
    seen = []
    fc.register_function(ACCOUNT, "svc", "echo", lambda e, c: seen.append(e) or echo(e, c))
    fc.register_function(ACCOUNT, "svc", "text", lambda e, c: "plain text")
    fc.register_function(ACCOUNT, "svc", "raw", lambda e, c: b"\x00\x01")
    client = fc_client(root)

    response = client.invoke_function("svc", "echo", payload=b'{"k": "v"}')

    assert seen == [b'{"k": "v"}'] and isinstance(seen[0], bytes)
    body = json.loads(response.data)
    assert body == {"event": {"k": "v"}, "request_id": response.headers["X-Fc-Request-Id"]}
    assert client.invoke_function("svc", "text").data == b"plain text"
    assert client.invoke_function("svc", "raw").data == b"\x00\x01"
    assert [r.invocation_type for r in fc.invocations] == ["Sync"] * 3


def test_async_invoke_answers_202_and_runs_only_when_delivered(root, fc):
    handler = Flaky(0)
    fc.register_function(ACCOUNT, "svc", "work", handler)

    raw = raw_fc(root, "POST", INVOKE.format("work"), body=b'{"n": 1}', headers={"x-fc-invocation-type": "Async"})
    response = fc_client(root).invoke_function("svc", "work", payload=b'{"n": 2}',
                                                headers={"x-fc-invocation-type": "Async"})

    assert raw.status_code == 202 and raw.content == b""
    assert response.data == b"" and response.headers["X-Fc-Request-Id"]
    assert handler.calls == [] and fc.pending == 2
    assert fc.run_pending() == 2
    assert handler.calls == [b'{"n": 1}', b'{"n": 2}']
    assert [r.request_id for r in fc.invocations] == [raw.headers["X-Fc-Request-Id"],
                                                       response.headers["X-Fc-Request-Id"]]


def test_sync_handler_error_is_an_unhandled_invocation_error(root, fc):
    fc.register_function(ACCOUNT, "svc", "bad", Flaky(1, ValueError("no good")))
    raw = raw_fc(root, "POST", INVOKE.format("bad"))
    assert raw.status_code == 200
    assert raw.headers["X-Fc-Error-Type"] == "UnhandledInvocationError"
    assert raw.json()["errorMessage"] == "no good" and raw.json()["errorType"] == "ValueError"

    fc.register_function(ACCOUNT, "svc", "bad", Flaky(1, ValueError("again")))
    error = fc_error(lambda: fc_client(root).invoke_function("svc", "bad"))
    assert error.status_code == 200 and "again" in error.message
    assert fc.pending == 0  # sync invocations are never retried


def test_handler_timeout_discards_the_result(root, fc, monkeypatch):
    ticks = iter([0.0, 5.0])
    monkeypatch.setattr(fc_models, "elapsed_clock", lambda: next(ticks))
    fc.register_function(ACCOUNT, "svc", "slow", lambda e, c: "late", timeout=3)
    raw = raw_fc(root, "POST", INVOKE.format("slow"))
    assert raw.headers["X-Fc-Error-Type"] == "UnhandledInvocationError"
    assert raw.json()["errorMessage"] == "Function timed out after 3 seconds"


# ------------------------------------------------------------------------------------ context
def test_context_has_the_fc2_python_shape(root, fc):
    seen = {}

    def handler(event, context):
        seen["context"] = context
        seen["logger"] = context.getLogger()
        return ""

    fc.register_function(ACCOUNT, "svc", "ctx", handler, handler_name="main.handler", memory=256, timeout=30)
    response = fc_client(root).invoke_function("svc", "ctx")

    ctx = seen["context"]
    assert ctx.request_id == response.headers["X-Fc-Request-Id"]
    assert (ctx.function.name, ctx.function.handler, ctx.function.memory, ctx.function.timeout) == \
        ("ctx", "main.handler", 256, 30)
    assert (ctx.service.name, ctx.service.qualifier, ctx.service.log_project, ctx.service.log_store) == \
        ("svc", "LATEST", "", "")
    assert (ctx.region, ctx.account_id) == (REGION, ACCOUNT)
    assert ctx.credentials is None  # no service role
    assert isinstance(seen["logger"], logging.Logger)


def test_log_lines_carry_the_request_id(root, fc, caplog):
    fc.register_function(ACCOUNT, "svc", "log", lambda e, c: c.getLogger().info("hello from %s", c.function.name))
    with caplog.at_level(logging.INFO):
        response = fc_client(root).invoke_function("svc", "log")
    record = next(r for r in caplog.records if r.getMessage() == "hello from log")
    assert record.fc_request_id == response.headers["X-Fc-Request-Id"]


def test_context_credentials_are_a_working_session_of_the_service_role(cloud, root, fc):
    arn = service_role(root, "fc-role")
    identities = []

    def handler(event, context):
        sts = sts_client(context.credentials)
        identities.append(sts.get_caller_identity().body)
        return "done"

    fc.register_function(ACCOUNT, "svc", "who", handler, service_role="fc-role")
    fc_client(root).invoke_function("svc", "who")
    fc_client(root).invoke_function("svc", "who")

    identity = identities[0]
    assert identity.identity_type == "AssumedRoleUser"
    assert identity.arn == f"acs:ram::{ACCOUNT}:assumed-role/fc-role/fc-svc"
    assert identity.account_id == ACCOUNT
    assert fc.get_function(ACCOUNT, "svc", "who").service_role == arn
    # Credentials are cached like FC's, not re-issued per invocation.
    assert identities[1].principal_id == identity.principal_id
    event = [e for e in cloud.trail.events(ACCOUNT) if e["eventName"] == "GetCallerIdentity"][-1]
    assert event["userIdentity"]["type"] == "assumed-role"
    assert event["requestParameters"]["stsTokenPrincipalName"] == "fc-role/fc-svc"


def test_role_credentials_are_limited_by_the_roles_policies(root, fc):
    service_role(root, "fc-role", policies=(policy({"Effect": "Allow", "Action": "ram:GetRole",
                                                    "Resource": "*"}),))
    results = {}

    def handler(event, context):
        ram = ram_client(context.credentials)
        results["get"] = ram.get_role(ram_models.GetRoleRequest(role_name="fc-role")).body.role.role_name
        try:
            ram.delete_role(ram_models.DeleteRoleRequest(role_name="fc-role"))
        except Exception as error:  # noqa: BLE001 - the SDK's exception type
            results["delete"] = error.code
        return ""

    fc.register_function(ACCOUNT, "svc", "ram", handler, service_role="fc-role")
    fc_client(root).invoke_function("svc", "ram")
    assert results == {"get": "fc-role", "delete": "NoPermission"}


def test_role_that_does_not_trust_fc_fails_the_invocation(root, fc):
    service_role(root, "ecs-role", service="ecs.aliyuncs.com")
    fc.register_function(ACCOUNT, "svc", "f", lambda e, c: "never", service_role="ecs-role")
    raw = raw_fc(root, "POST", INVOKE.format("f"))
    assert raw.headers["X-Fc-Error-Type"] == "UnhandledInvocationError"
    assert "NoPermission" in raw.json()["errorMessage"]
    assert fc.invocations[-1].error_type == "AssumeRoleError"


def test_register_function_validates_its_arguments(cloud, fc):
    cloud.add_account(ACCOUNT)
    with pytest.raises(ValueError):
        fc.register_function(ACCOUNT, "bad name", "f", echo)
    with pytest.raises(ValueError):
        fc.register_function(ACCOUNT, "svc", "f", echo, max_async_retry=9)
    with pytest.raises(ValueError):
        fc.register_function(ACCOUNT, "svc", "f", echo, service_role=f"acs:ram::{OTHER}:role/x")
    with pytest.raises(ValueError):
        fc.register_function(ACCOUNT, "svc", "f", echo, on_failure="not-a-destination")
    with pytest.raises(TypeError):
        fc.register_function(ACCOUNT, "svc", "f", "not callable")


# ------------------------------------------------------------------------------------ async retries
def test_async_retries_until_the_handler_succeeds(root, fc):
    handler = Flaky(2)
    fc.register_function(ACCOUNT, "svc", "flaky", handler)
    request_id = fc.invoke_async(ACCOUNT, "svc", "flaky", b"{}")

    assert fc.run_pending() == 3
    attempts = [(r.request_id, r.attempt, r.ok) for r in fc.invocations]
    assert attempts == [(request_id, 1, False), (request_id, 2, False), (request_id, 3, True)]
    assert fc.invocations[0].error == "boom 1" and fc.invocations[0].error_type == "RuntimeError"
    assert fc.failed_invocations == []


def test_exhausted_retries_go_to_the_on_failure_destination(root, fc):
    received = []
    fc.register_function(ACCOUNT, "svc", "dlq", lambda e, c: received.append(json.loads(e)))
    fc.register_function(ACCOUNT, "svc", "doomed", Flaky(99, KeyError("missing")), on_failure="svc/dlq")

    request_id = fc_client(root).invoke_function("svc", "doomed", payload=b'{"job": 7}', headers={
        "x-fc-invocation-type": "Async"}).headers["X-Fc-Request-Id"]
    fc.run_pending()

    doomed = [r for r in fc.invocations if r.function == "doomed"]
    assert [r.attempt for r in doomed] == [1, 2, 3, 4] and not any(r.ok for r in doomed)
    [payload] = received
    assert payload["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"acs:fc:{REGION}:{ACCOUNT}:services/svc.LATEST/functions/doomed",
        "condition": "UnhandledInvocationError", "approximateInvokeCount": 4}
    assert payload["requestPayload"] == '{"job": 7}'
    assert payload["responseContext"] == {"statusCode": 200, "functionError": "UnhandledInvocationError"}
    assert "missing" in payload["responsePayload"] and isinstance(payload["timestamp"], int)
    assert [r.source for r in fc.invocations if r.function == "dlq"] == ["destination"]
    assert fc.failed_invocations == []


def test_destination_as_arn_and_failures_without_destination(root, fc):
    received = []
    fc.register_function(ACCOUNT, "other", "dlq", lambda e, c: received.append(e))
    fc.register_function(ACCOUNT, "svc", "a", Flaky(99),
                         on_failure=f"acs:fc:{REGION}:{ACCOUNT}:services/other.LATEST/functions/dlq")
    fc.register_function(ACCOUNT, "svc", "b", Flaky(99), max_async_retry=1)
    fc.invoke_async(ACCOUNT, "svc", "a", b"1")
    request_b = fc.invoke_async(ACCOUNT, "svc", "b", b"2")
    fc.run_pending()

    assert len(received) == 1
    [failed] = fc.failed_invocations
    assert (failed.function, failed.request_id, failed.attempts, failed.payload) == ("b", request_b, 2, b"2")
    assert "boom 2" in failed.error


def test_fake_crash_in_a_handler_is_a_failed_attempt(root, fc):
    handler = Flaky(1, FakeCrash("instance died"))
    fc.register_function(ACCOUNT, "svc", "crashy", handler)
    fc.invoke_async(ACCOUNT, "svc", "crashy", b"{}")
    fc.run_pending()
    assert [(r.attempt, r.ok, r.error_type) for r in fc.invocations] == [(1, False, "FakeCrash"), (2, True, None)]


def test_crash_after_a_cloud_call_leaves_the_change_and_retries(cloud, root, fc):
    """The instance dies right after RAM applied UpdateRole: the retry must cope with it."""
    service_role(root, "fc-role", policies=(policy({"Effect": "Allow", "Action": "ram:*", "Resource": "*"}),))
    descriptions = []

    def handler(event, context):
        ram = ram_client(context.credentials)
        descriptions.append(ram.get_role(ram_models.GetRoleRequest(role_name="fc-role")).body.role.description)
        ram.update_role(ram_models.UpdateRoleRequest(role_name="fc-role", new_description="touched"))
        return "ok"

    fc.register_function(ACCOUNT, "svc", "touch", handler, service_role="fc-role")
    cloud.faults.crash_after("UpdateRole", service="ram")
    fc.invoke_async(ACCOUNT, "svc", "touch", b"{}")
    fc.run_pending()

    assert [(r.attempt, r.ok, r.error_type) for r in fc.invocations] == [(1, False, "FakeCrash"), (2, True, None)]
    assert descriptions == ["", "touched"]


def test_handlers_can_invoke_other_functions_async(root, fc):
    service_role(root, "fc-role", policies=(policy({"Effect": "Allow", "Action": "fc:InvokeFunction",
                                                    "Resource": f"acs:fc:*:{ACCOUNT}:services/svc/functions/*"}),))
    done = []

    def fan_out(event, context):
        client = fc_client(context.credentials, context.account_id, context.region)
        for n in range(3):
            client.invoke_function("svc", "leaf", payload=str(n).encode(), headers={"x-fc-invocation-type": "Async"})
        return "queued"

    fc.register_function(ACCOUNT, "svc", "fan", fan_out, service_role="fc-role")
    fc.register_function(ACCOUNT, "svc", "leaf", lambda e, c: done.append(int(e)))
    fc.invoke_async(ACCOUNT, "svc", "fan", b"")

    assert fc.run_pending(max_rounds=1) == 1 and fc.pending == 3
    assert fc.run_pending() == 3
    assert sorted(done) == [0, 1, 2]


def test_run_pending_stops_an_endless_invocation_loop(root, fc, monkeypatch):
    monkeypatch.setattr(fc_models, "RUN_PENDING_GUARD", 5)
    fc.register_function(ACCOUNT, "svc", "loop", lambda e, c: fc.invoke_async(ACCOUNT, "svc", "loop", e))
    fc.invoke_async(ACCOUNT, "svc", "loop", b"")
    with pytest.raises(RuntimeError, match="invocation loop"):
        fc.run_pending()


def test_background_workers_deliver_and_retry(root, fc):
    handler = Flaky(1)
    fc.register_function(ACCOUNT, "svc", "bg", handler)
    fc.start_workers(2, retry_delay=0.0, timer_interval=None)
    try:
        fc.invoke_async(ACCOUNT, "svc", "bg", b"x")
        assert fc.wait_idle(5)
    finally:
        fc.stop_workers()
    assert [(r.attempt, r.ok) for r in fc.invocations] == [(1, False), (2, True)]


# ------------------------------------------------------------------------------------ signature and keys
def test_wrong_secret_and_unknown_key_are_refused(root, fc):
    fc.register_function(ACCOUNT, "svc", "f", echo)
    bad = fc2.Client(endpoint=f"https://{ACCOUNT}.{REGION}.fc.aliyuncs.com", accessKeyID=root.access_key_id,
                     accessKeySecret="x" * 30)
    error = fc_error(lambda: bad.get_function("svc", "f"))
    assert (error.status_code, error.err_code) == (403, "SignatureNotMatch")

    ghost = fc2.Client(endpoint=f"https://{ACCOUNT}.{REGION}.fc.aliyuncs.com", accessKeyID="LTAI5tNoSuchKey000000000",
                       accessKeySecret="x" * 30)
    error = fc_error(lambda: ghost.invoke_function("svc", "f"))
    assert (error.status_code, error.err_code) == (403, "InvalidAccessKeyID")
    assert fc.invocations == []


def test_tampered_path_header_or_stale_date_is_refused(root, fc):
    ran = Flaky(0)
    fc.register_function(ACCOUNT, "svc", "f", ran)
    fc.register_function(ACCOUNT, "svc", "g", ran)

    tampered = raw_fc(root, "POST", INVOKE.format("g"), sign_path=INVOKE.format("f"))
    assert (tampered.status_code, tampered.json()["ErrorCode"]) == (403, "SignatureNotMatch")

    # A signed x-fc-* header changed after signing (Sync -> Async).
    signed_sync = raw_fc(root, "POST", INVOKE.format("f"), headers={"x-fc-invocation-type": "Sync"})
    assert signed_sync.status_code == 200
    headers = {"date": signed_sync.request.headers["date"], "content-type": "application/json",
               "x-fc-invocation-type": "Sync"}
    headers["authorization"] = Auth(root.access_key_id, root.access_key_secret).sign_request(
        "POST", INVOKE.format("f"), headers)
    headers["x-fc-invocation-type"] = "Async"
    swapped = requests.post(f"https://{ACCOUNT}.{REGION}.fc.aliyuncs.com" + INVOKE.format("f"), headers=headers)
    assert swapped.status_code == 403

    stale = raw_fc(root, "GET", "/2016-08-15/services/svc", date="Mon, 01 Jan 2024 00:00:00 GMT")
    assert (stale.status_code, stale.json()["ErrorCode"]) == (400, "InvalidArgument")
    assert len(ran.calls) == 1


def test_missing_authorization_and_unserved_paths(root):
    response = requests.get(f"https://{ACCOUNT}.{REGION}.fc.aliyuncs.com/2016-08-15/services/svc")
    assert (response.status_code, response.json()["ErrorCode"]) == (400, "MissingRequiredHeader")
    assert response.headers["X-Fc-Request-Id"]
    unserved = raw_fc(root, "POST", "/2016-08-15/services")
    assert (unserved.status_code, unserved.json()["ErrorCode"]) == (400, "PathNotSupported")


def test_sts_credentials_through_x_fc_security_token(cloud, root, fc):
    fc.register_function(ACCOUNT, "svc", "f", lambda e, c: "ran")
    ram = ram_client(root)
    trust = policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": [f"acs:ram::{ACCOUNT}:root"]}})
    ram.create_role(ram_models.CreateRoleRequest(role_name="invoker", assume_role_policy_document=trust))
    ram.create_policy(ram_models.CreatePolicyRequest(policy_name="invoke", policy_document=policy(
        {"Effect": "Allow", "Action": "fc:InvokeFunction", "Resource": "*"})))
    ram.attach_policy_to_role(ram_models.AttachPolicyToRoleRequest(policy_type="Custom", policy_name="invoke",
                                                                    role_name="invoker"))
    alice = ram_user(root, "alice", policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
    assumed = sts_client(alice).assume_role(sts_models.AssumeRoleRequest(
        role_arn=f"acs:ram::{ACCOUNT}:role/invoker", role_session_name="s1")).body.credentials

    class Creds:
        access_key_id, access_key_secret, security_token = (assumed.access_key_id, assumed.access_key_secret,
                                                            assumed.security_token)

    assert fc_client(Creds).invoke_function("svc", "f").data == b"ran"

    class NoToken(Creds):
        security_token = None

    assert fc_error(lambda: fc_client(NoToken).invoke_function("svc", "f")).err_code == "MissingSecurityToken"

    class WrongToken(Creds):
        security_token = "CAISwrong"

    assert fc_error(lambda: fc_client(WrongToken).invoke_function("svc", "f")).err_code == \
        "InvalidSecurityToken.MismatchWithAccessKey"

    with time_machine.travel(cloud.now() + timedelta(hours=2)):
        assert fc_error(lambda: fc_client(Creds).invoke_function("svc", "f")).err_code == \
            "InvalidSecurityToken.Expired"
    # GetFunction is not granted to the role.
    assert fc_error(lambda: fc_client(Creds).get_function("svc", "f")).err_code == "AccessDenied"


# ------------------------------------------------------------------------------------ authorization
def test_ram_users_need_fc_permissions_per_function(root, fc):
    fc.register_function(ACCOUNT, "svc", "allowed", echo)
    fc.register_function(ACCOUNT, "svc", "secret", echo)
    bob = ram_user(root, "bob", policy({"Effect": "Allow", "Action": ["fc:InvokeFunction", "fc:GetFunction"],
                                        "Resource": f"acs:fc:{REGION}:{ACCOUNT}:services/svc/functions/allowed"}))
    client = fc_client(bob)

    assert json.loads(client.invoke_function("svc", "allowed", payload=b"1").data)["event"] == 1
    assert client.get_function("svc", "allowed").data["functionName"] == "allowed"
    error = fc_error(lambda: client.invoke_function("svc", "secret"))
    assert (error.status_code, error.err_code) == (403, "AccessDenied")
    assert json.loads(error.message)["ErrorMessage"] == (
        "the caller is not authorized to perform 'fc:InvokeFunction' on resource "
        f"'acs:fc:{REGION}:{ACCOUNT}:services/svc/functions/secret'")
    assert fc_error(lambda: client.list_functions("svc")).err_code == "AccessDenied"
    assert fc_error(lambda: client.get_service("svc")).err_code == "AccessDenied"
    # Denied before existence is checked: no probing for function names.
    assert fc_error(lambda: client.get_function("svc", "nope")).err_code == "AccessDenied"
    assert [r.function for r in fc.invocations] == ["allowed"]


def test_other_accounts_cannot_reach_functions(cloud, root, fc):
    other_root = cloud.add_account(OTHER)
    fc.register_function(ACCOUNT, "svc", "f", echo)
    fc.register_function(OTHER, "svc", "f", lambda e, c: "other")

    error = fc_error(lambda: fc_client(other_root, account=ACCOUNT).invoke_function("svc", "f"))
    assert error.err_code == "AccessDenied"
    assert fc_client(other_root, account=OTHER).invoke_function("svc", "f").data == b"other"
    assert fc_error(lambda: fc_client(root, account=OTHER).get_service("svc")).err_code == "AccessDenied"


# ------------------------------------------------------------------------------------ not found
def test_not_found_errors(root, fc):
    fc.register_function(ACCOUNT, "svc", "f", echo)
    client = fc_client(root)
    cases = [
        (lambda: client.get_service("nosvc"), "ServiceNotFound", "service 'nosvc' does not exist"),
        (lambda: client.get_function("svc", "nofn"), "FunctionNotFound",
         "function 'nofn' does not exist in service 'svc'"),
        (lambda: client.invoke_function("nosvc", "f"), "ServiceNotFound", "service 'nosvc' does not exist"),
        (lambda: client.invoke_function("svc", "nofn", headers={"x-fc-invocation-type": "Async"}),
         "FunctionNotFound", "function 'nofn' does not exist in service 'svc'"),
        (lambda: client.list_triggers("svc", "nofn"), "FunctionNotFound",
         "function 'nofn' does not exist in service 'svc'"),
        (lambda: client.get_trigger("svc", "f", "t"), "TriggerNotFound",
         "trigger 't' does not exist in service 'svc' and function 'f'"),
        (lambda: client.get_function("svc", "f", qualifier="prod"), "AliasNotFound",
         "alias 'prod' of service 'svc' does not exist"),
    ]
    for call, code, message in cases:
        error = fc_error(call)
        body = json.loads(error.message)
        assert (error.status_code, error.err_code, body["ErrorMessage"]) == (404, code, message)
        assert error.request_id and error.request_id != "unknown"
    assert client.get_function("svc", "f", qualifier="LATEST").data["functionName"] == "f"


def test_async_payload_limit(root, fc):
    fc.register_function(ACCOUNT, "svc", "f", echo)
    error = fc_error(lambda: fc_client(root).invoke_function(
        "svc", "f", payload=b"x" * (128 * 1024 + 1), headers={"x-fc-invocation-type": "Async"}))
    assert (error.status_code, error.err_code) == (400, "EntityTooLarge")


# ------------------------------------------------------------------------------------ shapes
def test_get_and_list_shapes(root, fc):
    arn = service_role(root, "fc-role")
    fc.register_function(ACCOUNT, "svc", "beta", echo, handler_name="beta.handler", memory=1024, timeout=120,
                         environment={"STAGE": "test"}, service_role="fc-role")
    for name in ("alpha", "gamma", "delta"):
        fc.register_function(ACCOUNT, "svc", name, echo)
    fc.add_trigger(ACCOUNT, "svc", "beta", "every-minute", "timer",
                   {"cronExpression": "@every 1m", "enable": True, "payload": "tick"})
    fc.add_trigger(ACCOUNT, "svc", "beta", "uploads", "oss",
                   {"bucketName": "inbox", "events": ["oss:ObjectCreated:*"],
                    "filter": {"Key": {"Prefix": "in/", "Suffix": ".json"}}})
    client = fc_client(root)

    service = client.get_service("svc")
    assert service.data["serviceName"] == "svc" and service.data["role"] == arn
    assert {"serviceId", "logConfig", "createdTime", "lastModifiedTime"} <= set(service.data)
    assert service.headers["ETag"]

    function = client.get_function("svc", "beta").data
    assert {k: function[k] for k in ("functionName", "handler", "runtime", "memorySize", "timeout",
                                     "environmentVariables")} == {
        "functionName": "beta", "handler": "beta.handler", "runtime": "python3.10", "memorySize": 1024,
        "timeout": 120, "environmentVariables": {"STAGE": "test"}}
    assert function["createdTime"].endswith("+0000")

    page1 = client.list_functions("svc", limit=2).data
    assert [f["functionName"] for f in page1["functions"]] == ["alpha", "beta"] and page1["nextToken"] == "delta"
    page2 = client.list_functions("svc", limit=2, nextToken=page1["nextToken"]).data
    assert [f["functionName"] for f in page2["functions"]] == ["delta", "gamma"] and "nextToken" not in page2
    assert [f["functionName"] for f in client.list_functions("svc", prefix="g").data["functions"]] == ["gamma"]
    assert [s["serviceName"] for s in client.list_services().data["services"]] == ["svc"]

    triggers = client.list_triggers("svc", "beta").data["triggers"]
    assert [(t["triggerName"], t["triggerType"]) for t in triggers] == [("every-minute", "timer"), ("uploads", "oss")]
    assert triggers[0]["triggerConfig"] == {"cronExpression": "@every 1m", "enable": True, "payload": "tick"}
    assert triggers[1]["sourceArn"] == f"acs:oss:{REGION}:{ACCOUNT}:inbox"
    assert client.get_trigger("svc", "beta", "uploads").data["triggerConfig"]["filter"]["Key"]["Prefix"] == "in/"


def test_server_mode_takes_the_account_from_the_key(cloud, root, fc):
    """Routed by path (no <uid>. host) the caller's own account is addressed."""
    cloud.add_account(OTHER)
    fc.register_function(ACCOUNT, "svc", "f", lambda e, c: c.account_id)
    local = fc2.Client(endpoint="http://127.0.0.1:9000", accessKeyID=root.access_key_id,
                       accessKeySecret=root.access_key_secret)
    assert local.invoke_function("svc", "f").data == ACCOUNT.encode()


# ------------------------------------------------------------------------------------ trail, counts, faults
def test_fc_calls_in_actiontrail(cloud, root, fc):
    fc.register_function(ACCOUNT, "svc", "f", lambda e, c: "ok")
    client = fc_client(root)
    client.get_function("svc", "f")
    fc_error(lambda: client.get_function("svc", "nope"))
    client.invoke_function("svc", "f")

    events = [e for e in cloud.trail.events(ACCOUNT) if e["serviceName"] == "FC"]
    assert [(e["eventName"], e["eventRW"], e.get("errorCode")) for e in events] == [
        ("GetFunction", "Read", None), ("GetFunction", "Read", "FunctionNotFound")]
    event = events[0]
    assert event["eventSource"] == "fc.aliyuncs.com" and event["apiVersion"] == "2016-08-15"
    assert event["acsRegion"] == REGION and event["resourceName"] == "svc/f"
    assert event["requestParameters"]["functionName"] == "f"
    assert event["userIdentity"]["type"] == "root-account"

    fc.trail_invocations = True  # InvokeFunction is not an audited FC event; opt in
    fc.add_trigger(ACCOUNT, "svc", "f", "fc-events", "eventbridge",
                   {"eventRuleFilterPattern": json.dumps({"source": ["acs.fc"]})})
    client.invoke_function("svc", "f")
    last = cloud.trail.events(ACCOUNT)[-1]
    assert (last["eventName"], last["eventRW"]) == ("InvokeFunction", "Write")
    assert fc.pending == 0  # a fake-only event: never published to EventBridge


def test_call_counts_and_fault_injection(cloud, root, fc):
    handler = Flaky(0)
    fc.register_function(ACCOUNT, "svc", "f", handler)
    client = fc_client(root)
    client.invoke_function("svc", "f")
    client.get_function("svc", "f")
    assert cloud.calls.count("InvokeFunction", service="fc") == 1
    assert cloud.calls.count(service="fc", write=False) == 1

    cloud.faults.fail("InvokeFunction", service="fc", code="ServiceUnavailable")
    error = fc_error(lambda: client.invoke_function("svc", "f"))
    assert (error.status_code, error.err_code) == (503, "ServiceUnavailable")
    assert len(handler.calls) == 1  # failed before running

    cloud.faults.crash_after("InvokeFunction", service="fc")
    with pytest.raises(FakeCrash):
        client.invoke_function("svc", "f", headers={"x-fc-invocation-type": "Async"})
    assert fc.pending == 1  # the invocation was accepted before the caller died


# ------------------------------------------------------------------------------------ OSS triggers
def oss_payload(bucket, key, event="ObjectCreated:PutObject", owner=ACCOUNT, region=REGION) -> bytes:
    return json.dumps({"events": [{
        "eventName": event, "eventSource": "acs:oss", "eventTime": "2026-01-01T00:00:00.000Z", "eventVersion": "1.0",
        "oss": {"bucket": {"arn": f"acs:oss:{region}:{owner}:{bucket}", "name": bucket, "ownerIdentity": owner},
                "object": {"key": key, "size": 3, "eTag": "X", "deltaSize": 3}, "ossSchemaVersion": "1.0",
                "ruleId": "r"},
        "region": region, "requestParameters": {"sourceIPAddress": "1.2.3.4"},
        "responseElements": {"requestId": "R"}, "userIdentity": {"principalId": owner}}]}).encode()


def test_oss_trigger_matches_events_prefix_and_suffix(root, fc):
    received = []
    fc.register_function(ACCOUNT, "svc", "ingest", lambda e, c: received.append(json.loads(e)))
    fc.add_trigger(ACCOUNT, "svc", "ingest", "uploads", "oss",
                   {"bucketName": "inbox", "events": ["oss:ObjectCreated:*"],
                    "filter": {"Key": {"Prefix": "in/", "Suffix": ".json"}}})

    assert fc.on_oss_event("inbox", oss_payload("inbox", "in/a.json")) == 1
    assert fc.on_oss_event("inbox", oss_payload("inbox", "in/a.txt")) == 0
    assert fc.on_oss_event("inbox", oss_payload("inbox", "out/a.json")) == 0
    assert fc.on_oss_event("inbox", oss_payload("inbox", "in/a.json", "ObjectRemoved:DeleteObject")) == 0
    assert fc.on_oss_event("other", oss_payload("other", "in/a.json")) == 0
    assert fc.on_oss_event("inbox", oss_payload("inbox", "in/b.json", owner=OTHER)) == 0
    fc.run_pending()

    assert [e["events"][0]["oss"]["object"]["key"] for e in received] == ["in/a.json"]
    assert fc.invocations[0].source == "oss" and fc.invocations[0].invocation_type == "Async"


def test_oss_trigger_exact_event_names(root, fc):
    received = []
    fc.register_function(ACCOUNT, "svc", "cleanup", lambda e, c: received.append(json.loads(e)))
    fc.add_trigger(ACCOUNT, "svc", "cleanup", "deletes", "oss",
                   {"bucketName": "inbox", "events": ["oss:ObjectRemoved:DeleteObject"]})
    assert fc.on_oss_event("inbox", oss_payload("inbox", "k", "ObjectRemoved:DeleteObject")) == 1
    assert fc.on_oss_event("inbox", oss_payload("inbox", "k", "ObjectRemoved:DeleteObjects")) == 0
    assert fc.on_oss_event("inbox", oss_payload("inbox", "k")) == 0


def test_oss_trigger_through_the_oss_sdk(cloud, root, fc):
    """Integration with the OSS fake, once it publishes notifications."""
    pytest.importorskip("fakecloud.services.oss.models")
    oss2 = pytest.importorskip("oss2")
    if not hasattr(cloud.backend("oss"), "subscribe"):
        pytest.skip("the OSS fake does not publish notifications yet")
    received = []
    fc.register_function(ACCOUNT, "svc", "ingest", lambda e, c: received.append(json.loads(e)))
    bucket = oss2.Bucket(oss2.Auth(root.access_key_id, root.access_key_secret),
                         f"https://oss-{REGION}.aliyuncs.com", "rolepact-inbox")
    bucket.create_bucket()
    fc.add_trigger(ACCOUNT, "svc", "ingest", "uploads", "oss",
                   {"bucketName": "rolepact-inbox", "events": ["oss:ObjectCreated:*"],
                    "filter": {"Key": {"Prefix": "in/", "Suffix": ""}}})
    bucket.put_object("in/doc.json", b"{}")
    bucket.put_object("elsewhere/doc.json", b"{}")
    fc.run_pending()
    assert [e["events"][0]["oss"]["object"]["key"] for e in received] == ["in/doc.json"]
    assert received[0]["events"][0]["eventName"].startswith("ObjectCreated:")


def test_http_trigger_paths_sign_their_query_the_way_fc2_does(root):
    """fc2 signs the query of /proxy/ (HTTP trigger) requests, `k=` even for an empty value; the
    fake used to expect a bare `k` and refused fc2's own signature. Proxy paths are not served, so a
    correctly signed request gets PathNotSupported, a tampered one SignatureNotMatch."""
    client = fc_client(root)
    signed = client.do_http_request("GET", "svc", "f", "/hook", params={"empty": "", "b": "x y", "c": "中"})
    assert (signed.status_code, signed.json()["ErrorCode"]) == (400, "PathNotSupported")
    headers = {k: v for k, v in signed.request.headers.items() if k.lower() != "content-length"}
    tampered = requests.get(signed.request.url.replace("b=x+y", "b=z"), headers=headers)
    assert (tampered.status_code, tampered.json()["ErrorCode"]) == (403, "SignatureNotMatch")
