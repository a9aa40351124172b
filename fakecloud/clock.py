"""Time for the fake cloud.

The fake deliberately reads the *process* clock at every call, so that `time-machine`
travel in a test moves the fake and the code under test together (tokens expire, guard
policies start denying, ActionTrail timestamps advance).
"""
from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"


def now() -> datetime:
    return datetime.now(timezone.utc)


_ISO_CACHE: dict[float, str] = {}


def iso(moment: datetime) -> str:
    """`2026-12-01T00:00:00Z`, the form RAM, STS and ActionTrail use.

    It runs several times per API call, mostly for the same second, so the text is remembered
    per epoch second: a `timestamp()` and a dict lookup cost a fraction of the formatting.
    """
    second = moment.timestamp() // 1
    text = _ISO_CACHE.get(second)
    if text is None:
        if len(_ISO_CACHE) >= 4096:
            _ISO_CACHE.clear()
        utc = moment.astimezone(timezone.utc)
        text = _ISO_CACHE[second] = "%04d-%02d-%02dT%02d:%02d:%02dZ" % (
            utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second)
    return text


def iso_millis(moment: datetime) -> str:
    """`2026-12-01T00:00:00.000Z`, the form OSS uses."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def http_date(moment: datetime) -> str:
    """RFC 1123 GMT date for `Date` headers."""
    return format_datetime(moment.astimezone(timezone.utc), usegmt=True)


def parse_iso(text: str) -> datetime:
    """Parse ISO 8601 with `Z` or an offset; naive values are taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def parse_http_date(text: str) -> datetime:
    return parsedate_to_datetime(text)
