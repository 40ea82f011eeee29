"""DataCheck: the run's data against the served version's schema and statistics, before anything trains."""
