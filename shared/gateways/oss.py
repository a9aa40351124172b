"""OSS: rolepact's own bucket (agreement files, state, reports), through oss2.

Besides plain get/put, `put(..., forbid_overwrite=True)` is OSS's native "create if absent"
(`x-oss-forbid-overwrite`): the first writer wins and the others learn it without a race,
which is what leases and once-only markers need.

OSS ignores that header when the bucket's versioning is enabled or suspended (PutObject
reference), so the first such write of each ObjectStore (one per invocation or command) reads
the bucket's versioning once and raises `BucketVersioned` instead of pretending to win.

Every object read or written is checked against the CRC-64 OSS reports (`x-oss-hash-crc64ecma`).
The check is ours, not oss2's: oss2 rebuilds its CRC table in pure Python for every object (the
largest SDK cost in the expiry benchmark's profile), and never compares a GetObject's CRC unless
the caller does.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import cache
from itertools import islice
from typing import NamedTuple

from shared.errors import BucketVersioned, CloudError
from shared.gateways import credentials_of, endpoint_url
from shared.gateways.retry import call_with_retry

CONNECT_TIMEOUT = 5  # seconds
PAGE_SIZE = 1000  # ListObjectsV2 max-keys maximum


class ObjectMeta(NamedTuple):
    etag: str
    last_modified: datetime | None
    size: int
    content_type: str | None = None


class StoredObject(NamedTuple):
    """`get_with_meta`'s answer; unpacks as (data, etag, last_modified, size)."""

    data: bytes
    etag: str
    last_modified: datetime | None
    size: int


