"""Routing wired to live state: the scheduler kept current from the store, client location,
stored health (active checks and outlier ejections) and the replicas sharing the checks."""
