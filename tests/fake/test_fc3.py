"""Function Compute 3.0 (API 2023-03-30) in the fake, reached through the official alibabacloud_fc20230330 SDK.

Covers InvokeFunction (Sync / Async), the FC 3.0 context (python3.10 and python3.12 shapes),
PutAsyncInvokeConfig retries and the on-failure destination, the management calls a
deployment uses, FC's error codes and statuses, signatures, RAM authorization on FC 3.0
ARNs, triggers (timer, OSS by sourceArn), `service$function` addressing of FC 2.0 functions,
and server mode over HTTP.
"""
from __future__ import annotations

import io
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import fc3_handlers
import oss2
import pytest
from alibabacloud_fc20230330 import models as m
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions
from fc_support import (ACCOUNT, OTHER, REGION, cloud_fixture, fc_fixture, policy, ram_user, root_fixture,  # noqa: F401
                        serve, service_role, sts_client)

from fakecloud import Credentials

HERE = Path(__file__).resolve().parent


def client(creds, *, endpoint: str | None = None, protocol: str = "https") -> Client:
    return Client(Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                         security_token=creds.security_token, region_id=REGION, endpoint=endpoint, protocol=protocol))


def invoke(c: Client, name: str, payload: bytes = b"{}", invocation_type: str = "Sync", qualifier: str | None = None):
    return c.invoke_function_with_options(name, m.InvokeFunctionRequest(body=io.BytesIO(payload), qualifier=qualifier),
                                          m.InvokeFunctionHeaders(x_fc_invocation_type=invocation_type),
                                          RuntimeOptions())


def refused(call) -> AlibabaCloudException:
    with pytest.raises(AlibabaCloudException) as raised:
        call()
    return raised.value


def create_input(name: str, handler: str = "fc3_handlers.echo", **fields) -> m.CreateFunctionRequest:
    return m.CreateFunctionRequest(body=m.CreateFunctionInput(
        function_name=name, runtime=fields.pop("runtime", "python3.10"), handler=handler,
        code=m.InputCodeLocation(zip_file="UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="), **fields))


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, []

    def __call__(self, event, context):
        self.calls.append(event)
        if len(self.calls) <= self.failures:
            raise RuntimeError(f"boom {len(self.calls)}")
        return "ok"


# ------------------------------------------------------------------------------------ invoke
def test_sync_invoke_returns_the_result_and_async_answers_202(root, fc):
    fc.create_function(ACCOUNT, "echo", fc3_handlers.echo)
    c = client(root)
    sync = invoke(c, "echo", b'{"k": "v"}')
    body = json.loads(sync.body.read())
    assert sync.status_code == 200 and body["event"] == {"k": "v"}
    assert body["requestId"] == sync.headers["x-fc-request-id"] and body["function"] == "echo"
    assert (body["region"], body["accountId"]) == (REGION, ACCOUNT)

    queued = invoke(c, "echo", b'{"n": 2}', "Async")
    assert queued.status_code == 202 and queued.body.read() == b"" and fc.pending == 1
    assert fc.run_pending() == 1
    record = fc.invocations[-1]
    assert (record.invocation_type, record.service, record.function, record.request_id) == (
        "Async", None, "echo", queued.headers["x-fc-request-id"])


def test_an_unhandled_error_comes_back_in_the_headers(root, fc):
    fc.create_function(ACCOUNT, "broken", fc3_handlers.fail)
    response = invoke(client(root), "broken")
    assert response.status_code == 200 and response.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert json.loads(response.body.read())["errorMessage"] == "always fails"


def test_fc3_context_python310_has_the_function_role_credentials_and_no_service_name(root, fc, cloud):
    role = service_role(root, "fn-role", policies=(policy(
        {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}),))
    seen = {}

    def handler(event, context):
        seen["context"] = context
        identity = sts_client(context.credentials).get_caller_identity()
        return {"arn": identity.body.arn}

    fc.create_function(ACCOUNT, "who", handler, role=role)
    result = json.loads(invoke(client(root), "who").body.read())
    context = seen["context"]
    assert result["arn"].startswith(f"acs:ram::{ACCOUNT}:assumed-role/fn-role/")
    assert context.credentials.security_token and context.function.name == "who"
    assert not hasattr(context.service, "name")  # FC 3.0: there is no service
    assert context.service.qualifier == "LATEST" and context.account_id == ACCOUNT


