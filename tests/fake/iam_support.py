"""Helpers shared by the RAM, STS and authentication tests of the fake.

Everything goes through the official SDKs; these helpers only build clients, documents and
the SDK-model shape check that proves the fake returns what the SDK models read.
"""
from __future__ import annotations

import inspect
import json
import re
import typing

import pytest
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.models import Config
from darabonba.model import DaraModel

from fakecloud import Credentials, mock_cloud

ACCOUNT_A = "1234567890123456"
ACCOUNT_B = "1345678901234567"

__all__ = ["ACCOUNT_A", "ACCOUNT_B", "ram_client", "sts_client", "trust", "policy", "allow", "api_error",
           "assert_sdk_shape", "ram_models", "sts_models", "make_user", "assume",
           "cloud", "root_a", "root_b", "ram_a", "wire", "sdk_keys"]


# --------------------------------------------------------------------------- fixtures
# Test modules import these names; pytest then treats them as the module's fixtures.

@pytest.fixture
def cloud():
    with mock_cloud() as fake:
        yield fake


@pytest.fixture
def root_a(cloud) -> Credentials:
    return cloud.add_account(ACCOUNT_A, "company-a")


@pytest.fixture
def root_b(cloud) -> Credentials:
    return cloud.add_account(ACCOUNT_B, "company-b")


@pytest.fixture
def ram_a(root_a) -> RamClient:
    return ram_client(root_a)


def _config(creds: Credentials, region: str) -> Config:
    return Config(access_key_id=creds.access_key_id, access_key_secret=creds.access_key_secret,
                  security_token=creds.security_token, region_id=region)


def ram_client(creds: Credentials, region: str = "cn-hangzhou") -> RamClient:
    return RamClient(_config(creds, region))


def sts_client(creds: Credentials, region: str = "cn-hangzhou") -> StsClient:
    return StsClient(_config(creds, region))


def trust(*principals: str, condition: dict | None = None) -> str:
    """A trust policy letting the given RAM principals assume the role."""
    statement = {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"RAM": list(principals)}}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "1", "Statement": [statement]})


def allow(action, resource="*", effect="Allow", condition=None) -> dict:
    statement = {"Effect": effect, "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def api_error(code: str, status: int):
    """`pytest.raises` for a tea SDK exception with this code and HTTP status (checked on exit)."""
    return RaisesWithCode(AlibabaCloudException, code, status, status_attribute="status_code")


class RaisesWithCode:
    """`pytest.raises(exception_class)` that also checks the cloud's error code and HTTP status.

    SDKs name the status differently (tea: `status_code`, oss2: `status`), hence the attribute."""

    def __init__(self, exception_class, code: str, status: int, *, status_attribute: str) -> None:
        self.code, self.status, self.status_attribute = code, status, status_attribute
        self._raises = pytest.raises(exception_class)

    def __enter__(self):
        self.info = self._raises.__enter__()
        return self.info

    def __exit__(self, *exc):
        handled = self._raises.__exit__(*exc)
        error = self.info.value
        got = (error.code, getattr(error, self.status_attribute))
        assert got == (self.code, self.status), f"expected {self.code}/{self.status}, got {got}: {error}"
        return handled


def make_user(cloud, root: Credentials, name: str, *policies: str, custom: tuple[str, ...] = ()) -> Credentials:
    """Create RAM user `name` in root's account with an access key and the given system policies."""
    ram = ram_client(root)
    ram.create_user(ram_models.CreateUserRequest(user_name=name))
    for system in policies:
        ram.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
            policy_type="System", policy_name=system, user_name=name))
    for mine in custom:
        ram.attach_policy_to_user(ram_models.AttachPolicyToUserRequest(
            policy_type="Custom", policy_name=mine, user_name=name))
    key = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name=name)).body.access_key
    return Credentials(key.access_key_id, key.access_key_secret, None, root.account_id)


def assume(creds: Credentials, role_arn: str, session: str = "s1", **extra):
    """AssumeRole through the SDK; returns (credentials, response body)."""
    body = sts_client(creds).assume_role(
        sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name=session, **extra)).body
    c = body.credentials
    return Credentials(c.access_key_id, c.access_key_secret, c.security_token, role_arn.split(":")[3]), body


class wire:  # noqa: N801 - used like a function: `with wire(cloud) as seen:`
    """Record the raw requests and JSON replies the fake exchanges while the block runs."""

    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self.requests, self.replies = [], []

    def __enter__(self) -> "wire":
        original = self._original = self.cloud.handle

        def spy(request):
            response = original(request)
            self.requests.append(request)
            self.replies.append(json.loads(response.body) if response.body else None)
            return response

        self.cloud.handle = spy
        return self

    def __exit__(self, *exc) -> None:
        self.cloud.handle = self._original

    @property
    def last(self):
        return self.replies[-1]


# --------------------------------------------------------------------------- SDK shape check

_PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float)}


def assert_sdk_shape(model: DaraModel, optional: typing.Iterable[str] = (), path: str = "") -> None:
    """Every field the SDK model reads is present (not None) and has the declared type.

    `from_map` copies raw JSON values without conversion, so a missing key shows up as None
    and a wrong JSON type keeps its Python type. `optional` names dotted attribute paths
    (list items share their list's path) that the real service may omit.
    """
    optional = set(optional)
    annotations = _init_annotations(type(model))
    for attr, annotation in annotations.items():
        where = f"{path}.{attr}" if path else attr
        value = getattr(model, attr)
        if value is None:
            assert where in optional, f"{type(model).__name__}: field {where} missing from the fake's response"
            continue
        _check_value(value, annotation, where, optional)


def _check_value(value, annotation: str, where: str, optional: set[str]) -> None:
    annotation = annotation.strip()
    if annotation in _PRIMITIVES:
        expected = _PRIMITIVES[annotation]
        ok = isinstance(value, expected) and not (annotation in ("int", "float") and isinstance(value, bool))
        assert ok, f"{where}: expected {annotation}, got {type(value).__name__} {value!r}"
        return
    if annotation.startswith("List["):
        assert isinstance(value, list), f"{where}: expected a list, got {value!r}"
        inner = annotation[5:-1]
        for item in value:
            _check_value(item, inner, where, optional)
        return
    if annotation.startswith("Dict["):
        assert isinstance(value, dict), f"{where}: expected an object, got {value!r}"
        return
    if annotation.startswith("main_models."):
        assert isinstance(value, DaraModel), f"{where}: expected an object, got {value!r}"
        assert_sdk_shape(value, optional, where)
        return
    if annotation == "Any":
        return
    raise AssertionError(f"{where}: unhandled annotation {annotation}")


def _init_annotations(cls) -> dict[str, str]:
    params = inspect.signature(cls.__init__).parameters
    return {name: str(p.annotation) for name, p in params.items() if name != "self"}


def sdk_keys(cls) -> list[str]:
    """The JSON keys `from_map` of an SDK model reads (used by a self-test of the checker)."""
    return re.findall(r"m\.get\('([^']+)'\) is not None", inspect.getsource(cls.from_map))
