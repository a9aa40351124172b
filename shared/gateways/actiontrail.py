"""ActionTrail (2020-07-06) LookupEvents: what partners did with their roles, and who touched ours.

Events are stored per region. Regional events (ECS, STS, ...) are found in the region they
happened in; RAM's events are global and stored in one region only — callers query those
with `region="cn-hangzhou"` (ap-southeast-1 on the international site).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone

from shared.gateways import tea_config
from shared.gateways.retry import call_with_retry

MAX_RESULTS = 50  # LookupEvents maximum page size


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class TrailGateway:
    def __init__(self, settings) -> None:
        from alibabacloud_actiontrail20200706 import models

        self.settings = settings
        self._models = models
        self._clients: dict[str, object] = {}  # one client per region queried

    def _client(self, region: str):
        client = self._clients.get(region)
        if client is None:
            from alibabacloud_actiontrail20200706.client import Client

            config = tea_config(self.settings, self.settings.endpoints.actiontrail,
                                f"actiontrail.{region}.aliyuncs.com", region=region)
            client = self._clients[region] = Client(config)
        return client

    def lookup_events(self, start: datetime, end: datetime, *, region: str | None = None,
                      attributes: Iterable[tuple[str, str]] = (), max_results: int = MAX_RESULTS,
                      direction: str | None = None) -> Iterator[dict]:
        """Events in [start, end] matching all `attributes` (ActionTrail uses at most two), newest first.

        Pages are fetched lazily as the caller iterates; every page repeats the first page's
        parameters plus NextToken, as ActionTrail requires. A throttled page is retried.
        """
        client = self._client(region or self.settings.region)
        lookup = [self._models.LookupEventsRequestLookupAttribute(key=key, value=value) for key, value in attributes]
        request = self._models.LookupEventsRequest(start_time=iso(start), end_time=iso(end),
                                                   max_results=str(max(1, min(max_results, MAX_RESULTS))),
                                                   lookup_attribute=lookup or None, direction=direction)
        while True:
            response = call_with_retry(lambda: client.lookup_events(request), service="actiontrail",
                                       action="LookupEvents", settings=self.settings)
            body = response.body
            yield from body.events or []
            if not body.next_token:
                return
            request.next_token = body.next_token

    # -- trails (what `rolepact doctor` checks) --------------------------------------------------------------

    def trails(self, *, region: str | None = None) -> list[dict]:
        """Every trail of the account (shadow trails included) as the API names its fields."""
        client = self._client(region or self.settings.region)
        request = self._models.DescribeTrailsRequest(include_shadow_trails=True)
        body = call_with_retry(lambda: client.describe_trails(request), service="actiontrail", action="DescribeTrails",
                               settings=self.settings).body
        return [trail.to_map() for trail in body.trail_list or []]

    def trail_status(self, name: str, *, region: str | None = None) -> dict:
        client = self._client(region or self.settings.region)
        request = self._models.GetTrailStatusRequest(name=name)
        body = call_with_retry(lambda: client.get_trail_status(request), service="actiontrail",
                               action="GetTrailStatus", settings=self.settings).body
        return body.to_map()
