"""Authentication of POP (RPC-style) calls: RAM, STS, ECS, ActionTrail.

Accepts the two signatures official SDKs send:
- ACS3-HMAC-SHA256 (the Python tea SDKs and current SDKs in other languages), and
- the classic RPC signature (HMAC-SHA1 over the canonical query; aliyun CLI, older SDKs).
Verification recomputes the signature from the request as received, so a wrong secret,
a tampered parameter or a missing signed header is rejected like the real gateway does.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import operator
import re
import threading
from collections import deque
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
    action: str | None = None  # x-acs-action header, else the Action parameter (query or form body)
    version: str | None = None  # x-acs-version header, else the Version parameter


_RPC_SIGNATURE_PARAMS = {
    "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "SignatureType",
    "AccessKeyId", "Timestamp", "Format", "Version", "Action", "SecurityToken", "RegionId_",
}


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~\-]*")
_first = operator.itemgetter(0)


def _pct(value: str) -> str:
    """RFC 3986 percent-encoding as both signatures use it (space -> %20, `~` kept)."""
    if _UNRESERVED.fullmatch(value):  # the common case costs a regex match, not a quote()
        return value
    return quote(value, safe="~", encoding="utf-8")


class NonceCache:
    """Remembers signature nonces for the skew window, to refuse replays.

    A nonce older than the window cannot be replayed anyway (its signed timestamp is then
    refused), so entries are dropped in arrival order once they leave the window: memory
    stays bounded by the request rate and each call does O(1) work.
    """

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}
        self._order: deque[tuple[datetime, str]] = deque()
        self._lock = threading.Lock()

    def use(self, nonce: str, now: datetime) -> bool:
        with self._lock:
            cutoff = now - MAX_SKEW
            order, seen = self._order, self._seen
            while order and order[0][0] < cutoff:
                _, old = order.popleft()
                if seen.get(old, now) < cutoff:
                    del seen[old]
            if nonce in seen:
                return False
            seen[nonce] = now
            order.append((now, nonce))
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
    action = request.headers.get("x-acs-action") or params.get("Action")
    version = request.headers.get("x-acs-version") or params.get("Version")
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
    return PopAuth(key, params, action, version)


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


_SENT: dict[str, datetime] = {}


def _check_time_and_nonce(stamp: str | None, nonce: str | None, nonces: NonceCache, now: datetime) -> None:
    if not stamp:
        raise ServiceError("MissingTimestamp", "Timestamp is mandatory for this action.", 400)
    sent = _SENT.get(stamp)  # SDKs stamp to the second: most calls repeat the previous stamp
    if sent is None:
        try:
            sent = parse_iso(stamp)
        except ValueError:
            raise ServiceError("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.",
                               400)
        if len(_SENT) >= 256:
            _SENT.clear()
        _SENT[stamp] = sent
    if abs(now - sent) > MAX_SKEW:
        raise ServiceError("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", 400)
    if nonce and not nonces.use(nonce, now):
        raise ServiceError("SignatureNonceUsed", "Specified signature nonce was used already.", 400)


def _acs3_fields(header: str) -> tuple[str, tuple[str, ...], str]:
    """(AccessKeyId, signed header names, signature) of an ACS3 Authorization header."""
    # Fast path for the exact form SDKs send; any other spacing or order takes the general parse.
    head, _, rest = header.partition(" Credential=")
    access_key_id, _, rest = rest.partition(",SignedHeaders=")
    signed, _, signature = rest.partition(",Signature=")
    if head == "ACS3-HMAC-SHA256" and access_key_id and signed and signature and "," not in signature:
        return access_key_id, _signed_names(signed), signature
    try:
        fields = dict(part.strip().split("=", 1) for part in header[len("ACS3-HMAC-SHA256"):].split(","))
        access_key_id, signed, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except (ValueError, KeyError):
        raise ServiceError("IncompleteSignature", "The request signature does not conform to Aliyun standards.", 400)
    return access_key_id, _signed_names(signed), signature


_SHA256 = hashlib.sha256()  # copying a fresh context skips OpenSSL's per-call digest lookup
_HMAC_BY_SECRET: dict[str, object] = {}


def _sha256_hex(data: bytes) -> str:
    digest = _SHA256.copy()
    digest.update(data)
    return digest.hexdigest()


def _hmac_sha256_hex(secret: str, message: bytes) -> str:
    """HMAC-SHA256 from a per-secret keyed template: the key schedule is done once per secret.

    The template is OpenSSL's own HMAC object where `hmac.HMAC` wraps one (CPython), so that
    copying it does not go through the Python wrapper."""
    template = _HMAC_BY_SECRET.get(secret)
    if template is None:
        if len(_HMAC_BY_SECRET) >= 10_000:
            _HMAC_BY_SECRET.clear()
        wrapper = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)
        template = _HMAC_BY_SECRET[secret] = getattr(wrapper, "_hmac", None) or wrapper
    mac = template.copy()
    mac.update(message)
    return mac.hexdigest()


@functools.lru_cache(maxsize=64)
def _signed_names(signed: str) -> tuple[str, ...]:
    """SDKs send the same SignedHeaders list on every call; parse it once."""
    return tuple(n.strip().lower() for n in signed.split(";") if n.strip())


_UNSIGNED: dict[tuple, list[str]] = {}


def _unsigned_common_headers(headers: dict[str, str], names: tuple[str, ...]) -> list[str]:
    """Common headers present but left out of SignedHeaders.

    The V3 signature requires every common header that is present (`host` and all `x-acs-*`,
    the security token included) to be signed; otherwise a header such as `x-acs-action`
    could be changed in flight without breaking the signature. The answer depends only on the
    header names, which a client sends the same on every call: it is worked out once per set.
    """
    shape = (*headers, None, *names)
    unsigned = _UNSIGNED.get(shape)
    if unsigned is None:
        signed = set(names)
        unsigned = sorted(h for h in headers if (h == "host" or h.startswith("x-acs-")) and h not in signed)
        if len(_UNSIGNED) >= 1024:
            _UNSIGNED.clear()
        _UNSIGNED[shape] = unsigned
    return unsigned


def _verify_acs3(request: Request, header: str, params, keys, nonces, now) -> AccessKey:
    access_key_id, names, signature = _acs3_fields(header)
    unsigned = _unsigned_common_headers(request.headers, names)
    if unsigned:
        raise ServiceError("IncompleteSignature", "The request signature does not conform to Aliyun standards. "
                           f"Unsigned headers: {';'.join(unsigned)}", 400)
    key = lookup_key(keys, access_key_id)
    body_hash = _sha256_hex(request.body) if request.body else EMPTY_SHA256
    claimed_hash = request.headers.get("x-acs-content-sha256")
    if claimed_hash and claimed_hash != body_hash:
        raise ServiceError("SignatureDoesNotMatch", "The request body does not match x-acs-content-sha256.", 400)
    canonical_query = "&".join([f"{_pct(k)}={_pct(v)}" for k, v in sorted(request.query_pairs, key=_first)])
    headers = request.headers
    canonical_headers = "".join([f"{n}:{headers.get(n, '').strip()}\n" for n in names])
    canonical_request = "\n".join(
        [request.method, request.path or "/", canonical_query, canonical_headers, ";".join(names), body_hash]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + _sha256_hex(canonical_request.encode("utf-8"))
    expected = _hmac_sha256_hex(key.secret, to_sign.encode("utf-8"))
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
