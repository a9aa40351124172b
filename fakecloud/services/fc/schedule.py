"""Timer-trigger schedules: `@every <duration>` and FC's 6-field cron.

FC 2.0 timer triggers take `@every 1m` / `@every 1h30m` (minimum one minute) or a cron
expression with a seconds field, `sec min hour dom month dow`, evaluated in UTC unless it
starts with `CRON_TZ=<IANA zone> ` (docs: fc-deploy.md §1.8). The fake only ever needs to
answer one question -- "what is the latest tick in (after, until]?" -- so that is the whole
interface: `fire_due_timers` fires that tick and skips older missed ones.

`@every` ticks are anchored at the trigger's creation time (whole seconds), the way
robfig/cron's constant-delay schedules behave [?: FC does not document the anchor].
Cron supports `*`, `?` (day fields), lists, ranges, steps and JAN-DEC / SUN-SAT names; `L`,
`W` and `#` are refused. Day-of-month and day-of-week combine with OR when both are
restricted and AND otherwise, as in robfig/cron (which FC's syntax follows).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MIN_EVERY = timedelta(minutes=1)
# How far back a cron search goes: enough for any schedule that fires at least yearly.
MAX_LOOKBACK_DAYS = 366 * 4 + 1

_EVERY = re.compile(r"^@every\s+((?:\d+[hms])+)$")
_EVERY_PART = re.compile(r"(\d+)([hms])")
_TZ_PREFIX = re.compile(r"^(?:CRON_TZ|TZ)=(\S+)\s+(.*)$")
_MONTHS = {n: i for i, n in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
_DAYS = {n: i for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}


class ScheduleError(ValueError):
    """A cronExpression FC would refuse."""


@dataclass(frozen=True)
class EverySchedule:
    period: timedelta
    anchor: datetime  # ticks are anchor + k * period, k >= 1

    def latest_tick(self, after: datetime, until: datetime) -> datetime | None:
        if until < self.anchor + self.period:
            return None
        k = (until - self.anchor) // self.period
        tick = self.anchor + k * self.period
        return tick if tick > after else None


@dataclass(frozen=True)
class CronSchedule:
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_star: bool
    weekdays_star: bool
    tz: timezone | ZoneInfo

    def latest_tick(self, after: datetime, until: datetime) -> datetime | None:
        """Latest tick t with after < t <= until, searching day by day backwards in the schedule's zone."""
        local_until = until.astimezone(self.tz)
        first_day = after.astimezone(self.tz).date()
        day = local_until.date()
        limit: tuple[int, int, int] | None = (local_until.hour, local_until.minute, local_until.second)
        for _ in range(MAX_LOOKBACK_DAYS):
            if day < first_day:
                return None
            if self._day_matches(day):
                hms = self._latest_time(limit)
                if hms is not None:
                    tick = datetime.combine(day, time(*hms), tzinfo=self.tz).astimezone(timezone.utc)
                    if tick <= after:
                        return None  # every earlier tick is older still
                    if tick <= until:
                        return tick
            day -= timedelta(days=1)
            limit = None
        return None

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow

    def _latest_time(self, limit: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
        """Greatest (h, m, s) of the schedule <= limit (or overall when limit is None)."""
        for h in reversed(self.hours):
            if limit is not None and h > limit[0]:
                continue
            same_hour = limit is not None and h == limit[0]
            for m in reversed(self.minutes):
                if same_hour and m > limit[1]:
                    continue
                same_minute = same_hour and m == limit[1]
                for s in reversed(self.seconds):
                    if same_minute and s > limit[2]:
                        continue
                    return h, m, s
        return None


def parse_schedule(expression: str, anchor: datetime):
    """An `EverySchedule` or `CronSchedule` for a timer trigger's cronExpression."""
    text = (expression or "").strip()
    if text.startswith("@every"):
        return _parse_every(text, anchor)
    tz: timezone | ZoneInfo = timezone.utc
    if m := _TZ_PREFIX.match(text):
        try:
            tz = ZoneInfo(m[1])
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"unknown time zone in cronExpression: {m[1]!r}")
        text = m[2].strip()
    fields = text.split()
    if len(fields) != 6:
        raise ScheduleError(
            f"cronExpression needs 6 fields (sec min hour dom month dow) or '@every <n>m', got {expression!r}")
    sec, minute, hour, dom, month, dow = fields
    return CronSchedule(
        seconds=tuple(sorted(_field(sec, 0, 59, {}, "seconds"))),
        minutes=tuple(sorted(_field(minute, 0, 59, {}, "minutes"))),
        hours=tuple(sorted(_field(hour, 0, 23, {}, "hours"))),
        days=frozenset(_field(dom, 1, 31, {}, "day of month", question=True)),
        months=frozenset(_field(month, 1, 12, _MONTHS, "month")),
        weekdays=frozenset(d % 7 for d in _field(dow, 0, 7, _DAYS, "day of week", question=True)),
        days_star=dom in ("*", "?"),
        weekdays_star=dow in ("*", "?"),
        tz=tz,
    )


def _parse_every(text: str, anchor: datetime) -> EverySchedule:
    m = _EVERY.match(text)
    if not m:
        raise ScheduleError(f"invalid @every expression {text!r}; use e.g. '@every 5m' or '@every 1h30m'")
    unit = {"h": 3600, "m": 60, "s": 1}
    seconds = sum(int(n) * unit[u] for n, u in _EVERY_PART.findall(m[1]))
    period = timedelta(seconds=seconds)
    if period < MIN_EVERY:
        raise ScheduleError(f"@every period must be at least 1m, got {m[1]}")
    return EverySchedule(period, anchor.astimezone(timezone.utc).replace(microsecond=0))


def _field(text: str, low: int, high: int, names: dict[str, int], what: str, *, question: bool = False) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        if part in ("*", "?"):
            if part == "?" and not question:
                raise ScheduleError(f"'?' is only allowed in the day fields, not in {what}")
            values.update(range(low, high + 1))
            continue
        body, _, step_text = part.partition("/")
        step = _number(step_text, names, what) if step_text else 1
        if step < 1:
            raise ScheduleError(f"{what}: step must be positive in {part!r}")
        if body == "*":
            start, end = low, high
        elif "-" in body:
            a, b = body.split("-", 1)
            start, end = _number(a, names, what), _number(b, names, what)
        else:
            start = _number(body, names, what)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ScheduleError(f"{what}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def _number(text: str, names: dict[str, int], what: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise ScheduleError(f"{what}: {text!r} is not a number or name ('L', 'W' and '#' are not supported)")
    return int(text)
