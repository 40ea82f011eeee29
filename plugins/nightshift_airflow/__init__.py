"""Airflow side of nightshift: thin operators over hooks; the logic lives in `nightshift` itself."""
