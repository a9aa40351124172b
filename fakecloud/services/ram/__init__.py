"""Fake RAM (2015-05-01): users, access keys, roles, policies with versions, attachments, tags."""