def test_fc3_context_python312_has_no_credentials_and_no_service(root, fc):
    seen = {}
    fc.create_function(ACCOUNT, "new", lambda e, c: seen.setdefault("context", c) and None, runtime="python3.12",
                       role=service_role(root, "fn-role"))
    invoke(client(root), "new")
    context = seen["context"]
    assert not hasattr(context, "credentials") and not hasattr(context, "service")
    assert (context.function.name, context.function.qualifier, context.log_project) == ("new", "LATEST", "")
    assert context.logger is None and context.getLogger() is context.logger


# ------------------------------------------------------------------------------------ async
def test_async_retries_follow_the_async_invoke_config_then_reach_the_destination(root, fc):
    flaky = Flaky(failures=10)
    fc.create_function(ACCOUNT, "work", flaky)
    fc.create_function(ACCOUNT, "dead-letters", fc3_handlers.record)
    fc3_handlers.received.clear()
    c = client(root)
    c.put_async_invoke_config("work", m.PutAsyncInvokeConfigRequest(body=m.PutAsyncInvokeConfigInput(
        max_async_retry_attempts=2, destination_config=m.DestinationConfig(
            on_failure=m.Destination(destination=f"acs:fc:{REGION}:{ACCOUNT}:functions/dead-letters")))))
    request_id = invoke(c, "work", b'{"batch": 1}', "Async").headers["x-fc-request-id"]
    fc.run_pending()

    assert len(flaky.calls) == 3  # 1 + maxAsyncRetryAttempts
    [dead] = fc3_handlers.received
    assert dead["requestContext"] == {"requestId": request_id, "functionArn": f"acs:fc:{REGION}:{ACCOUNT}:functions/work",
                                      "condition": "UnhandledInvocationError", "approximateInvokeCount": 3}
    assert json.loads(dead["requestPayload"]) == {"batch": 1} and "boom 3" in dead["responsePayload"]
    assert fc.failed_invocations == []
    config = c.get_async_invoke_config("work", m.GetAsyncInvokeConfigRequest()).body
    assert config.max_async_retry_attempts == 2 and config.function_arn.endswith(":functions/work")
    assert config.destination_config.on_failure.destination.endswith(":functions/dead-letters")


def test_default_async_config_retries_three_times_and_keeps_the_failure(root, fc):
    flaky = Flaky(failures=10)
    fc.create_function(ACCOUNT, "work", flaky)
    invoke(client(root), "work", b"{}", "Async")
    fc.run_pending()
    assert len(flaky.calls) == 4 and fc.failed_invocations[0].attempts == 4
    error = refused(lambda: client(root).get_async_invoke_config("work", m.GetAsyncInvokeConfigRequest()))
    assert (error.code, error.status_code) == ("AsyncConfigNotExists", 404)


def test_async_invoke_config_is_checked(root, fc):
    fc.create_function(ACCOUNT, "work", Flaky(0))
    c = client(root)
    for body in (m.PutAsyncInvokeConfigInput(max_async_retry_attempts=9),
                 m.PutAsyncInvokeConfigInput(destination_config=m.DestinationConfig(
                     on_failure=m.Destination(destination=f"acs:mns:{REGION}:{ACCOUNT}:/queues/q/messages")))):
        error = refused(lambda: c.put_async_invoke_config("work", m.PutAsyncInvokeConfigRequest(body=body)))
        assert (error.code, error.status_code) == ("InvalidArgument", 400)


# ------------------------------------------------------------------------------------ management
def test_create_get_list_and_delete_functions(root, fc):
    service_role(root, "fn-role")
    c = client(root)
    created = c.create_function(create_input("api-fn", timeout=30, memory_size=256, environment_variables={"A": "1"},
                                             role=f"acs:ram::{ACCOUNT}:role/fn-role")).body
    assert (created.function_name, created.timeout, created.memory_size, created.state) == ("api-fn", 30, 256, "Active")
    assert created.function_arn == f"acs:fc:{REGION}:{ACCOUNT}:functions/api-fn"
    assert created.environment_variables == {"A": "1"} and created.role.endswith(":role/fn-role")
    again = refused(lambda: c.create_function(create_input("api-fn")))
    assert (again.code, again.status_code) == ("FunctionAlreadyExists", 409)
    bad = refused(lambda: c.create_function(create_input("other", memory_size=100)))
    assert (bad.code, bad.status_code) == ("InvalidArgument", 400)

    for n in range(3):
        c.create_function(create_input(f"fn-{n}"))
    first = c.list_functions(m.ListFunctionsRequest(limit=2, prefix="fn-")).body
    assert [f.function_name for f in first.functions] == ["fn-0", "fn-1"] and first.next_token == "fn-2"
    rest = c.list_functions(m.ListFunctionsRequest(limit=2, prefix="fn-", next_token=first.next_token)).body
    assert [f.function_name for f in rest.functions] == ["fn-2"] and not rest.next_token

    assert json.loads(invoke(c, "api-fn", b'{"x": 1}').body.read())["event"] == {"x": 1}  # handler imported by name
    c.delete_function("fn-0")
    missing = refused(lambda: c.get_function("fn-0", m.GetFunctionRequest()))
    assert (missing.code, missing.status_code) == ("FunctionNotFound", 404)
    assert "fn-0" in missing.message and missing.request_id


