"""FunctionGateway against fakecloud's Function Compute on both APIs -- FC 2.0 through fc2 and FC 3.0
through alibabacloud_fc20230330, chosen by `settings.fc_api` -- and the SDKs' log redaction."""
from __future__ import annotations

import dataclasses
import json
import logging
import time

import fc2
import pytest
from gateway_support import OWNER, cloud, make_user, settings_for, trust  # noqa: F401

from shared.errors import CloudError
from shared.gateways import Gateways
from shared.log import RedactSecrets
from shared.settings import Credentials, Endpoints


@pytest.fixture(params=["fc2", "fc3"])
def api(request) -> str:
    return request.param


@pytest.fixture
def owner(cloud, api):
    """(root credentials, Settings on `api`, Gateways) of the owner account."""
    root = cloud.add_account(OWNER, "owner-co")
    settings = settings_for(root, fc_api=api)
    return root, settings, Gateways.connect(settings)


def deploy(cloud, api: str, name: str, handler) -> None:
    """A function of the deployment: in service `rolepact` on FC 2.0, a function of its own on FC 3.0."""
    fc = cloud.backend("fc")
    if api == "fc2":
        fc.register_function(OWNER, "rolepact", name, handler)
    else:
        fc.create_function(OWNER, name, handler)


@pytest.fixture
def worker(cloud, api):
    """The worker function; returns the events it received."""
    received = []

    def handler(event, context):
        received.append(json.loads(event))
        return json.dumps({"done": json.loads(event)["batch"]}).encode()

    deploy(cloud, api, "reconcile_worker", handler)
    return received


def test_invoke_async_reaches_the_worker(cloud, owner, worker):
    _, _, gateways = owner
    request_id = gateways.fc.invoke_async("reconcile_worker", {"batch": ["a-1", "a-2"]})
    assert request_id and worker == []  # queued, not run
    assert cloud.backend("fc").run_pending() == 1
    assert worker == [{"batch": ["a-1", "a-2"]}]
    record = cloud.backend("fc").invocations[-1]
    expected_service = "rolepact" if gateways.settings.fc_api == "fc2" else None  # FC 3.0: no service
    assert (record.request_id, record.invocation_type, record.service) == (request_id, "Async", expected_service)
    assert cloud.calls.count("InvokeFunction", service="fc") == 1


def test_invoke_sync_returns_the_result(owner, worker):
    assert json.loads(owner[2].fc.invoke_sync("reconcile_worker", {"batch": [1]})) == {"done": [1]}


def test_missing_function_is_a_cloud_error_with_request_id(cloud, owner, worker):
    with pytest.raises(CloudError) as raised:
        owner[2].fc.invoke_async("no-such-function", {})
    error = raised.value
    assert (error.service, error.action, error.code, error.status) == ("fc", "InvokeFunction", "FunctionNotFound", 404)
    assert error.request_id and "no-such-function" in error.message
    assert owner[1].sleep == []


def test_throttled_invocation_is_retried(cloud, owner, worker):
    _, settings, gateways = owner
    cloud.faults.fail(service="fc", code="Throttling.User", status=429)
    gateways.fc.invoke_async("reconcile_worker", {"batch": []})
    assert len(settings.sleep) == 1 and cloud.backend("fc").pending == 1


def test_a_failing_function_is_not_retried(cloud, owner, api):
    def broken(event, context):
        raise ValueError("kaputt")

    deploy(cloud, api, "broken", broken)
    with pytest.raises(CloudError) as raised:
        owner[2].fc.invoke_sync("broken", {})
    assert (raised.value.code, raised.value.message) == ("UnhandledInvocationError", "kaputt")
    assert not raised.value.retryable and owner[1].sleep == []


def test_unreachable_endpoint_fails_fast_under_our_retry_policy(api):
    """fc2 alone would sleep 30 s in urllib3 retries per call; the gateway answers at once."""
    settings = settings_for(Credentials("a", "b"), account_id=OWNER, max_attempts=3, fc_api=api,
                            endpoints=Endpoints(fc="127.0.0.1:1", protocol="http"))
    started = time.monotonic()
    with pytest.raises(CloudError) as raised:
        Gateways.connect(settings).fc.invoke_async("reconcile_worker", {})
    assert raised.value.code == "ConnectionError" and len(settings.sleep) == 2
    assert time.monotonic() - started < 5


