"""Review: a partner is always warned before access ends, also when an amendment brings the end
closer than a notice offset (the notice point has then already passed)."""
from __future__ import annotations

from datetime import timedelta

from timer_support import T0, agreement, clock, fake, provision, stage, tick_at, titled  # noqa: F401


def test_review_shortening_expiry_into_a_notice_window_still_warns(stage, clock):
    provision(stage, agreement("ops-b", expires=T0 + timedelta(days=30)))
    clock.move_to(T0 + timedelta(hours=1))
    shorter = T0 + timedelta(hours=13)  # 12 h from now: the 7d and 1d points are behind us
    provision(stage, agreement("ops-b", expires=shorter))
    for minute in range(1, 4):
        tick_at(stage, clock, T0 + timedelta(hours=1, minutes=minute))
    [notice] = titled(stage, "Agreement ops-b expires in")
    assert shorter.strftime("%Y-%m-%dT%H:%M:%SZ") in notice["text"]
