"""snowbot's Bolt listeners, one module per Slack surface; each module's `register(app, deps)` adds them."""
