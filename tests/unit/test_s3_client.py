"""The S3 client signs with the AWS variables as they are now, not as they were for an earlier client."""

from __future__ import annotations

import pytest

from nightshift.core.s3 import client_from_env

pytestmark = pytest.mark.unit


def test_each_client_reads_the_current_credentials(monkeypatch):
    monkeypatch.setenv("NIGHTSHIFT_S3_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-secret")
    first = client_from_env()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "second-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "second-secret")
    second = client_from_env()
    assert first._request_signer._credentials.access_key == "first-key"
    assert second._request_signer._credentials.access_key == "second-key"
    assert second.meta.endpoint_url == "http://127.0.0.1:9"
