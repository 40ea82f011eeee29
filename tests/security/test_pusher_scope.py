"""Publish rights stop at the pipeline: the Pusher's child holds its own pipeline's key, which the real store
lets write under that pipeline's registry prefix and nowhere else. Before, every Pusher held the publisher key,
which writes every pipeline's registry (and the Pusher runs the model the pipeline's own code built)."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from nightshift.control.s3_roles import MODELS_BUCKET, PUSHER_SEED_VAR, RAW_BUCKET, pusher_credentials
from nightshift.core.config import PROJECT_ROOT
from nightshift.core.registry.store import ModelRegistry
from nightshift.core.s3 import ensure_bucket, list_keys
from nightshift.local import store_identities

pytestmark = [pytest.mark.security, pytest.mark.integration]


def _client(keys: tuple[str, str]):
    return boto3.client("s3", endpoint_url=os.environ["NIGHTSHIFT_S3_ENDPOINT"], aws_access_key_id=keys[0],
                        aws_secret_access_key=keys[1], region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}))


def _code(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


@pytest.fixture()
def registries(s3) -> Iterator[dict[str, str]]:
    """An object in penguins' registry and one in the raw zone, of this test's own names (the session's real
    registries and partitions are the end-to-end tests'), removed afterwards."""
    for bucket in (RAW_BUCKET, MODELS_BUCKET):
        ensure_bucket(s3, bucket)
    tag = uuid.uuid4().hex[:12]
    objects = {"other": f"penguins/scope-test-{tag}.json", "raw": f"scope-test-{tag}/part-00000.csv",
               "own": f"taxi/scope-test-{tag}.json"}
    s3.put_object(Bucket=MODELS_BUCKET, Key=objects["other"], Body=b'{"version": 1}')
    s3.put_object(Bucket=RAW_BUCKET, Key=objects["raw"], Body=b"a\n1\n")
    yield objects
    for bucket, key in ((MODELS_BUCKET, objects["other"]), (RAW_BUCKET, objects["raw"]),
                        (MODELS_BUCKET, objects["own"])):
        s3.delete_object(Bucket=bucket, Key=key)


def test_a_pipelines_pusher_writes_its_own_registry_and_nothing_else(s3, registries):
    taxi = _client(pusher_credentials("taxi", os.environ[PUSHER_SEED_VAR]))
    own, other = registries["own"], registries["other"]
    taxi.put_object(Bucket=MODELS_BUCKET, Key=own, Body=b"{}")
    assert taxi.get_object(Bucket=MODELS_BUCKET, Key=own)["Body"].read() == b"{}"
    assert taxi.list_objects_v2(Bucket=MODELS_BUCKET, Prefix=own)["KeyCount"] == 1
    taxi.delete_object(Bucket=MODELS_BUCKET, Key=own)

    assert _code(lambda: taxi.put_object(Bucket=MODELS_BUCKET, Key=other, Body=b"{}")) == "AccessDenied"
    assert _code(lambda: taxi.delete_object(Bucket=MODELS_BUCKET, Key=other)) == "AccessDenied"
    assert _code(lambda: taxi.get_object(Bucket=MODELS_BUCKET, Key=other)) == "AccessDenied"
    assert _code(lambda: taxi.list_objects_v2(Bucket=MODELS_BUCKET, Prefix="penguins/")) == "AccessDenied"
    assert _code(lambda: taxi.put_object(Bucket=MODELS_BUCKET, Key="predictions/taxi/x", Body=b"x")) == "AccessDenied"
    assert _code(lambda: taxi.put_object(Bucket=MODELS_BUCKET, Key="taxi2/CURRENT.json", Body=b"x")) == "AccessDenied"
    assert _code(lambda: taxi.get_object(Bucket=RAW_BUCKET, Key=registries["raw"])) == "AccessDenied"
    copy = lambda: taxi.copy_object(Bucket=MODELS_BUCKET, Key=own,  # noqa: E731
                                    CopySource={"Bucket": MODELS_BUCKET, "Key": other})
    assert _code(copy) == "AccessDenied"
    assert s3.get_object(Bucket=MODELS_BUCKET, Key=other)["Body"].read() == b'{"version": 1}'


def test_the_pusher_step_is_handed_its_pipelines_key_not_the_publishers(s3_server):
    from nightshift_airflow.factory import build_nightly_dag
    from nightshift_airflow.hooks import PusherAccess, PusherKeyMissing

    from nightshift.control.s3_roles import key_vars
    from nightshift.core.spec_loading import load_spec
    from nightshift.core.topology import PUSHER_ID, TRAINING_NODES

    dag = build_nightly_dag(load_spec(PROJECT_ROOT / "pipelines" / "penguins" / "pipeline.yaml", PROJECT_ROOT))
    [pusher_task] = [dag.get_task(n.task_id) for n in TRAINING_NODES if n.node_id == PUSHER_ID]
    env = pusher_task.hook.environment()
    access, secret = pusher_credentials("penguins", os.environ[PUSHER_SEED_VAR])
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (access, secret)
    publisher_secret = os.environ[key_vars("publisher")[1]]
    assert publisher_secret not in env.values() and os.environ[PUSHER_SEED_VAR] not in env.values()
    assert env["NIGHTSHIFT_S3_ENDPOINT"] == os.environ["NIGHTSHIFT_S3_ENDPOINT"]

    seed = os.environ.pop(PUSHER_SEED_VAR)
    try:
        with pytest.raises(PusherKeyMissing, match=f"{PUSHER_SEED_VAR} is not set .* pipeline 'penguins'"):
            PusherAccess("penguins").runtime_env()
    finally:
        os.environ[PUSHER_SEED_VAR] = seed


def _spec_named(pipelines: Path, name: str) -> None:
    doc = yaml.safe_load((PROJECT_ROOT / "pipelines" / "taxi" / "pipeline.yaml").read_text())
    doc.update(name=name)
    doc["push"] = {"uri": f"s3://{MODELS_BUCKET}/{name}", "model_name": name}
    (pipelines / name).mkdir(parents=True)
    (pipelines / name / "pipeline.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _wait_until_accepted(client, key: str, timeout: float = 15.0) -> float:
    start = time.monotonic()
    while True:
        try:
            client.put_object(Bucket=MODELS_BUCKET, Key=key, Body=b"{}")
            return time.monotonic() - start
        except ClientError as exc:
            if time.monotonic() - start > timeout:
                raise AssertionError(f"the new pusher key is still refused after {timeout:.0f}s: {exc}") from exc
            time.sleep(0.2)


def test_a_pipeline_added_while_the_store_runs_gets_its_pusher_without_a_restart(s3, tmp_path, registries,
                                                                                  fake_saved_model):
    pipelines = tmp_path / "pipelines"
    for name in ("taxi", "penguins"):
        shutil.copytree(PROJECT_ROOT / "pipelines" / name, pipelines / name)
    late_name = f"latecomer_{uuid.uuid4().hex[:8]}"
    assert list_keys(s3, MODELS_BUCKET, f"{late_name}/") == []  # everything under it is this test's to remove
    _spec_named(pipelines, late_name)
    env = {**os.environ, "NIGHTSHIFT_PIPELINES_DIR": str(pipelines)}
    late = _client(pusher_credentials(late_name, os.environ[PUSHER_SEED_VAR]))
    unknown = _code(lambda: late.put_object(Bucket=MODELS_BUCKET, Key=f"{late_name}/a", Body=b"{}"))
    assert unknown == "InvalidAccessKeyId"
    try:
        assert store_identities.sync(env) == [late_name, "penguins", "taxi"]
        _wait_until_accepted(late, f"{late_name}/probe.json")
        assert _code(lambda: late.put_object(Bucket=MODELS_BUCKET, Key=registries["own"], Body=b"x")) == (
            "AccessDenied")
        # The whole publish path with that key alone (the key cannot list or create buckets): claim, files,
        # manifest, pointer, audit.
        manifest = ModelRegistry(late, f"s3://{MODELS_BUCKET}/{late_name}").publish(
            fake_saved_model, {"model": late_name, "pipeline": late_name, "run_id": f"scope-{uuid.uuid4().hex}",
                               "metrics": {}, "data_window": {}})
        assert ModelRegistry(s3, f"s3://{MODELS_BUCKET}/{late_name}").read_pointer().version == manifest.version
        assert s3.list_buckets()["Buckets"]  # the admin and the roles are untouched by the reload
        # A folder without penguins (another stack sharing the store) leaves penguins' pusher as it was.
        shutil.rmtree(pipelines / "penguins")
        assert store_identities.sync(env) == [late_name, "taxi"]
        penguins = _client(pusher_credentials("penguins", os.environ[PUSHER_SEED_VAR]))
        assert penguins.get_object(Bucket=MODELS_BUCKET, Key=registries["other"])["Body"].read() == b'{"version": 1}'
    finally:
        store_identities.sync(dict(os.environ))  # the session's own pipelines again
        for key in list_keys(s3, MODELS_BUCKET, f"{late_name}/"):  # a prefix of this test's own name, empty before
            s3.delete_object(Bucket=MODELS_BUCKET, Key=key)
