"""OSS state and rules: one global bucket namespace, objects, listings and event notifications.

Nothing here knows the XML wire format. Operations raise `ServiceError`s carrying the OSS
code, HTTP status and `EC` (OSS's diagnostic error code) and the extra fields OSS puts in
its error body (`BucketName`, `Key`, ...). Callers hold `cloud.lock` around state changes.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import crcmod

from fakecloud import clock, ids
from fakecloud.errors import ServiceError
from fakecloud.services.oss.policy import BucketPolicy, BucketPolicyError, parse_bucket_policy

log = logging.getLogger("fakecloud.oss")

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1023
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Standard headers OSS stores with an object and returns on GET/HEAD.
STORED_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")

# CRC-64/ECMA-182 as OSS computes it (same parameters as oss2.utils.Crc64), so oss2's
# client-side CRC check of uploads and downloads passes.
crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)


def oss_error(code: str, message: str, status: int, ec: str, **extra: object) -> ServiceError:
    """An OSS error; `extra` becomes elements of the XML body (before `<EC>`)."""
    return ServiceError(code, message, status, EC=ec, **extra)


def no_such_bucket(name: str) -> ServiceError:
    return oss_error("NoSuchBucket", "The specified bucket does not exist.", 404, "0015-00000101", BucketName=name)


def no_such_key(key: str) -> ServiceError:
    return oss_error("NoSuchKey", "The specified key does not exist.", 404, "0026-00000001", Key=key)


def check_bucket_name(name: str) -> None:
    if not BUCKET_NAME.match(name or ""):
        raise oss_error("InvalidBucketName", "The specified bucket is not valid.", 400, "0015-00000001",
                        BucketName=name)


def check_object_key(key: str) -> None:
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise oss_error("InvalidObjectName", "The Length of Object name must be less than 1024.", 400,
                        "0016-00000805", ObjectName=key[:64])
    if key.startswith(("/", "\\")):
        raise oss_error("InvalidObjectName", "The specified object is not valid.", 400, "0016-00000803",
                        ObjectName=key)


@dataclass
class OssObject:
    key: str
    data: bytes
    content_type: str
    user_meta: dict[str, str]  # full header names, lower-case: {"x-oss-meta-owner": "alice"}
    headers: dict[str, str]  # STORED_HEADERS the uploader set
    last_modified: datetime
    etag: str = ""  # upper-hex MD5 without quotes, as OSS shows it for simple uploads
    crc64: int = 0
    version_id: str | None = None  # set once the bucket has (had) versioning; "null" for unversioned writes

    def __post_init__(self) -> None:
        self.last_modified = self.last_modified.replace(microsecond=0)  # OSS keeps seconds: "...T06:45:43.000Z"
        digest = hashlib.md5(self.data)
        self.etag = digest.hexdigest().upper()
        self.crc64 = crc64(self.data)
        self.content_md5 = base64.b64encode(digest.digest()).decode("ascii")

    @property
    def size(self) -> int:
        return len(self.data)


VERSIONING_STATES = ("Enabled", "Suspended")


@dataclass
class Version:
    """One entry of a key's version history: an object, or a delete marker (`obj` None)."""

    version_id: str
    obj: OssObject | None
    last_modified: datetime

    @property
    def is_delete_marker(self) -> bool:
        return self.obj is None


@dataclass
class DeleteOutcome:
    removed: OssObject | None  # the visible object that went away (an event notification follows)
    version_id: str | None = None  # the version deleted, or of the delete marker created
    delete_marker: bool = False


def new_version_id() -> str:
    """Opaque, like OSS's ("CAEQNhiBgM…"): never "null", which names unversioned writes."""
    return "CAEQ" + ids.hex_id(40)


@dataclass
class Bucket:
    name: str
    owner: str  # account id
    region: str
    created: datetime
    rule_id: str  # id of the bucket's event-notification rule (`oss.ruleId` of events)
    objects: dict[str, OssObject] = field(default_factory=dict)
    acl: str = "private"
    storage_class: str = "Standard"
    policy: BucketPolicy | None = None  # PutBucketPolicy
    versioning: str | None = None  # None until PutBucketVersioning; then "Enabled" or "Suspended" for good
    versions: dict[str, list[Version]] = field(default_factory=dict)  # key -> history, newest last

    @property
    def arn(self) -> str:
        return f"acs:oss:{self.region}:{self.owner}:{self.name}"


@dataclass(frozen=True)
class ObjectEvent:
    """One object created or removed: becomes one OSS event notification after the call."""

    name: str  # "ObjectCreated:PutObject", "ObjectRemoved:DeleteObject", ...
    bucket: str
    owner: str
    region: str
    rule_id: str
    key: str
    size: int
    delta_size: int
    etag: str


