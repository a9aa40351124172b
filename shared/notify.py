"""Notices to DingTalk: each sent at most once, never lost to the robot's rate limit.

A notice is claimed in OSS (forbid-overwrite marker) before it is sent, so redelivered or
concurrent runs send it once. If the robot refuses (130101: over 20 messages a minute) or
is unreachable, the message goes to the outbox and the expiry enforcer sends it on a later
tick. Every message contains "rolepact", the keyword to configure on the robot.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from shared.errors import CloudError
from shared.log import get_logger

log = get_logger("notify")
MAX_MESSAGE_BYTES = 18_000  # DingTalk refuses bodies over 20 000 bytes


@dataclass(frozen=True)
class Notice:
    agreement_id: str | None
    notice_id: str  # what makes it unique, e.g. "granted:<digest>"
    title: str
    text: str  # DingTalk markdown


def split_markdown(text: str, limit: int = MAX_MESSAGE_BYTES) -> list[str]:
    """Split on paragraph boundaries so that every part fits in one DingTalk message."""
    parts, current = [], ""
    for paragraph in text.split("\n\n"):
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if len(candidate.encode("utf-8")) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        while len(paragraph.encode("utf-8")) > limit:  # one huge paragraph: cut by characters
            cut = limit
            while len(paragraph[:cut].encode("utf-8")) > limit:
                cut -= 100
            parts.append(paragraph[:cut])
            paragraph = paragraph[cut:]
        current = paragraph
    if current:
        parts.append(current)
    return parts or [""]


class Notifier:
    def __init__(self, settings, gateways, records) -> None:
        self.settings = settings
        self.gateways = gateways
        self.records = records
        self._batch: list[Notice] | None = None
        self._backlog: bool | None = None  # is the outbox non-empty? (read once per instance)

    @contextmanager
    def batched(self, threshold: int = 5):
        """Collect notices; on exit send them one by one, or — when there are more than
        `threshold` (a mass expiry) — as one digest, so the robot's 20-a-minute limit is not
        flooded. Each notice is still claimed once, so a digest never repeats one."""
        self._batch = []
        try:
            yield
        finally:
            collected, self._batch = self._batch, None
            if len(collected) <= threshold:
                for notice in collected:
                    self._send_claimed(notice)
            else:
                title = f"rolepact: {len(collected)} agreements changed"
                lines = [f"- **{n.title}**" + (f" ({n.agreement_id})" if n.agreement_id else "") for n in collected]
                self._send_claimed(Notice(None, "digest", title, f"### {title}\n\n" + "\n".join(lines)
                                          + "\n\nDetails are in each agreement's status record.\n\n— rolepact"))

    @property
    def enabled(self) -> bool:
        return bool(self.settings.dingtalk_webhook)

    def send(self, notice: Notice) -> str:
        """Returns "sent", "queued", "duplicate" or "disabled"."""
        if notice.agreement_id and not self.records.claim_notice(notice.agreement_id, notice.notice_id):
            return "duplicate"
        log.info("notice %s: %s", notice.notice_id, notice.title, extra={"agreementId": notice.agreement_id})
        if not self.enabled:
            return "disabled"
        if self._batch is not None:
            self._batch.append(notice)
            return "batched"
        return self._send_claimed(notice)

    def _send_claimed(self, notice: Notice) -> str:
        title = notice.title if "rolepact" in notice.title else f"rolepact: {notice.title}"
        parts = split_markdown(notice.text)
        status = "sent"
        try:
            for index, part in enumerate(parts):
                part_title = title if len(parts) == 1 else f"{title} ({index + 1}/{len(parts)})"
                message = {"title": part_title, "text": part, "agreementId": notice.agreement_id}
                if status == "queued" or not self._deliver(message):
                    self.records.enqueue(message, self.settings.now())
                    status = "queued"
        except CloudError:  # neither sent nor queued: give the claim back, so a retry sends it
            if notice.agreement_id:
                try:
                    self.records.unclaim_notice(notice.agreement_id, notice.notice_id)
                except CloudError as error:
                    log.error("notice %s is lost: %s", notice.notice_id, error)
            raise
        return status

    def _deliver(self, message: dict) -> bool:
        if self._backlog is None:
            self._backlog = bool(self.records.outbox(1))
        if self._backlog:  # older messages wait in the outbox: keep the order, don't spend a slot
            return False
        try:
            self.gateways.dingtalk.send_markdown(message["title"], message["text"])
            return True
        except CloudError as error:
            log.warning("DingTalk did not take the message (%s); kept in the outbox", error.code)
            return False

    def drain_outbox(self, limit: int = 15) -> int:
        """Send queued messages, oldest first, staying under the robot's 20-a-minute limit."""
        if not self.enabled:
            return 0
        sent = 0
        self._backlog = False
        for key, message in self.records.outbox(limit):
            if not self._deliver(message):
                self._backlog = True
                break
            self.records.store.delete(key)
            sent += 1
        else:
            self._backlog = None  # maybe empty now: look again before the next send
        return sent