class ObjectStore:
    def __init__(self, settings, bucket: str | None = None) -> None:
        import oss2

        self.settings = settings
        self.bucket_name = bucket or settings.bucket
        creds = credentials_of(settings)
        if creds.security_token:
            auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
        else:
            auth = oss2.Auth(creds.access_key_id, creds.access_key_secret)
        endpoint = endpoint_url(settings.endpoints.oss, f"https://oss-{settings.region}.aliyuncs.com",
                                settings.endpoints.protocol)
        self._auth, self._endpoint = auth, endpoint
        self.temporary_credentials = bool(creds.security_token)  # STS: presigned URLs die with the token
        session = oss2.Session()  # one connection pool for this gateway
        # Proxies and CA bundle as Settings read them once: requests would re-scan the environment for
        # them on every call (trust_env), which was a fifth of an OSS call's CPU.
        http = session.session
        http.trust_env = False
        http.proxies = settings.network.proxies_for(endpoint.replace("://", f"://{self.bucket_name}.", 1))
        if settings.network.ca_bundle:
            http.verify = settings.network.ca_bundle
        self._bucket = oss2.Bucket(auth, endpoint, self.bucket_name, connect_timeout=CONNECT_TIMEOUT,
                                   session=session, enable_crc=False)  # checked here: see the module's docstring
        self._versioning: str | None = None  # read once, by the first marker write or ensure_unversioned()
        self._versioning_known = False

    def __repr__(self) -> str:
        return f"ObjectStore(bucket={self.bucket_name!r})"

    def _call(self, action: str, fn):
        return call_with_retry(fn, service="oss", action=action, settings=self.settings)

    # -- reads ---------------------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None if there is no such key."""
        found = self.get_with_meta(key)
        return found.data if found is not None else None

    def get_with_meta(self, key: str) -> StoredObject | None:
        def read():
            result = self._bucket.get_object(key)
            data = result.read()
            check_crc64("GetObject", data, result.server_crc, result.request_id)
            return StoredObject(data, _etag(result.etag), _time(result.last_modified),
                                int(result.content_length or 0))

        try:
            return self._call("GetObject", read)
        except CloudError as error:
            if error.code == "NoSuchKey":
                return None
            raise

    def head(self, key: str) -> ObjectMeta | None:
        try:
            result = self._call("HeadObject", lambda: self._bucket.head_object(key))
        except CloudError as error:
            # A HEAD answer has no body: a missing key is a bare 404 (NoSuchKey only if x-oss-err is sent).
            if error.status == 404 and error.code != "NoSuchBucket":
                return None
            raise
        return ObjectMeta(_etag(result.etag), _time(result.last_modified), int(result.content_length or 0),
                          result.content_type)

    def get_bucket_policy(self) -> dict | None:
        """The bucket's policy (GetBucketPolicy) as a JSON object; None when it has none or it is not JSON."""
        try:
            result = self._call("GetBucketPolicy", lambda: self._bucket.get_bucket_policy())
        except CloudError as error:
            if error.code == "NoSuchBucketPolicy":
                return None
            raise
        try:
            policy = json.loads(result.policy)
        except (TypeError, ValueError):
            return None
        return policy if isinstance(policy, dict) else None

    def bucket_acl(self) -> str:
        """The bucket's ACL (GetBucketAcl): private, public-read or public-read-write."""
        return self._call("GetBucketAcl", lambda: self._bucket.get_bucket_acl()).acl

    def get_json(self, key: str) -> dict | None:
        """A JSON object rolepact wrote, or None. Whoever can write the bucket can put anything under a
        key rolepact reads (an outbox message, a marker): an object that is not a JSON object is logged
        and read as absent, never an exception that stops the function (and every later notice)."""
        data = self.get(key)
        if data is None:
            return None
        try:
            found = json.loads(data.decode("utf-8"))
        except ValueError:  # not UTF-8, not JSON
            found = None
        if not isinstance(found, dict):
            from shared.log import get_logger

            get_logger("oss").warning("%s is not a JSON object rolepact wrote; read as absent", key[:200])
            return None
        return found

    def iter_keys(self, prefix: str, *, start_after: str | None = None, max_keys: int = PAGE_SIZE) -> Iterator[str]:
        """Keys under `prefix` in byte order, after `start_after`; pages (of `max_keys`) fetched as needed."""
        token = ""
        page_size = max(1, min(max_keys, PAGE_SIZE))
        while True:
            result = self._call("ListObjectsV2", lambda: self._bucket.list_objects_v2(
                prefix=prefix, continuation_token=token, start_after="" if token else (start_after or ""),
                max_keys=page_size))
            for item in result.object_list:
                yield item.key
            if not result.is_truncated or not result.next_continuation_token:
                return
            token = result.next_continuation_token

    def list_page(self, prefix: str, start_after: str | None, limit: int) -> list[str]:
        """At most `limit` keys after `start_after`: one bounded slice of work (fan-out batches)."""
        return list(islice(self.iter_keys(prefix, start_after=start_after, max_keys=min(limit, PAGE_SIZE)), limit))

    def bucket_info(self) -> dict:
        """{"name", "location" (oss-<region>), "owner", "serverDate" (the answer's Date header)}."""
        result = self._call("GetBucketInfo", self._bucket.get_bucket_info)
        return {"name": result.name, "location": result.location, "owner": getattr(result.owner, "id", None),
                "serverDate": result.headers.get("date")}

    def versioning(self) -> str | None:
        """The bucket's versioning status ("Enabled", "Suspended", None if never enabled); read once."""
        if not self._versioning_known:
            result = self._call("GetBucketVersioning", self._bucket.get_bucket_versioning)
            self._versioning, self._versioning_known = result.status or None, True
        return self._versioning

    def ensure_unversioned(self) -> None:
        """Raise `BucketVersioned` if first-writer-wins markers cannot hold in this bucket."""
        status = self.versioning()
        if status in ("Enabled", "Suspended"):
            raise BucketVersioned(self.bucket_name, status)
    def presigned_get_url(self, key: str, seconds: int) -> str:
        """A URL that lets whoever holds it GET `key` for `seconds` (computed here: no request is made).

        Signed on the public endpoint: FC reaches OSS through `oss-<region>-internal`, which the people
        who open the link cannot reach (the V1 signature does not cover the host). With STS
        credentials the URL carries the security token and stops working when the token expires,
        whatever `seconds` says (docs/access-audit.md, "The HTML report").
        """
        import oss2

        endpoint = self._endpoint.replace("-internal.aliyuncs.com", ".aliyuncs.com")
        signer = oss2.Bucket(self._auth, endpoint, self.bucket_name)
        return signer.sign_url("GET", key, int(seconds), slash_safe=True)

    def is_own_report_url(self, url: str) -> bool:
        """Whether `url` is a presigned GET of an object under this bucket's `reports/`, on the endpoint
        presigned_get_url() signs for (virtual-hosted `bucket.host/reports/…`, or path-style
        `host/bucket/reports/…` on an IP endpoint): the one link a DingTalk message may carry live."""
        from urllib.parse import urlsplit

        if not isinstance(url, str) or any(c in url for c in " \t\r\n()[]<>\"'`\\"):
            return False
        ours, theirs = urlsplit(self.presigned_get_url("reports/x", 60)), urlsplit(url)
        return ((theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)
                and theirs.path.startswith(ours.path[:-1]) and ".." not in theirs.path and "Signature=" in theirs.query)

    def resigned_report_url(self, url: str, now: datetime) -> str | None:
        """`url` signed again by rolepact itself, for the rest of its stated lifetime — or None if it is not a
        link to this bucket's `reports/` or has expired. A URL waiting in the outbox may have been written by
        whoever can write the bucket, signed with their own key: only rolepact's signature goes out live."""
        from urllib.parse import parse_qs, unquote, urlsplit

        if not self.is_own_report_url(url):
            return None
        parts = urlsplit(url)
        try:
            expires = int(parse_qs(parts.query).get("Expires", [""])[0])
        except ValueError:
            return None
        seconds = expires - int(now.timestamp())
        if seconds <= 0:
            return None
        return self.presigned_get_url(unquote(parts.path[1:]), seconds)

    # -- writes --------------------------------------------------------------------------------------

    def put(self, key: str, data: bytes, *, content_type: str = "application/json",
            forbid_overwrite: bool = False) -> bool:
        """Store `data`; with `forbid_overwrite`, False (and nothing written) when the key already exists.

        A forbid-overwrite write to a versioned bucket raises `BucketVersioned`: OSS would let it
        overwrite, and the caller would believe it won a race it did not.
        """
        headers = {"Content-Type": content_type}
        if forbid_overwrite:
            self.ensure_unversioned()
            headers["x-oss-forbid-overwrite"] = "true"
        try:
            self._call("PutObject", lambda: self._put_checked(key, data, headers))
        except CloudError as error:
            if forbid_overwrite and error.code == "FileAlreadyExists":
                return False
            raise
        return True

    def _put_checked(self, key: str, data: bytes, headers: dict) -> None:
        result = self._bucket.put_object(key, data, headers=headers)
        check_crc64("PutObject", data, result.crc, result.request_id)

    def put_json(self, key: str, obj, *, forbid_overwrite: bool = False) -> bool:
        """UTF-8 JSON with sorted keys and indent 1: stable bytes, readable in the console, small diffs."""
        data = json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
        return self.put(key, data, content_type="application/json", forbid_overwrite=forbid_overwrite)

    def delete(self, key: str) -> None:
        """Idempotent: deleting a missing key succeeds (OSS answers 204 either way)."""
        try:
            self._call("DeleteObject", lambda: self._bucket.delete_object(key))
        except CloudError as error:
            if error.code != "NoSuchKey":
                raise


def _etag(value: str | None) -> str:
    return (value or "").strip('"')


def _time(epoch: int | float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, timezone.utc) if epoch is not None else None


@cache
def _crc64_function():
    import crcmod  # oss2's own dependency; its C extension computes, the table is built once here

    return crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)


def crc64(data: bytes) -> int:
    """CRC-64/ECMA-182 as OSS computes it for `x-oss-hash-crc64ecma`."""
    return _crc64_function()(data)


def check_crc64(operation: str, data: bytes, reported: int | None, request_id: str) -> None:
    """Raise oss2's InconsistentError (mapped to CloudError "InconsistentError") when the bytes sent or
    received are not the bytes OSS holds. No header (an old endpoint or a proxy that strips it): no check."""
    if reported is not None and crc64(data) != reported:
        from oss2.exceptions import InconsistentError

        raise InconsistentError(f"{operation}: CRC-64 of the bytes here does not match OSS's {reported}",
                                request_id)