class Notification(NamedTuple):
    bucket: str
    payload: bytes  # JSON, exactly what an FC OSS trigger receives

    @property
    def event(self) -> dict:
        """The (single) event record of the payload, parsed."""
        return json.loads(self.payload)["events"][0]


class DeliveryError(NamedTuple):
    bucket: str
    payload: bytes
    error: Exception


@dataclass
class ListPage:
    contents: list[OssObject]
    prefixes: list[str]
    truncated: bool
    last: str | None  # last key or common prefix returned (the next page starts after it)


def notification_payload(event: ObjectEvent, *, principal_id: str, source_ip: str, request_id: str,
                         when: datetime) -> bytes:
    """The JSON bytes OSS hands an FC OSS trigger (help doc-detail/70140 shape)."""
    record = {
        "eventName": event.name,
        "eventSource": "acs:oss",
        "eventTime": clock.iso_millis(when),
        "eventVersion": "1.0",
        "oss": {
            "bucket": {"arn": f"acs:oss:{event.region}:{event.owner}:{event.bucket}", "name": event.bucket,
                       "ownerIdentity": event.owner},
            "object": {"deltaSize": event.delta_size, "eTag": event.etag, "key": event.key, "size": event.size},
            "ossSchemaVersion": "1.0",
            "ruleId": event.rule_id,
        },
        "region": event.region,
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {"requestId": request_id},
        "userIdentity": {"principalId": principal_id},
    }
    return json.dumps({"events": [record]}).encode("utf-8")


