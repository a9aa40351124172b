"""The HTML report's charts: static SVG drawn by pygal, each with a title, a text alternative and a
table fallback.

pygal (pure Python, ~1.5 MB installed) renders SVG on the server with no browser and no JavaScript
engine; docs/access-audit.md says why it was chosen over Vega-Lite/vl-convert. It is imported
here, lazily, so only the code that renders a page pays for it — never an FC cold start.

What comes out of pygal is made safe for a page that must open offline and from a bucket:
its inline `<script>` (tooltip configuration for pygal.js, which would be fetched from the
internet) is removed, comments go, the chart id is deterministic (`chart-<id>`), and the root
`<svg>` gets `role="img"` with a `<title>` and `<desc>` (the text alternative). Labels are only
ever set as element text or attributes through ElementTree, which escapes them.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MAX_BUCKETS = 31 * 24  # up to 31 days per hour; longer periods per day (per week beyond ~2 years)
MAX_OVERVIEW_AGREEMENTS = 25
COLORS = {"window": "#dcefe0", "allowed": "#2f7ebc", "denied": "#d64541", "starts": "#6b8e23", "ends": "#1b3a4b"}


@dataclass
class Chart:
    chart_id: str
    title: str
    summary: str  # the text alternative: what the chart shows, in one paragraph
    svg: str  # inline <svg> markup: no script, no external reference
    columns: tuple[str, ...] = ()
    rows: list[tuple] = field(default_factory=list)  # the table fallback
    table_note: str = ""


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _floor(moment: datetime, unit: timedelta) -> datetime:
    moment = moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    if unit >= DAY:
        moment = moment.replace(hour=0)
    if unit == 7 * DAY:
        moment -= timedelta(days=moment.weekday())
    return moment


def bucket_unit(since: datetime, until: datetime) -> timedelta:
    span = until - since
    if span <= MAX_BUCKETS * HOUR:
        return HOUR
    if span <= MAX_BUCKETS * DAY:
        return DAY
    return 7 * DAY


def unit_name(unit: timedelta) -> str:
    return {HOUR: "hour", DAY: "day"}.get(unit, "week")


def _label(moment: datetime, unit: timedelta, span: timedelta) -> str:
    if unit == HOUR and span <= DAY:
        return moment.strftime("%H:%M")
    if unit == HOUR:
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%Y-%m-%d")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _short(moment: datetime) -> str:
    return moment.strftime("%m-%d %H:%M")


def nice_ceiling(value: float) -> int:
    """The smallest 1/2/5 x 10^n at or above `value` (at least 1): a y-axis top people can read."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)


def axis_top(largest: int) -> tuple[int, int]:
    """(top, step) of a count axis: about five whole-number ticks, the top the first tick at or above `largest`."""
    step = nice_ceiling(max(largest, 1) / 5)
    return step * max(1, math.ceil(largest / step)), step


def _style(colors: tuple[str, ...]):
    from pygal.style import Style

    return Style(background="white", plot_background="white", foreground="#3c4650", foreground_strong="#1d252c",
                 foreground_subtle="#e3e7eb", guide_stroke_color="#e3e7eb", major_guide_stroke_color="#e3e7eb",
                 guide_stroke_dasharray="3,3", major_guide_stroke_dasharray="3,3", opacity=".92",
                 opacity_hover=".92", transition="none", font_family="system-ui, -apple-system, 'Segoe UI', sans-serif",
                 title_font_size=15, label_font_size=11, major_label_font_size=11, legend_font_size=12,
                 colors=colors)


def _common(colors: tuple[str, ...], **options) -> dict:
    return dict(style=_style(colors), js=[], disable_xml_declaration=True, legend_at_bottom=True, truncate_legend=-1,
                truncate_label=-1, print_values=False, show_dots=False, pretty_print=False, **options)


