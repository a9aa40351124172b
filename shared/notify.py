"""Notices to DingTalk: each sent at most once, never lost to the robot's rate limit.

A notice is claimed in OSS (forbid-overwrite marker) before it is sent, so redelivered or
concurrent runs send it once. If the robot refuses or is unreachable, the message goes to the
outbox and the expiry enforcer sends it on a later tick. Every message contains "rolepact", the
keyword to configure on the robot.

The robot's limits (DingTalk custom-robot doc): 20 messages a minute, and going over locks the
robot out for 10 minutes; there is also a monthly quota (errcode 90030). So every send, from any
function, first claims one of SENDS_PER_MINUTE slots of the current UTC minute in OSS
(`state/dingtalk/slots/<minute>/<n>`, forbid-overwrite), and posts once on it (the gateway never
re-posts). The minute is the sender's own clock, and a post reaches DingTalk up to the gateway's
10 s timeout later, so the messages DingTalk counts in any 60 seconds can carry the stamps of
three calendar minutes (as long as delay plus clock skew stay under a minute): 3 x 6 = 18, never
more than 20, whatever DingTalk's window. An answer 130101 anyway (another
sender on the same robot) pauses every sender for the 10-minute lockout, and 90030 for an hour at
a time until the month turns (`state/dingtalk/paused.json`), so the outbox head is retried then —
never hammered, never stuck for good.
"""
from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from shared.errors import CloudError
from shared.log import get_logger

log = get_logger("notify")
MAX_MESSAGE_BYTES = 18_000  # DingTalk refuses bodies over 20 000 bytes
MAX_TITLE_CHARS = 200
TOO_LONG = 460101  # DingTalk: "message too long, exceed 20000 bytes"
RATE_LIMITED = 130101  # "send too fast, exceed 20 times per minute": the robot is locked out
OVER_QUOTA = 90030  # "webhook over limit": the robot's monthly quota is used up
SENDS_PER_MINUTE = 6  # per UTC minute across every function: 3 minutes' worth (18) at most in any 60 s
LOCKOUT = timedelta(minutes=10)
QUOTA_PROBE = timedelta(hours=1)
CHINA = timezone(timedelta(hours=8))  # DingTalk's month
SLOTS = "state/dingtalk/slots/"
PAUSE = "state/dingtalk/paused.json"
_ACTIVE_MARKDOWN = re.compile(r"([\[\]<>])")
# What a markdown renderer can turn into a live link without []() syntax: a URL scheme (GFM and most
# renderers autolink bare http(s)://, and dingtalk:// opens in the client), a bare www. host, an e-mail.
_SCHEME = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{1,30}):(/{1,3})")
_WWW = re.compile(r"\b(www)\.", re.IGNORECASE)
_EMAIL = re.compile(r"(?<=[A-Za-z0-9._%+-])@(?=[A-Za-z0-9-]+\.[A-Za-z])")


def md_text(text) -> str:
    """Untrusted text (object keys, file content, cloud error messages) shown literally in DingTalk
    markdown: one line, and no `[...](...)` link, `![...](...)` image or `<...>` tag/autolink can form —
    nor the slot where a notice's one trusted link goes (LINK_SLOT)."""
    return _ACTIVE_MARKDOWN.sub(r"\\\1", " ".join(_no_slot(text).splitlines()))


def defang(text: str) -> str:
    """The last step before DingTalk, for every message (rolepact's own texts included: none of them
    links anywhere): no input can yield a live link. `[x](y)` and reference definitions are broken
    up, `<` cannot open a tag or autolink, and URLs, www. hosts and e-mail addresses are shown
    defanged (`https[:]//evil.example`, `www[.]evil`, `alice[@]corp.example`) — readable, not clickable."""
    text = str(text).replace("](", "] (").replace("]:", "] :").replace("<", "‹")
    text = _SCHEME.sub(lambda m: f"{m.group(1)}[:]{m.group(2)}", text)
    text = _WWW.sub(lambda m: f"{m.group(1)}[.]", text)
    return _EMAIL.sub("[@]", text)


def md_code(text) -> str:
    """Untrusted text for inside a `code span`: one line, it cannot close the span, and should the
    renderer not know code spans, no link or tag can form either (`](` and `<` are broken up)."""
    return " ".join(_no_slot(text).splitlines()).replace("`", "'").replace("](", "] (").replace("<", "‹")


def _no_slot(text) -> str:
    """`text` without the invisible separator LINK_SLOT is made of: an input must not be able to place (or
    move) the notice's trusted link, e.g. next to text of its own choosing."""
    return str(text).replace(_SLOT_MARK, "")


_SLOT_MARK = "\u2063"
# Where a notice's one live link goes. defang() breaks every link in a message, rolepact's own
# included; the only link that survives is the notice's `link`, put in at this slot after defang(),
# and only when its URL is a presigned URL of this deployment's own `reports/` (checked at the sink,
# since outbox messages wait in the bucket). Slots an input smuggled in are removed.
LINK_SLOT = f"{_SLOT_MARK}rolepact-link{_SLOT_MARK}"


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Notice:
    agreement_id: str | None
    notice_id: str  # what makes it unique, e.g. "granted:<digest>"
    title: str
    text: str  # DingTalk markdown
    urgent: bool = False  # the kill switch: sent before anything waiting in the outbox
    link: Link | None = None  # shown live at LINK_SLOT in `text`, if the sink can verify it


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