def test_an_unimportable_handler_is_an_invocation_error(root):
    c = client(root)
    c.create_function(create_input("ghost", handler="no_such_module.handler"))
    response = invoke(c, "ghost")
    assert response.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert "no_such_module" in json.loads(response.body.read())["errorMessage"]


def test_triggers_timer_and_oss_by_source_arn(root, fc, cloud):
    fc.create_function(ACCOUNT, "tick", fc3_handlers.record)
    fc3_handlers.received.clear()
    c = client(root)
    timer = c.create_trigger("tick", m.CreateTriggerRequest(body=m.CreateTriggerInput(
        trigger_name="every-minute", trigger_type="timer",
        trigger_config=json.dumps({"cronExpression": "@every 1m", "enable": True, "payload": "p"})))).body
    assert json.loads(timer.trigger_config)["cronExpression"] == "@every 1m" and timer.qualifier == "LATEST"
    bucket = oss2.Bucket(oss2.Auth(root.access_key_id, root.access_key_secret), f"https://oss-{REGION}.aliyuncs.com",
                         "data")
    bucket.create_bucket()
    c.create_trigger("tick", m.CreateTriggerRequest(body=m.CreateTriggerInput(
        trigger_name="files", trigger_type="oss", source_arn=f"acs:oss:{REGION}:{ACCOUNT}:data",
        invocation_role=f"acs:ram::{ACCOUNT}:role/aliyunosseventnotificationrole",
        trigger_config=json.dumps({"events": ["oss:ObjectCreated:*"], "filter": {"key": {"prefix": "in/"}}}))))
    listed = c.list_triggers("tick", m.ListTriggersRequest()).body.triggers
    assert [t.trigger_name for t in listed] == ["every-minute", "files"]
    assert "bucketName" not in json.loads(listed[1].trigger_config)  # FC 3.0: the bucket is only in sourceArn

    bucket.put_object("in/a.json", b"{}")
    bucket.put_object("out/b.json", b"{}")
    assert fc.fire_due_timers(cloud.now() + timedelta(minutes=1)) == 1
    fc.run_pending()
    keys = [e["events"][0]["oss"]["object"]["key"] for e in fc3_handlers.received if "events" in e]
    assert keys == ["in/a.json"] and any(e.get("triggerName") == "every-minute" for e in fc3_handlers.received)

    duplicate = refused(lambda: c.create_trigger("tick", m.CreateTriggerRequest(body=m.CreateTriggerInput(
        trigger_name="files", trigger_type="timer", trigger_config="{}"))))
    assert (duplicate.code, duplicate.status_code) == ("TriggerAlreadyExists", 409)
    bad_cron = refused(lambda: c.create_trigger("tick", m.CreateTriggerRequest(body=m.CreateTriggerInput(
        trigger_name="bad", trigger_type="timer", trigger_config=json.dumps({"cronExpression": "often"})))))
    assert (bad_cron.code, bad_cron.status_code) == ("InvalidArgument", 400)
    c.delete_trigger("tick", "files")
    gone = refused(lambda: c.get_trigger("tick", "files"))
    assert (gone.code, gone.status_code) == ("TriggerNotFound", 404)


def test_fc2_functions_are_addressed_as_service_dollar_function(root, fc):
    fc.register_function(ACCOUNT, "svc", "old", fc3_handlers.echo)
    c = client(root)
    assert json.loads(invoke(c, "svc$old", b"[1]").body.read())["event"] == [1]
    assert c.get_function("svc$old", m.GetFunctionRequest()).body.function_name == "svc$old"


