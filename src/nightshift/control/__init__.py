"""The control side: what the Airflow interpreter (.venv) and the `nightshift` command run.

Data contracts and the Great Expectations gate, staging from the landing zone, alerts, the Airflow REST
client, reports, S3 identities, scaffolding of new pipelines. Never imported by the TFX runtime.
"""