class RobotBudget:
    """The robot's send rate, shared by every function through OSS markers (see the module doc)."""

    def __init__(self, store, clock) -> None:
        self.store = store
        self.clock = clock
        self._paused_until: datetime | None = None  # read once per instance; set when we pause

    def paused(self) -> bool:
        if self._paused_until is None:
            until = (self.store.get_json(PAUSE) or {}).get("until")
            self._paused_until = _parse(until) if until else datetime.min.replace(tzinfo=timezone.utc)
        return self.clock() < self._paused_until

    def claim(self) -> bool:
        """One send slot of this UTC minute, or False when the minute's share is used up."""
        minute = self.clock().astimezone(timezone.utc).strftime("%Y%m%dT%H%M")
        return any(self.store.put_json(f"{SLOTS}{minute}/{n}", {}, forbid_overwrite=True)
                   for n in range(SENDS_PER_MINUTE))

    def pause(self, errcode: int) -> datetime:
        now = self.clock()
        if errcode == RATE_LIMITED:
            until = now + LOCKOUT
        else:  # over the monthly quota: probe hourly until the month turns (China time)
            local = now.astimezone(CHINA)
            month_end = (local.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0,
                                                                            microsecond=0)
            until = min(now + QUOTA_PROBE, month_end.astimezone(timezone.utc))
        self._paused_until = until
        self.store.put_json(PAUSE, {"until": until.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "errcode": errcode})
        return until

    def forget_old_slots(self, keep: timedelta = timedelta(minutes=5), limit: int = 100) -> None:
        """Slot markers are needed for one minute; the enforcer clears older ones a few at a time."""
        oldest = (self.clock() - keep).astimezone(timezone.utc).strftime("%Y%m%dT%H%M")
        for n, key in enumerate(self.store.iter_keys(SLOTS)):
            if n >= limit or key[len(SLOTS):len(SLOTS) + 13] >= oldest:
                break
            self.store.delete(key)


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


class Notifier:
    def __init__(self, settings, gateways, records) -> None:
        self.settings = settings
        self.gateways = gateways
        self.records = records
        self.budget = RobotBudget(records.store, settings.now)
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
                if notice.link and LINK_SLOT in part:
                    message["link"] = {"label": notice.link.label, "url": notice.link.url}
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
        if self.budget.paused() or not self.budget.claim():  # locked out, over quota, or this minute's share spent
            return False
        try:
            self.gateways.dingtalk.send_markdown(defang(message["title"]), self._with_link(message))
            return True
        except CloudError as error:
            errcode = getattr(error, "errcode", None)
            if errcode == TOO_LONG:
                message["tooLong"] = True  # _fitting splits it: as it is, it would never be taken
            if errcode in (RATE_LIMITED, OVER_QUOTA):
                until = self.budget.pause(errcode)
                log.error("DingTalk robot refused with %s; no sends until %s", errcode, until.isoformat())
            log.warning("DingTalk did not take the message (%s); kept in the outbox", error.code)
            return False

    def _with_link(self, message: dict) -> str:
        """The defanged text with the message's link made live at LINK_SLOT — only a link to this
        deployment's own reports; any other slot (or an unverifiable link) becomes plain text."""
        text = defang(message["text"])
        link = message.get("link") if isinstance(message.get("link"), dict) else None
        if link and LINK_SLOT in text:
            # the label is text (defanged like the rest); the URL goes out signed by rolepact, or not live
            label = defang(re.sub(r"[\[\]<>`\\]", "", " ".join(str(link.get("label") or "link").split()))[:100])
            url = self.gateways.store.resigned_report_url(str(link.get("url") or ""), self.settings.now())
            if url is not None:
                text = text.replace(LINK_SLOT, f"[{label}]({url})", 1)
            else:
                log.warning("a message's link is not a presigned URL of this deployment's reports/; shown as text")
        return text.replace(LINK_SLOT, "")

    @staticmethod
    def _fitting(message: dict) -> list[dict]:
        """The message, or — when DingTalk refused it as too long — its text in smaller parts, so that it
        never sits at the head of the outbox for good, holding back every later message."""
        if not message.pop("tooLong", False):
            return [message]
        text, title = str(message.get("text") or ""), str(message.get("title") or "rolepact")[:MAX_TITLE_CHARS]
        parts = split_markdown(text, max(1000, wire_bytes(text) // 2))
        return [dict(message, title=f"{title} ({i + 1}/{len(parts)})", text=part) for i, part in enumerate(parts)]

    def drain_outbox(self, limit: int = SENDS_PER_MINUTE) -> int:
        """Send queued messages, oldest first, within this minute's share of the robot's rate."""
        if not self.enabled:
            return 0
        self.budget.forget_old_slots()
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
