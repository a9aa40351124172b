"""Fake ActionTrail (2020-07-06): LookupEvents over the events every fake service records."""
