"""FunctionGateway (fc2) against fakecloud's Function Compute, and the fc2 log redaction."""
from __future__ import annotations

import json
import logging
import time

import fc2
import pytest
from gateway_support import OWNER, cloud, make_user, owner, settings_for, trust  # noqa: F401

from shared.errors import CloudError
from shared.gateways import Gateways
from shared.log import RedactSecrets
from shared.settings import Credentials, Endpoints


@pytest.fixture
def worker(cloud):
    """The worker function of service `rolepact`; returns the events it received."""
    received = []

    def handler(event, context):
        received.append(json.loads(event))
        return json.dumps({"done": json.loads(event)["batch"]}).encode()

    cloud.backend("fc").register_function(OWNER, "rolepact", "reconcile_worker", handler)
    return received


def test_invoke_async_reaches_the_worker(cloud, owner, worker):
    _, _, gateways = owner
    request_id = gateways.fc.invoke_async("reconcile_worker", {"batch": ["a-1", "a-2"]})
    assert request_id and worker == []  # queued, not run
    assert cloud.backend("fc").run_pending() == 1
    assert worker == [{"batch": ["a-1", "a-2"]}]
    record = cloud.backend("fc").invocations[-1]
    assert (record.request_id, record.invocation_type, record.service) == (request_id, "Async", "rolepact")


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


def test_a_failing_function_is_not_retried(cloud, owner):
    def broken(event, context):
        raise ValueError("kaputt")

    cloud.backend("fc").register_function(OWNER, "rolepact", "broken", broken)
    with pytest.raises(CloudError) as raised:
        owner[2].fc.invoke_sync("broken", {})
    assert (raised.value.code, raised.value.message) == ("UnhandledInvocationError", "kaputt")
    assert not raised.value.retryable and owner[1].sleep == []


def test_unreachable_endpoint_fails_fast_under_our_retry_policy():
    """fc2 alone would sleep 30 s in urllib3 retries per call; the gateway answers at once."""
    settings = settings_for(Credentials("a", "b"), account_id=OWNER, max_attempts=3,
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


def test_gateway_logs_carry_no_token_or_signature(worker, sts_creds, caplog):
    fc = Gateways.connect(settings_for(sts_creds)).fc
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(CloudError, match="FunctionNotFound"):
            fc.invoke_async("missing", {"batch": []})
        fc.invoke_async("reconcile_worker", {"batch": []})
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert sts_creds.security_token not in text and sts_creds.access_key_secret not in text
    assert "authorization" not in text.lower()


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
