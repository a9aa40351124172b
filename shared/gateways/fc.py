"""Function Compute: fan reconcile work out to the worker function, on FC 2.0 or FC 3.0.

`settings.fc_api` (`ROLEPACT_FC_API`) picks the API of the deployment: `fc2` speaks the FC 2.0
API (2016-08-15) through `fc2` and addresses `<service>/<function>`; `fc3` speaks FC 3.0
(2023-03-30) through `alibabacloud_fc20230330` and addresses the function alone. Both answer
the same way: FC's request id, `CloudError` with FC's code (an unhandled function error is
`UnhandledInvocationError`, never retried), our retry policy, nothing secret in the logs.

Two fc2 hazards, both in `fc2.client.Client._do_request` (aliyun-fc2 2.5.2):

- logging: on any HTTP error it calls the module-level `logging.error(...)` with the full
  request headers — `authorization` and the STS `x-fc-security-token` included — and
  `logging.debug(...)` does the same for every request. Those records go through the *root*
  logger itself (there is no "fc2" logger to silence);
- retries: every call runs in a fresh `requests.Session` whose urllib3 `Retry(connect=5,
  backoff_factor=1)` sleeps 2+4+8+16 s on a refused connection — 30 s per attempt that
  `settings.sleep` cannot shorten, stacked under our own `settings.max_attempts`.

`_Fc2Client` replaces only that method: one pooled session per gateway, no hidden retries,
no header logging, the SDK's own signing and error objects unchanged. As a second line,
building the gateway puts `shared.log.RedactSecrets` on the root logger (a logger filter,
so it scrubs before any handler — ours, the FC runtime's or a test's — sees the record).

The FC 3.0 SDK logs nothing on errors (its exception carries only the error body), but its
transport (`darabonba-core`, and the older `alibabacloud-tea`) dumps every request header —
`Authorization` and `x-acs-security-token` included — at DEBUG through its own stderr handler
whenever the process has `DEBUG=sdk` in its environment. Those loggers get the same filter.
"""
from __future__ import annotations

import io
import json
import logging

from shared.errors import CloudError
from shared.gateways import CONNECT_TIMEOUT, credentials_of, endpoint_url, tea_config
from shared.gateways.retry import call_with_retry
from shared.log import RedactSecrets, redact

TIMEOUT = 60  # seconds; a sync invocation waits for the function
# Loggers that may print request headers: fc2's (root), and the tea transports' own (DEBUG=sdk).
SDK_LOGGERS = ("", "fc2", "darabonba-core", "alibabacloud-tea")


def protect_root_logger() -> None:
    """Idempotently add RedactSecrets to the root logger (fc2's records) and the SDK transport loggers."""
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name or None)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


def _client_class():
    import fc2
    import requests

    class _Fc2Client(fc2.Client):
        """fc2.Client sending through one reused session, without urllib3 retries or header logs."""

        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self._session = requests.Session()

        def _do_request(self, method, path, headers, params=None, body=None):
            response = self._session.request(method, f"{self.endpoint}{path}", headers=headers, params=params,
                                             data=body, timeout=(CONNECT_TIMEOUT, self.timeout))
            if response.status_code >= 400:
                raise self._Client__gen_request_err(response)  # fc2's own FcError from the JSON body
            return response

    return _Fc2Client


class FunctionGateway:
    """Invokes functions of this deployment on the FC API `settings.fc_api` names."""

    def __init__(self, settings) -> None:
        protect_root_logger()
        self.settings = settings
        if settings.fc_api == "fc3":
            self._invoker = _Fc3Invoker(settings)
        elif settings.fc_api == "fc2":
            self._invoker = _Fc2Invoker(settings)
        else:
            raise ValueError(f"settings.fc_api must be 'fc2' or 'fc3', got {settings.fc_api!r}")

    def __repr__(self) -> str:
        if self.settings.fc_api == "fc3":
            return "FunctionGateway(api='fc3')"
        return f"FunctionGateway(api='fc2', service={self.settings.service_name!r})"

    def invoke_async(self, function_name: str, payload: dict) -> str:
        """Queue one invocation (FC answers 202 at once); returns FC's request id for the logs.

        A retry after a lost answer may queue the work twice: workers must be idempotent.
        """
        response = self._invoke(function_name, payload, "Async")
        return _header(response.headers, "x-fc-request-id")

    def invoke_sync(self, function_name: str, payload: dict) -> bytes:
        """Run the function and return what it returned (an unhandled error raises CloudError)."""
        return self._invoke(function_name, payload, "Sync").data

    def triggers(self, function_name: str) -> list[dict]:
        """The function's triggers as {"name", "type", "config" (dict), "sourceArn"}: what `rolepact
        doctor` compares with the deployment file. A missing function raises CloudError."""
        return call_with_retry(lambda: self._invoker.triggers(function_name), service="fc", action="ListTriggers",
                               settings=self.settings)

    def _invoke(self, function_name: str, payload: dict, invocation_type: str) -> "_Invocation":
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return call_with_retry(lambda: self._invoker.invoke(function_name, body, invocation_type),
                               service="fc", action="InvokeFunction", settings=self.settings)


