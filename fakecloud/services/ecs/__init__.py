"""Fake ECS (2014-05-26): instances of an account, listed and started/stopped/rebooted."""
