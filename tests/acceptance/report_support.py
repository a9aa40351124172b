"""Helpers of issue #15's acceptance tests (the HTML access report): a seed scenario that leaves a
digest behind, and a reader for the page — an HTML tree built with the standard library's parser,
so the tests look at elements, attributes and SVG geometry, not at substrings.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

from audit_support import (
    OUTSIDE_IP, assume, describe, digest_report, keys, next_digest_time, partner_user, provision, read_object,
    record, seed_doc, seed_instance, session_caller, start, stop, tick, trail_event,
)

T0 = datetime(2027, 3, 1, 9, 0, 20, tzinfo=timezone.utc)
EXPIRES = datetime(2027, 3, 1, 20, 0, 0, tzinfo=timezone.utc)  # inside the first digest's day
# What partners choose (session names) and what an event may carry: none of it may become markup.
HOSTILE_SESSION = '<img src=x onerror="alert(1)">'
HOSTILE_ACTION = "Describe</td><script>alert(2)</script>"
HOSTILE_IP = '"><svg onload=alert(3)>'
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


# ================================================================================ the scenario
def seed_with_a_digest(stage, clock) -> dict:
    """The seed agreement; Alice describes, stops and starts an instance, calls once from outside the
    agreed IP ranges (denied by the guard policy) and once after expiry (denied, and a finding); a
    forged-looking event carries hostile strings. Returns {"json", "page", "page_key", "message"}."""
    instance = seed_instance(stage)
    provision(stage, seed_doc(starts=T0 - timedelta(days=2), expires=EXPIRES))
    alice_key = partner_user(stage, "alice")
    alice = assume(stage, alice_key, "alice")
    describe(alice, instance)
    stop(alice, instance)
    start(alice, instance)
    stage.cloud.set_caller_context(alice.access_key_id, source_ip=OUTSIDE_IP)
    try:
        describe(alice, instance)  # the guard policy denies calls from outside sourceIpRanges
    except Exception:  # noqa: BLE001 - the denial is what we want
        pass
    record(stage, trail_event(session_caller(session=HOSTILE_SESSION, ip=HOSTILE_IP), HOSTILE_ACTION,
                              at=T0 + timedelta(minutes=3), read=True))
    stage.deliver()
    tick(stage, clock, T0 + timedelta(minutes=15))
    clock.move_to(EXPIRES - timedelta(minutes=30))
    late = assume(stage, alice_key, "alice")
    clock.move_to(EXPIRES + timedelta(minutes=5))
    try:
        describe(late, instance)  # after expiresAt: RAM (the guard policy) denies the live session
    except Exception:  # noqa: BLE001
        pass
    stage.deliver()
    tick(stage, clock, next_digest_time(T0))
    report = digest_report(stage)
    [page_key] = [k for k in keys(stage, "reports/digest/") if k.endswith(".html")]
    return {"json": report, "page": read_object(stage, page_key).decode("utf-8"), "page_key": page_key}


# ================================================================================ reading the page
class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = ET.Element("document")
        self.stack = [self.root]

    def _attach(self, tag: str, attrs) -> ET.Element:
        element = ET.SubElement(self.stack[-1], tag, {k: v or "" for k, v in attrs})
        return element

    def handle_starttag(self, tag, attrs):
        element = self._attach(tag, attrs)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self._attach(tag, attrs)

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        parent = self.stack[-1]
        if len(parent):
            parent[-1].tail = (parent[-1].tail or "") + data
        else:
            parent.text = (parent.text or "") + data


def parse_page(text: str) -> ET.Element:
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def find(root: ET.Element, tag: str = "*", cls: str | None = None, **attrs) -> list[ET.Element]:
    return [e for e in root.iter(tag) if (cls is None or cls in classes(e))
            and all(e.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


def table_rows(table: ET.Element) -> list[list[str]]:
    return [[text(cell) for cell in row if cell.tag == "td"] for row in table.iter("tr") if row.find("td") is not None]


def heading_table(section: ET.Element, heading: str) -> ET.Element:
    """The table that follows the <h3> called `heading` inside `section`."""
    for parent in section.iter():
        children = list(parent)
        for index, child in enumerate(children):
            if child.tag == "h3" and text(child) == heading:
                for later in children[index + 1:]:
                    if later.tag == "table":
                        return later
    raise AssertionError(f"no table under {heading!r}")


# ================================================================================ reading the charts
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _points(path_d: str) -> list[tuple[float, float]]:
    numbers = [float(n) for n in _NUMBER.findall(path_d)]
    return list(zip(numbers[0::2], numbers[1::2]))


def legend_of(svg: ET.Element) -> list[str]:
    return [text(legend.find("text")) for legend in find(svg, "g", "legend")]


def y_scale(svg: ET.Element):
    """pixel y -> value, from the y axis' labelled guides (two are enough: the axis is linear)."""
    [axis] = [g for g in find(svg, "g", "axis") if "y" in classes(g)]
    ticks = []
    for guide in find(axis, "g", "guides"):
        label, line = guide.find("text"), guide.find("path")
        ticks.append((float(text(label)), _points(line.get("d"))[0][1]))
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]
    return lambda y: v0 + (y - p0) * (v1 - v0) / (p1 - p0)


def x_guides(svg: ET.Element) -> list[tuple[str, float]]:
    [axis] = [g for g in find(svg, "g", "axis") if "x" in classes(g)]
    return [(text(g.find("text")), _points(g.find("path").get("d"))[0][0]) for g in find(axis, "g", "guides")]


def series_paths(svg: ET.Element) -> dict[str, list[tuple[float, float]]]:
    """Legend name -> the points of that series' line, in pixels (pygal draws serie-N in legend order)."""
    [plot] = [g for g in find(svg, "g", "plot") if classes(g) == {"plot"}]
    names = legend_of(svg)
    found = {}
    for group in find(plot, "g", "series"):
        index = int(next(c for c in classes(group) if c.startswith("serie-"))[6:])
        path = group.find("path")
        found[names[index]] = _points(path.get("d")) if path is not None else []
    return found


def step_values(points: list[tuple[float, float]], x0: float, width: float, buckets: int, to_value) -> list[int]:
    """Per-bucket heights of a step line: each horizontal segment gives its height to the buckets it spans."""
    values = [0] * buckets
    for (xa, ya), (xb, yb) in zip(points, points[1:]):
        if abs(ya - yb) < 1e-6 and xb > xa:
            for index in range(round((xa - x0) / width), round((xb - x0) / width)):
                values[index] = round(to_value(ya))
    return values
