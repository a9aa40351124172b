"""On FC 3.0, rolepact's functions have no service to hide behind: a partner session whose agreement grants
Function Compute (AliyunFCFullAccess, explicitly allowed) still cannot touch functions named
`<ROLEPACT_SERVICE_NAME>-*` -- the FC 3.0 deployment's names -- through the official FC 3.0 SDK."""
from __future__ import annotations

import io

from alibabacloud_fc20230330 import models as fc3_models
from alibabacloud_fc20230330.client import Client as Fc3Client
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.models import Config
from conftest import A, REGION, SEED_ID, SEED_KEY, assume, make_stage, partner_user, seed


def fc3(creds) -> Fc3Client:
    return Fc3Client(Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                            security_token=creds.security_token, region_id=REGION))


def invoke(client: Fc3Client, name: str) -> int:
    return client.invoke_function(name, fc3_models.InvokeFunctionRequest(body=io.BytesIO(b"{}"))).status_code


def test_a_partner_granted_fc_cannot_invoke_or_change_rolepact_fc3_functions(cloud):
    stage = make_stage(cloud, environment={"ROLEPACT_ALLOW_PRIVILEGED_POLICIES": "AliyunFCFullAccess",
                                           "ROLEPACT_GRANTABLE_SERVICES": "ecs,vpc,fc,ram:PassRole"})
    fc = cloud.backend("fc")
    fc.create_function(A, "rolepact-reconcile-worker", lambda event, context: "worker")
    fc.create_function(A, "partner-tools", lambda event, context: "theirs")
    stage.upload(SEED_KEY, seed(policies=[{"type": "System", "name": "AliyunFCFullAccess"}]))
    assert stage.status(SEED_ID)["state"] == "active"
    client = fc3(assume(stage, partner_user(stage, "alice")))

    assert invoke(client, "partner-tools") == 200  # the agreement's grant works
    for call in (lambda: invoke(client, "rolepact-reconcile-worker"),
                 lambda: client.get_function("rolepact-reconcile-worker", fc3_models.GetFunctionRequest()),
                 lambda: client.delete_function("rolepact-reconcile-worker")):
        try:
            call()
        except AlibabaCloudException as error:
            assert (error.code, error.status_code) == ("AccessDenied", 403)
        else:
            raise AssertionError("a partner session reached rolepact's FC 3.0 function")
    assert [i.function for i in fc.invocations if i.service is None] == ["partner-tools"]  # FC 3.0 ones
    fc.get_function3(A, "rolepact-reconcile-worker")  # still there
