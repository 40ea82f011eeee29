"""Registry faults against a SeaweedFS server of the test's own, which the test stops mid-publish."""

from __future__ import annotations

import threading

import boto3
import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from ports import SEAWEED_SPAN, free_port

from nightshift.core.registry.layout import pointer_key
from nightshift.core.registry.store import ModelRegistry
from nightshift.local import seaweed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
PORT = free_port(SEAWEED_SPAN)  # its own server: stopping it must not disturb the session's
KEY, SECRET = "fault-test-key", "fault-test-secret"


def _client(attempts: int = 1):
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{PORT}", aws_access_key_id=KEY,
                        aws_secret_access_key=SECRET, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": attempts,
                                                                                "mode": "standard"},
                                      connect_timeout=2, read_timeout=5))


def _start(data):
    return seaweed.start(data, seaweed.SeaweedPorts(PORT), KEY, SECRET, data.parent / "weed.log")


def _fields(run_id: str) -> dict:
    return {"model": "m", "pipeline": "p", "run_id": run_id}


def test_s3_stopped_mid_publish_leaves_the_pointer_and_the_retry_completes(tmp_path, fake_saved_model):
    data = tmp_path / "weed"
    proc = _start(data)
    try:
        client = _client()
        client.create_bucket(Bucket="fault-models")
        registry = ModelRegistry(client, "s3://fault-models/m")
        registry.publish(fake_saved_model, _fields("run-1"))
        pointer_before = client.get_object(Bucket="fault-models", Key=pointer_key("m"))["Body"].read()

        uploaded, stopped = threading.Event(), threading.Event()
        real_upload = client.upload_file

        def upload_then_signal(*args, **kwargs):
            real_upload(*args, **kwargs)
            uploaded.set()
            stopped.wait(60)  # the rest of the version goes on its way only once the server is down

        failure: list[BaseException] = []

        def publish():
            try:
                ModelRegistry(_Patched(client, upload_then_signal), "s3://fault-models/m").publish(
                    fake_saved_model, _fields("run-2"))
            except BaseException as exc:  # recorded for the assertion below
                failure.append(exc)

        thread = threading.Thread(target=publish)
        thread.start()
        assert uploaded.wait(30)
        seaweed.stop(proc.pid)
        stopped.set()
        thread.join(60)
        # An S3 error (which one depends on the moment the server went away), never a bug in our code.
        assert len(failure) == 1 and isinstance(failure[0], (BotoCoreError, ClientError, S3UploadFailedError)), failure

        proc = _start(data)
        client = _client(attempts=10)  # the restarted server may answer 500 until its volumes load
        registry = ModelRegistry(client, "s3://fault-models/m")
        assert client.get_object(Bucket="fault-models", Key=pointer_key("m"))["Body"].read() == pointer_before
        assert registry.versions() == [1]  # the half version is not listed as a version

        retried = registry.publish(fake_saved_model, _fields("run-2"))  # what the task's retry does
        assert retried.version == 2  # the run's own claim is finished, not a second version made
        assert registry.versions() == [1, 2] and registry.read_pointer().version == 2
        assert all(not s.problems for s in registry.status())
        assert [(e.action, e.to_version, e.run_id) for e in registry.audit_log()] == [
            ("publish", 1, "run-1"), ("publish", 2, "run-2")]
        assert registry.publish(fake_saved_model, _fields("run-3")).version == 3
    finally:
        seaweed.stop(proc.pid)


class _Patched:
    """The client with one method replaced, everything else passed through."""

    def __init__(self, client, upload_file):
        self._client = client
        self.upload_file = upload_file

    def __getattr__(self, name):
        return getattr(self._client, name)
