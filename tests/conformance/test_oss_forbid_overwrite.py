"""Seed fact: `x-oss-forbid-overwrite: true` makes a PutObject of an existing key fail with
FileAlreadyExists 409, so the first writer wins — every claim, once-only notice, lease and tick
claim of rolepact relies on it. [D] OSS PutObject: the header is ignored when versioning is
enabled or suspended (divergence 1). Whether concurrent first writers can both win is not
documented: measured here, and rolepact relies on exactly one winner."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import oss2

from .conformance_kit import error_code

PUT_OBJECT = "help/en/oss/developer-reference/putobject (x-oss-forbid-overwrite; versioning note)"
FORBID = {"x-oss-forbid-overwrite": "true"}


def _put(bucket, key: str, data: bytes, headers=FORBID):
    try:
        result = bucket.put_object(key, data, headers=dict(headers))
        return "ok", result.versionid
    except Exception as problem:  # noqa: BLE001
        return error_code(problem), getattr(problem, "status", None)


def test_forbid_overwrite_refuses_the_second_writer(owner, build, observe):
    bucket = build.bucket(owner, "fo")
    assert _put(bucket, "state/claims/a.json", b"first")[0] == "ok"
    second = _put(bucket, "state/claims/a.json", b"second")
    observe("second forbid-overwrite PutObject of a key", second, PUT_OBJECT)
    assert second == ("FileAlreadyExists", 409)
    assert bucket.get_object("state/claims/a.json").read() == b"first"
    assert _put(bucket, "state/claims/a.json", b"third", headers={})[0] == "ok"  # without the header: overwritten


def test_concurrent_first_writers_have_exactly_one_winner(owner, build, observe):
    bucket = build.bucket(owner, "race")
    writers = 8
    with ThreadPoolExecutor(writers) as pool:
        answers = list(pool.map(lambda n: _put(bucket, "state/leases/batch-1", str(n).encode())[0], range(writers)))
    winners = answers.count("ok")
    observe(f"winners among {writers} concurrent forbid-overwrite writers", winners, PUT_OBJECT + " [?]")
    observe("what the others got", sorted(set(a for a in answers if a != "ok")), PUT_OBJECT)
    assert winners == 1


def test_versioning_enabled_or_suspended_ignores_the_header(owner, build, observe):
    for status in (oss2.BUCKET_VERSIONING_ENABLE, oss2.BUCKET_VERSIONING_SUSPEND):
        bucket = build.bucket(owner, status.lower()[:4])
        bucket.put_bucket_versioning(oss2.models.BucketVersioningConfig(status))
        first, second = _put(bucket, "k", b"1"), _put(bucket, "k", b"2")
        observe(f"two forbid-overwrite PutObjects of one key, versioning {status}", [first, second], PUT_OBJECT)
        assert first[0] == second[0] == "ok"  # the header is ignored: both "win"
        assert bucket.get_object("k").read() == b"2"
        assert bucket.get_bucket_versioning().status == status
