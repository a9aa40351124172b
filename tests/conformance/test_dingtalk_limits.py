"""Issue 11 item 6: a custom robot takes 20 messages a minute; the 21st is refused (130101) and the
robot stays locked out for 10 minutes. rolepact sends at most 10 a minute across its functions and
pauses on 130101 for the lockout. [D-copy] DingTalk custom-robot doc: "每个机器人每分钟最多发送20条。
如果超过20条，会限流10分钟。" Real mode needs ROLEPACT_CONFORMANCE_DINGTALK_WEBHOOK (a test robot: this
locks it out for 10 minutes)."""
from __future__ import annotations

import pytest

from shared.gateways.dingtalk import DingTalkError, DingTalkGateway
from shared.notify import LOCKOUT, SENDS_PER_MINUTE
from shared.settings import Settings

SOURCE = "DingTalk custom robot doc (copies: 3fwork.com, blog.csdn.net/qq_23564667, help.h3yun.com)"


def test_the_21st_message_in_a_minute_is_refused_and_the_robot_stays_locked(target, fake, observe):
    if fake is not None:
        webhook, secret = fake.add_dingtalk_robot(secret="SEC" + "0" * 61), "SEC" + "0" * 61
    elif target.dingtalk_webhook:
        webhook, secret = target.dingtalk_webhook, target.dingtalk_secret
    else:
        pytest.skip("real mode without ROLEPACT_CONFORMANCE_DINGTALK_WEBHOOK")
    robot = DingTalkGateway(webhook, secret, settings=Settings(account_id="", max_attempts=1))
    answers = []
    for n in range(22):
        try:
            robot.send_text(f"rolepact conformance {n + 1}/22")
            answers.append(0)
        except DingTalkError as error:
            answers.append(error.errcode)
    observe("answers to 22 messages sent at once", answers, SOURCE)
    assert answers[:20] == [0] * 20 and answers[20:] == [130101, 130101]
    assert 2 * SENDS_PER_MINUTE <= 20 and LOCKOUT.total_seconds() == 600  # what rolepact keeps to
