"""Each identity can do its own job and nothing more, on the real SeaweedFS configured like `make up`'s."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from nightshift.s3 import client_from_env, ensure_bucket
from nightshift.s3_roles import MODELS_BUCKET, RAW_BUCKET

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