@pytest.fixture
def sts_creds(owner):
    """STS credentials of a role allowed to use FC: requests then carry x-fc-security-token."""
    root, _, gateways = owner
    user = make_user(root, "scheduler", "AliyunSTSAssumeRoleAccess")
    gateways.ram.create_role("fn-role", trust(f"acs:ram::{OWNER}:root"), "d", 3600, {})
    gateways.ram.attach_policy_to_role("fn-role", "System", "AliyunFCFullAccess")
    return Gateways.connect(settings_for(user)).sts.assume_role(f"acs:ram::{OWNER}:role/fn-role", "tick")


def test_gateway_logs_carry_no_token_or_signature(worker, sts_creds, caplog, api, monkeypatch):
    monkeypatch.setenv("DEBUG", "sdk")  # the tea transport then logs every request header
    fc = Gateways.connect(settings_for(sts_creds, fc_api=api)).fc
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(CloudError, match="FunctionNotFound"):
            fc.invoke_async("missing", {"batch": []})
        fc.invoke_async("reconcile_worker", {"batch": []})
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert sts_creds.security_token not in text and sts_creds.access_key_secret not in text
    if api == "fc2":
        assert "authorization" not in text.lower()
    else:  # darabonba dumped the headers (DEBUG=sdk): present, but scrubbed
        assert "> x-acs-security-token : ***\n" in text and "Signature=***" in text
        assert "> authorization : ***," in text.lower()


@pytest.mark.parametrize("api", ["fc3"])
def test_the_fc3_sdk_header_dump_is_redacted_on_its_own_handler(cloud, worker, sts_creds, monkeypatch):
    """darabonba-core prints through its own stderr handler, past any root-logger handler: still scrubbed."""
    import io

    monkeypatch.setenv("DEBUG", "sdk")
    [own] = [h for h in logging.getLogger("darabonba-core").handlers if isinstance(h, logging.StreamHandler)]
    printed = io.StringIO()
    previous = own.setStream(printed)
    try:
        Gateways.connect(settings_for(sts_creds, fc_api="fc3")).fc.invoke_async("reconcile_worker", {"batch": []})
    finally:
        own.setStream(previous)
    assert "> x-acs-security-token : ***" in printed.getvalue()
    assert sts_creds.security_token not in printed.getvalue()


def test_the_fc_api_setting_picks_the_api(cloud, owner, worker, api):
    owner[2].fc.invoke_async("reconcile_worker", {"batch": [1]})
    fc2_calls = cloud.calls.count("InvokeFunction", service="fc")
    assert fc2_calls == 1 and repr(owner[2].fc).startswith(f"FunctionGateway(api='{api}'")
    other = "fc3" if api == "fc2" else "fc2"
    with pytest.raises(CloudError) as raised:  # the function exists only on its own API
        Gateways.connect(dataclasses.replace(owner[1], fc_api=other)).fc.invoke_async("reconcile_worker", {})
    assert raised.value.code in ("FunctionNotFound", "ServiceNotFound")


@pytest.mark.parametrize("api", ["fc2"])
def test_fc2_own_error_log_is_redacted_on_the_root_logger(worker, sts_creds, caplog):
    """fc2's own client logs full request headers through the root logger on a 404: scrubbed."""
    Gateways.connect(settings_for(sts_creds)).fc  # building the gateway installs the root filter
    plain = fc2.Client(endpoint=f"https://{OWNER}.cn-hangzhou.fc.aliyuncs.com",
                       accessKeyID=sts_creds.access_key_id, accessKeySecret=sts_creds.access_key_secret,
                       securityToken=sts_creds.security_token)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(fc2.fc_exceptions.FcError):
            plain.invoke_function("rolepact", "missing", payload=b"{}", headers={"x-fc-invocation-type": "Async"})
    fc2_errors = [r for r in caplog.records if r.name == "root" and r.levelno == logging.ERROR]
    assert fc2_errors and "Client error: 404" in fc2_errors[0].getMessage()
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert sts_creds.security_token not in text and sts_creds.access_key_secret not in text
    assert "x-fc-security-token': '***'" in text and "'authorization': '***'" in text
    assert any(isinstance(f, RedactSecrets) for f in logging.getLogger().filters)
