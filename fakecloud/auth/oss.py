"""Authentication of OSS requests, recomputing the signatures `oss2` and the v2 SDK send.

Accepted forms (string-to-sign exactly as oss2/auth.py builds it):
- V1 header  `Authorization: OSS <AK>:<base64 HMAC-SHA1>` (oss2.Auth / StsAuth, the default),
- V1 URL     `?OSSAccessKeyId=&Expires=&Signature=` (bucket.sign_url with Auth),
- V2 header  `Authorization: OSS2 AccessKeyId:<AK>,AdditionalHeaders:..,Signature:..` (oss2.AuthV2),
- V2 URL     `?x-oss-signature-version=OSS2&x-oss-expires=&x-oss-access-key-id=&x-oss-signature=` (sign_url with AuthV2),
- V4 header  `Authorization: OSS4-HMAC-SHA256 Credential=<AK>/<date>/<region>/oss/aliyun_v4_request,...`
             (oss2.AuthV4 / ProviderAuthV4, alibabacloud-oss-v2),
- V4 URL     `?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=..` (sign_url with AuthV4).
Content-Length is never part of anything signed. Requests without any signature are
anonymous (`None`); the service answers them AccessDenied.

Key and STS-token problems are reported with OSS's codes, not the POP gateway's: see
`KEY_ERRORS` and docs/fake-fidelity.md section h.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote

from fakecloud import clock
from fakecloud.auth.pop import check_key
from fakecloud.errors import ServiceError
from fakecloud.iam.keys import AccessKey, KeyStore
from fakecloud.wire import Request

MAX_SKEW = timedelta(minutes=15)
V4_ALGORITHM = "OSS4-HMAC-SHA256"
V4_DEFAULT_SIGNED = ("content-type", "content-md5")

# Query parameters that are part of the V1 canonical resource (oss2 ProviderAuth._subresource_key_set).
V1_SUBRESOURCES = frozenset([
    "response-content-type", "response-content-language", "response-cache-control", "logging",
    "response-content-encoding", "acl", "uploadId", "uploads", "partNumber", "group", "link", "delete",
    "website", "location", "objectInfo", "objectMeta", "response-expires", "response-content-disposition",
    "cors", "lifecycle", "restore", "qos", "referer", "stat", "bucketInfo", "append", "position",
    "security-token", "live", "comp", "status", "vod", "startTime", "endTime", "x-oss-process", "symlink",
    "callback", "callback-var", "tagging", "encryption", "versions", "versioning", "versionId", "policy",
    "requestPayment", "x-oss-traffic-limit", "qosInfo", "asyncFetch", "x-oss-request-payer", "sequential",
    "inventory", "inventoryId", "continuation-token", "worm", "wormId", "wormExtend", "replication",
    "replicationLocation", "replicationProgress", "transferAcceleration", "cname", "metaQuery",
    "x-oss-ac-source-ip", "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id", "x-oss-ac-forward-allow",
    "resourceGroup", "style", "styleName", "x-oss-async-process", "regionList",
    "x-oss-write-get-object-response", "bucketArchiveDirectRead", "httpsConfig", "redundancyTransition",
    "x-oss-target-redundancy-type", "x-oss-redundancy-transition-taskid", "accessPoint", "accessPointPolicy",
    "publicAccessBlock", "x-oss-access-point-name", "requesterQosInfo", "qosRequester", "resourcePoolInfo",
    "resourcePool", "resourcePoolBuckets",
])

NOT_FOUND = "The OSS Access Key Id you provided does not exist in our records."
# POP check_key error code -> OSS (code, message, EC). All are 403.
KEY_ERRORS = {
    "InvalidAccessKeyId.Inactive": ("InvalidAccessKeyId", "The OSS Access Key Id you provided is disabled.",
                                    "0002-00000901"),
    "MissingSecurityToken": ("InvalidAccessKeyId", NOT_FOUND + " The Security Token may be lost to specify that "
                             "it is a STS Access Id.", "0002-00000003"),
    "InvalidSecurityToken.Expired": ("SecurityTokenExpired", "The security token you provided has expired.",
                                     "0002-00000007"),
    "InvalidSecurityToken.MismatchWithAccessKey": ("InvalidSecurityToken",
                                                   "The security token you provided is invalid.", "0002-00000006"),
}


@dataclass
class OssAuth:
    key: AccessKey
    scheme: str  # "OSS", "OSS2", "OSS4-HMAC-SHA256", with " URL" appended for presigned URLs


@dataclass
class Target:
    """What the request addresses, as signatures see it (bucket and key decoded)."""

    bucket: str | None
    key: str
    region: str | None  # the endpoint's region, when the host names one (V4 scope check)


def _error(code: str, message: str, ec: str, status: int = 403, **extra) -> ServiceError:
    return ServiceError(code, message, status, **extra, EC=ec)


def authenticate(request: Request, keys: KeyStore, now: datetime, target: Target) -> OssAuth | None:
    header = request.headers.get("authorization", "")
    query = request.query
    if header.startswith(V4_ALGORITHM):
        return _verify_v4(request, keys, now, target, _parse_v4_header(header[len(V4_ALGORITHM):]), url=False)
    if header.startswith("OSS2 "):
        return _verify_v2(request, keys, now, target, header[5:])
    if header.startswith("OSS "):
        access_key_id, _, signature = header[4:].strip().partition(":")
        date = request.headers.get("x-oss-date") or request.headers.get("date", "")
        auth = _verify_v1(request, keys, now, target, access_key_id, signature, date,
                          request.headers.get("x-oss-security-token"), url=False)
        _check_skew(date, now)
        return auth
    if "OSSAccessKeyId" in query and "Signature" in query:
        expires = query.get("Expires", "")
        auth = _verify_v1(request, keys, now, target, query["OSSAccessKeyId"], query["Signature"], expires,
                          query.get("security-token"), url=True)
        _check_expired(_epoch(expires), now)
        return auth
    if query.get("x-oss-signature-version") == "OSS2":
        return _verify_v2_url(request, keys, now, target)
    if query.get("x-oss-signature-version") == V4_ALGORITHM:
        fields = {"Credential": query.get("x-oss-credential", ""), "Signature": query.get("x-oss-signature", ""),
                  "AdditionalHeaders": query.get("x-oss-additional-headers", "")}
        return _verify_v4(request, keys, now, target, fields, url=True)
    if header:
        raise _error("InvalidArgument", "Authorization header is invalid.", "0002-00000101", 400,
                     ArgumentName="Authorization", ArgumentValue=header)
    return None


# -- keys ------------------------------------------------------------------------------------------------
def _key(keys: KeyStore, access_key_id: str, token: str | None, now: datetime) -> AccessKey:
    key = keys.get(access_key_id)
    if key is None:
        # With a token OSS takes it for an STS request whose key is unknown or expired (0002-00000002).
        raise _error("InvalidAccessKeyId", NOT_FOUND, "0002-00000002" if token else "0002-00000012",
                     OSSAccessKeyId=access_key_id)
    try:
        check_key(key, token, now)
    except ServiceError as problem:
        if problem.code == "InvalidSecurityToken.MismatchWithAccessKey" and key.kind != "sts":
            # A token sent with a permanent key: OSS looks for an STS key of that id and finds none.
            raise _error("InvalidAccessKeyId", NOT_FOUND, "0002-00000002", OSSAccessKeyId=access_key_id)
        code, message, ec = KEY_ERRORS.get(problem.code, ("InvalidAccessKeyId", NOT_FOUND, "0002-00000012"))
        extra = {"OSSAccessKeyId": access_key_id} if code == "InvalidAccessKeyId" else {}
        raise _error(code, message, ec, **extra)
    return key


def _mismatch(access_key_id: str, provided: str, string_to_sign: bytes, ec: str, **more) -> ServiceError:
    return _error("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you "
                  "provided. Check your key and signing method.", ec, OSSAccessKeyId=access_key_id,
                  SignatureProvided=provided, StringToSign=string_to_sign.decode("utf-8", "replace"),
                  StringToSignBytes=" ".join(f"{b:02X}" for b in string_to_sign), **more)


# -- time --------------------------------------------------------------------------------------------------
def _check_skew(date: str, now: datetime) -> None:
    try:
        sent = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        raise _error("AccessDenied", "OSS authentication requires a valid Date.", "0002-00000018")
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=timezone.utc)
    _skew(sent, now)


def _skew(sent: datetime, now: datetime) -> None:
    if abs(now - sent) > MAX_SKEW:
        raise _error("RequestTimeTooSkewed", "The difference between the request time and the current time is "
                     "too large.", "0002-00000504", RequestTime=clock.iso(sent), ServerTime=clock.iso(now),
                     MaxAllowedSkewMilliseconds="900000")


def _epoch(value: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), timezone.utc)
    except (TypeError, ValueError, OverflowError):
        raise _error("AccessDenied", "Invalid argument: Expires.", "0002-00000061")


def _check_expired(expires: datetime, now: datetime) -> None:
    if now > expires:
        raise _error("AccessDenied", "Request has expired.", "0002-00000069", Expires=clock.iso(expires),
                     ServerTime=clock.iso(now))


# -- V1 ----------------------------------------------------------------------------------------------------
def _oss_headers(request: Request, also: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in request.headers.items() if k.startswith("x-oss-") or k in also)


def _v1_resource(request: Request, target: Target) -> str:
    resource = f"/{target.bucket}/{target.key}" if target.bucket else "/"
    sub = sorted((k, v) for k, v in request.query_pairs if k in V1_SUBRESOURCES)
    if sub:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in sub)
    return resource


def v1_string_to_sign(request: Request, target: Target, date: str) -> bytes:
    headers = "".join(f"{k}:{v}\n" for k, v in _oss_headers(request))
    return "\n".join([request.method, request.headers.get("content-md5", ""),
                      request.headers.get("content-type", ""), date,
                      headers + _v1_resource(request, target)]).encode("utf-8")


def _verify_v1(request: Request, keys: KeyStore, now: datetime, target: Target, access_key_id: str,
               signature: str, date: str, token: str | None, *, url: bool) -> OssAuth:
    if not access_key_id or not signature:
        raise _error("InvalidArgument", "Authorization header is invalid.", "0002-00000101", 400,
                     ArgumentName="Authorization", ArgumentValue=f"OSS {access_key_id}:{signature}")
    key = _key(keys, access_key_id, token, now)
    to_sign = v1_string_to_sign(request, target, date)
    expected = base64.b64encode(hmac.new(key.secret.encode(), to_sign, hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(expected, signature):
        raise _mismatch(access_key_id, signature, to_sign, "0002-00000040")
    return OssAuth(key, "OSS URL" if url else "OSS")


# -- V2 ----------------------------------------------------------------------------------------------------
def _v2_string_to_sign(request: Request, target: Target, date: str, additional: list[str]) -> bytes:
    headers = "".join(f"{k}:{v}\n" for k, v in _oss_headers(request, frozenset(additional)))
    resource = quote(f"/{target.bucket}/{target.key}" if target.bucket else "/", safe="")
    params = sorted((quote(k, safe=""), quote(v, safe="")) for k, v in request.query_pairs
                    if k != "x-oss-signature")
    if params:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in params)
    return "\n".join([request.method, request.headers.get("content-md5", ""),
                      request.headers.get("content-type", ""), date,
                      headers + ";".join(additional), resource]).encode("utf-8")


def _additional(value: str) -> list[str]:
    return sorted(h.strip().lower() for h in value.split(";") if h.strip())


def _verify_v2(request: Request, keys: KeyStore, now: datetime, target: Target, rest: str) -> OssAuth:
    fields = dict(part.strip().split(":", 1) for part in rest.split(",") if ":" in part)
    access_key_id, signature = fields.get("AccessKeyId", ""), fields.get("Signature", "")
    key = _key(keys, access_key_id, request.headers.get("x-oss-security-token"), now)
    date = request.headers.get("date", "")
    to_sign = _v2_string_to_sign(request, target, date, _additional(fields.get("AdditionalHeaders", "")))
    expected = base64.b64encode(hmac.new(key.secret.encode(), to_sign, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected, signature):
        raise _mismatch(access_key_id, signature, to_sign, "0002-00000040")
    _check_skew(date, now)
    return OssAuth(key, "OSS2")


def _verify_v2_url(request: Request, keys: KeyStore, now: datetime, target: Target) -> OssAuth:
    """A V2 presigned URL (oss2 AuthV2.sign_url): the expiry time stands where V2 signs the Date,
    and every query parameter but the signature itself is signed."""
    query = request.query
    access_key_id, signature = query.get("x-oss-access-key-id", ""), query.get("x-oss-signature", "")
    if not access_key_id or not signature:
        raise _error("InvalidArgument", "Authorization header is invalid.", "0002-00000101", 400,
                     ArgumentName="x-oss-signature", ArgumentValue=signature)
    key = _key(keys, access_key_id, query.get("security-token"), now)
    expires = query.get("x-oss-expires", "")
    to_sign = _v2_string_to_sign(request, target, expires, _additional(query.get("x-oss-additional-headers", "")))
    expected = base64.b64encode(hmac.new(key.secret.encode(), to_sign, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected, signature):
        raise _mismatch(access_key_id, signature, to_sign, "0002-00000040")
    _check_expired(_epoch(expires), now)
    return OssAuth(key, "OSS2 URL")


# -- V4 ----------------------------------------------------------------------------------------------------
def _parse_v4_header(rest: str) -> dict[str, str]:
    return dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)


def _v4_signing_key(secret: str, date: str, region: str) -> bytes:
    signing = hmac.new(f"aliyun_v4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, "oss", "aliyun_v4_request"):
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    return signing


def _verify_v4(request: Request, keys: KeyStore, now: datetime, target: Target, fields: dict[str, str], *,
               url: bool) -> OssAuth:
    credential, signature = fields.get("Credential", ""), fields.get("Signature", "")
    parts = credential.split("/")
    if len(parts) != 5 or parts[3] != "oss" or parts[4] != "aliyun_v4_request" or not signature:
        raise _error("InvalidArgument", "Authorization header is invalid.", "0002-00000201", 400,
                     ArgumentName="Authorization", ArgumentValue=credential)
    access_key_id, _, claimed_region = parts[0], parts[1], parts[2]
    token = request.query.get("x-oss-security-token") if url else request.headers.get("x-oss-security-token")
    key = _key(keys, access_key_id, token, now)
    stamp = request.query.get("x-oss-date", "") if url else request.headers.get("x-oss-date", "")
    try:
        sent = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise _error("AccessDenied", "x-oss-date is invalid.", "0002-00000224")
    # The server signs with *its* scope: a client signing for another region does not match.
    scope = f"{stamp[:8]}/{target.region or claimed_region}/oss/aliyun_v4_request"
    additional = sorted(h.strip().lower() for h in fields.get("AdditionalHeaders", "").split(";") if h.strip())
    signed = [(k, v.strip()) for k, v in request.headers.items()
              if k.startswith("x-oss-") or k in V4_DEFAULT_SIGNED or k in additional]
    if "host" in additional and "host" not in request.headers:
        signed.append(("host", request.raw_host))
    query = [(k, v) for k, v in request.query_pairs if not (url and k == "x-oss-signature")]
    canonical_query = "&".join(f"{k}={v}" if v else k
                               for k, v in sorted((quote(k, safe=""), quote(v, safe="")) for k, v in query))
    uri = f"/{target.bucket}/{target.key}" if target.bucket else "/"
    canonical = "\n".join([
        request.method, quote(uri, safe="/"), canonical_query,
        "".join(f"{k}:{v}\n" for k, v in sorted(signed)), ";".join(additional),
        "UNSIGNED-PAYLOAD" if url else request.headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
    ]).encode("utf-8")
    to_sign = f"{V4_ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical).hexdigest()}".encode()
    expected = hmac.new(_v4_signing_key(key.secret, stamp[:8], target.region or claimed_region), to_sign,
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise _mismatch(access_key_id, signature, to_sign, "0002-00000226",
                        CanonicalRequest=canonical.decode("utf-8", "replace"))
    if url:
        try:
            lifetime = timedelta(seconds=int(request.query.get("x-oss-expires", "")))
        except ValueError:
            raise _error("AccessDenied", "Invalid argument: x-oss-expires.", "0002-00000061")
        _check_expired(sent + lifetime, now)
    else:
        _skew(sent, now)
    return OssAuth(key, V4_ALGORITHM + (" URL" if url else ""))
