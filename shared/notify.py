"""Notices to DingTalk: each sent at most once, never lost to the robot's rate limit.

A notice is claimed in OSS (forbid-overwrite marker) before it is sent, so redelivered or
concurrent runs send it once. If the robot refuses (130101: over 20 messages a minute) or
is unreachable, the message goes to the outbox and the expiry enforcer sends it on a later
tick. Every message contains "rolepact", the keyword to configure on the robot.
"""
from __future__ import annotations

import json
import re
from contextlib import contextmanager
from collections.abc import Callable
from dataclasses import dataclass

from shared.errors import CloudError
from shared.log import get_logger

log = get_logger("notify")
MAX_MESSAGE_BYTES = 18_000  # DingTalk refuses bodies over 20 000 bytes
MAX_TITLE_CHARS = 200
TOO_LONG = 460101  # DingTalk: "message too long, exceed 20000 bytes"
_ACTIVE_MARKDOWN = re.compile(r"([\[\]<>])")
# What a markdown renderer can turn into a live link without []() syntax: a URL scheme (GFM and most
# renderers autolink bare http(s)://, and dingtalk:// opens in the client), a bare www. host, an e-mail.
_SCHEME = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{1,30}):(/{1,3})")
_WWW = re.compile(r"\b(www)\.", re.IGNORECASE)
_EMAIL = re.compile(r"(?<=[A-Za-z0-9._%+-])@(?=[A-Za-z0-9-]+\.[A-Za-z])")
_OWN_LINK = re.compile(r"\[([^\[\]\n]{1,200})\]\((https?://[^()\s<>]{1,8000})\)")  # a link rolepact may keep live
_HELD = re.compile(r"\x00(\d+)\x00")


def md_text(text) -> str:
    """Untrusted text (object keys, file content, cloud error messages) shown literally in DingTalk
    markdown: one line, and no `[...](...)` link, `![...](...)` image or `<...>` tag/autolink can form."""
    return _ACTIVE_MARKDOWN.sub(r"\\\1", " ".join(str(text).splitlines()))


def defang(text: str, keep: Callable[[str], bool] | None = None) -> str:
    """The last step before DingTalk, for every message: no input can yield a live link. `[x](y)` and
    reference definitions are broken up, `<` cannot open a tag or autolink, and URLs, www. hosts and
    e-mail addresses are shown defanged (`https[:]//evil.example`, `www[.]evil`, `alice[@]corp.example`)
    — readable, not clickable. The one exception: a `[label](url)` link whose URL `keep` vouches for
    (the digest's presigned link to its own page in rolepact's bucket, judged from the URL alone, so
    a forged outbox message gains nothing) stays live."""
    text, kept = str(text), []
    if keep is not None:
        def hold(match: re.Match) -> str:
            if not keep(match.group(2)):
                return match.group(0)
            kept.append(match.group(0))
            return f"\x00{len(kept) - 1}\x00"

        text = _OWN_LINK.sub(hold, text.replace("\x00", ""))
    text = text.replace("](", "] (").replace("]:", "] :").replace("<", "‹")
    text = _SCHEME.sub(lambda m: f"{m.group(1)}[:]{m.group(2)}", text)
    text = _WWW.sub(lambda m: f"{m.group(1)}[.]", text)
    text = _EMAIL.sub("[@]", text)
    return _HELD.sub(lambda m: kept[int(m.group(1))], text) if kept else text


def md_code(text) -> str:
    """Untrusted text for inside a `code span`: one line, it cannot close the span, and should the
    renderer not know code spans, no link or tag can form either (`](` and `<` are broken up)."""
    return " ".join(str(text).splitlines()).replace("`", "'").replace("](", "] (").replace("<", "‹")


@dataclass(frozen=True)
class Notice:
    agreement_id: str | None
    notice_id: str  # what makes it unique, e.g. "granted:<digest>"
    title: str
    text: str  # DingTalk markdown
    urgent: bool = False  # the kill switch: sent before anything waiting in the outbox


