"""No CLI command signs with the admin key. The admin's AWS variables are replaced by a key the server does
not know: a command that fell back to them (as `validate s3://` and `lineage` did) fails with
InvalidAccessKeyId; one that signs with its role's key works. `score` hands its child the scorer's key and
the names a step needs, not the shell's environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nightshift.control.s3_roles import MODELS_BUCKET, RAW_BUCKET
from nightshift.core.s3 import ensure_bucket

pytestmark = [pytest.mark.security, pytest.mark.integration]

UNKNOWN_ADMIN = {"AWS_ACCESS_KEY_ID": "not-the-admin-7d1e", "AWS_SECRET_ACCESS_KEY": "not-the-admin-secret-7d1e"}


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **UNKNOWN_ADMIN}
    return subprocess.run([str(Path(sys.executable).parent / "nightshift"), *args], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def landed(s3_server, taxi_csv) -> str:
    from nightshift.core.s3 import client_from_env

    admin = client_from_env()
    for bucket in (RAW_BUCKET, MODELS_BUCKET):
        ensure_bucket(admin, bucket)
    key = "taxi/date=2031-01-05/part-00000.csv"
    head = "".join(taxi_csv.read_text().splitlines(keepends=True)[:201])
    admin.put_object(Bucket=RAW_BUCKET, Key=key, Body=head.encode())
    return f"s3://{RAW_BUCKET}/{key}"


def test_validate_on_s3_signs_with_the_ingestion_key(landed):
    proc = _cli("validate", "taxi", landed)
    assert "InvalidAccessKeyId" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    assert f"{landed}: 200 rows" in proc.stdout, (proc.stdout[-2000:], proc.stderr[-2000:])


def test_lineage_signs_with_the_reader_key(landed):
    proc = _cli("lineage", "taxi", "999")
    assert "InvalidAccessKeyId" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    assert proc.returncode == 7 and "999" in proc.stderr, (proc.returncode, proc.stderr[-2000:])


def test_models_list_signs_with_the_reader_key(landed):
    proc = _cli("models", "list", "taxi")
    assert proc.returncode == 0, proc.stderr[-2000:]
