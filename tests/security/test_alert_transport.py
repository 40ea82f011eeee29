"""An alert webhook given as an https URI keeps https: its token (in the path) must not travel in clear.
Before the fix `AIRFLOW_CONN_X='https://hooks.example/T0KEN'` was posted to http://hooks.example/T0KEN."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.security, pytest.mark.integration]


@pytest.mark.parametrize(("uri", "expected"), [
    ("https://hooks.example.invalid/services/T0KEN", "https://hooks.example.invalid/services/T0KEN"),
    ("https://hooks.example.invalid:8443/services/T0KEN", "https://hooks.example.invalid:8443/services/T0KEN"),
    ("http://127.0.0.1:9/alerts", "http://127.0.0.1:9/alerts"),
])
def test_the_webhook_keeps_the_scheme_of_its_connection(monkeypatch, uri, expected):
    from nightshift_airflow.notifiers import webhook_url

    monkeypatch.setenv("AIRFLOW_CONN_NIGHTSHIFT_ALERTS_SCHEME", uri)
    assert webhook_url("nightshift_alerts_scheme") == expected