# ------------------------------------------------------------------------------------ errors, auth
def test_qualifiers_other_than_latest_do_not_exist(root, fc):
    fc.create_function(ACCOUNT, "echo", fc3_handlers.echo)
    error = refused(lambda: invoke(client(root), "echo", qualifier="prod"))
    assert (error.code, error.status_code) == ("AliasNotFound", 404)


def test_signatures_are_verified(root, fc):
    fc.create_function(ACCOUNT, "echo", fc3_handlers.echo)
    wrong = refused(lambda: invoke(client(Credentials(root.access_key_id, "not-the-secret")), "echo"))
    assert (wrong.code, wrong.status_code) == ("SignatureNotMatch", 403)
    unknown = refused(lambda: invoke(client(Credentials("LTAI5tNoSuchKey00000000", "x")), "echo"))
    assert (unknown.code, unknown.status_code) == ("InvalidAccessKeyID", 403)


def test_ram_decides_on_fc3_function_arns(root, fc, cloud):
    fc.create_function(ACCOUNT, "allowed", fc3_handlers.echo)
    fc.create_function(ACCOUNT, "other", fc3_handlers.echo)
    user = ram_user(root, "invoker", policy({"Effect": "Allow", "Action": "fc:InvokeFunction",
                                             "Resource": f"acs:fc:*:*:functions/allowed"}))
    stream = cloud.record_authorizations()
    c = client(user)
    assert invoke(c, "allowed").status_code == 200
    denied = refused(lambda: invoke(c, "other"))
    assert (denied.code, denied.status_code) == ("AccessDenied", 403)
    assert "acs:fc:cn-hangzhou:1500000000000001:functions/other" in denied.message
    assert [(a.action, a.resource, a.decision) for a in stream] == [
        ("fc:InvokeFunction", f"acs:fc:{REGION}:{ACCOUNT}:functions/allowed", "Allow"),
        ("fc:InvokeFunction", f"acs:fc:{REGION}:{ACCOUNT}:functions/other", "ImplicitDeny")]
    listing = refused(lambda: c.list_functions(m.ListFunctionsRequest()))
    assert listing.code == "AccessDenied"
    other_account = cloud.add_account(OTHER)
    foreign = refused(lambda: invoke(client(other_account, endpoint=f"{ACCOUNT}.{REGION}.fc.aliyuncs.com"), "allowed"))
    assert foreign.code == "AccessDenied"  # nothing crosses accounts


def test_calls_are_counted_faulted_and_audited(root, fc, cloud):
    fc.create_function(ACCOUNT, "echo", fc3_handlers.echo)
    c = client(root)
    cloud.faults.fail("InvokeFunction", service="fc", code="ResourceThrottled", status=503)
    throttled = refused(lambda: invoke(c, "echo"))
    assert (throttled.code, throttled.status_code) == ("ResourceThrottled", 503) and fc.invocations == []
    c.get_function("echo", m.GetFunctionRequest())
    assert cloud.calls.count("GetFunction", service="fc") == 1
    [event] = [e for e in cloud.trail.events(ACCOUNT) if e["eventName"] == "GetFunction"]
    assert event["serviceName"] == "FC" and event["apiVersion"] == "2023-03-30"


# ------------------------------------------------------------------------------------ server mode
@pytest.fixture(scope="module")
def server():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    with serve("--account", f"{ACCOUNT}:fc3:LTAI5tFc3ServerMode0000:fc3-server-secret", env=env) as (port, _):
        yield port


def test_server_mode_creates_and_invokes_fc3_functions_over_http(server, tmp_path):
    c = client(Credentials("LTAI5tFc3ServerMode0000", "fc3-server-secret"), endpoint=f"127.0.0.1:{server}",
               protocol="http")
    c.create_function(create_input("remote"))
    body = json.loads(invoke(c, "remote", b'{"over": "http"}').body.read())
    assert body["event"] == {"over": "http"} and body["accountId"] == ACCOUNT
    c.create_function(create_input("remote-touch", handler="fc3_handlers.touch"))
    marker = tmp_path / "ran"
    queued = invoke(c, "remote-touch", json.dumps({"path": str(marker)}).encode(), "Async")
    assert queued.status_code == 202
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not marker.exists():  # the server's worker threads deliver it
        time.sleep(0.05)
    assert marker.read_text() == queued.headers["x-fc-request-id"]
    missing = refused(lambda: c.get_function("nope", m.GetFunctionRequest()))
    assert (missing.code, missing.status_code) == ("FunctionNotFound", 404)