def _finish(chart, chart_id: str, title: str, summary: str) -> str:
    """pygal's SVG, made self-contained, deterministic and labelled for assistive technology."""
    chart.uuid = chart_id
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    root = ET.fromstring(chart.render(is_unicode=True))  # comments are dropped by the parser
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag == f"{{{SVG_NS}}}script" or (parent is root and child.tag == f"{{{SVG_NS}}}title"):
                parent.remove(child)  # pygal.js's configuration; pygal's own "Pygal" title
            elif child.get("id"):  # unique across the page's charts
                child.set("id", f"chart-{chart_id}-{child.get('id')}")
    root.set("id", f"chart-{chart_id}")
    root.set("role", "img")
    root.set("aria-labelledby", f"chart-{chart_id}-title chart-{chart_id}-desc")
    title_node = ET.Element(f"{{{SVG_NS}}}title", {"id": f"chart-{chart_id}-title"})
    title_node.text = title
    desc_node = ET.Element(f"{{{SVG_NS}}}desc", {"id": f"chart-{chart_id}-desc"})
    desc_node.text = summary
    root.insert(0, desc_node)
    root.insert(0, title_node)
    return ET.tostring(root, encoding="unicode")


# ================================================================================ per agreement
def _steps(values: list[int]) -> list[tuple[int, int]]:
    """A step line over buckets 0..n: a point only where the value changes (a quiet week stays small)."""
    points = [(0, values[0])]
    for index in range(1, len(values)):
        if values[index] != values[index - 1]:
            points += [(index, values[index - 1]), (index, values[index])]
    return points + [(len(values), values[-1])]


