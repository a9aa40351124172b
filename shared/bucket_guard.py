"""What every function does when rolepact's bucket turns out to be versioned: refuse, loudly.

In a versioned bucket OSS ignores x-oss-forbid-overwrite (PutObject reference), so claims,
once-only notices, leases and tick/alert claims would all "win" for every writer: two files
could claim one agreement id, notices would go out twice. The check is one GetBucketVersioning
per invocation, made by the OSS gateway (`ObjectStore.ensure_unversioned`) before the work
starts, and again implicitly by any marker write.

Refusing is safe for time bounds: RAM's guard policy still denies every agreement's role at
`expiresAt` without any function running. The refusal is an error log line
(`code: Rolepact.BucketVersioned`) on every invocation and a DingTalk alarm at most about once an
hour: the alarm cannot use a once-only marker (none holds here), so it is rate-limited by an
hourly key checked before sending — concurrent invocations may each send one.
"""
from __future__ import annotations

from shared.errors import BucketVersioned, CloudError
from shared.log import get_logger
from shared.records import stamp

log = get_logger("bucket-guard")
ALARMS = "state/alarms/bucket-versioned/"


def refuse(error: BucketVersioned, settings, gateways) -> dict:
    """Log the refusal, raise the alarm (rate-limited), and return the invocation's answer."""
    log.error("refused: %s", error, extra={"code": BucketVersioned.code, "bucket": error.bucket,
                                           "versioning": error.status})
    try:
        _alarm(error, settings, gateways)
    except CloudError as problem:  # the log line above stays the record of the refusal
        log.warning("could not raise the bucket-versioning alarm: %s", problem)
    return {"error": "bucket versioned", "code": BucketVersioned.code, "detail": str(error)}


def _alarm(error: BucketVersioned, settings, gateways) -> None:
    robot = gateways.dingtalk
    if robot is None:
        return
    hour = stamp(settings.now())[:11]  # 20270601T09
    key = f"{ALARMS}{hour}"
    store = gateways.store
    if store.head(key) is not None:
        return
    store.put_json(key, {"bucket": error.bucket, "versioning": error.status})  # plain write: it is versioned
    title = "rolepact stopped: its bucket is versioned"
    robot.send_markdown(title, f"### {title}\n\nBucket `{error.bucket}` has versioning **{error.status}**. OSS "
                               "ignores `x-oss-forbid-overwrite` in a versioned bucket, so rolepact cannot keep its "
                               "once-only records and refuses every invocation: no agreement is granted, amended "
                               "or ended by rolepact, and no notice is sent, until it runs on a bucket that never "
                               "had versioning. RAM still ends every agreement at its `expiresAt` (guard policy)."
                               "\n\nFix: docs/operations.md, *Bucket versioning*; check with `rolepact doctor`."
                               "\n\n— rolepact")