class _Invocation:
    """What either SDK answered: response headers and the function's returned bytes."""

    def __init__(self, headers, data: bytes) -> None:
        self.headers = headers or {}
        self.data = data


class _Fc2Invoker:
    """FC 2.0 (2016-08-15) through fc2: `/services/<service>/functions/<function>/invocations`."""

    def __init__(self, settings) -> None:
        creds = credentials_of(settings)
        if not settings.endpoints.fc and not settings.account_id:
            raise ValueError("FunctionGateway needs settings.account_id (or ROLEPACT_FC_ENDPOINT) for the FC endpoint")
        endpoint = endpoint_url(settings.endpoints.fc,
                                f"https://{settings.account_id}.{settings.region}.fc.aliyuncs.com",
                                settings.endpoints.protocol)
        self.service_name = settings.service_name
        self._client = _client_class()(endpoint=endpoint, accessKeyID=creds.access_key_id,
                                       accessKeySecret=creds.access_key_secret,
                                       securityToken=creds.security_token or "", Timeout=TIMEOUT)

    def invoke(self, function_name: str, body: bytes, invocation_type: str) -> _Invocation:
        headers = {"x-fc-invocation-type": invocation_type, "content-type": "application/json"}
        response = self._client.invoke_function(self.service_name, function_name, payload=body, headers=headers)
        return _Invocation(response.headers, response.data)

    def triggers(self, function_name: str) -> list[dict]:
        found, token = [], None
        while True:
            data = self._client.list_triggers(self.service_name, function_name, limit=100, nextToken=token).data
            found += [_trigger(t.get("triggerName"), t.get("triggerType"), t.get("triggerConfig"), t.get("sourceArn"))
                      for t in data.get("triggers") or []]
            token = data.get("nextToken")
            if not token:
                return found


class _Fc3Invoker:
    """FC 3.0 (2023-03-30) through alibabacloud_fc20230330: `/2023-03-30/functions/<function>/invocations`.

    Endpoint: the override, else `<account>.<region>.fc.aliyuncs.com` (FC's documented
    endpoint), else the SDK's own `fcv3.<region>.aliyuncs.com` when the account is unknown.
    """

    def __init__(self, settings) -> None:
        from alibabacloud_fc20230330 import models
        from alibabacloud_fc20230330.client import Client
        from darabonba.runtime import RuntimeOptions

        default_host = (f"{settings.account_id}.{settings.region}.fc.aliyuncs.com" if settings.account_id
                        else f"fcv3.{settings.region}.aliyuncs.com")
        config = tea_config(settings, settings.endpoints.fc, default_host)
        config.read_timeout = TIMEOUT * 1000  # a sync invocation waits for the function
        self._models = models
        self._client = Client(config)
        self._runtime = RuntimeOptions(autoretry=False, connect_timeout=CONNECT_TIMEOUT * 1000,
                                       read_timeout=TIMEOUT * 1000)

    def invoke(self, function_name: str, body: bytes, invocation_type: str) -> _Invocation:
        models = self._models
        response = self._client.invoke_function_with_options(
            function_name, models.InvokeFunctionRequest(body=io.BytesIO(body)),
            models.InvokeFunctionHeaders(x_fc_invocation_type=invocation_type), self._runtime)
        headers = response.headers or {}
        data = response.body.read() if response.body is not None else b""
        error_type = _header(headers, "x-fc-error-type")
        if error_type:  # HTTP 200 with the function's error: the SDK does not raise, we do
            raise CloudError("fc", "InvokeFunction", error_type, redact(_error_message(data)), status=response.status_code,
                             request_id=_header(headers, "x-fc-request-id") or None)
        return _Invocation(headers, data)

    def triggers(self, function_name: str) -> list[dict]:
        found, token = [], None
        while True:
            body = self._client.list_triggers_with_options(
                function_name, self._models.ListTriggersRequest(limit=100, next_token=token), {}, self._runtime).body
            found += [_trigger(t.trigger_name, t.trigger_type, t.trigger_config, t.source_arn)
                      for t in body.triggers or []]
            token = body.next_token
            if not token:
                return found


def _trigger(name, trigger_type, config, source_arn) -> dict:
    if isinstance(config, str):  # FC 3.0 sends triggerConfig as a JSON string
        try:
            config = json.loads(config or "{}")
        except ValueError:
            config = {"unparsed": config}
    return {"name": name or "", "type": (trigger_type or "").lower(), "config": config or {},
            "sourceArn": source_arn or ""}


def _error_message(data: bytes) -> str:
    """The function's `errorMessage` from FC's error JSON, else the raw text."""
    text = (data or b"").decode("utf-8", "replace")
    try:
        return str(json.loads(text).get("errorMessage") or text)
    except (ValueError, AttributeError):
        return text


def _header(headers, name: str) -> str:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return ""
