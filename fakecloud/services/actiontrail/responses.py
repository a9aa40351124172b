"""ActionTrail wire layer (2020-07-06): LookupEvents, shaped as `LookupEventsResponseBody.from_map` reads it.

The region queried is the endpoint's (`actiontrail.<region>.aliyuncs.com`; LookupEvents has
no RegionId parameter). The call itself is recorded like any other (a Read event), after
the lookup, so it never shows up in its own result.
"""
from __future__ import annotations

from fakecloud.clock import iso, parse_iso
from fakecloud.services.actiontrail.models import (
    DEFAULT_MAX_RESULTS, DIRECTIONS, MAX_RESULTS, Query, decode_token, encode_token, invalid_query, lookup,
    parse_conditions, parse_window,
)
from fakecloud.services.pop import PopCall, PopService, action


class ActionTrailService(PopService):
    name = "actiontrail"
    api_version = "2020-07-06"
    trail_service_name = "Actiontrail"

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.backend = cloud.trail  # no state of its own: the events live in the cloud's Trail

    def trail_source(self, call: PopCall) -> tuple[str, str]:
        return self.trail_service_name, f"actiontrail.{call.region}.aliyuncs.com"

    @action("LookupEvents", read=True)
    def lookup_events(self, call: PopCall) -> dict:
        call.authorize("actiontrail:LookupEvents", f"acs:actiontrail:{call.region}:{call.account_id}:*")
        now = self.cloud.now()
        query = self._query(call, now)
        events = self.cloud.trail.visible(call.account_id, now)
        if query.head is None:
            query.head = events[-1]["eventId"] if events else None
        page, cursor = lookup(events, call.region, query)
        body = {"StartTime": iso(query.start), "EndTime": iso(query.end), "Events": page}
        if cursor is not None:
            body["NextToken"] = encode_token(query, cursor)
        return body

    @staticmethod
    def _query(call: PopCall, now) -> Query:
        raw_max = call.str("MaxResults")
        if raw_max is None:
            max_results = DEFAULT_MAX_RESULTS
        elif raw_max.isdigit() and 1 <= int(raw_max) <= MAX_RESULTS:
            max_results = int(raw_max)
        else:
            raise invalid_query()
        direction = (call.str("Direction") or "BACKWARD").upper()
        if direction not in DIRECTIONS:
            raise invalid_query()
        start, end = parse_window(call.str("StartTime"), call.str("EndTime"), now)
        query = Query(start, end, max_results, direction, parse_conditions(call.repeat_list("LookupAttribute")))
        token = call.str("NextToken")
        if token is not None:
            state = decode_token(token)
            if state["d"] != direction:
                raise invalid_query()
            # Later pages keep the first page's window (its default "now" must not move).
            query.start, query.end = parse_iso(state["s"]), parse_iso(state["e"])
            query.cursor, query.cursor_time, query.head = state["c"], state["t"], state.get("h")
        return query
