"""OSS: buckets, objects and event notifications, reached through `oss2` (XML over REST)."""