def wire_bytes(text: str) -> int:
    """Bytes `text` takes in the JSON body DingTalk measures (quotes, newlines and backslashes are
    escaped there, so a text can be twice its own size on the wire)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


def split_markdown(text: str, limit: int = MAX_MESSAGE_BYTES) -> list[str]:
    """Split on paragraph boundaries so that every part fits in one DingTalk message (`limit` bytes on the wire)."""
    parts, current, size = [], "", 0
    separator = wire_bytes("\n\n")
    for paragraph in text.split("\n\n"):
        length = wire_bytes(paragraph)
        if current and size + separator + length <= limit:
            current, size = f"{current}\n\n{paragraph}", size + separator + length
            continue
        if not current and length <= limit:
            current, size = paragraph, length
            continue
        if current:
            parts.append(current)
        while length > limit:  # one huge paragraph: cut by characters
            cut = min(len(paragraph), limit)
            while wire_bytes(paragraph[:cut]) > limit:
                cut -= max(1, cut // 10)
            parts.append(paragraph[:cut])
            paragraph = paragraph[cut:]
            length = wire_bytes(paragraph)
        current, size = paragraph, length
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
        log.info("notice %s: %s", notice.notice_id, notice.title, extra={"agreementId": notice.agreement_id})
        if not self.enabled:  # unclaimed: a robot configured later still gets what is due then
            return "disabled"
        if notice.agreement_id and not self.records.claim_notice(notice.agreement_id, notice.notice_id):
            return "duplicate"
        if self._batch is not None:
            self._batch.append(notice)
            return "batched"
        return self._send_claimed(notice)

    def _send_claimed(self, notice: Notice) -> str:
        title = notice.title if "rolepact" in notice.title else f"rolepact: {notice.title}"
        title = title[:MAX_TITLE_CHARS]  # titles may quote an object key (up to 1023 bytes)
        parts = split_markdown(notice.text)
        status = "sent"
        try:
            for index, part in enumerate(parts):
                part_title = title if len(parts) == 1 else f"{title} ({index + 1}/{len(parts)})"
                message = {"title": part_title, "text": part, "agreementId": notice.agreement_id}
                if notice.urgent:
                    message["urgent"] = True
                if status == "queued" or not self._deliver(message):
                    for piece in self._fitting(message):
                        self.records.enqueue(piece, self.settings.now(), urgent=notice.urgent)
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
        if self._backlog and not message.get("urgent"):  # older messages wait: keep the order, don't spend a slot
            return False
        try:
            self.gateways.dingtalk.send_markdown(defang(message["title"]),
                                                 defang(message["text"], keep=self.gateways.store.is_own_page_link))
            return True
        except CloudError as error:
            if getattr(error, "errcode", None) == TOO_LONG:
                message["tooLong"] = True  # _fitting splits it: as it is, it would never be taken
            log.warning("DingTalk did not take the message (%s); kept in the outbox", error.code)
            return False

    @staticmethod
    def _fitting(message: dict) -> list[dict]:
        """The message, or — when DingTalk refused it as too long — its text in smaller parts, so that it
        never sits at the head of the outbox for good, holding back every later message."""
        if not message.pop("tooLong", False):
            return [message]
        text, title = str(message.get("text") or ""), str(message.get("title") or "rolepact")[:MAX_TITLE_CHARS]
        parts = split_markdown(text, max(1000, wire_bytes(text) // 2))
        return [dict(message, title=f"{title} ({i + 1}/{len(parts)})", text=part) for i, part in enumerate(parts)]

    def drain_outbox(self, limit: int = 15) -> int:
        """Send queued messages, oldest first, staying under the robot's 20-a-minute limit."""
        if not self.enabled:
            return 0
        sent = 0
        self._backlog = False
        for key, message in self.records.outbox(limit):
            if not self._deliver(message):
                pieces = self._fitting(message)
                if len(pieces) == 1 and pieces[0] is message:
                    self._backlog = True
                    break
                for piece in pieces:  # refused as too long: replaced by its parts, which come next
                    self.records.enqueue(piece, self.settings.now(), urgent=bool(piece.get("urgent")))
                self.records.store.delete(key)
                continue
            self.records.store.delete(key)
            sent += 1
        else:
            self._backlog = None  # maybe empty now: look again before the next send
        return sent
