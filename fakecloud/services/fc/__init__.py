"""Function Compute 2.0: registry, triggers and async delivery (models.py), the 2016-08-15 wire (responses.py)."""
