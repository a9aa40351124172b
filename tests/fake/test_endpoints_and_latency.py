"""Which hosts the fake answers on (issue #2: RAM on ram.aliyuncs.com and ram.<region>.aliyuncs.com,
STS on sts(.<region>).aliyuncs.com, ECS and ActionTrail on their regional hosts), that anything
else fails loudly, and the optional per-call latency that scale tests use to model round trips.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_openapi import models as openapi_models, utils_models
from alibabacloud_tea_openapi.client import Client as OpenApiClient
from darabonba.runtime import RuntimeOptions
from helpers import ecs_client, lookup_events, trail_client
from iam_support import ACCOUNT_A, ram_client, ram_models as M, sts_client

from fakecloud import FakeCloud, UnservedEndpoint, mock_cloud
from fakecloud.server import FakeCloudServer


def hosts_seen(cloud) -> list[str]:
    seen = []
    original = cloud.handle

    def spy(request):
        seen.append(request.host)
        return original(request)

    cloud.handle = spy
    return seen


# cn-wulanchabu is not in the RAM SDK's endpoint map, so the SDK goes to ram.cn-wulanchabu.aliyuncs.com;
# cn-hangzhou is, and maps to ram.aliyuncs.com; ECS maps cn-hangzhou to ecs-cn-hangzhou.aliyuncs.com.
@pytest.mark.parametrize("region, ram_host, ecs_host", [
    ("cn-hangzhou", "ram.aliyuncs.com", "ecs-cn-hangzhou.aliyuncs.com"),
    ("cn-wulanchabu", "ram.cn-wulanchabu.aliyuncs.com", "ecs.cn-wulanchabu.aliyuncs.com"),
    ("ap-southeast-1", "ram.aliyuncs.com", "ecs.ap-southeast-1.aliyuncs.com"),
])
def test_each_pop_service_answers_on_the_hosts_its_sdk_picks(region, ram_host, ecs_host):
    with mock_cloud() as cloud:
        root = cloud.add_account(ACCOUNT_A)
        instance = cloud.backend("ecs").seed_instance(ACCOUNT_A, region, name="web")
        seen = hosts_seen(cloud)

        ram = ram_client(root, region)
        ram.create_user(M.CreateUserRequest(user_name="u"))
        assert [u.user_name for u in ram.list_users(M.ListUsersRequest()).body.users.user] == ["u"]
        assert sts_client(root, region).get_caller_identity().body.account_id == ACCOUNT_A
        listed = ecs_client(root, region).describe_instances(ecs_models.DescribeInstancesRequest(region_id=region))
        assert [i.instance_id for i in listed.body.instances.instance] == [instance]
        events = lookup_events(trail_client(root, region), ("EventName", "DescribeInstances")).events
        assert [e["acsRegion"] for e in events] == [region]

        assert seen == [ram_host, ram_host, f"sts.{region}.aliyuncs.com", ecs_host, f"actiontrail.{region}.aliyuncs.com"]


@pytest.mark.parametrize("endpoint", ["ram.aliyuncs.com", "ram.cn-beijing.aliyuncs.com", "sts.aliyuncs.com",
                                      "sts.cn-beijing.aliyuncs.com", "sts-vpc.cn-beijing.aliyuncs.com"])
def test_global_and_regional_ram_and_sts_endpoints_set_explicitly(endpoint):
    with mock_cloud() as cloud:
        root = cloud.add_account(ACCOUNT_A)
        config = Config(access_key_id=root.access_key_id, access_key_secret=root.access_key_secret,
                        endpoint=endpoint, region_id="cn-beijing")
        if endpoint.startswith("ram"):
            from alibabacloud_ram20150501.client import Client
            assert Client(config).get_account_alias().body.account_alias == ACCOUNT_A
        else:
            from alibabacloud_sts20150401.client import Client
            assert Client(config).get_caller_identity().body.arn == f"acs:ram::{ACCOUNT_A}:root"


def test_another_alibaba_product_fails_loudly_through_a_tea_sdk():
    """The generic tea client pointed at a product the fake does not serve (VPC) gets an error
    naming the host, never a silent success and never the network."""
    with mock_cloud() as cloud:
        root = cloud.add_account(ACCOUNT_A)
        client = OpenApiClient(Config(access_key_id=root.access_key_id, access_key_secret=root.access_key_secret,
                                      endpoint="vpc.cn-hangzhou.aliyuncs.com"))
        params = utils_models.Params(action="DescribeVpcs", version="2016-04-28", protocol="HTTPS", pathname="/",
                                     method="POST", auth_type="AK", style="RPC", body_type="json",
                                     req_body_type="formData")
        with pytest.raises(Exception) as raised:
            client.call_api(params, openapi_models.OpenApiRequest(query={"RegionId": "cn-hangzhou"}),
                            RuntimeOptions())
        assert "does not serve host 'vpc.cn-hangzhou.aliyuncs.com'" in str(raised.value)
        assert cloud.calls.count() == 0


@pytest.mark.parametrize("url", ["https://ramx.aliyuncs.com/", "https://cn-hangzhou.log.aliyuncs.com/logstores",
                                 "https://oapi.dingtalk.com.evil.example/robot/send"])
def test_look_alike_hosts_are_not_served(url):
    with mock_cloud():
        with pytest.raises(UnservedEndpoint):
            requests.post(url)


# --------------------------------------------------------------------------- latency


def test_latency_is_added_to_every_call_and_overlaps_between_threads():
    """`latency` models the real API's round trip: each call takes at least that long, and it is
    spent outside the state lock, so 16 concurrent callers take about one round trip, not 16."""
    latency = 0.05
    with mock_cloud(latency=latency) as cloud:
        root = cloud.add_account(ACCOUNT_A)
        ram = ram_client(root)
        started = time.perf_counter()
        ram.get_account_alias()
        assert time.perf_counter() - started >= latency

        clients = [ram_client(root) for _ in range(16)]
        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda client: client.get_account_alias(), clients))
        elapsed = time.perf_counter() - started
        assert latency <= elapsed < latency * 8, elapsed
        assert cloud.calls.count("GetAccountAlias") == 17


def test_latency_in_server_mode_spares_the_admin_api():
    cloud = FakeCloud(latency=1.0)  # far above any scheduling noise on a loaded machine
    with FakeCloudServer(cloud) as server:
        started = time.perf_counter()
        assert requests.get(f"{server.url}/_fakecloud/health", timeout=5).json() == {"status": "ok"}
        assert time.perf_counter() - started < 0.5
        started = time.perf_counter()
        requests.post(f"{server.url}/", headers={"x-acs-version": "2015-05-01", "x-acs-action": "ListRoles"},
                      timeout=5)
        assert time.perf_counter() - started >= 1.0
