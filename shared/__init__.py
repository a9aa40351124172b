"""rolepact core: agreements, guardrails, the pure planner, the executor and its gateways."""
