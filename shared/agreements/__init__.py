"""The agreement: its model, its JSON Schema, validation with field paths, and guardrails."""
