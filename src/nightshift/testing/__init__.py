"""Test and benchmark data made from the real taxi data (used by tests/ and bench/)."""
