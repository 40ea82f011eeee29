"""Each identity can do its own job and nothing more, on the real SeaweedFS configured like `make up`'s."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from nightshift.control.s3_roles import MODELS_BUCKET, RAW_BUCKET, key_vars
from nightshift.core.s3 import client_from_env, ensure_bucket

pytestmark = pytest.mark.integration


def _denied(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


@pytest.fixture()
def registry_object(s3) -> str:
    for bucket in (RAW_BUCKET, MODELS_BUCKET):
        ensure_bucket(s3, bucket)
    s3.put_object(Bucket=MODELS_BUCKET, Key="roles-test/1/saved_model.pb", Body=b"model")
    s3.put_object(Bucket=RAW_BUCKET, Key="roles-test/date=2030-01-01/part-00000.csv", Body=b"a\n1\n")
    return "roles-test/1/saved_model.pb"


def test_serve_syncs_identity_reads_the_registry_and_cannot_write_or_delete_it(registry_object):
    reader = client_from_env(role="reader")
    assert reader.get_object(Bucket=MODELS_BUCKET, Key=registry_object)["Body"].read() == b"model"
    assert _denied(lambda: reader.put_object(Bucket=MODELS_BUCKET, Key=registry_object, Body=b"evil")) == "AccessDenied"
    assert _denied(lambda: reader.delete_object(Bucket=MODELS_BUCKET, Key=registry_object)) == "AccessDenied"
    raw_key = "roles-test/date=2030-01-01/part-00000.csv"
    assert _denied(lambda: reader.get_object(Bucket=RAW_BUCKET, Key=raw_key)) == "AccessDenied"


def test_the_scorer_writes_predictions_only(s3, registry_object):
    scorer = client_from_env(role="scorer")
    assert scorer.get_object(Bucket=MODELS_BUCKET, Key=registry_object)["Body"].read() == b"model"
    assert scorer.get_object(Bucket=RAW_BUCKET, Key="roles-test/date=2030-01-01/part-00000.csv")["Body"].read()
    scorer.put_object(Bucket=MODELS_BUCKET, Key="predictions/roles-test/date=2030-01-01/_SUCCESS", Body=b"{}")
    scorer.delete_object(Bucket=MODELS_BUCKET, Key="predictions/roles-test/date=2030-01-01/_SUCCESS")
    assert _denied(lambda: scorer.put_object(Bucket=MODELS_BUCKET, Key=registry_object, Body=b"x")) == "AccessDenied"
    assert _denied(lambda: scorer.delete_object(Bucket=MODELS_BUCKET, Key=registry_object)) == "AccessDenied"
    assert _denied(lambda: scorer.put_object(Bucket=RAW_BUCKET, Key="roles-test/x.csv", Body=b"x")) == "AccessDenied"
    assert s3.get_object(Bucket=MODELS_BUCKET, Key=registry_object)["Body"].read() == b"model"


def test_ingestion_writes_the_raw_zone_only_and_the_publisher_the_models_bucket(registry_object):
    ingestion, publisher = client_from_env(role="ingestion"), client_from_env(role="publisher")
    ingestion.put_object(Bucket=RAW_BUCKET, Key="roles-test/date=2030-01-02/part-00000.csv", Body=b"a\n2\n")
    assert _denied(lambda: ingestion.get_object(Bucket=MODELS_BUCKET, Key=registry_object)) == "AccessDenied"
    assert _denied(lambda: ingestion.put_object(Bucket=MODELS_BUCKET, Key="x", Body=b"x")) == "AccessDenied"
    publisher.put_object(Bucket=MODELS_BUCKET, Key="roles-test/2/saved_model.pb", Body=b"v2")
    assert publisher.get_object(Bucket=RAW_BUCKET, Key="roles-test/date=2030-01-02/part-00000.csv")["Body"].read()
    assert _denied(lambda: publisher.put_object(Bucket=RAW_BUCKET, Key="roles-test/y.csv", Body=b"y")) == "AccessDenied"
    assert _denied(lambda: publisher.create_bucket(Bucket="nightshift-new")) == "AccessDenied"


def test_a_task_link_is_a_sigv4_url_that_opens_the_object_without_a_key(registry_object):
    """What the gate's and the pusher's extra links hold: made with the task's connection (the publisher)."""
    import os
    import urllib.error
    import urllib.request

    from nightshift_airflow.hooks import S3_CONN_ID, S3ConnectionAccess

    url = S3ConnectionAccess(S3_CONN_ID).presigned_get_url(MODELS_BUCKET, registry_object, 600)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "X-Amz-Expires=600" in url
    publisher_secret = os.environ[key_vars("publisher")[1]]
    assert len(publisher_secret) >= 16 and publisher_secret not in url
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in url
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200 and resp.read() == b"model"
    tampered = url.replace(registry_object, registry_object.replace("saved_model", "other"))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tampered, timeout=10)
    assert refused.value.code == 403
