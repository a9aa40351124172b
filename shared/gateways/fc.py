"""Function Compute (FC 2.0 API, fc2 SDK): fan reconcile work out to the worker function.

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
"""
from __future__ import annotations

import json
import logging

from shared.gateways import CONNECT_TIMEOUT, credentials_of, endpoint_url
from shared.gateways.retry import call_with_retry
from shared.log import RedactSecrets

TIMEOUT = 60  # seconds; a sync invocation waits for the function


def protect_root_logger() -> None:
    """Idempotently add RedactSecrets to the root logger (fc2's records) and the `fc2` logger."""
    for logger in (logging.getLogger(), logging.getLogger("fc2")):
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
    def __init__(self, settings) -> None:
        protect_root_logger()
        self.settings = settings
        creds = credentials_of(settings)
        if not settings.endpoints.fc and not settings.account_id:
            raise ValueError("FunctionGateway needs settings.account_id (or ROLEPACT_FC_ENDPOINT) for the FC endpoint")
        endpoint = endpoint_url(settings.endpoints.fc,
                                f"https://{settings.account_id}.{settings.region}.fc.aliyuncs.com",
                                settings.endpoints.protocol)
        self._client = _client_class()(endpoint=endpoint, accessKeyID=creds.access_key_id,
                                       accessKeySecret=creds.access_key_secret,
                                       securityToken=creds.security_token or "", Timeout=TIMEOUT)

    def __repr__(self) -> str:
        return f"FunctionGateway(service={self.settings.service_name!r})"

    def invoke_async(self, function_name: str, payload: dict) -> str:
        """Queue one invocation (FC answers 202 at once); returns FC's request id for the logs.

        A retry after a lost answer may queue the work twice: workers must be idempotent.
        """
        response = self._invoke(function_name, payload, "Async")
        return _header(response.headers, "x-fc-request-id")

    def invoke_sync(self, function_name: str, payload: dict) -> bytes:
        """Run the function and return what it returned (an unhandled error raises CloudError)."""
        return self._invoke(function_name, payload, "Sync").data

    def _invoke(self, function_name: str, payload: dict, invocation_type: str):
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
        headers = {"x-fc-invocation-type": invocation_type, "content-type": "application/json"}
        return call_with_retry(
            lambda: self._client.invoke_function(self.settings.service_name, function_name, payload=body,
                                                 headers=headers),
            service="fc", action="InvokeFunction", settings=self.settings)


def _header(headers, name: str) -> str:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return ""
