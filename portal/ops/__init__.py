"""Operations: the worker that delivers mail and runs the scheduled jobs (the maintenance side of the portal)."""
