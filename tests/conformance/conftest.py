"""The conformance suite's fixtures and report hooks live in conformance_kit.py (docs/conformance.md)."""
from .conformance_kit import *  # noqa: F401,F403 - fixtures and hooks
