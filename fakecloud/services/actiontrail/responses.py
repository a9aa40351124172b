"""ActionTrail wire layer (2020-07-06): LookupEvents, shaped as `LookupEventsResponseBody.from_map` reads it,
and the trail APIs (CreateTrail, DescribeTrails, GetTrailStatus, StartLogging, StopLogging, DeleteTrail).

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
from fakecloud.services.actiontrail.trails import Trails
from fakecloud.services.pop import PopCall, PopService, action


class ActionTrailService(PopService):
    name = "actiontrail"
    api_version = "2020-07-06"
    trail_service_name = "Actiontrail"

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.backend = cloud.trail  # the events live in the cloud's Trail
        self.trails = Trails()  # the trail configurations (where events would be delivered)

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

    # -- trails ------------------------------------------------------------------------------------------
    def _trail_resource(self, call: PopCall, name: str | None = None) -> str:
        return f"acs:actiontrail:{call.region}:{call.account_id}:trail/{name or '*'}"

    @action("CreateTrail")
    def create_trail(self, call: PopCall) -> dict:
        name = call.str("Name", required=True)
        call.authorize("actiontrail:CreateTrail", self._trail_resource(call, name))
        trail = self.trails.create(call.account_id, call.region, name, event_rw=call.str("EventRW"),
                                   trail_region=call.str("TrailRegion"), oss_bucket=call.str("OssBucketName"),
                                   oss_prefix=call.str("OssKeyPrefix"), sls_project_arn=call.str("SlsProjectArn"))
        described = trail.describe()
        return {key: described[key] for key in ("Name", "HomeRegion", "TrailRegion", "EventRW", "OssBucketName",
                                                "OssKeyPrefix", "SlsProjectArn")}

    @action("DescribeTrails", read=True)
    def describe_trails(self, call: PopCall) -> dict:
        call.authorize("actiontrail:DescribeTrails", self._trail_resource(call))
        return {"TrailList": [t.describe() for t in self.trails.describe(call.account_id, call.str("NameList"))]}

    @action("GetTrailStatus", read=True)
    def get_trail_status(self, call: PopCall) -> dict:
        name = call.str("Name", required=True)
        call.authorize("actiontrail:GetTrailStatus", self._trail_resource(call, name))
        return self.trails.get(call.account_id, name).status_body()

    @action("StartLogging")
    def start_logging(self, call: PopCall) -> dict:
        return self._set_logging(call, "actiontrail:StartLogging", True)

    @action("StopLogging")
    def stop_logging(self, call: PopCall) -> dict:
        return self._set_logging(call, "actiontrail:StopLogging", False)

    def _set_logging(self, call: PopCall, ram_action: str, on: bool) -> dict:
        name = call.str("Name", required=True)
        call.authorize(ram_action, self._trail_resource(call, name))
        self.trails.set_logging(call.account_id, name, on)
        return {}

    @action("DeleteTrail")
    def delete_trail(self, call: PopCall) -> dict:
        name = call.str("Name", required=True)
        call.authorize("actiontrail:DeleteTrail", self._trail_resource(call, name))
        self.trails.delete(call.account_id, name)
        return {}
