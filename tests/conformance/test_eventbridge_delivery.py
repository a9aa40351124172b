"""Seed fact: ActionTrail events reach an FC function through an EventBridge trigger on the default
bus, in the CloudEvents envelope the access audit parses (`type` `<product>:ActionTrail:ApiCall`,
`data` = the ActionTrail record) [D help/en/eventbridge/user-guide/actiontrail-events]. Which
events and after what delay is measured (divergence 9 has the details: test_actiontrail_delivery.py)."""
from __future__ import annotations

import json

SOURCE = "help/en/eventbridge/user-guide/actiontrail-events"
PATTERN = {"type": [{"suffix": ":ActionTrail:ApiCall"}, {"suffix": ":ActionTrail:ConsoleOperation"}]}


def test_actiontrail_write_events_reach_an_eventbridge_trigger(owner, build, observe, wait, fake):
    import oss2

    bucket = build.sink(owner, "eb")
    sink = bucket.bucket_name
    build.trigger(owner, sink, "actiontrail", "eventbridge", {
        "triggerEnable": True, "asyncInvocationType": True, "eventSourceConfig": {"eventSourceType": "Default"},
        "eventRuleFilterPattern": json.dumps(PATTERN)})
    from alibabacloud_ram20150501 import models

    owner.ram.get_account_alias()  # a RAM read event, before the write
    marker = build.policy(owner, "marker", {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "ram:GetRole", "Resource": "acs:ram:*:*:role/none"}]})  # a RAM write event
    owner.ram.get_policy(models.GetPolicyRequest(policy_type="Custom", policy_name=marker))  # another read

    def delivered():
        found = []
        for item in oss2.ObjectIteratorV2(bucket, prefix="sink/"):
            envelope = json.loads(bucket.get_object(item.key).read())
            data = envelope.get("data") or {}
            if data.get("eventName") == "CreatePolicy" and marker in json.dumps(data):
                found.append(envelope)
        return found

    envelopes, seconds = wait(delivered, what="the CreatePolicy event through EventBridge")
    envelope = envelopes[0]
    observe("ActionTrail → EventBridge → FC delivery of a RAM write after (s)", round(seconds, 1), SOURCE)
    observe("envelope type / source", [envelope.get("type"), envelope.get("source")], SOURCE)
    observe("bus region of RAM's global event", envelope.get("aliyunregionid"), SOURCE + " [?]")
    assert envelope["type"].endswith(":ActionTrail:ApiCall")
    assert envelope["data"]["userIdentity"]["accountId"] == owner.account_id
    names = set()
    for item in oss2.ObjectIteratorV2(bucket, prefix="sink/"):
        names.add((json.loads(bucket.get_object(item.key).read()).get("data") or {}).get("eventName"))
    reads = sorted(names & {"GetAccountAlias", "GetPolicy"})
    observe("RAM read events delivered by the time the write arrived", reads,
            "help/en/eventbridge/user-guide/actiontrail-events (write events only)")
    if fake is not None:
        assert reads == []  # the fake's reading of the doc (trail.publish_reads = False)
