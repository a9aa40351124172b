"""Fake STS (2015-04-01): AssumeRole decided by policy, GetCallerIdentity."""
