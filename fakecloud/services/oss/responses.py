"""OSS wire layer: REST + XML as `oss2` (and the v2 SDK) send and parse it.

OSS is not a POP service, so this module runs the shared pipeline itself: authenticate
(fakecloud.auth.oss) -> resolve the caller -> `cloud.run_call` (fault injection, the cloud
lock) -> `cloud.calls.add` -> ActionTrail event -> render -> event notifications.

Choices worth knowing (see also docs/fake-fidelity.md section h):
- ActionTrail: every authenticated call, allowed or denied, is recorded in the *caller's*
  account (`caller.account_id`, i.e. the role owner for role sessions). Without bucket
  policies nothing crosses accounts, so a same-account caller's event lands in the bucket
  owner's account and a foreign caller's denial lands in the foreign account. Anonymous and
  unauthenticated requests are answered but not recorded.
- DeleteMultipleObjects authorizes oss:DeleteObject on every key first and is denied as a
  whole if any key is denied; it produces one notification payload per removed object.
- Object-level calls (PutObject, GetObject, ...) are OSS *data* events: recorded, but not
  handed to the trail's Write-event subscribers (the EventBridge model); bucket-level writes
  (PutBucket, DeleteBucket) are.
- Bucket-region check: a bucket addressed through another region's endpoint is refused
  (only when the host names a region, i.e. not in server mode's IP path style).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from fakecloud import clock, ids
from fakecloud.auth.oss import Target, authenticate
from fakecloud.errors import FakeCrash, ServiceError
from fakecloud.faults import CallRecord
from fakecloud.iam.identity import Caller
from fakecloud.iam.policy import Decision
from fakecloud.router import Route
from fakecloud.services.oss.models import (
    STORED_HEADERS, Bucket, ObjectEvent, OssBackend, OssObject, check_bucket_name, notification_payload, oss_error,
)
from fakecloud.services.oss.policy import Requester
from fakecloud.trail import build_event
from fakecloud.wire import Request, Response

API_VERSION = "2019-05-17"
ACLS = ("private", "public-read", "public-read-write")
# Query parameters that never select an operation: signatures and listing/response options.
AUTH_PARAMS = frozenset({"OSSAccessKeyId", "Expires", "Signature", "security-token", "x-oss-signature-version",
                         "x-oss-credential", "x-oss-date", "x-oss-expires", "x-oss-signature",
                         "x-oss-additional-headers", "x-oss-security-token", "x-oss-access-key-id"})
VERSION_LIST_PARAMS = frozenset({"versions", "prefix", "delimiter", "key-marker", "version-id-marker", "max-keys",
                                 "encoding-type"})
LIST_PARAMS = frozenset({"prefix", "delimiter", "marker", "max-keys", "encoding-type", "list-type",
                         "continuation-token", "start-after", "fetch-owner"})
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type", "response-content-language": "Content-Language",
    "response-expires": "Expires", "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition", "response-content-encoding": "Content-Encoding",
}
HEADER_CASE = {"cache-control": "Cache-Control", "content-disposition": "Content-Disposition",
               "content-encoding": "Content-Encoding", "content-language": "Content-Language", "expires": "Expires"}

NO_RIGHT = "You have no right to access this object because of bucket acl."
ANONYMOUS_PRINCIPAL = "anonymous"  # an event's userIdentity.principalId for an anonymous write [?] (undocumented)
NOT_YOURS = "The bucket you visit is not belong to you."
EXPLICIT_DENY = "Access denied by bucket policy."
ANONYMOUS = "Anonymous access is forbidden for this operation."
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Operation:
    name: str  # OSS API name: ActionTrail eventName, fault-rule and call-log action
    handler: Callable
    read: bool


@dataclass
class OssCall:
    """One OSS request after authentication: target, caller and what the call left behind."""

    service: "OssService"
    request: Request
    route: Route
    caller: Caller | None  # None: anonymous
    operation: Operation
    request_id: str
    bucket_name: str | None
    key: str
    region: str  # the endpoint's region
    events: list[ObjectEvent] = field(default_factory=list)
    resource_type: str | None = None
    resource_name: str | None = None
    bucket_region: str | None = None

    @property
    def cloud(self):
        return self.service.cloud

    @property
    def backend(self) -> OssBackend:
        return self.service.backend

    @property
    def headers(self) -> dict[str, str]:
        return self.request.headers

    @property
    def query(self) -> dict[str, str]:
        return self.request.query

    def bucket(self, ram_action: str, *, conditions: dict | None = None) -> Bucket:
        """The addressed bucket, after the region check and RAM authorization of `ram_action`.

        Object actions are authorized on `bucket/key`, bucket actions on the bucket.
        """
        bucket = self.backend.get_bucket(self.bucket_name or "")
        self.bucket_region = bucket.region
        if self.route.by_host and self.route.region and self.route.region != bucket.region:
            raise oss_error("AccessDenied", "The bucket you are attempting to access must be addressed using the "
                            "specified endpoint. Please send all future requests to this endpoint.", 403,
                            "0003-00001403", Bucket=bucket.name, Endpoint=f"oss-{bucket.region}.aliyuncs.com")
        resource = f"acs:oss:*:{bucket.owner}:{bucket.name}" + (f"/{self.key}" if self.key else "")
        self.authorize(ram_action, resource, bucket.owner, conditions=conditions, bucket=bucket)
        return bucket

    def authorize(self, ram_action: str, resource: str, owner: str, *, conditions: dict | None = None,
                  bucket: Bucket | None = None) -> None:
        """RAM policies and the bucket policy together, as OSS's authorization process documents it
        (help/en/oss/user-guide/authentication, …/oss-bucket-policy): a session policy must allow;
        an explicit Deny in the caller's RAM policies or in the bucket policy wins; then an Allow
        from either (RAM policies count only inside the bucket owner's account); else denied."""
        caller = self.caller
        policy = bucket.policy if bucket is not None else None
        if caller is None:
            by_policy = Decision.IMPLICIT_DENY if policy is None else \
                self._bucket_policy_decision(policy, ram_action, resource, owner, conditions)
            if by_policy == Decision.ALLOW or (by_policy != Decision.EXPLICIT_DENY and _acl_grants(bucket, ram_action)):
                return
            message = NO_RIGHT if self.bucket_name and self.operation.name != "PutBucket" else ANONYMOUS
            raise oss_error("AccessDenied", message, 403, "0003-00000001")
        ram = self.cloud.decide(caller, ram_action, resource, resource_account=owner, conditions=conditions)
        decision, by_policy = ram, Decision.IMPLICIT_DENY
        if policy is not None:
            by_policy = self._bucket_policy_decision(policy, ram_action, resource, owner, conditions)
            if owner != caller.account_id:  # RAM policies grant nothing here, but their Deny counts
                ram = self.cloud.identity_decision(caller, ram_action, resource, conditions)
            session = self.cloud.session_policy_decision(caller, ram_action, resource, conditions)
            if Decision.EXPLICIT_DENY in (ram, by_policy, session):
                decision = Decision.EXPLICIT_DENY
            elif session not in (None, Decision.ALLOW):
                decision = Decision.IMPLICIT_DENY
            elif by_policy == Decision.ALLOW or (ram == Decision.ALLOW and owner == caller.account_id):
                decision = Decision.ALLOW
            else:
                decision = Decision.IMPLICIT_DENY
        if decision == Decision.ALLOW or (decision == Decision.IMPLICIT_DENY and _acl_grants(bucket, ram_action)):
            return
        if ram_action == "oss:ListBuckets":
            message, ec = "You are forbidden to list buckets.", "0003-00000301"
        elif decision == Decision.EXPLICIT_DENY:
            message, ec = EXPLICIT_DENY, "0003-00000203" if ram == by_policy else "0003-00000201"
        elif owner != caller.account_id and "/" not in resource.split(":", 4)[-1]:
            message, ec = NOT_YOURS, "0003-00000001"
        else:
            message, ec = NO_RIGHT, "0003-00000001"
        raise oss_error("AccessDenied", message, 403, ec, AccessDeniedDetail={
            "AuthPrincipalType": {"ram-user": "SubUser", "assumed-role": "AssumedRoleUser"}.get(caller.kind,
                                                                                               "Account"),
            "AuthPrincipalDisplayName": caller.user_name if caller.kind != "assumed-role" else caller.principal_id,
            "AuthPrincipalOwnerId": caller.account_id,
            "AuthAction": ram_action,
            "PolicyType": "BucketPolicy" if by_policy == Decision.EXPLICIT_DENY and ram != by_policy
            else "AccountLevelIdentityBasedPolicy",
            "NoPermissionType": decision.value,
        })

    def _bucket_policy_decision(self, policy, ram_action: str, resource: str, owner: str,
                                conditions: dict | None) -> Decision:
        caller = self.caller
        if caller is None:
            requester = Requester("anonymous")
            values = {"acs:CurrentTime": clock.iso(self.cloud.now()),
                      "acs:SourceIp": self.request.peer_ip or self.cloud.default_source_ip,
                      "acs:SecureTransport": self.request.secure, **(conditions or {})}
        else:
            session_arn = None
            if caller.session is not None:
                session = caller.session
                session_arn = (f"arn:sts::{session.role_account_id}:assumed-role/{session.role_name}/"
                               f"{session.session_name}")
            requester = Requester(caller.kind, caller.account_id, caller.user_id, session_arn)
            values = self.cloud.condition_values(caller, conditions)
        return policy.decide(requester, ram_action, resource, values, owner=owner,
                             account_covers_identities=self.backend.policy_account_covers_identities)


# What a bucket ACL grants everyone, anonymous callers included, on the bucket's objects [D help/en/oss/
# user-guide/bucket-acl: public-read "anyone, including anonymous users, can read objects",
# public-read-write "... can read and write objects"]. An explicit Deny (RAM or bucket policy) still wins.
_ACL_READS = frozenset({"oss:GetObject"})
_ACL_WRITES = frozenset({"oss:PutObject", "oss:DeleteObject"})


def _acl_grants(bucket: Bucket | None, ram_action: str) -> bool:
    acl = bucket.acl if bucket is not None else "private"
    return (acl in ("public-read", "public-read-write") and ram_action in _ACL_READS) or \
        (acl == "public-read-write" and ram_action in _ACL_WRITES)


# -- XML ---------------------------------------------------------------------------------------------------
def xml_node(tag: str, value: object = None) -> str:
    """`<tag>value</tag>`: text is escaped; a dict or a list of rendered strings nests."""
    if value is None:
        inner = ""
    elif isinstance(value, dict):
        inner = "".join(xml_node(k, v) for k, v in value.items())
    elif isinstance(value, list):
        inner = "".join(value)
    elif isinstance(value, bool):
        inner = "true" if value else "false"
    else:
        inner = escape(str(value))
    return f"<{tag}>{inner}</{tag}>"


def xml_document(root: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + root).encode("utf-8")


def xml_response(root: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(status, {"Content-Type": "application/xml", **(headers or {})}, xml_document(root))


def empty_response(status: int = 200, headers: dict | None = None) -> Response:
    return Response(status, {"Content-Length": "0", **(headers or {})}, b"")


# -- helpers -------------------------------------------------------------------------------------------------
def invalid_argument(message: str, name: str, value: str) -> ServiceError:
    return oss_error("InvalidArgument", message, 400, "0017-00000001", ArgumentName=name, ArgumentValue=value)


def max_keys(call: OssCall, default: int = 100) -> int:
    raw = call.query.get("max-keys", "")
    if raw == "":
        return default
    if not raw.isdigit() or not 0 <= int(raw) <= 1000:
        raise invalid_argument("Argument max-keys must be an integer between 0 and 1000.", "max-keys", raw)
    return int(raw)


def url_encoding(call: OssCall) -> bool:
    value = call.query.get("encoding-type", "")
    if value not in ("", "url"):
        raise invalid_argument("The Encoding-Type is invalid.", "encoding-type", value)
    return value == "url"


def check_content_md5(call: OssCall, body: bytes, *, required: bool = False) -> None:
    claimed = call.headers.get("content-md5")
    if claimed is None:
        if required:
            raise oss_error("InvalidRequest", "Missing required header for this request: Content-MD5.", 400,
                            "0016-00000201")
        return
    try:
        digest = base64.b64decode(claimed, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if digest != hashlib.md5(body).digest():
        raise oss_error("InvalidDigest", "The Content-MD5 you specified is not valid.", 400, "0016-00000102",
                        ContentMD5=claimed)


def upload_fields(call: OssCall) -> dict:
    headers = call.headers
    return {
        "content_type": headers.get("content-type"),
        "user_meta": {k: v for k, v in headers.items() if k.startswith("x-oss-meta-")},
        "headers": {k: headers[k] for k in STORED_HEADERS if k in headers},
        "forbid_overwrite": forbid_overwrite(headers.get("x-oss-forbid-overwrite")),
    }


def forbid_overwrite(value: str | None) -> bool:
    """`x-oss-forbid-overwrite` takes true or false only [D OSS error 0017-00000279]."""
    if value is None or value.strip() == "":
        return False
    if value.strip().lower() not in ("true", "false"):
        raise invalid_argument("x-oss-forbid-overwrite must be true or false.", "x-oss-forbid-overwrite", value)
    return value.strip().lower() == "true"


def object_headers(obj: OssObject) -> dict[str, str]:
    headers = {
        "Content-Type": obj.content_type,
        "ETag": f'"{obj.etag}"',
        "Last-Modified": clock.http_date(obj.last_modified),
        "Accept-Ranges": "bytes",
        "x-oss-object-type": "Normal",
        "x-oss-storage-class": "Standard",
        "x-oss-hash-crc64ecma": str(obj.crc64),
        "Content-MD5": obj.content_md5,
    }
    headers.update({HEADER_CASE[k]: v for k, v in obj.headers.items()})
    headers.update(obj.user_meta)
    headers.update(version_header(obj))
    return headers


def version_header(obj: OssObject) -> dict[str, str]:
    return {"x-oss-version-id": obj.version_id} if obj.version_id else {}


def _http_time(value: str) -> datetime | None:
    try:
        return clock.parse_http_date(value)
    except (TypeError, ValueError, IndexError):
        return None


def precondition(call: OssCall, obj: OssObject) -> Response | None:
    """If-Match / If-Unmodified-Since (412) and If-None-Match / If-Modified-Since (304), RFC 7232 order."""
    headers = call.headers
    modified = obj.last_modified.replace(microsecond=0)

    def etag_matches(value: str) -> bool:
        return any(tag.strip().strip('"').upper() in (obj.etag, "*") for tag in value.split(","))

    failed = None
    if "if-match" in headers:
        failed = None if etag_matches(headers["if-match"]) else "If-Match"
    elif (since := _http_time(headers.get("if-unmodified-since", ""))) is not None and modified > since:
        failed = "If-Unmodified-Since"
    if failed:
        raise oss_error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold.",
                        412, "0026-00000011", Condition=failed)
    not_modified = {"ETag": f'"{obj.etag}"', "Last-Modified": clock.http_date(obj.last_modified)}
    if "if-none-match" in headers:
        if etag_matches(headers["if-none-match"]):
            return Response(304, not_modified, b"")
    elif (since := _http_time(headers.get("if-modified-since", ""))) is not None and modified <= since:
        return Response(304, not_modified, b"")
    return None


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single valid `bytes=` range; None means the whole object.

    Like OSS without `x-oss-range-behavior: standard`, an unsatisfiable or malformed range
    is ignored and the whole object is returned with 200; an end past the size is clamped.
    """
    match = _RANGE.match((header or "").strip())
    if not match or size == 0:
        return None
    first, last = match.groups()
    if first == "":
        if last == "" or int(last) == 0:
            return None
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or start > end:
        return None
    return start, end


def encode_key(value: str, encode: bool) -> str:
    return quote(value, safe="") if encode else value


# -- the service ------------------------------------------------------------------------------------------------
class OssService:
    name = "oss"
    trail_service_name = "Oss"

    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self.backend = OssBackend(cloud)

    # -- pipeline ---------------------------------------------------------------------------------------
    def handle(self, request: Request, route: Route) -> Response:
        cloud = self.cloud
        request_id = ids.hex_id(24).upper()  # OSS request ids: 24 upper-case hex digits
        region = route.region or cloud.default_region
        bucket_name, key = self.target(request, route)
        try:
            auth = authenticate(request, cloud.keys, cloud.now(), Target(bucket_name, key,
                                                                         route.region if route.by_host else None))
            caller = self.resolve_caller(auth.key, request) if auth else None
            operation = self.operation(request, bucket_name, key)
        except ServiceError as error:
            return self.finish(self.render_error(error, request_id, request), request_id)
        call = OssCall(self, request, route, caller, operation, request_id, bucket_name, key, region)
        if key:
            call.resource_type, call.resource_name = "ACS::OSS::Object", f"{bucket_name}/{key}"
        elif bucket_name:
            call.resource_type, call.resource_name = "ACS::OSS::Bucket", bucket_name
        response, error, crash = cloud.run_call(self.name, operation.name, lambda: operation.handler(self, call),
                                                f"{bucket_name}/{key}" if key else bucket_name or "")
        if caller is not None:
            cloud.calls.add(CallRecord(self.name, operation.name, caller.account_id, caller.arn, not operation.read,
                                       error is None, error.code if error else None))
            self.record_trail(call, error)
        if error is not None:
            response = self.render_error(error, request_id, request)
        response = self.finish(response, request_id)
        self.notify(call)
        if crash:
            raise FakeCrash(f"simulated crash after oss:{operation.name}")
        return response

    def resolve_caller(self, key, request: Request) -> Caller:
        try:
            return self.cloud.resolve_caller(key, request)
        except ServiceError:  # a key whose RAM user is gone: OSS does not know it either
            raise oss_error("InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.",
                            403, "0002-00000012", OSSAccessKeyId=key.access_key_id)

    @staticmethod
    def target(request: Request, route: Route) -> tuple[str | None, str]:
        """(bucket, key) from a virtual-hosted or a path-style URL, percent-decoded."""
        path = request.path.lstrip("/")
        if route.bucket:
            return route.bucket, unquote(path)
        if not path:
            return None, ""
        bucket, _, key = path.partition("/")
        return unquote(bucket), unquote(key)

    def operation(self, request: Request, bucket: str | None, key: str) -> Operation:
        method = request.method
        params = {k for k in request.query if k not in AUTH_PARAMS}
        if bucket is None:
            if method != "GET":
                raise self.method_not_allowed(method, "Service")
            if params <= {"prefix", "marker", "max-keys"}:
                return Operation("ListBuckets", OssService.list_buckets, True)
        elif not key:
            if method == "PUT" and not params:
                return Operation("PutBucket", OssService.put_bucket, False)
            if method == "DELETE" and not params:
                return Operation("DeleteBucket", OssService.delete_bucket, False)
            if method == "GET" and params == {"location"}:
                return Operation("GetBucketLocation", OssService.get_bucket_location, True)
            if method == "GET" and params == {"bucketInfo"}:
                return Operation("GetBucketInfo", OssService.get_bucket_info, True)
            if params == {"versioning"} and method in ("PUT", "GET"):
                if method == "PUT":
                    return Operation("PutBucketVersioning", OssService.put_bucket_versioning, False)
                return Operation("GetBucketVersioning", OssService.get_bucket_versioning, True)
            if method == "GET" and "versions" in params and params <= VERSION_LIST_PARAMS:
                return Operation("ListObjectVersions", OssService.list_object_versions, True)
            if params == {"acl"} and method in ("PUT", "GET"):
                if method == "PUT":
                    return Operation("PutBucketAcl", OssService.put_bucket_acl, False)
                return Operation("GetBucketAcl", OssService.get_bucket_acl, True)
            if params == {"policy"} and method in ("PUT", "GET", "DELETE"):
                name = {"PUT": "PutBucketPolicy", "GET": "GetBucketPolicy", "DELETE": "DeleteBucketPolicy"}[method]
                return Operation(name, getattr(OssService, {"PUT": "put_bucket_policy", "GET": "get_bucket_policy",
                                                            "DELETE": "delete_bucket_policy"}[method]), method == "GET")
            if method == "GET" and params <= LIST_PARAMS:
                if request.query.get("list-type") == "2":
                    return Operation("ListObjectsV2", OssService.list_objects_v2, True)
                return Operation("ListObjects", OssService.list_objects, True)
            if method == "POST" and "delete" in params and params <= {"delete", "encoding-type"}:
                return Operation("DeleteMultipleObjects", OssService.delete_multiple_objects, False)
            if method in ("HEAD", "POST", "OPTIONS", "PATCH"):
                raise self.method_not_allowed(method, "Bucket")
        else:
            if method == "PUT" and not params:
                if "x-oss-copy-source" in request.headers:
                    return Operation("CopyObject", OssService.copy_object, False)
                return Operation("PutObject", OssService.put_object, False)
            if method == "GET" and params <= set(RESPONSE_OVERRIDES) | {"versionId"}:
                return Operation("GetObject", OssService.get_object, True)
            if method == "HEAD" and params <= {"versionId"}:
                return Operation("HeadObject", OssService.head_object, True)
            if method == "HEAD" and params == {"objectMeta"}:
                return Operation("GetObjectMeta", OssService.get_object_meta, True)
            if method == "DELETE" and params <= {"versionId"}:
                return Operation("DeleteObject", OssService.delete_object, False)
            if method in ("OPTIONS", "PATCH"):
                raise self.method_not_allowed(method, "Object")
        level = "object" if key else "bucket" if bucket else "service"
        raise ServiceError("NotImplemented", f"fakecloud does not implement this OSS operation: {method} {level} "
                           f"?{'&'.join(sorted(params))}", 501, EC="0000-00000000")

    @staticmethod
    def method_not_allowed(method: str, resource_type: str) -> ServiceError:
        return oss_error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
                         "0003-00000001", Method=method, ResourceType=resource_type)

    def finish(self, response: Response, request_id: str) -> Response:
        """Headers every OSS response carries, errors included."""
        response.headers.update({"Date": clock.http_date(self.cloud.now()), "x-oss-request-id": request_id,
                                 "Server": "AliyunOSS"})
        return response

    def render_error(self, error: ServiceError, request_id: str, request: Request) -> Response:
        extra = dict(error.extra)
        ec = str(extra.pop("EC", "0000-00000000"))
        extra_headers = extra.pop("_headers", None) or {}
        fields = {"Code": error.code, "Message": error.message, "RequestId": request_id, "HostId": request.host,
                  **extra, "EC": ec}
        body = xml_document(xml_node("Error", fields))
        headers = {"Content-Type": "application/xml", "x-oss-ec": ec, **extra_headers}
        if request.method == "HEAD":  # no body: oss2 reads the error from x-oss-err instead
            headers["x-oss-err"] = base64.b64encode(body).decode("ascii")
            headers["Content-Length"] = "0"
            body = b""
        return Response(error.status, headers, body)

    def record_trail(self, call: OssCall, error: ServiceError | None) -> None:
        region = call.bucket_region or call.region
        source = f"oss-{call.region}{'-internal' if call.route.internal else ''}.aliyuncs.com"
        params = {}
        if call.bucket_name:
            params["BucketName"] = call.bucket_name
        if call.key:
            params["ObjectName"] = call.key
        event = build_event(
            call.caller, now=self.cloud.now(), service_name=self.trail_service_name, event_source=source,
            event_name=call.operation.name, api_version=API_VERSION, region=region, is_global=False,
            read=call.operation.read, request_id=call.request_id, request_parameters=params,
            error_code=error.code if error else None, error_message=error.message if error else None,
            resource_type=call.resource_type, resource_name=call.resource_name,
        )
        data_event = call.operation.name not in ("PutBucket", "DeleteBucket")
        self.cloud.trail.record(call.caller.account_id, event, publish=not data_event)

    def notify(self, call: OssCall) -> None:
        """Deliver the call's object events: after the response is ready, outside the cloud lock."""
        if not call.events:
            return
        now = self.cloud.now()
        for event in call.events:
            caller = call.caller  # None: an anonymous write (a public-read-write bucket)
            payload = notification_payload(
                event, principal_id=caller.principal_id if caller else ANONYMOUS_PRINCIPAL,
                source_ip=caller.source_ip if caller else (call.request.peer_ip or self.cloud.default_source_ip),
                request_id=call.request_id, when=now)
            self.backend.publish(event.bucket, payload)

    # -- service and buckets ---------------------------------------------------------------------------------
    def list_buckets(self, call: OssCall) -> Response:
        if call.caller is None:
            raise oss_error("AccessDenied", ANONYMOUS, 403, "0003-00000001")
        account = call.caller.account_id
        call.authorize("oss:ListBuckets", f"acs:oss:*:{account}:*", account)
        prefix, marker = call.query.get("prefix", ""), call.query.get("marker", "")
        limit = max_keys(call)
        buckets, next_marker = self.backend.list_buckets(account, prefix, marker, limit)
        children = []
        if {"prefix", "marker", "max-keys"} & set(call.query):
            children += [xml_node("Prefix", prefix), xml_node("Marker", marker), xml_node("MaxKeys", limit),
                         xml_node("IsTruncated", next_marker is not None)]
            if next_marker:
                children.append(xml_node("NextMarker", next_marker))
        children.append(xml_node("Owner", {"ID": account, "DisplayName": account}))
        children.append(xml_node("Buckets", [xml_node("Bucket", {
            "CreationDate": clock.iso_millis(b.created),
            "ExtranetEndpoint": f"oss-{b.region}.aliyuncs.com",
            "IntranetEndpoint": f"oss-{b.region}-internal.aliyuncs.com",
            "Location": f"oss-{b.region}",
            "Name": b.name,
            "Region": b.region,
            "StorageClass": b.storage_class,
        }) for b in buckets]))
        return xml_response(xml_node("ListAllMyBucketsResult", children))

    def put_bucket(self, call: OssCall) -> Response:
        name = call.bucket_name or ""
        check_bucket_name(name)
        if call.caller is None:
            raise oss_error("AccessDenied", ANONYMOUS, 403, "0003-00000001")
        account = call.caller.account_id
        call.authorize("oss:PutBucket", f"acs:oss:*:{account}:{name}", account)
        acl = call.headers.get("x-oss-acl")
        if acl is not None and acl not in ACLS:
            raise invalid_argument("no such bucket access control exists", "x-oss-acl", acl)
        storage_class = self._storage_class(call.request.body)
        bucket = self.backend.create_bucket(account, call.region, name, acl, storage_class)
        call.bucket_region = bucket.region
        return empty_response(200, {"Location": f"/{name}"})

    @staticmethod
    def _storage_class(body: bytes) -> str | None:
        """StorageClass of an optional `<CreateBucketConfiguration>` body."""
        if not body.strip():
            return None
        try:
            value = ElementTree.fromstring(body).findtext("StorageClass")
        except ElementTree.ParseError:
            raise oss_error("MalformedXML", "The XML you provided was not well-formed or did not validate against "
                            "our published schema.", 400, "0015-00000201")
        if value not in (None, "Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive"):
            raise invalid_argument("Invalid storage class.", "StorageClass", value)
        return value

    def delete_bucket(self, call: OssCall) -> Response:
        self.backend.delete_bucket(call.bucket("oss:DeleteBucket"))
        return empty_response(204)

    def get_bucket_location(self, call: OssCall) -> Response:
        bucket = call.bucket("oss:GetBucketLocation")
        return xml_response(xml_node("LocationConstraint", f"oss-{bucket.region}"))

    def get_bucket_info(self, call: OssCall) -> Response:
        b = call.bucket("oss:GetBucketInfo")
        return xml_response(xml_node("BucketInfo", {"Bucket": {
            "AccessMonitor": "Disabled", "CreationDate": clock.iso_millis(b.created),
            "ExtranetEndpoint": f"oss-{b.region}.aliyuncs.com",
            "IntranetEndpoint": f"oss-{b.region}-internal.aliyuncs.com", "Location": f"oss-{b.region}",
            "StorageClass": b.storage_class, "TransferAcceleration": "Disabled",
            "CrossRegionReplication": "Disabled", "Name": b.name, "ResourceGroupId": "rg-default-id",
            "Owner": {"DisplayName": b.owner, "ID": b.owner}, "AccessControlList": {"Grant": b.acl},
            "ServerSideEncryptionRule": {"SSEAlgorithm": "None"}, "DataRedundancyType": "LRS",
            "Comment": None,
        }}))

    # -- bucket ACL ------------------------------------------------------------------------------------------
    def put_bucket_acl(self, call: OssCall) -> Response:
        bucket = call.bucket("oss:PutBucketAcl")
        acl = call.headers.get("x-oss-acl")
        if acl not in ACLS:
            raise invalid_argument("no such bucket access control exists", "x-oss-acl", acl)
        bucket.acl = acl
        return empty_response(200)

    def get_bucket_acl(self, call: OssCall) -> Response:
        b = call.bucket("oss:GetBucketAcl")
        return xml_response(xml_node("AccessControlPolicy", {"Owner": {"ID": b.owner, "DisplayName": b.owner},
                                                             "AccessControlList": {"Grant": b.acl}}))

    # -- bucket policy ---------------------------------------------------------------------------------------
    def put_bucket_policy(self, call: OssCall) -> Response:
        bucket = call.bucket("oss:PutBucketPolicy")
        check_content_md5(call, call.request.body)
        self.backend.put_bucket_policy(bucket, call.request.body)
        return empty_response(200)

    def get_bucket_policy(self, call: OssCall) -> Response:
        policy = self.backend.get_bucket_policy(call.bucket("oss:GetBucketPolicy"))
        return Response(200, {"Content-Type": "application/json"}, policy.text.encode("utf-8"))

    def delete_bucket_policy(self, call: OssCall) -> Response:
        self.backend.delete_bucket_policy(call.bucket("oss:DeleteBucketPolicy"))
        return empty_response(204)

    # -- listings --------------------------------------------------------------------------------------------
    def _contents(self, bucket: Bucket, objects: list[OssObject], encode: bool, owner: bool) -> list[str]:
        rendered = []
        for obj in objects:
            fields = {"Key": encode_key(obj.key, encode), "LastModified": clock.iso_millis(obj.last_modified),
                      "ETag": f'"{obj.etag}"', "Type": "Normal", "Size": obj.size, "StorageClass": "Standard"}
            if owner:
                fields["Owner"] = {"ID": bucket.owner, "DisplayName": bucket.owner}
            rendered.append(xml_node("Contents", fields))
        return rendered

    @staticmethod
    def _list_conditions(call: OssCall) -> dict:
        return {"oss:Prefix": call.query.get("prefix", ""), "oss:Delimiter": call.query.get("delimiter", "")}

    def list_objects(self, call: OssCall) -> Response:
        bucket = call.bucket("oss:ListObjects", conditions=self._list_conditions(call))
        q = call.query
        prefix, delimiter, marker = q.get("prefix", ""), q.get("delimiter", ""), q.get("marker", "")
        limit, encode = max_keys(call), url_encoding(call)
        page = self.backend.list_objects(bucket, prefix=prefix, delimiter=delimiter, after=marker, max_keys=limit)
        children = [xml_node("Name", bucket.name), xml_node("Prefix", encode_key(prefix, encode)),
                    xml_node("Marker", encode_key(marker, encode)), xml_node("MaxKeys", limit),
                    xml_node("Delimiter", encode_key(delimiter, encode))]
        if encode:
            children.append(xml_node("EncodingType", "url"))
        children.append(xml_node("IsTruncated", page.truncated))
        if page.truncated:
            children.append(xml_node("NextMarker", encode_key(page.last, encode)))
        children += self._contents(bucket, page.contents, encode, owner=True)
        children += [xml_node("CommonPrefixes", [xml_node("Prefix", encode_key(p, encode))]) for p in page.prefixes]
        return xml_response(xml_node("ListBucketResult", children))

    def list_objects_v2(self, call: OssCall) -> Response:
        bucket = call.bucket("oss:ListObjects", conditions=self._list_conditions(call))
        q = call.query
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        token, start_after = q.get("continuation-token", ""), q.get("start-after", "")
        limit, encode = max_keys(call), url_encoding(call)
        after = start_after
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
            except (binascii.Error, ValueError, UnicodeError):
                raise invalid_argument("The continuation token provided is incorrect.", "continuation-token", token)
        page = self.backend.list_objects(bucket, prefix=prefix, delimiter=delimiter, after=after, max_keys=limit)
        children = [xml_node("Name", bucket.name), xml_node("Prefix", encode_key(prefix, encode))]
        if start_after:
            children.append(xml_node("StartAfter", encode_key(start_after, encode)))
        if token:
            children.append(xml_node("ContinuationToken", encode_key(token, encode)))
        children += [xml_node("MaxKeys", limit), xml_node("Delimiter", encode_key(delimiter, encode))]
        if encode:
            children.append(xml_node("EncodingType", "url"))
        children.append(xml_node("IsTruncated", page.truncated))
        if page.truncated:
            next_token = base64.urlsafe_b64encode(page.last.encode("utf-8")).decode("ascii")
            children.append(xml_node("NextContinuationToken", encode_key(next_token, encode)))
        children.append(xml_node("KeyCount", len(page.contents) + len(page.prefixes)))
        children += self._contents(bucket, page.contents, encode, owner=q.get("fetch-owner") == "true")
        children += [xml_node("CommonPrefixes", [xml_node("Prefix", encode_key(p, encode))]) for p in page.prefixes]
        return xml_response(xml_node("ListBucketResult", children))

    # -- versioning ------------------------------------------------------------------------------------------
    def put_bucket_versioning(self, call: OssCall) -> Response:
        bucket = call.bucket("oss:PutBucketVersioning")
        check_content_md5(call, call.request.body)
        try:
            status = ElementTree.fromstring(call.request.body).findtext("Status")
        except ElementTree.ParseError:
            status = None
        self.backend.put_bucket_versioning(bucket, status or "")
        return empty_response(200)

    def get_bucket_versioning(self, call: OssCall) -> Response:
        bucket = call.bucket("oss:GetBucketVersioning")
        status = [xml_node("Status", bucket.versioning)] if bucket.versioning else []
        return xml_response(xml_node("VersioningConfiguration", status))

    def list_object_versions(self, call: OssCall) -> Response:
        bucket = call.bucket("oss:ListObjectVersions", conditions=self._list_conditions(call))
        q = call.query
        prefix, delimiter, key_marker = q.get("prefix", ""), q.get("delimiter", ""), q.get("key-marker", "")
        version_marker, limit, encode = q.get("version-id-marker", ""), max_keys(call), url_encoding(call)
        entries, prefixes, following = self.backend.list_versions(
            bucket, prefix=prefix, delimiter=delimiter, key_marker=key_marker, version_marker=version_marker,
            max_keys=limit)
        children = [xml_node("Name", bucket.name), xml_node("Prefix", encode_key(prefix, encode)),
                    xml_node("KeyMarker", encode_key(key_marker, encode)), xml_node("VersionIdMarker", version_marker),
                    xml_node("MaxKeys", limit), xml_node("Delimiter", encode_key(delimiter, encode))]
        if encode:
            children.append(xml_node("EncodingType", "url"))
        children.append(xml_node("IsTruncated", following is not None))
        if following is not None:
            children += [xml_node("NextKeyMarker", encode_key(following[0], encode)),
                         xml_node("NextVersionIdMarker", following[1])]
        owner = {"ID": bucket.owner, "DisplayName": bucket.owner}
        for key, version, latest in entries:
            common = {"Key": encode_key(key, encode), "VersionId": version.version_id, "IsLatest": latest,
                      "LastModified": clock.iso_millis(version.last_modified)}
            if version.is_delete_marker:
                children.append(xml_node("DeleteMarker", {**common, "Owner": owner}))
            else:
                obj = version.obj
                children.append(xml_node("Version", {**common, "ETag": f'"{obj.etag}"', "Type": "Normal",
                                                     "Size": obj.size, "StorageClass": "Standard", "Owner": owner}))
        children += [xml_node("CommonPrefixes", [xml_node("Prefix", encode_key(p, encode))]) for p in prefixes]
        return xml_response(xml_node("ListVersionsResult", children))

    # -- objects ---------------------------------------------------------------------------------------------
    def put_object(self, call: OssCall) -> Response:
        bucket = call.bucket("oss:PutObject")
        body = call.request.body
        check_content_md5(call, body)
        obj = self.backend.put_object(bucket, call.key, body, events=call.events, **upload_fields(call))
        return empty_response(200, {"ETag": f'"{obj.etag}"', "x-oss-hash-crc64ecma": str(obj.crc64),
                                    "Content-MD5": obj.content_md5, **version_header(obj)})

    @staticmethod
    def _read_target(call: OssCall) -> OssObject:
        """GetObject/HeadObject: the current object, or `?versionId=` (needs oss:GetObjectVersion)."""
        version_id = call.query.get("versionId")
        bucket = call.bucket("oss:GetObjectVersion" if version_id is not None else "oss:GetObject")
        return call.backend.get_object(bucket, call.key, version_id)

    def copy_object(self, call: OssCall) -> Response:
        target = call.bucket("oss:PutObject")
        raw = call.headers["x-oss-copy-source"].split("?", 1)[0]
        source_bucket_name, _, source_key = unquote(raw).lstrip("/").partition("/")
        if not source_bucket_name or not source_key:
            raise invalid_argument("Copy Source must mention the source bucket and key: /sourcebucket/sourcekey.",
                                   "x-oss-copy-source", raw)
        source_bucket = self.backend.get_bucket(source_bucket_name)
        call.authorize("oss:GetObject", f"acs:oss:*:{source_bucket.owner}:{source_bucket.name}/{source_key}",
                       source_bucket.owner, bucket=source_bucket)
        source = self.backend.get_object(source_bucket, source_key)
        directive = call.headers.get("x-oss-metadata-directive", "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise invalid_argument("Unknown metadata directive.", "x-oss-metadata-directive", directive)
        obj = self.backend.copy_object(source, target, call.key, replace_metadata=directive == "REPLACE",
                                       events=call.events, **upload_fields(call))
        return xml_response(
            xml_node("CopyObjectResult", {"ETag": f'"{obj.etag}"', "LastModified": clock.iso_millis(obj.last_modified)}),
            headers={"ETag": f'"{obj.etag}"', "x-oss-hash-crc64ecma": str(obj.crc64), **version_header(obj)})

    def get_object(self, call: OssCall) -> Response:
        obj = self._read_target(call)
        if (not_modified := precondition(call, obj)) is not None:
            return not_modified
        headers = object_headers(obj)
        headers.update({name: call.query[param] for param, name in RESPONSE_OVERRIDES.items() if param in call.query})
        span = byte_range(call.headers.get("range"), obj.size)
        if span is None:
            headers["Content-Length"] = str(obj.size)
            return Response(200, headers, obj.data)
        first, last = span
        headers.update({"Content-Range": f"bytes {first}-{last}/{obj.size}", "Content-Length": str(last - first + 1)})
        return Response(206, headers, obj.data[first:last + 1])

    def head_object(self, call: OssCall) -> Response:
        obj = self._read_target(call)
        if (not_modified := precondition(call, obj)) is not None:
            return not_modified
        return Response(200, {**object_headers(obj), "Content-Length": str(obj.size)}, b"")

    def get_object_meta(self, call: OssCall) -> Response:
        obj = self.backend.get_object(call.bucket("oss:GetObject"), call.key)
        return Response(200, {"ETag": f'"{obj.etag}"', "Content-Length": str(obj.size),
                              "Last-Modified": clock.http_date(obj.last_modified)}, b"")

    def delete_object(self, call: OssCall) -> Response:
        version_id = call.query.get("versionId")
        bucket = call.bucket("oss:DeleteObjectVersion" if version_id is not None else "oss:DeleteObject")
        outcome = self.backend.delete_object(bucket, call.key, event_name="ObjectRemoved:DeleteObject",
                                             events=call.events, version_id=version_id)
        headers = {}
        if outcome.version_id is not None:
            headers["x-oss-version-id"] = outcome.version_id
        if outcome.delete_marker:
            headers["x-oss-delete-marker"] = "true"
        return empty_response(204, headers)

    def delete_multiple_objects(self, call: OssCall) -> Response:
        bucket = self.backend.get_bucket(call.bucket_name or "")
        call.bucket_region = bucket.region
        body = call.request.body
        check_content_md5(call, body, required=True)
        quiet, keys = self._parse_delete(body)
        encode = url_encoding(call)
        for key in keys:
            call.authorize("oss:DeleteObject", f"acs:oss:*:{bucket.owner}:{bucket.name}/{key}", bucket.owner,
                           bucket=bucket)
        for key in keys:
            self.backend.delete_object(bucket, key, event_name="ObjectRemoved:DeleteObjects", events=call.events)
        children = [xml_node("EncodingType", "url")] if encode else []
        if not quiet:
            children += [xml_node("Deleted", {"Key": encode_key(key, encode)}) for key in keys]
        return xml_response(xml_node("DeleteResult", children))

    @staticmethod
    def _parse_delete(body: bytes) -> tuple[bool, list[str]]:
        malformed = oss_error("MalformedXML", "The XML you provided was not well-formed or did not validate against "
                              "our published schema.", 400, "0016-00000608")
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            raise malformed
        keys = [node.text or "" for node in root.findall("Object/Key")]
        if root.tag != "Delete" or not keys or len(keys) > 1000 or "" in keys:
            raise malformed
        return (root.findtext("Quiet") or "false").strip().lower() == "true", keys
