"""FC handlers: each parses its trigger's bytes, calls the core, returns."""