def timeline_chart(entry: dict, since: datetime, until: datetime, chart_id: str) -> Chart:
    """Calls per hour (per day for long periods), allowed vs denied, over [since, until), with the
    agreement's window shaded and its start and end marked."""
    import pygal

    unit = bucket_unit(since, until)
    first = _floor(since, unit)
    buckets = max(1, math.ceil((until - first) / unit))
    allowed, denied = [0] * buckets, [0] * buckets
    for hour, n_allowed, n_denied in entry.get("callsPerHour") or []:
        index = int((_parse(hour) - first) / unit)
        if 0 <= index < buckets:
            allowed[index] += n_allowed
            denied[index] += n_denied
    span = until - since
    x_of = lambda moment: (moment - first) / unit  # noqa: E731 - position on the x axis, in buckets
    top, step = axis_top(max((a + d for a, d in zip(allowed, denied)), default=0))
    title = f"Calls per {unit_name(unit)}"
    series: list[tuple[str, list, dict, str]] = []  # name, points, options, colour (pygal colours by position)

    starts = _parse(entry["startsAt"]) if entry.get("startsAt") else None
    ends = _parse(entry["endsAt"]) if entry.get("endsAt") else None
    window_from = max(starts or first, first)
    window_to = min(ends, until) if ends else until
    notes = []
    if window_from < window_to:
        series.append(("agreement window", [(x_of(window_from), top), (x_of(window_to), top)], {"fill": True},
                       COLORS["window"]))
        notes.append(f"The agreement's window covers {_when(window_from)} to {_when(window_to)} of this period.")
    else:
        notes.append("The agreement's window does not overlap this period.")
    totals = [a + d for a, d in zip(allowed, denied)]
    series.append(("allowed", _steps(totals), {"fill": True}, COLORS["allowed"]))  # stacked: on top of denied
    series.append(("denied", _steps(denied), {"fill": True}, COLORS["denied"]))
    if starts and since <= starts <= until:
        series.append((f"starts {_short(starts)}", [(x_of(starts), 0), (x_of(starts), top)],
                       {"stroke_style": {"width": 2, "dasharray": "2,3"}}, COLORS["starts"]))
        notes.append(f"It starts at {_when(starts)}.")
    ended = entry.get("endedReason")
    if ends and since <= ends <= until:
        label = f"ended {_short(ends)} ({ended})" if ended else f"expires {_short(ends)}"
        series.append((label, [(x_of(ends), 0), (x_of(ends), top)], {"stroke_style": {"width": 3, "dasharray": "7,4"}},
                       COLORS["ends"]))
        notes.append(f"It {'ended' if ended else 'expires'} at {_when(ends)}; calls after that line are findings.")
    elif ends and ends < since:
        notes.append(f"It {'ended' if ended else 'expired'} at {_when(ends)}, before this period: every call shown "
                     f"is after its end.")
    elif ends:
        notes.append(f"It ends after this period, at {_when(ends)}.")

    chart = pygal.XY(**_common(tuple(c for *_, c in series), width=960, height=270,
                               include_x_axis=True, range=(0, top), xrange=(0, buckets), show_x_guides=False,
                               legend_at_bottom_columns=min(5, len(series)), y_labels=list(range(0, top + 1, step)),
                               x_value_formatter=lambda x: _label(first + x * unit, unit, span),
                               value_formatter=lambda y: f"{y:g}"))
    chart.x_labels = list(range(0, buckets + 1, max(1, buckets // 8)))
    for name, points, options, _color in series:
        chart.add(name, points, **options)

    total_allowed, total_denied = sum(allowed), sum(denied)
    busiest = max(range(buckets), key=lambda i: (allowed[i] + denied[i], -i))
    busy = allowed[busiest] + denied[busiest]
    summary = (f"{title} from {_when(since)} to {_when(until)}: {total_allowed + total_denied} calls "
               f"({total_allowed} allowed, {total_denied} denied)"
               + (f"; the busiest {unit_name(unit)} starts {_when(first + busiest * unit)} with {busy} calls. "
                  if busy else ". ")
               + " ".join(notes))
    rows = [(_when(first + i * unit), allowed[i], denied[i]) for i in range(buckets) if allowed[i] or denied[i]]
    return Chart(chart_id, title, summary, _finish(chart, chart_id, title, summary),
                 (f"{unit_name(unit).capitalize()} starting", "allowed", "denied"), rows,
                 f"{unit_name(unit).capitalize()}s without calls are left out.")


# ================================================================================ overview
def overview_chart(agreements: list[dict], chart_id: str = "overview") -> Chart:
    """Calls per agreement, allowed vs denied (the busiest `MAX_OVERVIEW_AGREEMENTS`)."""
    import pygal

    ranked = sorted(agreements, key=lambda a: (-a["events"], a["agreementId"]))[:MAX_OVERVIEW_AGREEMENTS]
    title = "Partner calls per agreement"
    height = 80 + 34 * max(1, len(ranked))
    top, step = axis_top(max((a["events"] for a in ranked), default=0))
    chart = pygal.HorizontalStackedBar(**_common((COLORS["allowed"], COLORS["denied"]), width=960, height=height,
                                                 range=(0, top), y_labels=list(range(0, top + 1, step)), legend_at_bottom_columns=2,
                                                 value_formatter=lambda y: f"{y:g}", show_y_guides=True))
    drawn = ranked[::-1]  # pygal draws a horizontal chart's first label at the bottom: the busiest goes on top
    chart.x_labels = [a["agreementId"] for a in drawn]
    chart.add("allowed", [a["events"] - a["denials"] for a in drawn])
    chart.add("denied", [a["denials"] for a in drawn])
    total = sum(a["events"] for a in agreements)
    busiest = ranked[0] if ranked and ranked[0]["events"] else None
    summary = (f"{title}: {total} calls across {len(agreements)} agreement{'s' if len(agreements) != 1 else ''}"
               + (f"; the busiest is {busiest['agreementId']} with {busiest['events']} calls "
                  f"({busiest['denials']} denied)." if busiest else "; none had activity.")
               + (f" Only the {MAX_OVERVIEW_AGREEMENTS} busiest are drawn; the table lists all."
                  if len(agreements) > MAX_OVERVIEW_AGREEMENTS else ""))
    rows = [(a["agreementId"], a["events"] - a["denials"], a["denials"]) for a in
            sorted(agreements, key=lambda a: (-a["events"], a["agreementId"]))]
    return Chart(chart_id, title, summary, _finish(chart, chart_id, title, summary),
                 ("agreement", "allowed", "denied"), rows)
