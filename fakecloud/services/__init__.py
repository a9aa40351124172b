"""One sub-package per fake service: `models.py` holds state and rules, `responses.py` the wire."""
