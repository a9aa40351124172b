"""Seed fact: the object key an OSS trigger's event carries for names with `+`, `%`, a space and
non-ASCII. Undocumented [?] (FC OSS trigger, doc 62922, shows plain keys only): rolepact's intake
and the removal matching accept the raw key and its URL-decoded forms (shared/events.py), and this
test records which one real OSS sends."""
from __future__ import annotations

import json
from urllib.parse import quote, quote_plus, unquote, unquote_plus

SOURCE = "help/en/functioncompute/fc-2-0/user-guide/oss-triggers (event format) [?] key encoding"
KEYS = ("in/plus+sign.json", "in/percent%41.json", "in/with space.json", "in/协议-ü.json")


def _oss_invocation_role(owner, build) -> str:
    policy = build.policy(owner, "oss-inv", {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "fc:InvokeFunction", "Resource": "*"}]})
    role = build.role(owner, "oss-inv", {"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": ["oss.aliyuncs.com"]}}]},
        custom=(policy,))
    return f"acs:ram::{owner.account_id}:role/{role}"


def _form(raw: str, carried: str) -> str:
    for name, encode in (("raw", lambda k: k), ("percent-encoded", lambda k: quote(k, safe="/")),
                         ("form-encoded", lambda k: quote_plus(k, safe="/"))):
        if carried == encode(raw):
            return name
    return "other"


def test_the_keys_oss_events_carry(owner, build, observe, wait, target):
    bucket = build.sink(owner, "keys")
    sink = bucket.bucket_name
    build.trigger(owner, sink, "objects", "oss", {"events": ["oss:ObjectCreated:*"],
                                                  "filter": {"key": {"prefix": "in/", "suffix": ".json"}}},
                  source_arn=f"acs:oss:{target.region}:{owner.account_id}:{bucket.bucket_name}",
                  invocation_role=_oss_invocation_role(owner, build))
    for key in KEYS:
        bucket.put_object(key, b"{}")

    def delivered():
        import oss2

        events = []
        for item in oss2.ObjectIteratorV2(bucket, prefix="sink/"):
            events += json.loads(bucket.get_object(item.key).read())["events"]
        return events if len(events) >= len(KEYS) else None

    events, seconds = wait(delivered, what="the OSS trigger's events for every key")
    observe("OSS events reach the FC trigger after (s)", round(seconds, 1), SOURCE)
    carried = {e["oss"]["object"]["key"] for e in events}
    for raw in KEYS:
        match = next((k for k in carried if k == raw or unquote(k) == raw or unquote_plus(k) == raw), None)
        observe(f"event key for {raw!r}", [match, _form(raw, match) if match else "missing"], SOURCE)
        assert match is not None, f"no event names {raw!r} in any form rolepact decodes: {sorted(carried)}"
    observe("eventName of a PutObject", sorted({e["eventName"] for e in events}), SOURCE)
