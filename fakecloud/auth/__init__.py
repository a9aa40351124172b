"""Signature verification for each wire protocol the fake speaks."""
