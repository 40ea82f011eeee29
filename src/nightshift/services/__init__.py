"""Local services of the embedded default (SeaweedFS, Airflow), started on 127.0.0.1 only."""
