"""Access audit: ActionTrail events -> attribution to agreements -> findings -> reports."""
