"""Issue 11 item 9: how long until a call is found with LookupEvents. [D] ActionTrail limits page:
"Time before an event is available for query in the console: 10 minutes". The access audit's pull
re-reads ROLEPACT_AUDIT_OVERLAP_MINUTES (15) before its checkpoint, so the delay must stay below it.
(Which events reach EventBridge -- Write only [D], and RAM's global events in which region
[undocumented] -- needs an EventBridge rule and a function: not covered here.)"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .conformance_kit import trust_policy
from shared.audit.config import AuditConfig

SOURCE = "help/en/actiontrail/product-overview/limits"


def test_a_write_is_found_with_lookup_events_within_the_audits_overlap(owner, build, observe, wait, fake, target):
    if fake is not None:
        fake.trail.lookup_delay = timedelta(seconds=1)
    start = datetime.now(timezone.utc) - timedelta(minutes=1)
    role = build.role(owner, "trail", trust_policy(f"acs:ram::{owner.account_id}:root"))
    trail = owner.trail("cn-hangzhou")  # RAM's global events: the global-events storage region

    def found():
        from alibabacloud_actiontrail20200706 import models

        body = trail.lookup_events(models.LookupEventsRequest(
            start_time=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            end_time=(datetime.now(timezone.utc) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            lookup_attribute=[models.LookupEventsRequestLookupAttribute(key="EventName", value="CreateRole")])).body
        return [e for e in body.events or [] if role in str(e.get("requestParameters"))]

    events, seconds = wait(found, what="the CreateRole event in LookupEvents",
                           timeout=max(target.timeout, 1200 if not target.is_fake else 10))
    observe("seconds until CreateRole was found with LookupEvents", round(seconds, 1), SOURCE)
    observe("isGlobal / acsRegion of the CreateRole event", [events[0].get("isGlobal"), events[0].get("acsRegion")],
            SOURCE)
    assert seconds < AuditConfig().overlap.total_seconds()
