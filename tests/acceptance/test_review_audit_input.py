"""Review: one odd event must never cost the access audit the other events of its batch."""
from __future__ import annotations

from datetime import timedelta

from audit_support import (  # noqa: F401 - fixtures
    A, T0, clock, cloud_event, fake, invoke_audit, provision, seed_doc, session_caller, stage, stored, trail_event,
)


def test_review_an_event_with_an_impossible_time_is_malformed_not_fatal(stage):
    """`2027-13-45T99:99:99Z` has the shape of an ActionTrail time but is no time: it must be kept as
    malformed, and the partner's other (denied) calls in the same delivery still stored and counted."""
    provision(stage, seed_doc(expires=T0 + timedelta(days=30)))
    stage.deliver()
    caller = session_caller(session="alice")
    good = [trail_event(caller, "StopInstance", error="Forbidden.RAM", at=T0 + timedelta(seconds=i)) for i in range(5)]
    odd = dict(trail_event(caller, "StopInstance", error="Forbidden.RAM"), eventTime="2027-13-45T99:99:99Z")
    for event in good:  # genuine: ActionTrail has them (pushed events are confirmed with LookupEvents)
        stage.cloud.trail.record(A, event, publish=False)
    answer = invoke_audit(stage, [cloud_event(e) for e in [good[0], odd, *good[1:]]])
    assert answer["malformed"] == 1
    assert {e["eventId"] for e in stored(stage)} == {e["eventId"] for e in good}
    assert stored(stage, "audit/findings/")  # the 5 denials still make a burst finding