class OssBackend:
    def __init__(self, cloud) -> None:
        self.cloud = cloud
        self.buckets: dict[str, Bucket] = {}  # bucket names are global across accounts and regions
        self.notifications: list[Notification] = []
        self.delivery_errors: list[DeliveryError] = []
        self._subscribers: list[Callable[[str, bytes], None]] = []
        self._notify_lock = threading.Lock()
        # Undocumented [?]: does an account UID in a bucket policy's Principal also name that
        # account's RAM users and role sessions? False: only its root account (docs/fake-fidelity.md).
        self.policy_account_covers_identities = False

    # -- buckets -------------------------------------------------------------------------------
    def get_bucket(self, name: str) -> Bucket:
        bucket = self.buckets.get(name)
        if bucket is None:
            raise no_such_bucket(name)
        return bucket

    def create_bucket(self, account_id: str, region: str, name: str, acl: str | None = None,
                      storage_class: str | None = None) -> Bucket:
        """PutBucket: create, or (same owner, same region) keep the bucket and update its ACL."""
        check_bucket_name(name)
        existing = self.buckets.get(name)
        if existing is not None:
            if existing.owner != account_id:
                raise oss_error("BucketAlreadyExists", "The requested bucket name is not available. The bucket "
                                "namespace is shared by all users of the system. Please select a different name "
                                "and try again.", 409, "0015-00000104", BucketName=name)
            if existing.region != region:
                raise oss_error("BucketAlreadyExists", "Bucket already exists can't modify location.", 409,
                                "0015-00000105", BucketName=name)
            if storage_class and storage_class != existing.storage_class:
                raise oss_error("BucketAlreadyExists", "Cannot modify existing bucket's storage class.", 409,
                                "0015-00000106", BucketName=name)
            if acl:
                existing.acl = acl
            return existing
        owned = sum(1 for b in self.buckets.values() if b.owner == account_id and b.region == region)
        if owned >= self.cloud.limits.oss_buckets_per_account:
            raise oss_error("TooManyBuckets", "You have attempted to create more buckets than allowed.", 400,
                            "0015-00000103", BucketName=name)
        bucket = Bucket(name, account_id, region, self.cloud.now().replace(microsecond=0), rule_id=ids.hex_id(40),
                        acl=acl or "private", storage_class=storage_class or "Standard")
        self.buckets[name] = bucket
        return bucket

    def delete_bucket(self, bucket: Bucket) -> None:
        if bucket.objects or bucket.versions:  # old versions and delete markers count too
            raise oss_error("BucketNotEmpty", "The bucket you tried to delete is not empty.", 409, "0015-00000301",
                            BucketName=bucket.name)
        del self.buckets[bucket.name]

    # -- versioning ------------------------------------------------------------------------------
    def put_bucket_versioning(self, bucket: Bucket, status: str) -> None:
        """Enabled or Suspended; a bucket never goes back to unversioned. Objects written before
        versioning was first turned on become the version "null" of their key."""
        if status not in VERSIONING_STATES:
            raise oss_error("MalformedXML", "The XML you provided was not well-formed or did not validate against "
                            "our published schema.", 400, "0015-00000601", BucketName=bucket.name)
        if bucket.versioning is None:
            for key, obj in bucket.objects.items():
                obj.version_id = "null"
                bucket.versions[key] = [Version("null", obj, obj.last_modified)]
        bucket.versioning = status

    @staticmethod
    def list_versions(bucket: Bucket, *, prefix: str = "", delimiter: str = "", key_marker: str = "",
                      version_marker: str = "", max_keys: int = 100) -> tuple[list[tuple[str, Version, bool]],
                                                                             list[str], tuple[str, str] | None]:
        """(entries, common prefixes, next (key, version) marker or None): every version and delete
        marker, keys in order, newest first per key; an entry is (key, version, is_latest)."""
        entries: list[tuple[str, Version, bool]] = []
        prefixes: list[str] = []
        count = 0
        for key in sorted(k for k in bucket.versions if k.startswith(prefix) and k >= key_marker):
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[:cut + len(delimiter)]
                    if common not in prefixes and common > key_marker:
                        if count >= max_keys:
                            return entries, prefixes, (key, "")
                        prefixes.append(common)
                        count += 1
                    continue
            history = list(reversed(bucket.versions[key]))
            start = 0
            if key == key_marker:
                if not version_marker:
                    continue
                ids_ = [v.version_id for v in history]
                start = ids_.index(version_marker) + 1 if version_marker in ids_ else len(history)
            for index in range(start, len(history)):
                if count >= max_keys:
                    last_key, last_version, _ = entries[-1]
                    return entries, prefixes, (last_key, last_version.version_id)
                entries.append((key, history[index], index == 0))
                count += 1
        return entries, prefixes, None

    # -- bucket policy -----------------------------------------------------------------------------
    @staticmethod
    def put_bucket_policy(bucket: Bucket, body: bytes) -> None:
        try:
            bucket.policy = parse_bucket_policy(body, bucket.name)
        except BucketPolicyError as problem:
            raise oss_error("InvalidPolicyDocument", f"Invalid Policy: {problem}", 400, problem.ec,
                            BucketName=bucket.name) from None

    @staticmethod
    def get_bucket_policy(bucket: Bucket) -> BucketPolicy:
        if bucket.policy is None:
            raise oss_error("NoSuchBucketPolicy", "The bucket policy does not exist.", 404, "0030-00000101",
                            BucketName=bucket.name)
        return bucket.policy

    @staticmethod
    def delete_bucket_policy(bucket: Bucket) -> None:
        bucket.policy = None

    def list_buckets(self, account_id: str, prefix: str = "", marker: str = "",
                     max_keys: int = 100) -> tuple[list[Bucket], str | None]:
        """The account's buckets in every region, name order; returns (page, next marker or None)."""
        names = sorted(n for n, b in self.buckets.items()
                       if b.owner == account_id and n.startswith(prefix) and n > marker)
        page = [self.buckets[n] for n in names[:max_keys]]
        return page, (page[-1].name if len(names) > max_keys and page else None)

    # -- objects -------------------------------------------------------------------------------
    def get_object(self, bucket: Bucket, key: str, version_id: str | None = None) -> OssObject:
        if version_id is not None:
            version = self._version(bucket, key, version_id)
            if version.is_delete_marker:
                raise oss_error("MethodNotAllowed", "The specified method is not allowed against this resource.",
                                405, "0016-00000902", Method="GET", ResourceType="DeleteMarker",
                                _headers={"x-oss-delete-marker": "true", "x-oss-version-id": version_id})
            return version.obj
        obj = bucket.objects.get(key)
        if obj is None:
            history = bucket.versions.get(key)
            if history and history[-1].is_delete_marker:  # OSS says so in headers of the 404
                raise oss_error("NoSuchKey", "The specified key does not exist.", 404, "0026-00000001", Key=key,
                                _headers={"x-oss-delete-marker": "true", "x-oss-version-id": history[-1].version_id})
            raise no_such_key(key)
        return obj

    @staticmethod
    def _version(bucket: Bucket, key: str, version_id: str) -> Version:
        for version in bucket.versions.get(key, ()):
            if version.version_id == version_id:
                return version
        obj = bucket.objects.get(key)
        if version_id == "null" and obj is not None and obj.version_id is None:  # never versioned
            return Version("null", obj, obj.last_modified)
        raise oss_error("NoSuchVersion", "The specified version does not exist.", 404, "0026-00000006", Key=key,
                        VersionId=version_id)

    def _store(self, bucket: Bucket, obj: OssObject, *, forbid_overwrite: bool, event_name: str,
               events: list[ObjectEvent]) -> OssObject:
        previous = bucket.objects.get(obj.key)
        if bucket.versioning is None:
            if previous is not None and forbid_overwrite:
                raise oss_error("FileAlreadyExists", "The object you specified already exists and can not be "
                                "overwritten.", 409, "0016-00000708", Key=obj.key)
        else:
            # [D] PutObject: with versioning enabled or suspended, x-oss-forbid-overwrite has no
            # effect — the write always succeeds (a new version, or the "null" version replaced).
            obj.version_id = new_version_id() if bucket.versioning == "Enabled" else "null"
            history = bucket.versions.setdefault(obj.key, [])
            if obj.version_id == "null":
                history[:] = [v for v in history if v.version_id != "null"]
            history.append(Version(obj.version_id, obj, obj.last_modified))
        bucket.objects[obj.key] = obj
        events.append(ObjectEvent(event_name, bucket.name, bucket.owner, bucket.region, bucket.rule_id, obj.key,
                                  obj.size, obj.size - (previous.size if previous else 0), obj.etag))
        return obj

    def put_object(self, bucket: Bucket, key: str, data: bytes, *, content_type: str | None,
                   user_meta: dict[str, str], headers: dict[str, str], forbid_overwrite: bool,
                   events: list[ObjectEvent]) -> OssObject:
        check_object_key(key)
        limit = self.cloud.limits.oss_object_bytes
        if len(data) > limit:
            raise oss_error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.", 400,
                            "0016-00000101", MaxSizeAllowed=str(limit), ProposedSize=str(len(data)))
        obj = OssObject(key, data, content_type or DEFAULT_CONTENT_TYPE, dict(user_meta), dict(headers),
                        self.cloud.now())
        return self._store(bucket, obj, forbid_overwrite=forbid_overwrite, event_name="ObjectCreated:PutObject",
                           events=events)

    def copy_object(self, source: OssObject, bucket: Bucket, key: str, *, replace_metadata: bool,
                    content_type: str | None, user_meta: dict[str, str], headers: dict[str, str],
                    forbid_overwrite: bool, events: list[ObjectEvent]) -> OssObject:
        """CopyObject: same bytes; metadata from the source (COPY) or from the request (REPLACE)."""
        check_object_key(key)
        if replace_metadata:
            obj = OssObject(key, source.data, content_type or DEFAULT_CONTENT_TYPE, dict(user_meta), dict(headers),
                            self.cloud.now())
        else:
            obj = OssObject(key, source.data, source.content_type, dict(source.user_meta), dict(source.headers),
                            self.cloud.now())
        return self._store(bucket, obj, forbid_overwrite=forbid_overwrite, event_name="ObjectCreated:CopyObject",
                           events=events)

    def delete_object(self, bucket: Bucket, key: str, *, event_name: str, events: list[ObjectEvent],
                      version_id: str | None = None) -> DeleteOutcome:
        """Remove a key (deleting a missing key succeeds and changes nothing).

        Versioned buckets [D OSS "Delete marker"]: without `version_id` a delete marker becomes
        the current version and the data stays; with it, that one version (or marker) is removed
        for good. Only a visible object going away produces an event notification.
        """
        if version_id is not None:
            outcome = self._delete_version(bucket, key, version_id)
        elif bucket.versioning is None:
            outcome = DeleteOutcome(bucket.objects.pop(key, None))
        else:
            marker = Version(new_version_id() if bucket.versioning == "Enabled" else "null", None,
                             self.cloud.now().replace(microsecond=0))
            history = bucket.versions.setdefault(key, [])
            if marker.version_id == "null":
                history[:] = [v for v in history if v.version_id != "null"]
            history.append(marker)
            outcome = DeleteOutcome(bucket.objects.pop(key, None), marker.version_id, delete_marker=True)
        if outcome.removed is not None:
            gone = outcome.removed
            events.append(ObjectEvent(event_name, bucket.name, bucket.owner, bucket.region, bucket.rule_id, key,
                                      0, -gone.size, gone.etag))
        return outcome

    @staticmethod
    def _delete_version(bucket: Bucket, key: str, version_id: str) -> DeleteOutcome:
        history = bucket.versions.get(key)
        if not history:  # never versioned: "null" names the one object there is
            current = bucket.objects.get(key)
            if version_id == "null" and current is not None:
                return DeleteOutcome(bucket.objects.pop(key), "null")
            return DeleteOutcome(None, version_id)
        found = next((v for v in history if v.version_id == version_id), None)
        if found is None:
            return DeleteOutcome(None, version_id)
        was_current = history[-1] is found
        history.remove(found)
        removed = None
        if was_current:
            removed = bucket.objects.pop(key, None)
            if history and not history[-1].is_delete_marker:
                bucket.objects[key] = history[-1].obj  # an older version becomes current again
                removed = None
        if not history:
            del bucket.versions[key]
        return DeleteOutcome(removed, version_id, delete_marker=found.is_delete_marker)

    @staticmethod
    def list_objects(bucket: Bucket, *, prefix: str = "", delimiter: str = "", after: str = "",
                     max_keys: int = 100) -> ListPage:
        """Keys after `after` under `prefix`, rolling keys up to common prefixes at `delimiter`.

        Keys and common prefixes count together against `max_keys`, in UTF-8 (= code point) order;
        a common prefix at or before `after` is skipped whole, so a page never repeats one.
        """
        contents: list[OssObject] = []
        prefixes: list[str] = []
        last = None
        truncated = False
        for key in sorted(k for k in bucket.objects if k > after and k.startswith(prefix)):
            common = None
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[:cut + len(delimiter)]
                    if common <= after or (prefixes and prefixes[-1] == common):
                        continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = max_keys > 0
                break
            if common is not None:
                prefixes.append(common)
                last = common
            else:
                contents.append(bucket.objects[key])
                last = key
        return ListPage(contents, prefixes, truncated, last)

    # -- event notifications ---------------------------------------------------------------------
    def subscribe(self, callback: Callable[[str, bytes], None]) -> Callable[[], None]:
        """`callback(bucket_name, payload_bytes)` for every object created or removed.

        Called synchronously in the thread of the OSS request, after the state change and
        outside the cloud lock, before the SDK call returns. Returns an unsubscribe function.
        """
        with self._notify_lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._notify_lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, bucket_name: str, payload: bytes) -> None:
        """Keep the payload in `notifications` and hand it to every subscriber.

        A failing subscriber must not fail the OSS call that caused the event (OSS delivers
        asynchronously in reality): its exception is logged and kept in `delivery_errors`.
        """
        with self._notify_lock:
            self.notifications.append(Notification(bucket_name, payload))
            subscribers = list(self._subscribers)
        for deliver in subscribers:
            try:
                deliver(bucket_name, payload)
            except Exception as error:  # noqa: BLE001 - isolate subscribers from the OSS caller
                log.exception("OSS event notification subscriber %r failed for bucket %s", deliver, bucket_name)
                with self._notify_lock:
                    self.delivery_errors.append(DeliveryError(bucket_name, payload, error))

    # -- test setup helpers (never used by product paths) -------------------------------------------
    def create_bucket_direct(self, account_id: str, name: str, region: str | None = None) -> Bucket:
        """Create a bucket without a request (no trail, no call record)."""
        with self.cloud.lock:
            return self.create_bucket(account_id, region or self.cloud.default_region, name)

    def _owned_bucket(self, account_id: str, name: str) -> Bucket | None:
        bucket = self.buckets.get(name)
        if bucket is not None and bucket.owner != account_id:
            raise ValueError(f"bucket {name} belongs to account {bucket.owner}, not {account_id}")
        return bucket

    def put_object_direct(self, account_id: str, bucket: str, key: str, data: bytes | str, *,
                          content_type: str | None = None, metadata: dict[str, str] | None = None) -> OssObject:
        """Store an object for test setup: creates the bucket if needed; no trail, no notification."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        meta = {f"x-oss-meta-{k.lower()}": v for k, v in (metadata or {}).items()}
        with self.cloud.lock:
            target = self._owned_bucket(account_id, bucket) or self.create_bucket(
                account_id, self.cloud.default_region, bucket)
            obj = OssObject(key, raw, content_type or DEFAULT_CONTENT_TYPE, meta, {}, self.cloud.now())
            target.objects[key] = obj
            return obj

    def get_object_direct(self, account_id: str, bucket: str, key: str) -> bytes | None:
        """The bytes stored under `key`, or None if the bucket or key does not exist."""
        with self.cloud.lock:
            target = self._owned_bucket(account_id, bucket)
            obj = target.objects.get(key) if target else None
            return obj.data if obj else None

    def keys_direct(self, account_id: str, bucket: str) -> list[str]:
        """All keys of a bucket, sorted (empty if the bucket does not exist)."""
        with self.cloud.lock:
            target = self._owned_bucket(account_id, bucket)
            return sorted(target.objects) if target else []
