"""What the share, volume and identity services share: the Core (database, drivers,
task runner, locks), the task runner, placement, quotas, types, user messages, the
request context, the errors, and building the drivers from the settings."""
