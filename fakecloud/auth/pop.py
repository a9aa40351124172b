"""Authentication of POP (RPC-style) calls: RAM, STS, ECS, ActionTrail.

Accepts the two signatures official SDKs send:
- ACS3-HMAC-SHA256 (the Python tea SDKs and current SDKs in other languages), and
- the classic RPC signature (HMAC-SHA1 over the canonical query; aliyun CLI, older SDKs).
Verification recomputes the signature from the request as received, so a wrong secret,
a tampered parameter or a missing signed header is rejected like the real gateway does.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, quote

from fakecloud.clock import parse_iso
from fakecloud.errors import ServiceError
from fakecloud.iam.keys import AccessKey, KeyStore
from fakecloud.wire import Request

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = timedelta(minutes=15)


@dataclass
class PopAuth:
    key: AccessKey
    params: dict[str, str]  # business parameters (signature parameters removed)


_RPC_SIGNATURE_PARAMS = {
    "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "SignatureType",
    "AccessKeyId", "Timestamp", "Format", "Version", "Action", "SecurityToken", "RegionId_",
}


def _pct(value: str) -> str:
    return quote(value, safe="~", encoding="utf-8")


class NonceCache:
    """Remembers signature nonces for the skew window, to refuse replays."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def use(self, nonce: str, now: datetime) -> bool:
        with self._lock:
            if len(self._seen) > 50_000:
                cutoff = now - MAX_SKEW
                self._seen = {n: t for n, t in self._seen.items() if t > cutoff}
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True


def request_params(request: Request) -> dict[str, str]:
    """Query parameters, plus form-encoded body parameters (some SDKs POST a form)."""
    params = dict(request.query_pairs)
    ctype = request.headers.get("content-type", "")
    if request.body and ctype.startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    return params


def authenticate(request: Request, keys: KeyStore, nonces: NonceCache, now: datetime) -> PopAuth:
    auth_header = request.headers.get("authorization", "")
    params = request_params(request)
    if auth_header.startswith("ACS3-HMAC-SHA256"):
        key = _verify_acs3(request, auth_header, params, keys, nonces, now)
        token = request.headers.get("x-acs-security-token")
    elif "Signature" in params:
        key = _verify_rpc(request, params, keys, nonces, now)
        token = params.get("SecurityToken")
        params = {k: v for k, v in params.items() if k not in _RPC_SIGNATURE_PARAMS}
    elif auth_header:
        raise ServiceError("IncompleteSignature", "The request signature does not conform to Aliyun standards.", 400)
    else:
        raise ServiceError("MissingSignature", "Signature is mandatory for this action.", 400)
    check_key(key, token, now)
    return PopAuth(key, params)


def lookup_key(keys: KeyStore, access_key_id: str) -> AccessKey:
    key = keys.get(access_key_id)
    if key is None:
        raise ServiceError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
    return key


def check_key(key: AccessKey, token: str | None, now: datetime) -> None:
    """Status and STS-token checks shared by every protocol."""
    if key.status != "Active":
        raise ServiceError("InvalidAccessKeyId.Inactive", "Specified access key is disabled.", 400)
    if key.kind == "sts":
        if not token:
            raise ServiceError("MissingSecurityToken", "SecurityToken is mandatory for this action.", 400)
        if token != key.security_token:
            raise ServiceError("InvalidSecurityToken.MismatchWithAccessKey",
                               "Specified SecurityToken mismatch with the AccessKey.", 400)
        if key.expiration is not None and now >= key.expiration:
            raise ServiceError("InvalidSecurityToken.Expired", "Specified SecurityToken is expired.", 400)
    elif token:
        raise ServiceError("InvalidSecurityToken.MismatchWithAccessKey",
                           "Specified SecurityToken mismatch with the AccessKey.", 400)


def _check_time_and_nonce(stamp: str | None, nonce: str | None, nonces: NonceCache, now: datetime) -> None:
    if not stamp:
        raise ServiceError("MissingTimestamp", "Timestamp is mandatory for this action.", 400)
    try:
        sent = parse_iso(stamp)
    except ValueError:
        raise ServiceError("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.", 400)
    if abs(now - sent) > MAX_SKEW:
        raise ServiceError("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", 400)
    if nonce and not nonces.use(nonce, now):
        raise ServiceError("SignatureNonceUsed", "Specified signature nonce was used already.", 400)


def _verify_acs3(request: Request, header: str, params, keys, nonces, now) -> AccessKey:
    try:
        fields = dict(part.strip().split("=", 1) for part in header[len("ACS3-HMAC-SHA256"):].split(","))
        access_key_id, signed, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except (ValueError, KeyError):
        raise ServiceError("IncompleteSignature", "The request signature does not conform to Aliyun standards.", 400)
    key = lookup_key(keys, access_key_id)
    body_hash = hashlib.sha256(request.body or b"").hexdigest()
    claimed_hash = request.headers.get("x-acs-content-sha256")
    if claimed_hash and claimed_hash != body_hash:
        raise ServiceError("SignatureDoesNotMatch", "The request body does not match x-acs-content-sha256.", 400)
    canonical_query = "&".join(
        f"{_pct(k)}={_pct(v)}" for k, v in sorted(request.query_pairs, key=lambda kv: kv[0])
    )
    names = [n.strip().lower() for n in signed.split(";") if n.strip()]
    canonical_headers = "".join(f"{n}:{request.headers.get(n, '').strip()}\n" for n in names)
    canonical_request = "\n".join(
        [request.method, request.path or "/", canonical_query, canonical_headers, ";".join(names), body_hash]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    expected = hmac.new(key.secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise ServiceError(
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation. server string to sign is:" + to_sign,
            400,
        )
    _check_time_and_nonce(request.headers.get("x-acs-date"), request.headers.get("x-acs-signature-nonce"), nonces, now)
    return key


def _verify_rpc(request: Request, params, keys, nonces, now) -> AccessKey:
    access_key_id = params.get("AccessKeyId")
    if not access_key_id:
        raise ServiceError("MissingAccessKeyId", "AccessKeyId is mandatory for this action.", 400)
    key = lookup_key(keys, access_key_id)
    method = params.get("SignatureMethod", "HMAC-SHA1")
    digest = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}.get(method)
    if digest is None:
        raise ServiceError("InvalidSignatureMethod", f"Specified signature method {method} is not valid.", 400)
    canonical = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in sorted(params.items()) if k != "Signature")
    to_sign = f"{request.method}&{_pct('/')}&{_pct(canonical)}"
    expected = base64.b64encode(
        hmac.new((key.secret + "&").encode("utf-8"), to_sign.encode("utf-8"), digest).digest()
    ).decode("ascii")
    if not hmac.compare_digest(expected, params.get("Signature", "")):
        raise ServiceError(
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation. server string to sign is:" + to_sign,
            400,
        )
    _check_time_and_nonce(params.get("Timestamp"), params.get("SignatureNonce"), nonces, now)
    return key
